package replica

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// Propose commits a metadata command through the controller
	// (cluster.Node.Propose); leaders send AlterPartition with it to change
	// their ISR. Nil never changes an ISR.
	Propose func(ctx context.Context, cmd cluster.Command) error
}

// Manager hosts this broker's partitions.
type Manager struct {
	cfg    Config
	logger *slog.Logger

	// reconcileMu serialises Reconcile; it is taken before mu.
	reconcileMu sync.Mutex
	// reconciled is the newest image reconciled; guarded by reconcileMu.
	reconciled *cluster.Image

	mu    sync.RWMutex
	parts map[TopicPartition]*Partition
	// applied remembers the log config each partition was last given.
	applied map[TopicPartition]log.Config

	dirs  dirState  // offline log directories (log_dirs.go)
	moves moveState // moves between log directories (move.go)

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
	m := &Manager{cfg: cfg, logger: cfg.Logger, parts: make(map[TopicPartition]*Partition), applied: make(map[TopicPartition]log.Config),
		fetchers: make(map[int32]*fetcher)}
	m.bgCtx, m.bgStop = context.WithCancel(context.Background())
	return m
}

// LogDirs are the directories that hold partitions.
func (m *Manager) LogDirs() []string { return m.cfg.LogDirs }

// partitionDir finds the directory of a partition: where it already is, or
// else in the online log directory that holds the fewest partitions.
func (m *Manager) partitionDir(tp TopicPartition) (string, error) {
	m.settle()
	name := fmt.Sprintf("%s-%d", tp.Topic, tp.Partition)
	for _, root := range m.cfg.LogDirs {
		if _, err := os.Stat(filepath.Join(root, name)); err == nil {
			return filepath.Join(root, name), nil
		}
	}
	count := make(map[string]int, len(m.cfg.LogDirs))
	m.mu.RLock()
	for _, p := range m.parts {
		count[p.Dir()]++
	}
	m.mu.RUnlock()
	best := ""
	for _, root := range m.cfg.LogDirs {
		if m.LogDirOffline(root) == nil && (best == "" || count[root] < count[best]) {
			best = root
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: every log directory is offline", ErrLogDirOffline)
	}
	return filepath.Join(best, name), nil
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
func (m *Manager) Reconcile(img *cluster.Image) error {
	m.reconcileMu.Lock()
	defer m.reconcileMu.Unlock()
	// Callers race: Run may take an image, then wait here while a
	// handler reconciles a newer one (a topic it just created). The older
	// image must not undo the newer: it would delete the new partitions.
	if m.reconciled != nil && img.Index < m.reconciled.Index {
		return nil
	}
	m.reconciled = img
	bcfg := m.cfg.BrokerConfig(img)
	m.settings = settingsOf(bcfg)
	eligible := make(map[int32]bool, len(img.Brokers))
	for id, b := range img.Brokers {
		eligible[id] = !b.Fenced && !b.ShuttingDown
	}
	m.isrEligible.Store(&eligible)
	now := m.cfg.Now()
	var firstErr error
	keep := make(map[TopicPartition]bool)
	follow := make(map[*Partition]int32) // partition -> leader to fetch from
	for _, t := range img.Topics {
		tcfg, err := config.ResolveTopic(bcfg, t.Configs)
		if err != nil {
			m.logger.Error("topic has invalid config; using defaults", "topic", t.Name, "err", err)
			tcfg, _ = config.ResolveTopic(bcfg, nil)
		}
		lcfg := LogConfig(tcfg)
		minISR := int32(tcfg.Int64("min.insync.replicas"))
		for i := range t.Partitions {
			part := &t.Partitions[i]
			if !contains(part.Replicas, m.cfg.NodeID) {
				continue
			}
			tp := TopicPartition{t.Name, part.Index}
			keep[tp] = true
			p, err := m.ensure(tp, t.ID, part, lcfg)
			if err == nil {
				p.minISR.Store(minISR)
				p.lagMaxMs.Store(m.settings.lagMax.Milliseconds())
				err = m.applyRole(p, part, now)
			}
			if err != nil {
				m.logger.Error("cannot open partition", "topic", t.Name, "partition", part.Index, "err", err)
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			if leader, _, _, ok := p.followState(); ok {
				follow[p] = leader
			}
		}
	}
	m.mu.Lock()
	var gone []*Partition
	for tp, p := range m.parts {
		if !keep[tp] {
			gone = append(gone, p)
			delete(m.parts, tp)
			delete(m.applied, tp)
		}
	}
	m.mu.Unlock()
	m.assignFetchers(img, follow)
	for _, p := range gone {
		m.logger.Info("deleting partition", "topic", p.Topic, "partition", p.Index)
		m.cancelMove(TopicPartition{p.Topic, p.Index})
		m.resign(p)
		if err := p.log.Delete(); err != nil && firstErr == nil {
			firstErr = err
		}
		p.advance(1<<63 - 1) // wake fetchers waiting on it
	}
	return firstErr
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

// applyRole gives p the role part says, and tells the hooks.
func (m *Manager) applyRole(p *Partition, part *cluster.Partition, now time.Time) error {
	change, err := p.applyRole(roleOf(part), now)
	if err != nil {
		return err
	}
	switch change {
	case roleLeader:
		m.logger.Info("leading partition", "topic", p.Topic, "partition", p.Index, "leader_epoch", part.LeaderEpoch,
			"isr", part.ISR, "log_end_offset", p.log.LogEndOffset(), "high_watermark", p.HighWatermark())
		if m.cfg.OnLeader != nil {
			m.cfg.OnLeader(p)
		}
	case roleLeaderEpoch:
		m.logger.Info("leading partition at a new epoch", "topic", p.Topic, "partition", p.Index, "leader_epoch", part.LeaderEpoch)
	case roleResigned:
		m.logger.Info("following partition", "topic", p.Topic, "partition", p.Index, "leader", part.Leader, "leader_epoch", part.LeaderEpoch)
		if m.cfg.OnResign != nil {
			m.cfg.OnResign(p)
		}
	case roleNewLeader:
		m.logger.Debug("following partition", "topic", p.Topic, "partition", p.Index, "leader", part.Leader, "leader_epoch", part.LeaderEpoch)
	}
	return nil
}

// resign stops p leading before it is closed or deleted.
func (m *Manager) resign(p *Partition) {
	wasLeader := p.IsLeader()
	p.becomeFollower(role{leader: -1, leaderEpoch: p.LeaderEpoch()})
	if wasLeader && m.cfg.OnResign != nil {
		m.cfg.OnResign(p)
	}
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
	for p, leader := range follow {
		f := m.fetchers[leader]
		if f == nil {
			if m.stopped {
				continue
			}
			f = newFetcher(m.cfg.NodeID, leader, addrs[leader], m.settings.fetch, m.logger.With("component", "fetcher"), m.cfg.Now)
			ctx, cancel := context.WithCancel(m.bgCtx)
			f.cancel = cancel
			m.fetchers[leader] = f
			m.bg.Add(1)
			go func() {
				defer m.bg.Done()
				f.run(ctx)
			}()
		}
		_, epoch, gen, _ := p.followState()
		f.set(p, gen, epoch)
	}
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

// alter sends an AlterPartition for p in the background; a refusal or a
// failure ends the pending change, and the leader tries again after a
// while (or when the next image changes the partition).
func (m *Manager) alter(p *Partition, cmd cluster.AlterPartition, seq uint64) {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.bgCtx.Err() != nil {
		return // stopping: no new background work (bg.Wait may be running)
	}
	m.logger.Info("proposing ISR change", "topic", p.Topic, "partition", p.Index, "isr", cmd.ISR,
		"leader_epoch", cmd.LeaderEpoch, "partition_epoch", cmd.PartitionEpoch)
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		ctx, cancel := context.WithTimeout(m.bgCtx, 30*time.Second)
		defer cancel()
		err := m.cfg.Propose(ctx, cmd)
		if err == nil {
			return // the image brings the new ISR to Reconcile
		}
		level := slog.LevelWarn
		if errors.Is(err, cluster.ErrFencedLeaderEpoch) || errors.Is(err, cluster.ErrInvalidUpdateVersion) || errors.Is(err, cluster.ErrIneligibleReplica) {
			level = slog.LevelInfo // stale: the next image says what is true
		}
		m.logger.Log(ctx, level, "ISR change not applied", "topic", p.Topic, "partition", p.Index, "isr", cmd.ISR, "err", err)
		p.alterFailed(seq, m.cfg.Now().Add(time.Second))
	}()
}

func (m *Manager) ensure(tp TopicPartition, id cluster.TopicID, part *cluster.Partition, lcfg log.Config) (*Partition, error) {
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
		}
		return p, nil
	}
	if ok {
		// Same name, new topic ID: the old topic was deleted.
		m.mu.Lock()
		delete(m.parts, tp)
		m.mu.Unlock()
		m.resign(p)
		if err := p.log.Delete(); err != nil {
			return nil, err
		}
	}
	dir, err := m.partitionDir(tp)
	if err != nil {
		return nil, err
	}
	if old, err := readPartitionMetadata(dir); err == nil && old != id {
		m.logger.Info("removing data of a deleted topic with the same name", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove stale partition %s: %w", dir, err)
		}
	}
	opts, opened := m.logOptions(tp, dir)
	l, err := log.Open(dir, lcfg, opts)
	if err != nil {
		return nil, err
	}
	opened(l)
	if err := writePartitionMetadata(dir, id); err != nil {
		l.Close()
		return nil, err
	}
	p = newPartition(tp.Topic, id, tp.Partition, l, m.cfg.NodeID, *part)
	p.now = m.cfg.Now
	if m.cfg.Propose != nil { // without it no ISR ever changes
		p.alter = m.alter
	}
	p.eligible = m.eligibleForISR
	m.mu.Lock()
	m.parts[tp] = p
	m.applied[tp] = lcfg
	m.mu.Unlock()
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

func readPartitionMetadata(dir string) (cluster.TopicID, error) {
	var id cluster.TopicID
	b, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if err != nil {
		return id, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "topic_id: "); ok {
			raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil || len(raw) != 16 {
				return id, fmt.Errorf("bad topic id in %s", dir)
			}
			copy(id[:], raw)
			return id, nil
		}
	}
	return id, fmt.Errorf("no topic id in %s", dir)
}

func writePartitionMetadata(dir string, id cluster.TopicID) error {
	path := filepath.Join(dir, partitionMetadataFile)
	want := "version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
	if b, err := os.ReadFile(path); err == nil && string(b) == want {
		return nil
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(want); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
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
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		id, err := readPartitionMetadata(dir)
		if err != nil {
			continue // not a partition directory
		}
		i := strings.LastIndexByte(e.Name(), '-')
		if i < 0 {
			continue
		}
		if _, err := strconv.Atoi(e.Name()[i+1:]); err != nil {
			continue
		}
		if t, ok := img.TopicsByID[id]; ok && t.Name == e.Name()[:i] {
			continue
		}
		m.logger.Info("removing partition of a deleted topic", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	return nil
}

// Run reconciles on every metadata change and runs retention and flushes
// on their intervals, until ctx ends.
func (m *Manager) Run(ctx context.Context, node *cluster.Node) {
	defer m.stopBackground()
	defer m.startCleaner(ctx, node)() // cleaner.go; stops with ctx
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	isrCheck := time.NewTimer(m.isrCheckInterval(node.Image()))
	defer isrCheck.Stop()
	retention := time.NewTimer(m.retentionInterval(node.Image()))
	defer retention.Stop()
	var last *cluster.Image
	for {
		// Changed before Image: an image published after this read closes
		// changed, so none is missed.
		changed := node.Changed()
		if img := node.Image(); img != last {
			if err := m.Reconcile(img); err != nil {
				m.logger.Warn("reconcile partitions", "err", err)
			}
			last = img
		}
		select {
		case <-ctx.Done():
			m.stopMoves()
			return
		case <-changed:
		case <-flush.C:
			for _, p := range m.Partitions() {
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

// isrCheckInterval is half of replica.lag.time.max.ms, as in Kafka.
func (m *Manager) isrCheckInterval(img *cluster.Image) time.Duration {
	return max(settingsOf(m.cfg.BrokerConfig(img)).lagMax/2, 10*time.Millisecond)
}

// ShrinkISRs proposes, for every partition this broker leads, removing
// the followers that have not caught up within replica.lag.time.max.ms.
func (m *Manager) ShrinkISRs() {
	now := m.cfg.Now()
	for _, p := range m.Partitions() {
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

func (m *Manager) applyRetention(img *cluster.Image) {
	now := m.cfg.Now()
	producerExpiry := time.Duration(m.cfg.BrokerConfig(img).Int64("producer.id.expiration.ms")) * time.Millisecond
	for _, p := range m.Partitions() {
		if n := p.log.ExpireProducers(now, producerExpiry); n > 0 {
			m.logger.Debug("expired idle producer IDs", "topic", p.Topic, "partition", p.Index, "producers", n)
		}
		n, err := p.log.ApplyRetention()
		switch {
		case err != nil && !errors.Is(err, log.ErrClosed) && !errors.Is(err, log.ErrOffline): // offline: reported once
			m.logger.Error("retention", "topic", p.Topic, "partition", p.Index, "err", err)
		case n > 0:
			m.logger.Info("retention deleted segments", "topic", p.Topic, "partition", p.Index, "segments", n, "log_start_offset", p.LogStartOffset())
		}
	}
}

// Close closes every log. A log already offline after an I/O error
// cannot be flushed; that was reported when it went offline and is logged
// again here, but does not fail the shutdown of the others.
func (m *Manager) Close() error {
	m.stopBackground()
	m.stopMoves()
	defer m.dirs.wg.Wait() // after m.mu is released: it takes partitions offline
	m.mu.Lock()
	defer m.mu.Unlock()
	var firstErr error
	for tp, p := range m.parts {
		m.resign(p)
		err := p.log.Close()
		switch {
		case errors.Is(err, log.ErrOffline):
			m.logger.Warn("closed an offline partition without flushing it", "topic", p.Topic, "partition", p.Index, "err", err)
		case err != nil && firstErr == nil:
			firstErr = err
		}
		delete(m.parts, tp)
	}
	return firstErr
}
