package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/cluster"

	"github.com/sluice-io/sluice/internal/record"
)

// Defaults for Config fields left zero, Kafka's broker defaults.
const (
	defaultMinSessionTimeout = 6 * time.Second
	defaultMaxSessionTimeout = 30 * time.Minute
	defaultOffsetsRetention  = 7 * 24 * time.Hour
	defaultRetentionCheck    = 10 * time.Minute

	defaultConsumerSessionTimeout    = 45 * time.Second
	defaultConsumerHeartbeatInterval = 5 * time.Second

	// newMemberJoinTimeout bounds how long a member that has never
	// completed a join may sit in JoinGroup (Kafka's
	// GroupCoordinator.NewMemberJoinTimeoutMs).
	newMemberJoinTimeout         = 5 * time.Minute
	defaultOffsetMetadataMaxSize = 4096
	defaultCommitTimeout         = 5 * time.Second
	// maxRecordsBytes caps decompression while replaying a partition.
	maxRecordsBytes = 100 << 20
)

// partition is one loaded (or loading) __consumer_offsets partition.
// c.mu guards loading; mu guards unloaded, groups, txns and ended.
type partition struct {
	id      int32
	loading bool

	mu       sync.Mutex
	unloaded bool
	groups   map[string]*group
	// txns indexes the groups that hold transactional offsets, by
	// producer ID, so that a transaction marker finds them without a
	// scan. An entry may outlive the offsets it pointed at.
	txns map[int64]map[string]bool
	// ended queues the transaction markers written while the partition
	// loads; they are applied before the partition serves requests.
	ended []txnEnd
	// guards holds, by producer ID, the KIP-890 verification guard of a
	// transactional offset commit being verified (txn_offsets.go).
	guards map[int64]*VerificationGuard
}

func newCoordinator(cfg Config) *Coordinator {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Mono == nil {
		cfg.Mono = time.Now
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 50
	}
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = defaultMinSessionTimeout
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = defaultMaxSessionTimeout
	}
	if cfg.InitialRebalanceDelay < 0 {
		cfg.InitialRebalanceDelay = 0
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = defaultOffsetsRetention
	}
	if cfg.RetentionCheck <= 0 {
		cfg.RetentionCheck = defaultRetentionCheck
	}
	if cfg.OffsetMetadataMaxSize <= 0 {
		cfg.OffsetMetadataMaxSize = defaultOffsetMetadataMaxSize
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = defaultCommitTimeout
	}
	if cfg.ConsumerSessionTimeout <= 0 {
		cfg.ConsumerSessionTimeout = defaultConsumerSessionTimeout
	}
	if cfg.ConsumerHeartbeatInterval <= 0 {
		cfg.ConsumerHeartbeatInterval = defaultConsumerHeartbeatInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Coordinator{
		cfg:      cfg,
		logger:   cfg.Logger,
		now:      cfg.Now,
		mono:     cfg.Mono,
		parts:    make(map[int32]*partition),
		timers:   newTimers(cfg.Mono().Add(cfg.RetentionCheck)),
		bgCtx:    ctx,
		bgCancel: cancel,
	}
}

// partitionFor is the __consumer_offsets partition of a group.
func partitionFor(groupID string, partitions int32) int32 {
	return cluster.CoordinatorPartition(groupID, partitions)
}

// lookup returns a group this coordinator owns, creating it when create is
// set and it does not exist. The code is NOT_COORDINATOR or
// COORDINATOR_LOAD_IN_PROGRESS when the group's partition is not served
// here; g is nil, with code 0, when the group does not exist.
func (c *Coordinator) lookup(id string, create bool) (g *group, code int16) {
	pid := c.PartitionFor(id)
	c.mu.RLock()
	p := c.parts[pid]
	loading := p != nil && p.loading
	c.mu.RUnlock()
	switch {
	case p == nil:
		return nil, kerr.NotCoordinator.Code
	case loading:
		return nil, kerr.CoordinatorLoadInProgress.Code
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unloaded {
		return nil, kerr.NotCoordinator.Code
	}
	g = p.groups[id]
	if g == nil && create {
		g = newGroup(id, pid)
		g.stateAt = c.now()
		p.groups[id] = g
	}
	return g, 0
}

// forget removes a dead group from its partition. The caller holds g.mu.
func (c *Coordinator) forget(g *group) {
	c.mu.RLock()
	p := c.parts[g.part]
	c.mu.RUnlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.groups[g.id] == g {
		delete(p.groups, g.id)
	}
	p.mu.Unlock()
}

// loadedGroups returns the groups of every partition fully loaded, and
// whether some partition is still loading.
func (c *Coordinator) loadedGroups() (gs []*group, loading bool) {
	c.mu.RLock()
	parts := make([]*partition, 0, len(c.parts))
	for _, p := range c.parts {
		if p.loading {
			loading = true
			continue
		}
		parts = append(parts, p)
	}
	c.mu.RUnlock()
	for _, p := range parts {
		p.mu.Lock()
		for _, g := range p.groups {
			gs = append(gs, g)
		}
		p.mu.Unlock()
	}
	return gs, loading
}

func (c *Coordinator) load(ctx context.Context, pid int32) error {
	if pid < 0 || pid >= c.cfg.Partitions {
		return fmt.Errorf("group: load %s-%d: no such partition (%d partitions)", OffsetsTopic, pid, c.cfg.Partitions)
	}
	c.mu.Lock()
	if c.parts[pid] != nil {
		c.mu.Unlock()
		return nil
	}
	p := &partition{id: pid, loading: true, groups: make(map[string]*group)}
	c.parts[pid] = p
	c.mu.Unlock()

	start := c.mono()
	groups, stats, err := c.replay(ctx, pid)
	if err != nil {
		c.mu.Lock()
		if c.parts[pid] == p {
			delete(c.parts, pid)
		}
		c.mu.Unlock()
		return fmt.Errorf("group: load %s-%d: %w", OffsetsTopic, pid, err)
	}
	p.mu.Lock()
	if p.unloaded {
		p.mu.Unlock()
		return nil
	}
	p.groups = groups
	p.txns = indexTxns(groups)
	// Timers armed below may remove groups from the map: walk a copy.
	loaded := make([]*group, 0, len(groups))
	for _, g := range groups {
		loaded = append(loaded, g)
	}
	p.mu.Unlock()
	for _, g := range loaded {
		g.mu.Lock()
		c.reschedule(g)
		g.mu.Unlock()
	}
	c.endQueuedTxns(p)
	c.logger.Info("loaded group partition", "topic", OffsetsTopic, "partition", pid, "groups", len(loaded),
		"consumer_groups", stats.consumerGroups, "offsets", stats.offsets, "txn_offsets", stats.txnOffsets, "records", stats.records, "took", c.mono().Sub(start))
	return nil
}

func (c *Coordinator) unload(pid int32) {
	c.mu.Lock()
	p := c.parts[pid]
	delete(c.parts, pid)
	c.mu.Unlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	p.unloaded = true
	groups := p.groups
	p.groups = nil
	p.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.unloaded = true
		for _, m := range g.members {
			c.failWaiters(g, m, kerr.NotCoordinator.Code)
		}
		g.mu.Unlock()
	}
	c.logger.Info("unloaded group partition", "topic", OffsetsTopic, "partition", pid, "groups", len(groups))
}

// appendRecords writes records to a group's partition as one batch and
// waits until it is durable. The caller holds g.wmu and not g.mu.
//
// The write outlives the request: a client that disconnects must not cut
// short a write that reaches the log anyway, or memory and log disagree.
// It is bounded instead by offsets.commit.timeout.ms (Config.CommitTimeout).
func (c *Coordinator) appendRecords(ctx context.Context, part int32, recs []kv) error {
	_, err := c.appendAt(ctx, part, recs, nil)
	return err
}

// appendAt is appendRecords returning the offset of the first record. With
// txn set, the batch is a transactional one of that producer (KIP-98).
func (c *Coordinator) appendAt(ctx context.Context, part int32, recs []kv, txn *record.Producer) (int64, error) {
	batch, err := c.buildBatch(recs, txn)
	if err != nil {
		return -1, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CommitTimeout)
	defer cancel()
	base, err := c.cfg.Log.Append(ctx, part, batch)
	if err != nil {
		return -1, fmt.Errorf("append to %s-%d: %w", OffsetsTopic, part, err)
	}
	return base, nil
}

// appendCode maps an append failure to the code Kafka answers a group
// request with (GroupMetadataManager's storeGroup/storeOffsets): leadership
// lost is NOT_COORDINATOR, an oversized batch is tooLarge, a transactional
// batch refused for its producer (a stale epoch: the producer was fenced
// or its transaction aborted) keeps the log's code, and everything else
// (under-replicated, timed out, not hosted) is the retriable
// COORDINATOR_NOT_AVAILABLE so that the client finds the coordinator again.
func appendCode(err error, tooLarge int16) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
			return kerr.NotCoordinator.Code
		case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
			return tooLarge
		case kerr.InvalidProducerEpoch, kerr.ProducerFenced, kerr.InvalidProducerIDMapping,
			kerr.InvalidTxnState, kerr.TransactionCoordinatorFenced:
			return ke.Code
		}
	}
	return kerr.CoordinatorNotAvailable.Code
}

// clientKey carries the requesting client's identity in a context.
type clientKey struct{}

type clientInfo struct {
	id, host string
	// canDescribe reports whether the client's principal may DESCRIBE a
	// topic; nil when the broker checks no ACLs.
	canDescribe func(topic string) bool
}

// WithClient returns ctx carrying the client.id of the request's header and
// the client's remote address. JoinGroup and ConsumerGroupHeartbeat build
// member IDs from the client ID ("<client.id>-<uuid>", as Kafka does) and
// DescribeGroups reports both; without it they are empty.
func WithClient(ctx context.Context, clientID, addr string) context.Context {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if host != "" && !strings.HasPrefix(host, "/") {
		host = "/" + host // Kafka reports InetAddress.toString()
	}
	return context.WithValue(ctx, clientKey{}, clientInfo{id: clientID, host: host})
}

// WithDescribeCheck returns ctx (which WithClient made) carrying a check
// of whether the client's principal may DESCRIBE a topic. A KIP-848 member
// subscribed by regex is assigned only topics its last heartbeat's check
// allows, as Kafka filters resolved regular expressions by the
// principal's DESCRIBE authorization; topics named outright were checked
// by the broker before the request reached the coordinator.
func WithDescribeCheck(ctx context.Context, canDescribe func(topic string) bool) context.Context {
	ci := clientFrom(ctx)
	ci.canDescribe = canDescribe
	return context.WithValue(ctx, clientKey{}, ci)
}

func clientFrom(ctx context.Context) clientInfo {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci
}

// newUUID returns a random (version 4) UUID in its canonical text form, as
// Java's UUID.randomUUID().toString() gives for member IDs.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func ms(v int32) time.Duration { return time.Duration(v) * time.Millisecond }
