package replica

// Log directory failure (KIP-112): when any log in a directory hits an I/O
// error (a failed fsync, a full disk, EIO), the whole directory goes
// offline. Every partition in it answers KAFKA_STORAGE_ERROR, new
// partitions are placed elsewhere, DescribeLogDirs reports the directory
// with KAFKA_STORAGE_ERROR, and other directories keep serving. The state
// lasts until a restart, which opens the directory again (its logs recover
// as after a crash; nothing acknowledged was lost, since acknowledged means
// fsynced). Its partitions stop fetching, and in a cluster the broker tells
// the controller that its replicas there are offline
// (cluster.OfflineReplicas): partitions they lead move to another in-sync
// replica within a metadata round trip, and they leave their ISRs, so that
// acks=all waits for them no more. Partitions with no other replica are
// left as they are. Config.OnDirOffline is told too (the node stops
// leading anything once every directory is offline).

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
)

// dirState is the Manager's view of its log directories. Its zero value
// is ready. mu is a leaf lock: logs call in under their own locks.
type dirState struct {
	settleOnce sync.Once
	// duplicates are the partition directories settle found in several
	// log directories with nothing to say which is the log, and dupErr
	// describes them. Written once by settle, read after it.
	duplicates map[string]bool
	dupErr     error
	mu         sync.Mutex
	offline    map[string]error // log directory -> what took it offline
	wg         sync.WaitGroup   // goroutines taking partitions offline
	// groups share the fsyncs of the logs of each log directory
	// (log.SyncGroup): acks=all produce requests to several partitions
	// pay one flush of the disk rather than one per partition.
	groups map[string]*log.SyncGroup
}

// syncGroup returns the group commit of the log directory root.
func (m *Manager) syncGroup(root string) *log.SyncGroup {
	m.dirs.mu.Lock()
	defer m.dirs.mu.Unlock()
	g := m.dirs.groups[root]
	if g == nil {
		if m.dirs.groups == nil {
			m.dirs.groups = make(map[string]*log.SyncGroup)
		}
		g = log.NewSyncGroup(root)
		g.Observer = &m.stats
		m.dirs.groups[root] = g
	}
	return g
}

// closeSyncGroups waits for the log directories' sync loops, once their
// logs are closed.
func (m *Manager) closeSyncGroups() {
	m.dirs.mu.Lock()
	groups := make([]*log.SyncGroup, 0, len(m.dirs.groups))
	for _, g := range m.dirs.groups {
		groups = append(groups, g)
	}
	m.dirs.mu.Unlock()
	for _, g := range groups {
		g.Close()
	}
}

// LogDirOffline returns why the log directory dir (an entry of log.dirs)
// is offline, or nil when it is online.
func (m *Manager) LogDirOffline(dir string) error {
	m.dirs.mu.Lock()
	defer m.dirs.mu.Unlock()
	return m.dirs.offline[dir]
}

// settle finishes, once before any log is opened, what relocations
// interrupted by a crash left (log.SettleRelocations). A log directory
// that cannot be read goes offline. A partition whose directory is in
// several log directories, with no relocation marker to tell which copy
// is the log, is never opened: either may be stale.
func (m *Manager) settle() {
	m.dirs.settleOnce.Do(func() {
		failed, dups, err := log.SettleRelocations(m.fs, m.cfg.LogDirs, m.logger)
		for root, err := range failed {
			m.dirFailed(root, nil, err)
		}
		if err != nil {
			m.dirs.duplicates = make(map[string]bool, len(dups))
			for _, name := range dups {
				m.dirs.duplicates[name] = true
			}
			m.dirs.dupErr = err
		}
	})
}

// Settle settles the log directories (see settle) and returns an error
// wrapping log.ErrDuplicatePartitionDir when a partition's directory is in
// several of them and nothing tells which copy is the log. The broker
// refuses to start then, as Kafka does, until an operator removes the
// stale copy.
func (m *Manager) Settle() error {
	m.settle()
	return m.dirs.dupErr
}

// logOptions are the options a partition's log at dir is opened with:
// an I/O error in it takes its whole directory offline. The caller passes
// the opened log to opened, so that the callback finds the directory the
// log is in by then (it may have moved).
func (m *Manager) logOptions(tp TopicPartition, dir string) (opts log.Options, opened func(*log.Log)) {
	var holder atomic.Pointer[log.Log]
	opts = log.Options{
		Logger: m.logger.With("topic", tp.Topic, "partition", tp.Partition),
		Now:    m.cfg.Now,
		Files:  m.cfg.Files,
		FS:     m.fs,
		Group:  m.syncGroup(filepath.Dir(dir)),
		OnOffline: func(err error) {
			logDir := dir
			if l := holder.Load(); l != nil {
				logDir = l.Dir()
			}
			m.dirFailed(filepath.Dir(logDir), &tp, err)
		},
		// A roll or a first producer ID: due at the next check.
		OnRetentionDue: func() { m.retention.schedule(tp, time.Time{}) },
		OnCorruption:   func(e *log.CorruptionError) { m.corruptionFound(tp, e.Offset) },
	}
	return opts, holder.Store
}

// dirFailed takes the log directory root offline after err (in the log of
// tp, when known): it logs once, then takes every partition in it offline
// in the background (the caller may hold a log's locks) and calls
// Config.OnDirOffline.
func (m *Manager) dirFailed(root string, tp *TopicPartition, err error) {
	m.dirs.mu.Lock()
	if m.dirs.offline[root] != nil {
		m.dirs.mu.Unlock()
		return
	}
	if m.dirs.offline == nil {
		m.dirs.offline = map[string]error{}
	}
	m.dirs.offline[root] = err
	m.dirs.wg.Add(1)
	m.dirs.mu.Unlock()

	attrs := []any{"dir", root, "err", err}
	if tp != nil {
		attrs = append(attrs, "topic", tp.Topic, "partition", tp.Partition)
	}
	m.logger.Error("log directory offline: its partitions answer KAFKA_STORAGE_ERROR until a restart", attrs...)
	go func() {
		defer m.dirs.wg.Done()
		cause := fmt.Errorf("log directory %s offline: %v", root, err)
		var offline []*Partition
		for _, p := range m.Partitions() {
			if p.Dir() == root {
				p.log.MarkOffline(cause)
				m.cancelMove(TopicPartition{p.Topic, p.Index})
				offline = append(offline, p)
			}
		}
		m.unfollow(offline)
		m.reportOffline(root, offline)
		m.moves.mu.Lock()
		for _, mv := range m.moves.running {
			if mv.target == root {
				mv.cancel()
			}
		}
		m.moves.mu.Unlock()
		if m.cfg.OnDirOffline != nil {
			m.cfg.OnDirOffline(root)
		}
	}()
}

// takeOfflineIfDirIs takes a just-opened partition offline when its
// directory already is. The partition is in m.parts already, so a
// directory failing concurrently finds it there instead.
func (m *Manager) takeOfflineIfDirIs(p *Partition) {
	if err := m.LogDirOffline(p.Dir()); err != nil {
		p.log.MarkOffline(fmt.Errorf("log directory %s offline: %v", p.Dir(), err))
	}
}

// unfollow takes partitions whose logs went offline out of their fetchers
// (followState no longer counts them as following).
func (m *Manager) unfollow(parts []*Partition) {
	m.reconcileMu.Lock()
	defer m.reconcileMu.Unlock()
	if img := m.reconciled; img != nil && len(parts) > 0 {
		m.repointFetchers(img, parts, nil)
	}
}

// Retries of an offline report: the first after offlineReportRetry, each
// later one after twice as long, up to offlineReportRetryMax.
const (
	offlineReportRetry    = 500 * time.Millisecond
	offlineReportRetryMax = 30 * time.Second
)

// reportOffline proposes cluster.OfflineReplicas for the partitions of the
// failed directory root that have another replica, in the background,
// until it commits or the Manager stops.
func (m *Manager) reportOffline(root string, parts []*Partition) {
	if m.cfg.Propose == nil {
		return
	}
	m.reconcileMu.Lock()
	img := m.reconciled
	m.reconcileMu.Unlock()
	if img == nil {
		return
	}
	var report []cluster.TopicPartitionID
	for _, p := range parts {
		t := img.Topics.Value(p.Topic)
		if t == nil || t.ID != p.TopicID || int(p.Index) >= len(t.Partitions) || len(t.Partitions[p.Index].Replicas) < 2 {
			continue
		}
		report = append(report, cluster.TopicPartitionID{Topic: p.TopicID, Partition: p.Index})
	}
	if len(report) == 0 {
		return
	}
	m.background(func(ctx context.Context) {
		for wait := offlineReportRetry; ; wait = min(2*wait, offlineReportRetryMax) {
			err := m.cfg.Propose(ctx, cluster.OfflineReplicas{Broker: m.cfg.NodeID, Partitions: report})
			if err == nil {
				m.logger.Warn("reported this broker's replicas in an offline log directory: their leaderships move and they leave their ISRs",
					"dir", root, "partitions", len(report))
				return
			}
			if ctx.Err() != nil {
				return
			}
			m.logger.Error("reporting replicas in an offline log directory; retrying", "dir", root, "partitions", len(report), "err", err, "retry_in", wait)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	})
}
