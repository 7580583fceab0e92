package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config is what one mirror copies, from where to where. Zero values take
// the defaults named on each field.
type Config struct {
	// Source and Target are the client options of each cluster: seed
	// brokers, TLS, SASL (kgo.SeedBrokers, kgo.DialTLSConfig, kgo.SASL).
	Source, Target []kgo.Opt
	// SourceAlias names the source cluster in RenameFormat ("source").
	SourceAlias string
	// Topics selects the source topics to mirror (all when nil); topics
	// matching ExcludeTopics are left out. Topics whose names start
	// with "__" (Kafka's internal topics) are never mirrored.
	Topics, ExcludeTopics *regexp.Regexp
	// RenameFormat names a mirror topic from its source topic with
	// {source} (SourceAlias) and {topic}; "{topic}" (the default) keeps
	// the names, "{source}.{topic}" is MirrorMaker 2's.
	RenameFormat string
	// Groups selects the consumer groups whose committed offsets are
	// copied (none when nil): at the start, every
	// SyncGroupOffsetsInterval (10s), and when Run's context ends.
	Groups                   *regexp.Regexp
	SyncGroupOffsetsInterval time.Duration
	// RefreshInterval is how often the source's topics, partition counts
	// and configs are looked at again (10s).
	RefreshInterval time.Duration
	// Force lets the mirror replace a target topic that is not its mirror
	// (it holds other records, or mirrors another source): the topic is
	// deleted and created again as a mirror. Without it such a topic is
	// refused and left alone.
	Force bool
	// Node, when set, is the ID of the target node this mirror runs in:
	// `sluice serve` runs one on each node of the target cluster that has
	// mirror settings. It then copies only the partitions this node leads
	// on the target (its appends stay local), and only the mirror of the
	// target's controller shapes the mirror topics (creates, adopts or
	// replaces them, adds partitions, syncs configs) and syncs group
	// offsets. Together the nodes' mirrors copy each partition once, and
	// each role moves with leadership, at the next refresh of the node
	// that gains it.
	Node *int32
	// CopyStreams is how many copy loops share the partitions led by one
	// source broker (4): each fetches its partitions and appends them to
	// the target, one fetch and one append in flight, so that several
	// fetches, appends and the target's fsyncs overlap.
	CopyStreams int
	// FetchMaxBytes bounds one fetch of a copy loop (8 MiB);
	// PartitionMaxBytes one partition's part of it (4 MiB).
	FetchMaxBytes, PartitionMaxBytes int32
	Logger                           *slog.Logger
}

func (c *Config) defaults() error {
	if c.SourceAlias == "" {
		c.SourceAlias = "source"
	}
	if c.RenameFormat == "" {
		c.RenameFormat = "{topic}"
	}
	if !strings.Contains(c.RenameFormat, "{topic}") {
		return fmt.Errorf("mirror: rename format %q must contain {topic}", c.RenameFormat)
	}
	if c.SyncGroupOffsetsInterval <= 0 {
		c.SyncGroupOffsetsInterval = 10 * time.Second
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = 10 * time.Second
	}
	if c.CopyStreams <= 0 {
		c.CopyStreams = 4
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = 8 << 20
	}
	if c.PartitionMaxBytes <= 0 {
		c.PartitionMaxBytes = 4 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// targetName is the mirror topic's name for a source topic.
func (c *Config) targetName(topic string) string {
	return strings.NewReplacer("{source}", c.SourceAlias, "{topic}", topic).Replace(c.RenameFormat)
}

// selected reports whether a source topic is mirrored.
func (c *Config) selected(topic string) bool {
	if strings.HasPrefix(topic, "__") {
		return false
	}
	if c.Topics != nil && !c.Topics.MatchString(topic) {
		return false
	}
	return c.ExcludeTopics == nil || !c.ExcludeTopics.MatchString(topic)
}

// Mirror copies topics from a source cluster to a Sluice target, keeping
// offsets (see the package comment). Run does the work; Status reports it.
type Mirror struct {
	cfg    Config
	logger *slog.Logger
	src    *kgo.Client
	dst    *kgo.Client
	srcAdm *kadm.Client
	dstAdm *kadm.Client
	// streams are the clients of the copy loops: each has its own
	// connections, so that one loop's fetch waiting for new records does
	// not hold back another's answers (a connection answers in order).
	// The first is src and dst.
	streams []stream

	// kick asks the loop for a refresh before its interval.
	kick chan struct{}

	mu sync.Mutex
	// parts are the mirrored partitions by target topic and partition.
	parts map[tp]*partition
	// topics says why each source topic is or is not mirrored.
	topics map[string]TopicStatus
	// sourceCluster is the source's cluster ID.
	sourceCluster string
	// lastRefresh is the error of the last refresh, nil when it worked.
	lastRefresh error
	// shaping is whether the last refresh found this mirror the one that
	// shapes mirror topics and syncs group offsets (always without
	// Config.Node).
	shaping bool
	// translateStops are the source partitions translating mode stopped
	// copying (the target refused a record), with the reason.
	translateStops map[tp]string
}

// shapes reports whether this mirror shapes the target's mirror topics
// and syncs group offsets: with Config.Node, only on the target's
// controller.
func (m *Mirror) shapes() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.shaping
}

// copiesHere reports whether this mirror copies a partition led on the
// target by leader.
func (c *Config) copiesHere(leader int32) bool {
	return c.Node == nil || *c.Node == leader
}

type tp struct {
	topic string
	part  int32
}

// New connects the mirror's clients; nothing is copied before Run.
func New(cfg Config) (*Mirror, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	// Metadata as fresh as a refresh asks for: franz-go otherwise answers
	// metadata requests from a cache up to 5s old, which would hide a
	// topic the mirror just created or a leader that just moved.
	fresh := kgo.MetadataMinAge(100 * time.Millisecond)
	first, err := newStream(cfg, fresh)
	if err != nil {
		return nil, err
	}
	src, dst := first.src, first.dst
	m := &Mirror{
		cfg: cfg, logger: cfg.Logger, src: src, dst: dst,
		srcAdm: kadm.NewClient(src), dstAdm: kadm.NewClient(dst),
		streams: []stream{{src, dst}},
		kick:    make(chan struct{}, 1),
		parts:   map[tp]*partition{}, topics: map[string]TopicStatus{},
	}
	// The other streams' clients connect when first used.
	for len(m.streams) < cfg.CopyStreams {
		s, err := newStream(cfg, fresh)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.streams = append(m.streams, s)
	}
	return m, nil
}

// stream is the pair of clients one copy loop fetches and appends with.
type stream struct{ src, dst *kgo.Client }

func newStream(cfg Config, opts ...kgo.Opt) (stream, error) {
	src, err := kgo.NewClient(append(slices.Concat(cfg.Source, opts), kgo.ClientID("sluice-mirror"))...)
	if err != nil {
		return stream{}, fmt.Errorf("mirror: source client: %w", err)
	}
	dst, err := kgo.NewClient(append(slices.Concat(cfg.Target, opts), kgo.ClientID("sluice-mirror"), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		src.Close()
		return stream{}, fmt.Errorf("mirror: target client: %w", err)
	}
	return stream{src, dst}, nil
}

// Close closes the mirror's clients. Run must have returned.
func (m *Mirror) Close() {
	for _, s := range m.streams {
		s.src.Close()
		s.dst.Close()
	}
}

// refreshSoon asks the loop to look at both clusters again now.
func (m *Mirror) refreshSoon() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run mirrors until ctx ends, then returns nil. A target that cannot take
// mirror topics (not a Sluice cluster) is mirrored into in translating
// mode (translate.go). A source or target that cannot be reached is
// retried, and says so in the log and in Status.
func (m *Mirror) Run(ctx context.Context) error {
	if err := m.checkTarget(ctx); errors.Is(err, ErrNotSluice) {
		return m.runTranslating(ctx) // translate.go
	} else if err != nil || ctx.Err() != nil {
		return err
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	// refreshed is closed by the first refresh that worked: group offsets
	// are synced from then on.
	refreshed := make(chan struct{})
	var refreshedOnce sync.Once
	if m.cfg.Groups != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.syncGroupsLoop(ctx, refreshed, m.SyncGroupOffsets)
		}()
	}
	w := newWorkers(m)
	defer func() {
		w.stop()
		cancel()
		wg.Wait()
		// The copy loops have stopped: the groups' latest commits are
		// synced, up to the mirror topics' final ends, so that a
		// planned switch resumes where the consumers stopped.
		m.finalGroupSync(refreshed, m.SyncGroupOffsets)
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-m.kick:
			// A worker found something changed: look again soon, but
			// not in a tight loop while a cluster is down.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
		}
		assign, err := m.refresh(ctx)
		m.mu.Lock()
		m.lastRefresh = err
		m.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			m.logger.Warn("mirror refresh failed; retrying", "err", err)
		}
		if err == nil {
			w.set(ctx, assign)
			refreshedOnce.Do(func() { close(refreshed) })
		}
		timer.Reset(m.cfg.RefreshInterval)
	}
}

// ErrNotSluice is a target that does not know mirror topics: offsets
// cannot be kept there.
var ErrNotSluice = errors.New("mirror: the target does not accept mirror topics (not a Sluice cluster)")

// checkTarget finds out whether the target is a Sluice cluster: its
// brokers describe Sluice's own broker configs (sluice.*), which no other
// Kafka has. (Validating a topic with sluice.mirror.state would not do:
// some Kafka-protocol servers accept any config name.)
func (m *Mirror) checkTarget(ctx context.Context) error {
	for {
		err := m.probeTarget(ctx)
		if err == nil || errors.Is(err, ErrNotSluice) {
			return err
		}
		m.logger.Warn("mirror: target not ready; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (m *Mirror) probeTarget(ctx context.Context) error {
	md, err := m.dstAdm.BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	if len(md.Brokers) == 0 {
		return errors.New("the target lists no brokers")
	}
	rcs, err := m.dstAdm.DescribeBrokerConfigs(ctx, md.Brokers[0].NodeID)
	if err != nil {
		return err
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return rc.Err
		}
		for _, c := range rc.Configs {
			if strings.HasPrefix(c.Key, "sluice.") {
				return nil
			}
		}
	}
	return ErrNotSluice
}
