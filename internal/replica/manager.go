package replica

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/log"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Config configures a Manager.
type Config struct {
	NodeID int32
	// LogDirs are the directories partitions live in (log.dirs). A new
	// partition goes to the one holding the fewest partitions.
	LogDirs []string
	// OnDirOffline, if set, is called once when a log directory goes
	// offline after an I/O error (KIP-112). In a cluster it is where the
	// controller would be told, to move leadership away. It must not
	// block.
	OnDirOffline func(dir string)
	Logger       *slog.Logger
	// Now is the wall clock for timestamps and retention; nil is time.Now.
	Now func() time.Time
	// BrokerConfig returns the broker's current effective config, whose
	// log.* values are the topics' defaults.
	BrokerConfig func(img *cluster.Image) *config.Broker
	// OnLeader, if set, is called when this broker becomes the leader of
	// a partition (also right after opening one it leads), and OnResign
	// when it stops leading one: it becomes a follower, or the partition
	// is deleted or closed here. The group coordinator loads and unloads
	// __consumer_offsets partitions this way. They must not block.
	OnLeader func(p *Partition)
	OnResign func(p *Partition)
	// Files bounds the file descriptors of every partition's segments
	// (log.Options.Files); one per process. Nil leaves each log its own
	// unbounded cache.
	Files *log.FileCache
	// Propose commits a metadata command through the controller
	// (cluster.Node.Propose); leaders send AlterPartition with it to change
	// their ISR. Nil never changes an ISR.
	Propose func(ctx context.Context, cmd cluster.Command) error
	// BrokerEpoch returns this start's broker epoch
	// (cluster.Node.BrokerEpoch): follower fetches carry it, and a leader
	// names its own and its followers' in AlterPartition (KIP-903). Nil
	// is zero, which names none.
	BrokerEpoch func() int64
	// PeerOpts are the kgo options of follower fetchers: the
	// inter-broker listener's TLS and SASL. Nil connects in plaintext.
	PeerOpts []kgo.Opt
	// FS is the filesystem of every file the Manager and its logs write
	// (fault injection in tests); nil is the operating system's.
	FS log.FS
}

// Manager hosts this broker's partitions.
type Manager struct {
	cfg    Config
	logger *slog.Logger
	fs     log.FS // cfg.FS, or the operating system's

	// openedMu guards opened, a channel closed (and replaced) each time a
	// partition new to this broker is open with its role.
	openedMu sync.Mutex
	opened   chan struct{}

	// reconcileMu serialises Reconcile; it is taken before mu.
	reconcileMu sync.Mutex
	// reconciled is the newest image reconciled; guarded by reconcileMu.
	reconciled *cluster.Image

	mu    sync.RWMutex
	parts map[TopicPartition]*Partition
	// applied remembers the log config each partition was last given.
	applied map[TopicPartition]log.Config
	// dirCount is how many hosted partitions each log directory holds
	// (Partition.countedDir), for placing new ones.
	dirCount map[string]int
	// The partitions each periodic task visits, so that none walks every
	// hosted partition: those whose flush.ms or flush.messages can fire,
	// the compacted ones (the cleaner), and the leaders with other
	// replicas (the ISR check).
	flushable  map[*Partition]struct{}
	compacted  map[*Partition]struct{}
	isrLeaders map[*Partition]struct{}
	// retry names the topics whose partitions failed to open or to take
	// their role; the next Reconcile visits them again. Guarded by
	// reconcileMu.
	retry map[string]struct{}

	dirs       dirState        // offline log directories (log_dirs.go)
	moves      moveState       // moves between log directories (move.go)
	retention  retentionQueue  // partitions due for retention (retention.go)
	metaSync   metadataSync    // partition.metadata syncs (metadata_sync.go)
	corruption corruptionState // damaged ranges being repaired (corruption.go)
	hwCkpt     hwCheckpoints   // high watermark checkpoints (hw_checkpoint.go)
	stats      Stats           // event counters for the metrics (stats.go)
	throttles  throttles       // replication quotas (throttle.go)

	// Replication: the fetchers by leader broker, and the goroutines
	// (fetchers, AlterPartition proposals) that Close and the end of Run
	// stop. Guarded by reconcileMu, except bg*, which are set once.
	fetchers map[int32]*fetcher
	bgCtx    context.Context
	bgStop   context.CancelFunc
	bgMu     sync.Mutex // orders bg.Add in alter against bgStop then bg.Wait
	bg       sync.WaitGroup
	stopped  bool
	settings replicationSettings
	// isrEligible holds the brokers of the latest image that may join an
	// ISR (KIP-841).
	isrEligible atomic.Pointer[map[int32]bool]
	// alters are the ISR changes waiting to be proposed (alter_batch.go).
	alters alterQueue
}

// replicationSettings are the broker configs of replication, read at each
// Reconcile.
type replicationSettings struct {
	lagMax time.Duration // replica.lag.time.max.ms
	fetch  fetchSettings
}

// partitionMetadataFile records which topic ID a partition directory
// belongs to, so a topic deleted and re-created under the same name never
// reuses the old data (Kafka's partition.metadata).
const partitionMetadataFile = "partition.metadata"

// NewManager returns a manager with no partitions; Reconcile opens them.
func NewManager(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FS == nil {
		cfg.FS = log.OSFS{}
	}
	m := &Manager{cfg: cfg, logger: cfg.Logger, fs: cfg.FS, parts: make(map[TopicPartition]*Partition), applied: make(map[TopicPartition]log.Config),
		dirCount: make(map[string]int), flushable: make(map[*Partition]struct{}), compacted: make(map[*Partition]struct{}),
		isrLeaders: make(map[*Partition]struct{}), retry: make(map[string]struct{}), fetchers: make(map[int32]*fetcher)}
	m.throttles = newThrottles(cfg.Now)
	m.bgCtx, m.bgStop = context.WithCancel(context.Background())
	return m
}

// LogDirs are the directories that hold partitions.
func (m *Manager) LogDirs() []string { return m.cfg.LogDirs }

// partitionDir finds the directory of a partition: where it already is
// (exists), or else in the online log directory that holds the fewest
// partitions, counting placed: partitions placed but not yet opened, by
// directory. A partition that never got a record has no directory
// (internal/log/dir.go).
func (m *Manager) partitionDir(tp TopicPartition, placed map[string]int) (dir string, exists bool, err error) {
	m.settle()
	name := fmt.Sprintf("%s-%d", tp.Topic, tp.Partition)
	if m.dirs.duplicates[name] {
		return "", false, fmt.Errorf("open %s: %w", name, m.dirs.dupErr)
	}
	for _, root := range m.cfg.LogDirs {
		if _, err := m.fs.Stat(filepath.Join(root, name)); err == nil {
			return filepath.Join(root, name), true, nil
		}
	}
	if len(m.cfg.LogDirs) == 1 && m.LogDirOffline(m.cfg.LogDirs[0]) == nil {
		return filepath.Join(m.cfg.LogDirs[0], name), false, nil
	}
	m.mu.RLock()
	count := func(root string) int { return m.dirCount[root] + placed[root] }
	best := ""
	for _, root := range m.cfg.LogDirs {
		if m.LogDirOffline(root) == nil && (best == "" || count(root) < count(best)) {
			best = root
		}
	}
	m.mu.RUnlock()
	if best == "" {
		return "", false, fmt.Errorf("%w: every log directory is offline", ErrLogDirOffline)
	}
	return filepath.Join(best, name), false, nil
}

// Partition returns a hosted partition.
func (m *Manager) Partition(topic string, partition int32) (*Partition, bool) {
	m.mu.RLock()
	p, ok := m.parts[TopicPartition{topic, partition}]
	m.mu.RUnlock()
	return p, ok
}

// Partitions returns every hosted partition.
func (m *Manager) Partitions() []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Partition, 0, len(m.parts))
	for _, p := range m.parts {
		out = append(out, p)
	}
	return out
}

// LogConfig turns a topic's effective config into the log's settings.
func LogConfig(t *config.Topic) log.Config {
	return log.Config{
		SegmentBytes:       t.Int64("segment.bytes"),
		SegmentMs:          t.Int64("segment.ms"),
		SegmentJitterMs:    t.Int64("segment.jitter.ms"),
		IndexIntervalBytes: t.Int64("index.interval.bytes"),
		SegmentIndexBytes:  t.Int64("segment.index.bytes"),
		RetentionMs:        t.Int64("retention.ms"),
		RetentionBytes:     t.Int64("retention.bytes"),
		FlushMessages:      t.Int64("flush.messages"),
		FlushMs:            t.Int64("flush.ms"),
		FileDeleteDelayMs:  t.Int64("file.delete.delay.ms"),

		CleanupPolicy:          cleanupPolicy(t.List("cleanup.policy")),
		DeleteRetentionMs:      t.Int64("delete.retention.ms"),
		MinCleanableDirtyRatio: t.Float64("min.cleanable.dirty.ratio"),
		MinCompactionLagMs:     t.Int64("min.compaction.lag.ms"),
		MaxCompactionLagMs:     t.Int64("max.compaction.lag.ms"),
	}
}

// cleanupPolicy reads cleanup.policy: compact, delete, or both (an empty
// list is delete, Kafka's default).
func cleanupPolicy(list []string) log.CleanupPolicy {
	var compact, del bool
	for _, v := range list {
		switch v {
		case "compact":
			compact = true
		case "delete":
			del = true
		}
	}
	switch {
	case compact && del:
		return log.PolicyCompactDelete
	case compact:
		return log.PolicyCompact
	}
	return log.PolicyDelete
}

// Reconcile brings local partitions in line with img: it opens logs for
// partitions placed here, updates configs, gives each partition the role
// the image says (leader, or follower of the image's leader), points the
// fetchers at the leaders, and deletes logs whose topic is gone. Errors
// opening one partition are logged and do not stop the others; the first
// is returned.
//
// It applies what changed since the image it last reconciled
// (cluster.Image.ChangesSince): only the topics that changed, and those
// whose partitions failed before, are visited. It compares the whole image
// when the changes are not known (the first image, one restored from a
// snapshot, one too far ahead) or touch every partition (a broker config,
// a broker's endpoint). Partitions new to this broker are opened in
// parallel, several per log directory.
func (m *Manager) Reconcile(img *cluster.Image) error {
	m.reconcileMu.Lock()
	defer m.reconcileMu.Unlock()
	// Callers race: Run may take an image, then wait here while a
	// handler reconciles a newer one (a topic it just created). The older
	// image must not undo the newer: it would delete the new partitions.
	prev := m.reconciled
	if prev != nil && img.Index < prev.Index {
		return nil
	}
	changes, full := m.changesSince(prev, img)
	m.reconciled = img
	if !full && len(changes.Topics) == 0 && len(m.retry) == 0 && !changes.Brokers {
		return nil // only the controller changed
	}
	bcfg := m.cfg.BrokerConfig(img)
	m.settings = settingsOf(bcfg)
	m.throttles.configure(bcfg)
	eligible := make(map[int32]bool, len(img.Brokers))
	for id, b := range img.Brokers {
		eligible[id] = !b.Fenced && !b.ShuttingDown
	}
	m.isrEligible.Store(&eligible)

	start := time.Now()
	r := &reconciliation{m: m, img: img, bcfg: bcfg, now: m.cfg.Now(), keep: make(map[TopicPartition]bool)}
	var names []string
	if full {
		names = slices.Collect(img.Topics.Keys())
	} else {
		names = slices.Collect(maps.Keys(changes.Topics))
		for name := range m.retry {
			if _, ok := changes.Topics[name]; !ok {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	m.retry = make(map[string]struct{})
	for _, name := range names {
		if t := img.Topics.Value(name); t != nil {
			r.topic(t)
		}
	}
	r.open()
	gone := m.forget(r.keep, full, prev, names)
	if full {
		follow := make(map[*Partition]int32)
		for _, p := range m.Partitions() {
			if leader, _, _, ok := p.followState(); ok {
				follow[p] = leader
			}
		}
		m.assignFetchers(img, follow)
	} else {
		m.repointFetchers(img, r.touched, append(slices.Clip(gone), r.replaced...))
	}
	for _, p := range gone {
		m.logger.Debug("deleting partition", "topic", p.Topic, "partition", p.Index)
		m.cancelMove(TopicPartition{p.Topic, p.Index})
		if m.resign(p) {
			r.resigned++
		}
		if err := p.log.Delete(); err != nil {
			r.fail(p.Topic, err)
		}
		p.advance(1<<63 - 1) // wake fetchers waiting on it
	}
	if r.opened+r.led+r.resigned+r.newLeader+len(gone) > 0 {
		m.logger.Info("reconciled partitions", "index", img.Index, "topics_visited", len(names), "opened", r.opened,
			"became_leader", r.led, "stopped_leading", r.resigned, "following_new_leader", r.newLeader, "deleted", len(gone),
			"hosted", m.hosted(), "took", time.Since(start).Round(time.Millisecond))
	}
	return r.firstErr
}

// changesSince says which topics changed from prev to img, or full when
// every partition must be compared.
func (m *Manager) changesSince(prev, img *cluster.Image) (c cluster.Changes, full bool) {
	if prev == nil {
		return c, true
	}
	c, ok := img.ChangesSince(prev.Index)
	if !ok || c.BrokerConfigs {
		return c, true // broker configs are every topic's defaults
	}
	if c.Brokers && endpointsChanged(prev, img) {
		return c, true // fetchers follow leaders by address
	}
	return c, false
}

// endpointsChanged reports whether a broker appeared, went or moved
// between two images (fencing and shutting down are not moves: the
// partitions they affect change in the image too).
func endpointsChanged(prev, img *cluster.Image) bool {
	if len(prev.Brokers) != len(img.Brokers) {
		return true
	}
	for id, b := range img.Brokers {
		old, ok := prev.Brokers[id]
		if !ok || old.Host != b.Host || old.Port != b.Port {
			return true
		}
	}
	return false
}

// reconciliation is one Reconcile's work and tallies.
type reconciliation struct {
	m    *Manager
	img  *cluster.Image
	bcfg *config.Broker
	now  time.Time
	keep map[TopicPartition]bool
	// touched are the hosted partitions of the topics visited; replaced
	// those of older topics of the same names, deleted (update).
	touched, replaced []*Partition
	// toOpen are partitions placed here that are not open yet.
	toOpen []opening
	// defaults is the config of a topic that sets none (topicConfig).
	defaults *resolvedTopic

	opened, led, resigned, newLeader int
	firstErr                         error
}

// opening is a partition to open, with what it is opened with.
type opening struct {
	tp     TopicPartition
	id     cluster.TopicID
	part   *cluster.Partition
	lcfg   log.Config
	minISR int32
	// throttled are the partition's throttle bits (throttle.go).
	throttled uint32
	dir       string
	exists    bool // dir exists

	p      *Partition
	change roleChange
	err    error
}

func (r *reconciliation) fail(topic string, err error) {
	r.m.retry[topic] = struct{}{}
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// topic updates the hosted partitions of t and notes those to open.
func (r *reconciliation) topic(t *cluster.Topic) {
	m := r.m
	lcfg, minISR := r.topicConfig(t)
	throttled := throttledFor(t, m.cfg.NodeID)
	for i := range t.Partitions {
		part := &t.Partitions[i]
		if !contains(part.Replicas, m.cfg.NodeID) {
			continue
		}
		tp := TopicPartition{t.Name, part.Index}
		r.keep[tp] = true
		p, replaced, err := m.update(tp, t.ID, lcfg)
		if replaced != nil {
			r.replaced = append(r.replaced, replaced)
		}
		if err == nil && p == nil {
			r.toOpen = append(r.toOpen, opening{tp: tp, id: t.ID, part: part, lcfg: lcfg, minISR: minISR, throttled: throttled.bits(part.Index)})
			continue
		}
		if err == nil {
			p.setMinISR(minISR, r.now)
			p.lagMaxMs.Store(m.settings.lagMax.Milliseconds())
			p.throttled.Store(throttled.bits(part.Index))
			var change roleChange
			if change, err = p.applyRole(m.roleFor(p, tp, part), r.now); err == nil {
				r.roleChanged(p, part, change)
			}
		}
		if err != nil {
			m.logger.Error("cannot open partition", "topic", t.Name, "partition", part.Index, "err", err)
			r.fail(t.Name, err)
			continue
		}
		m.track(p, lcfg)
		r.touched = append(r.touched, p)
	}
}

// topicConfig resolves t's configs into its log's and its min.insync.replicas.
// Topics that set nothing share one resolution of the defaults per
// reconciliation: resolving the whole config table was the largest cost
// of reconciling thousands of new topics after the files went.
func (r *reconciliation) topicConfig(t *cluster.Topic) (log.Config, int32) {
	if len(t.Configs) == 0 && r.defaults != nil {
		return r.defaults.lcfg, r.defaults.minISR
	}
	tcfg, err := config.ApplyTopic(r.bcfg, t.Configs)
	if err != nil {
		r.m.logger.Error("topic has stored configs that do not parse; they take their defaults", "topic", t.Name, "err", err)
	}
	lcfg, minISR := LogConfig(tcfg), int32(tcfg.Int64("min.insync.replicas"))
	if len(t.Configs) == 0 && err == nil {
		r.defaults = &resolvedTopic{lcfg: lcfg, minISR: minISR}
	}
	return lcfg, minISR
}

// resolvedTopic is what a reconciliation keeps of a resolved topic config.
type resolvedTopic struct {
	lcfg   log.Config
	minISR int32
}

// open opens the partitions new to this broker, several at a time in
// each log directory (at least num.recovery.threads.per.data.dir), gives
// them their roles, then tells the hooks in image order.
func (r *reconciliation) open() {
	m := r.m
	if len(r.toOpen) == 0 {
		return
	}
	byDir := map[string][]*opening{}
	placed := map[string]int{}
	for i := range r.toOpen {
		o := &r.toOpen[i]
		o.dir, o.exists, o.err = m.partitionDir(o.tp, placed)
		if o.err != nil {
			continue
		}
		root := filepath.Dir(o.dir)
		placed[root]++
		byDir[root] = append(byDir[root], o)
	}
	workers := int(max(r.bcfg.Int64("num.recovery.threads.per.data.dir"), minOpenWorkers))
	var wg sync.WaitGroup
	var synced []string
	for root, todo := range byDir {
		var next atomic.Int64
		for range min(workers, len(todo)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < len(todo); i = int(next.Add(1)) - 1 {
					r.openOne(todo[i])
				}
			}()
		}
		synced = append(synced, root)
	}
	wg.Wait()
	m.startVerify() // corruption.go: only now, not beside the opening
	// One sync of each log directory makes every partition.metadata
	// written above durable, instead of two fsyncs per partition: here
	// for a batch of many (a syncfs running beside the next batch's file
	// creations slows them), in the background for a few (CreateTopics
	// reconciles after each topic; metadata_sync.go).
	for _, root := range synced {
		if !wroteMetadata(byDir[root]) {
			continue // all new and empty: nothing written (lazy_metadata.go)
		}
		if len(byDir[root]) >= inlineMetadataSync {
			if err := m.syncLogDir(root); err != nil {
				m.logger.Warn("sync log directory after creating partitions", "dir", root, "err", err)
			}
			continue
		}
		m.syncMetadata(root)
	}
	for i := range r.toOpen {
		o := &r.toOpen[i]
		if o.err != nil {
			m.logger.Error("cannot open partition", "topic", o.tp.Topic, "partition", o.tp.Partition, "err", o.err)
			r.fail(o.tp.Topic, o.err)
			continue
		}
		r.opened++
		r.roleChanged(o.p, o.part, o.change)
		m.track(o.p, o.lcfg)
		r.touched = append(r.touched, o.p)
	}
}

// inlineMetadataSync is the fewest partitions opened at once in a log
// directory whose partition.metadata files open syncs at once rather
// than in the background.
const inlineMetadataSync = 64

// minOpenWorkers is the fewest partitions opened at once per log
// directory: opening is bound by fsync latency rather than CPU, so even
// Kafka's default of one recovery thread gets several.
const minOpenWorkers = 8

// openOne opens one partition and gives it its role; it runs on an open
// worker, so it calls no hook.
func (r *reconciliation) openOne(o *opening) {
	p, err := r.m.create(o.tp, o.id, o.dir, o.exists, o.part, o.lcfg)
	if err != nil {
		o.err = err
		return
	}
	p.minISR.Store(o.minISR)
	p.lagMaxMs.Store(r.m.settings.lagMax.Milliseconds())
	p.throttled.Store(o.throttled)
	o.p = p
	o.change, o.err = p.applyRole(r.m.roleFor(p, o.tp, o.part), r.now)
	r.m.signalOpened()
}

// Opened returns a channel closed the next time a partition new to this
// broker is open and has its role: a request for a partition the image
// places here, arriving while partitions are still being opened (at
// start-up, or just after a topic is created), waits on it rather than
// send the client into a metadata refresh.
func (m *Manager) Opened() <-chan struct{} {
	m.openedMu.Lock()
	defer m.openedMu.Unlock()
	if m.opened == nil {
		m.opened = make(chan struct{})
	}
	return m.opened
}

func (m *Manager) signalOpened() {
	m.openedMu.Lock()
	if m.opened != nil {
		close(m.opened)
		m.opened = nil
	}
	m.openedMu.Unlock()
}

// roleChanged logs a partition's role change and tells the hooks.
func (r *reconciliation) roleChanged(p *Partition, part *cluster.Partition, change roleChange) {
	m := r.m
	switch change {
	case roleLeader:
		r.led++
		m.logger.Debug("leading partition", "topic", p.Topic, "partition", p.Index, "leader_epoch", part.LeaderEpoch,
			"isr", part.ISR, "log_end_offset", p.log.LogEndOffset(), "high_watermark", p.HighWatermark())
		if m.cfg.OnLeader != nil {
			m.cfg.OnLeader(p)
		}
	case roleLeaderEpoch:
		m.logger.Debug("leading partition at a new epoch", "topic", p.Topic, "partition", p.Index, "leader_epoch", part.LeaderEpoch)
	case roleResigned:
		r.resigned++
		m.logger.Debug("following partition", "topic", p.Topic, "partition", p.Index, "leader", part.Leader, "leader_epoch", part.LeaderEpoch)
		if m.cfg.OnResign != nil {
			m.cfg.OnResign(p)
		}
	case roleNewLeader:
		r.newLeader++
		m.logger.Debug("following partition", "topic", p.Topic, "partition", p.Index, "leader", part.Leader, "leader_epoch", part.LeaderEpoch)
	}
}

// forget takes out of the hosted set the partitions that keep leaves out:
// every one when full, else those of the visited topics (names), whose
// indexes prev and the current image bound.
func (m *Manager) forget(keep map[TopicPartition]bool, full bool, prev *cluster.Image, names []string) []*Partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	var gone []*Partition
	drop := func(tp TopicPartition, p *Partition) {
		gone = append(gone, p)
		m.removeLocked(tp, p)
	}
	if full {
		for tp, p := range m.parts {
			if !keep[tp] {
				drop(tp, p)
			}
		}
		return gone
	}
	for _, name := range names {
		n := 0
		if t := prev.Topics.Value(name); t != nil {
			n = len(t.Partitions)
		}
		if t := m.reconciled.Topics.Value(name); t != nil {
			n = max(n, len(t.Partitions))
		}
		for i := range n {
			tp := TopicPartition{name, int32(i)}
			if p, ok := m.parts[tp]; ok && !keep[tp] {
				drop(tp, p)
			}
		}
	}
	return gone
}

// removeLocked takes p out of every map of the Manager. The caller holds
// mu.
func (m *Manager) removeLocked(tp TopicPartition, p *Partition) {
	delete(m.parts, tp)
	delete(m.applied, tp)
	m.retention.remove(tp)
	if p.countedDir != "" {
		m.dirCount[p.countedDir]--
		p.countedDir = ""
	}
	delete(m.flushable, p)
	delete(m.compacted, p)
	delete(m.isrLeaders, p)
}

// track files p under the periodic tasks that concern it: flushes when
// flush.ms or flush.messages can fire, the cleaner when it is compacted,
// the ISR check when it leads other replicas.
func (m *Manager) track(p *Partition, lcfg log.Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.parts[TopicPartition{p.Topic, p.Index}]; !ok {
		return // deleted meanwhile
	}
	setIf(m.flushable, p, lcfg.FlushMs < math.MaxInt64 || lcfg.FlushMessages < math.MaxInt64)
	setIf(m.compacted, p, lcfg.CleanupPolicy.Compacts())
	setIf(m.isrLeaders, p, p.leadsOthers())
}

func setIf(set map[*Partition]struct{}, p *Partition, in bool) {
	if in {
		set[p] = struct{}{}
	} else {
		delete(set, p)
	}
}

// hosted is how many partitions this broker hosts.
func (m *Manager) hosted() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.parts)
}

// tracked returns the members of one of the task sets.
func (m *Manager) tracked(set map[*Partition]struct{}) []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Collect(maps.Keys(set))
}

// settingsOf reads the replication configs.
func settingsOf(b *config.Broker) replicationSettings {
	ms := func(key string, least int64) time.Duration {
		return time.Duration(max(b.Int64(key), least)) * time.Millisecond
	}
	backoff := ms("replica.fetch.backoff.ms", 0)
	return replicationSettings{
		lagMax: ms("replica.lag.time.max.ms", 1),
		fetch: fetchSettings{
			maxWait:       ms("replica.fetch.wait.max.ms", 0),
			minBytes:      int32(max(b.Int64("replica.fetch.min.bytes"), 1)),
			maxBytes:      int32(max(b.Int64("replica.fetch.response.max.bytes"), 1)),
			partMaxBytes:  int32(max(b.Int64("replica.fetch.max.bytes"), 1)),
			backoff:       backoff,
			staleBackoff:  min(backoff, 100*time.Millisecond),
			socketTimeout: ms("replica.socket.timeout.ms", 1000),
		},
	}
}

// resign stops p leading before it is closed or deleted.
// It reports whether p was leading.
func (m *Manager) resign(p *Partition) bool {
	wasLeader := p.IsLeader()
	p.becomeFollower(role{leader: -1, leaderEpoch: p.LeaderEpoch()})
	if wasLeader && m.cfg.OnResign != nil {
		m.cfg.OnResign(p)
	}
	return wasLeader
}

// assignFetchers points one fetcher per leader broker at the partitions
// that follow it, starting and stopping fetchers as needed. The caller
// holds reconcileMu.
func (m *Manager) assignFetchers(img *cluster.Image, follow map[*Partition]int32) {
	addrs := make(map[int32]string)
	for p, leader := range follow {
		b, ok := img.Brokers[leader]
		if !ok || b.Host == "" {
			delete(follow, p) // nowhere to fetch from until the leader registers
			continue
		}
		addrs[leader] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	for id, f := range m.fetchers {
		if addrs[id] != f.addr {
			m.stopFetcher(id)
			continue
		}
		f.setSettings(m.settings.fetch)
	}
	var started []*fetcher
	for p, leader := range follow {
		f := m.fetchers[leader]
		if f == nil {
			if m.stopped {
				continue
			}
			f = m.newFetcher(leader, addrs[leader])
			started = append(started, f)
		}
		_, epoch, gen, _ := p.followState()
		f.set(p, gen, epoch)
	}
	m.runFetchers(started)
	for id, f := range m.fetchers {
		f.mu.Lock()
		for p := range f.parts {
			if follow[p] != id {
				delete(f.parts, p)
			}
		}
		n := len(f.parts)
		f.mu.Unlock()
		if n == 0 {
			m.stopFetcher(id)
		}
	}
}

// repointFetchers is assignFetchers for the partitions one Reconcile
// touched (touched) and deleted (gone); the others keep their fetchers.
// The caller holds reconcileMu.
func (m *Manager) repointFetchers(img *cluster.Image, touched, gone []*Partition) {
	for _, p := range gone {
		for _, f := range m.fetchers {
			f.remove(p)
		}
	}
	var started []*fetcher
	for _, p := range touched {
		leader, epoch, gen, following := p.followState()
		addr := ""
		if b, ok := img.Brokers[leader]; following && ok && b.Host != "" {
			addr = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		}
		for id, f := range m.fetchers {
			if addr == "" || id != leader {
				f.remove(p)
			}
		}
		if addr == "" {
			continue // not following, or nowhere to fetch from until the leader registers
		}
		f := m.fetchers[leader]
		if f == nil {
			if m.stopped {
				continue
			}
			f = m.newFetcher(leader, addr)
			started = append(started, f)
		}
		f.set(p, gen, epoch)
	}
	m.runFetchers(started)
	for id, f := range m.fetchers {
		if f.size() == 0 {
			m.stopFetcher(id)
		}
	}
}

// newFetcher adds the fetcher from leader at addr; runFetchers starts it
// once it has been given every partition of the reconciliation: started
// with only the first few, its first fetch (a long poll of up to
// replica.fetch.wait.max.ms) would hold back the thousands of others a
// restarted broker follows from that leader. The caller holds
// reconcileMu.
func (m *Manager) newFetcher(leader int32, addr string) *fetcher {
	f := newFetcher(m.cfg.NodeID, leader, addr, m.settings.fetch, m.logger.With("component", "fetcher"), m.cfg.Now)
	f.throttle = m.throttles.follower
	f.brokerEpoch = m.cfg.BrokerEpoch
	f.opts = m.cfg.PeerOpts
	m.fetchers[leader] = f
	return f
}

// runFetchers starts fetchers added by newFetcher. The caller holds
// reconcileMu.
func (m *Manager) runFetchers(fs []*fetcher) {
	for _, f := range fs {
		ctx, cancel := context.WithCancel(m.bgCtx)
		f.cancel = cancel
		m.bg.Add(1)
		go func() {
			defer m.bg.Done()
			f.run(ctx)
		}()
	}
}

// stopFetcher stops a fetcher and waits for it. The caller holds
// reconcileMu.
func (m *Manager) stopFetcher(id int32) {
	f := m.fetchers[id]
	delete(m.fetchers, id)
	f.cancel()
	<-f.done
}

// eligibleForISR reports whether broker id may join an ISR as the latest
// image says.
func (m *Manager) eligibleForISR(id int32) bool {
	e := m.isrEligible.Load()
	return e != nil && (*e)[id]
}

// update applies lcfg to the hosted partition tp of topic id and returns
// it; nil when it is not open here yet. A hosted partition of an older
// topic of the same name (deleted and created again) is deleted first and
// returned as replaced: the caller takes it out of its fetcher.
func (m *Manager) update(tp TopicPartition, id cluster.TopicID, lcfg log.Config) (p, replaced *Partition, err error) {
	m.mu.RLock()
	p, ok := m.parts[tp]
	applied := m.applied[tp]
	m.mu.RUnlock()
	if ok && p.TopicID == id {
		if applied != lcfg {
			p.log.SetConfig(lcfg)
			m.mu.Lock()
			m.applied[tp] = lcfg
			m.mu.Unlock()
			m.retention.schedule(tp, time.Time{}) // retention.ms or .bytes may have changed
		}
		return p, nil, nil
	}
	if ok {
		// Same name, new topic ID: the old topic was deleted.
		m.mu.Lock()
		m.removeLocked(tp, p)
		m.mu.Unlock()
		m.cancelMove(tp)
		m.resign(p)
		err := p.log.Delete()
		p.advance(1<<63 - 1) // wake fetchers waiting on it
		return nil, p, err
	}
	return nil, nil, nil
}

// create opens the log of partition tp of topic id in dir (which exists, or
// not yet) and hosts it. It runs on open workers, several at once.
func (m *Manager) create(tp TopicPartition, id cluster.TopicID, dir string, exists bool, part *cluster.Partition, lcfg log.Config) (*Partition, error) {
	old, err := cluster.TopicID{}, error(fs.ErrNotExist)
	if exists {
		old, err = m.readPartitionMetadata(dir)
	}
	if err == nil && old != id {
		m.logger.Info("removing data of a deleted topic with the same name", "topic", tp.Topic, "partition", tp.Partition, "dir", dir)
		if err := m.fs.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove stale partition %s: %w", dir, err)
		}
		err = fs.ErrNotExist // a new partition from here on
	}
	missing := err != nil && errors.Is(err, fs.ErrNotExist)
	opts, opened := m.logOptions(tp, dir)
	opts.RepairCorruption = m.othersInSync(part.ISR) // corruption.go
	l, err := log.Open(dir, lcfg, opts)
	if err != nil {
		return nil, err
	}
	opened(l)
	m.noteRepaired(tp, l)
	// A new, empty partition writes its partition.metadata before its
	// first append (lazy_metadata.go). Otherwise it is written now, not
	// fsynced: the caller syncs the log directory once for every
	// partition it opened.
	lazy := missing && l.LogEndOffset() == 0
	if !lazy {
		if err := m.writePartitionMetadata(dir, id, missing); err != nil {
			l.Close()
			return nil, err
		}
	}
	p := newPartition(tp.Topic, id, tp.Partition, l, m.cfg.NodeID, *part)
	m.restoreHW(p, dir, part)
	if lazy {
		m.deferMetadata(p, id)
	}
	p.stats = &m.stats
	p.now = m.cfg.Now
	if m.cfg.Propose != nil { // without it no ISR ever changes
		p.alter = m.alter
	}
	p.eligible = m.eligibleForISR
	p.brokerEpoch = m.cfg.BrokerEpoch
	m.mu.Lock()
	m.parts[tp] = p
	m.applied[tp] = lcfg
	p.countedDir = p.Dir()
	m.dirCount[p.countedDir]++
	m.mu.Unlock()
	m.scheduleOpened(p)
	m.takeOfflineIfDirIs(p)
	return p, nil
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// RemoveOrphans deletes partition directories in the data directory that
// belong to no topic in img (topics deleted while the broker was down).
func (m *Manager) RemoveOrphans(img *cluster.Image) error {
	m.settle()
	for _, root := range m.cfg.LogDirs {
		if err := m.removeOrphansIn(root, img); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) removeOrphansIn(root string, img *cluster.Image) error {
	entries, err := m.fs.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		i := strings.LastIndexByte(e.Name(), '-')
		if i < 0 {
			continue
		}
		partition, err := strconv.Atoi(e.Name()[i+1:])
		if err != nil {
			continue
		}
		topic := e.Name()[:i]
		if t := img.Topics.Value(topic); t != nil && partition < len(t.Partitions) &&
			int(t.Partitions[partition].Index) == partition && contains(t.Partitions[partition].Replicas, m.cfg.NodeID) {
			// Opening it checks its topic ID (create) and removes the data
			// of a same-named topic deleted while the broker was down: a
			// restart reads each partition.metadata there, several at a
			// time, not one after another here before it listens.
			continue
		}
		id, err := m.readPartitionMetadata(dir)
		switch {
		case err == nil:
			if t, ok := img.TopicsByID.Get(id); ok && t.Name == topic {
				continue
			}
		case img.Topics.Value(topic) != nil || (!m.hasSegments(dir) && !m.emptyDir(dir)):
			// A crash before partition.metadata was synced: the
			// topic of that name adopts it. Or not a partition. (An
			// empty one is a partition that never got a record, whose
			// partition.metadata was not written yet: removed.)
			continue
		}
		m.logger.Info("removing partition of a deleted topic", "topic", topic, "partition", partition, "dir", dir)
		if err := m.fs.RemoveAll(dir); err != nil {
			return err
		}
	}
	return nil
}

// Run reconciles on every metadata change and runs retention and flushes
// on their intervals, until ctx ends.
func (m *Manager) Run(ctx context.Context, node *cluster.Node) {
	defer m.stopBackground()
	defer m.startCleaner(ctx, node)()       // cleaner.go; stops with ctx
	defer m.startHWCheckpoints(ctx, node)() // hw_checkpoint.go; stops with ctx
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	isrCheck := time.NewTimer(m.isrCheckInterval(node.Image()))
	defer isrCheck.Stop()
	retention := time.NewTimer(m.retentionInterval(node.Image()))
	defer retention.Stop()
	// Partitions that failed to open (a read error) or to take their role
	// are tried again on the next metadata change, or after a backoff if
	// none comes: an idle cluster may have none for a long time.
	retry := time.NewTimer(retryReconcileMin)
	retry.Stop()
	retryArmed, retryDue, backoff := false, false, retryReconcileMin
	var last *cluster.Image
	for {
		// Changed before Image: an image published after this read closes
		// changed, so none is missed.
		changed := node.Changed()
		if img := node.Image(); img != last || retryDue {
			if err := m.Reconcile(img); err != nil {
				m.logger.Warn("reconcile partitions", "err", err)
			}
			last, retryDue = img, false
			switch {
			case !m.retrying():
				backoff = retryReconcileMin
			case !retryArmed:
				retry.Reset(backoff)
				retryArmed, backoff = true, min(2*backoff, retryReconcileMax)
			}
		}
		select {
		case <-ctx.Done():
			m.stopMoves()
			return
		case <-retry.C:
			retryArmed, retryDue = false, true
		case <-changed:
		case <-flush.C:
			for _, p := range m.tracked(m.flushable) {
				if err := p.log.MaybeFlush(); err != nil && !errors.Is(err, log.ErrClosed) && !errors.Is(err, log.ErrOffline) {
					m.logger.Error("flush", "topic", p.Topic, "partition", p.Index, "err", err)
				}
			}
		case <-retention.C:
			m.applyRetention(node.Image())
			retention.Reset(m.retentionInterval(node.Image()))
		case <-isrCheck.C:
			m.ShrinkISRs()
			isrCheck.Reset(m.isrCheckInterval(node.Image()))
		}
	}
}

// Partitions to open again are retried after retryReconcileMin without a
// metadata change, then after twice as long each time, up to
// retryReconcileMax.
const (
	retryReconcileMin = time.Second
	retryReconcileMax = 30 * time.Second
)

// retrying reports whether some partitions wait to be opened again.
func (m *Manager) retrying() bool {
	m.reconcileMu.Lock()
	defer m.reconcileMu.Unlock()
	return len(m.retry) > 0
}

// isrCheckInterval is half of replica.lag.time.max.ms, as in Kafka.
func (m *Manager) isrCheckInterval(img *cluster.Image) time.Duration {
	return max(settingsOf(m.cfg.BrokerConfig(img)).lagMax/2, 10*time.Millisecond)
}

// ShrinkISRs proposes, for every partition this broker leads with other
// replicas, removing the followers that have not caught up within
// replica.lag.time.max.ms.
func (m *Manager) ShrinkISRs() {
	now := m.cfg.Now()
	for _, p := range m.tracked(m.isrLeaders) {
		if out := p.ShrinkISR(now); len(out) > 0 {
			m.logger.Info("shrinking ISR: followers fell behind", "topic", p.Topic, "partition", p.Index, "out_of_sync", out)
		}
	}
}

// stopBackground stops the fetchers and waits for them and for proposals
// in flight. Reconcile starts no fetcher afterwards.
func (m *Manager) stopBackground() {
	m.reconcileMu.Lock()
	m.stopped = true
	for id := range m.fetchers {
		m.stopFetcher(id)
	}
	m.reconcileMu.Unlock()
	m.bgMu.Lock()
	m.bgStop()
	m.bgMu.Unlock()
	m.bg.Wait()
}

func (m *Manager) retentionInterval(img *cluster.Image) time.Duration {
	ms := m.cfg.BrokerConfig(img).Int64("log.retention.check.interval.ms")
	return time.Duration(max(ms, 10)) * time.Millisecond
}

// Close closes every log. A log already offline after an I/O error
// cannot be flushed; that was reported when it went offline and is logged
// again here, but does not fail the shutdown of the others.
func (m *Manager) Close() error {
	m.writeHWCheckpoints()
	m.stopBackground()
	m.stopMoves()
	defer m.dirs.wg.Wait() // after m.mu is released: it takes partitions offline
	m.mu.Lock()
	defer m.mu.Unlock()
	var closing []*Partition
	for tp, p := range m.parts {
		m.resign(p)
		m.removeLocked(tp, p)
		closing = append(closing, p)
	}
	// Closing a log fsyncs it and writes its checkpoints: close several
	// at once, as partitions are opened, so a broker with many
	// partitions stops in seconds.
	errs := make([]error, len(closing))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(closeWorkers, len(closing)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(closing); i = int(next.Add(1)) - 1 {
				errs[i] = closing[i].log.Close()
			}
		}()
	}
	wg.Wait()
	m.closeSyncGroups()
	var firstErr error
	for i, err := range errs {
		switch p := closing[i]; {
		case errors.Is(err, log.ErrOffline):
			m.logger.Warn("closed an offline partition without flushing it", "topic", p.Topic, "partition", p.Index, "err", err)
		case err != nil && firstErr == nil:
			firstErr = err
		}
	}
	return firstErr
}

// closeWorkers is how many logs Close closes at once.
const closeWorkers = 16
