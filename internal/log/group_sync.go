package log

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// FSSyncer is an FS that can make everything written to the filesystem
// holding a directory durable in one call: syncfs(2) on Linux. OSFS is one
// there.
type FSSyncer interface {
	SyncFS(dir string) error
}

// SyncGroup is group commit across the logs of one log directory. Each log
// alone shares one fsync among its concurrent waiters, but the logs of a
// directory each pay their own, and a disk runs cache flushes one after
// another: six partitions fsynced side by side cost about three times one
// fsync on the development machine's disk. Logs opened with the same
// SyncGroup (Options.Group) fsync as one: a waiter whose offset is not
// durable yet either waits for the sync in flight and checks again, or,
// when none is in flight, becomes the syncer for every log that has a
// waiter. With one such log it fsyncs that log's files, as without a
// group; with several it notes each log's end, makes the filesystem durable
// with one SyncFS, and advances each log's durable offset to what it noted.
//
// SyncFS flushes everything dirty on the filesystem, other programs' writes
// included: on a filesystem shared with busy writers one SyncFS waits for
// their data too. So the group times both ways (a moving average of one
// log's fsync and of one SyncFS) and takes SyncFS only while it costs less
// than fsyncing the logs side by side would; otherwise it fsyncs them side
// by side, trying SyncFS again now and then. Without an FSSyncer, the logs
// are always fsynced side by side.
type SyncGroup struct {
	dir string
	now func() time.Time // monotonic clock, for the costs

	mu      sync.Mutex
	waiting map[*Log]struct{} // logs with a waiter, for the next sync
	syncing chan struct{}     // non-nil while a sync runs; closed when it ends

	// Owned by the syncer (one at a time).
	fsyncCost  time.Duration // moving average of one log's sync
	syncFSCost time.Duration // moving average of one SyncFS; 0 until tried
	skipped    int           // syncs of several logs since SyncFS was last tried
	retryAfter int           // skipped syncs before SyncFS is tried again

	// Observer, if set before the group's first use, is told of every
	// sync it makes (how long it took, how many logs it covered) once its
	// waiters are woken.
	Observer SyncObserver
}

// SyncObserver is told of each sync of a SyncGroup (the node's metrics).
// The syncer calls it after the sync, with no lock held.
type SyncObserver interface {
	ObserveSync(took time.Duration, logs int)
}

// SyncFS found dearer is tried again after syncFSRetry syncs of several
// logs, then after twice as many each time it is still dearer, up to
// syncFSRetryMax.
const (
	syncFSRetry    = 64
	syncFSRetryMax = 4096
)

// NewSyncGroup returns the group of the logs in the log directory dir (an
// entry of log.dirs): SyncFS is called on dir.
func NewSyncGroup(dir string) *SyncGroup {
	return &SyncGroup{dir: dir, now: time.Now, waiting: make(map[*Log]struct{})}
}

// average folds a new sample into a moving average (weight 1/8).
func average(avg, sample time.Duration) time.Duration {
	if avg == 0 {
		return sample
	}
	return avg + (sample-avg)/8
}

// useSyncFS decides whether n logs are synced with one SyncFS: while it
// is untried, while it costs less than fsyncing them side by side (a disk
// runs flushes one after another; side by side, n fsyncs took about
// (n+1)/2 times one on the development machine), and as a retry now and
// then otherwise, to notice when it gets cheaper again. A retry's cost
// replaces the average instead of joining it.
func (g *SyncGroup) useSyncFS(n int) (use, retry bool) {
	if g.syncFSCost == 0 || g.fsyncCost == 0 || g.syncFSCost <= g.fsyncCost*time.Duration(n+1)/2 {
		g.skipped, g.retryAfter = 0, syncFSRetry
		return true, false
	}
	if g.skipped++; g.skipped >= max(g.retryAfter, syncFSRetry) {
		g.skipped, g.retryAfter = 0, min(2*max(g.retryAfter, syncFSRetry), syncFSRetryMax)
		return true, true
	}
	return false, false
}

// waitDurable is Log.waitDurable for a log of the group.
func (g *SyncGroup) waitDurable(ctx context.Context, l *Log, offset int64) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if done, err := l.durableAt(offset); done || err != nil {
			return err
		}
		g.mu.Lock()
		g.waiting[l] = struct{}{}
		if ch := g.syncing; ch != nil {
			g.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		g.syncing = ch
		logs := make([]*Log, 0, len(g.waiting))
		for w := range g.waiting {
			logs = append(logs, w)
		}
		clear(g.waiting)
		g.mu.Unlock()

		start := g.now()
		g.sync(logs)
		took := g.now().Sub(start)

		g.mu.Lock()
		g.syncing = nil
		close(ch)
		g.mu.Unlock()
		if g.Observer != nil {
			g.Observer.ObserveSync(took, len(logs))
		}
	}
}

// ExpectWait tells the log's SyncGroup, if it has one, that a waiter for
// what was just appended is on its way: a sync that starts before the
// waiter arrives covers this log too. A produce request calls it for each
// acks=all partition after appending them all, so that one sync covers
// every partition of the request and of the requests pipelined behind it.
func (l *Log) ExpectWait() {
	if g := l.group; g != nil {
		g.mu.Lock()
		g.waiting[l] = struct{}{}
		g.mu.Unlock()
	}
}

// durableAt reports whether every offset below offset is durable, or the
// error that keeps it from ever being.
func (l *Log) durableAt(offset int64) (bool, error) {
	l.segMu.RLock()
	closed := l.filesClosed
	l.segMu.RUnlock()
	if closed {
		return false, ErrClosed
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.offlineErr(); err != nil {
		return false, err
	}
	if l.durable >= offset {
		return true, nil
	}
	if end := l.leo.Load(); offset > end {
		return false, fmt.Errorf("%w: wait for offset %d beyond the log end offset %d", ErrOffsetOutOfRange, offset, end)
	}
	return false, nil
}

// sync makes everything appended to logs so far durable. A log whose sync
// fails is taken offline (Log.fail); its waiters see that.
func (g *SyncGroup) sync(logs []*Log) {
	if len(logs) == 1 {
		start := g.now()
		if logs[0].syncOnce() == nil {
			g.fsyncCost = average(g.fsyncCost, g.now().Sub(start))
		}
		return
	}
	fsys, ok := logs[0].fs.(FSSyncer)
	var use, retry bool
	if ok {
		use, retry = g.useSyncFS(len(logs))
	}
	if !use {
		start := g.now()
		var wg sync.WaitGroup
		for _, l := range logs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.syncOnce()
			}()
		}
		wg.Wait()
		// As one log's fsync, by the same (n+1)/2 rule.
		g.fsyncCost = average(g.fsyncCost, g.now().Sub(start)*2/time.Duration(len(logs)+1))
		return
	}
	// Each log's sync state is held (syncIOMu) from noting its end to
	// advancing its durable offset, as in syncOnce. No other code holds
	// two logs' syncIOMu, and one group has one syncer at a time.
	plans := make([]syncPlan, len(logs))
	held := logs[:0:0]
	defer func() {
		for _, l := range held {
			l.syncIOMu.Unlock()
		}
	}()
	for i, l := range logs {
		l.syncIOMu.Lock()
		held = append(held, l)
		plans[i].err = l.beginSync(&plans[i])
		// A log relocated to another directory since it joined the
		// group may be on another filesystem: it fsyncs its own files.
		plans[i].inDir = filepath.Dir(l.dir) == g.dir
	}
	start := g.now()
	serr := fsys.SyncFS(g.dir)
	if took := g.now().Sub(start); serr == nil && retry {
		g.syncFSCost = max(took, 1)
	} else if serr == nil {
		g.syncFSCost = max(average(g.syncFSCost, took), 1)
	}
	for i, l := range logs {
		switch {
		case plans[i].err != nil:
		case !plans[i].inDir:
			l.finishSync(&plans[i], false)
		case serr != nil:
			l.fail("fsync", fmt.Errorf("syncfs %s: %w", g.dir, serr))
		default:
			l.finishSync(&plans[i], true)
		}
	}
}

// writeGen is the file's write count: a sync of the whole filesystem that
// begins after it covers those writes (markSynced).
func (h *cachedFile) writeGen() uint64 {
	h.cache.mu.Lock()
	defer h.cache.mu.Unlock()
	return h.writes
}

// markSynced records that the writes up to gen (writeGen) were made
// durable by something other than the file's own fsync.
func (h *cachedFile) markSynced(gen uint64) {
	h.cache.mu.Lock()
	defer h.cache.mu.Unlock()
	h.synced = max(h.synced, gen)
}
