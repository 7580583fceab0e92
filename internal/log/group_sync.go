package log

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// FSSyncer is an FS that can make everything written to the filesystem
// holding a directory durable in one call: syncfs(2) on Linux. OSFS is one
// there.
type FSSyncer interface {
	SyncFS(dir string) error
}

// FSSyncOpener is an FSSyncer that opens a handle on the filesystem holding
// a directory. A handle's SyncFS reports every write-back error of the
// filesystem since the handle was opened, even one that another call has
// already reported; syncfs(2) on a directory opened anew reports only what
// nobody saw (the filesystem keeps one error, and each open file its own
// cursor over it). OSFS is one on Linux.
type FSSyncOpener interface {
	OpenSyncFS(dir string) (FSSyncHandle, error)
}

// FSSyncHandle is a handle from FSSyncOpener.
type FSSyncHandle interface {
	SyncFS() error
	Close() error
}

// SyncGroup is group commit across the logs of one log directory. Each log
// alone shares one fsync among its concurrent waiters, but the logs of a
// directory each pay their own, and a disk runs cache flushes one after
// another: six partitions fsynced side by side cost about three times one
// fsync on the development machine's disk. Logs opened with the same
// SyncGroup (Options.Group) fsync as one.
//
// Sync loops do the group's syncs in rounds (pebble's LogWriter.flushLoop
// is the model). A log that has something to make durable joins the next
// round (ExpectWait and StartSync after an append, or a waiter); a loop
// takes every log that joined, makes them durable, wakes their waiters,
// and starts the next round at once if logs joined meanwhile. So the disk
// goes from one sync to the next without waiting for a woken goroutine to
// become the syncer, and a waiter is woken once, by the round that covers
// its offset. A loop starts when a log joins and fewer than maxSyncRounds
// loops run, and ends when it finds no log waiting: an idle group has no
// goroutine. Close waits for them.
//
// Up to maxSyncRounds rounds run side by side. A log appended to while a
// round syncs it joins the next round, which then starts at once instead
// of after the one in flight: an acknowledgement waits for one sync, not
// for the rest of another first. fdatasync(2)s of overwrites (zero-ahead)
// overlap on the disk; at 10,000 acks=all records a second on the
// development machine, the second round took the ack median from 0.55-0.80
// ms to 0.45-0.53 ms and the p99 from 5-8 ms to 3 ms. A round of several
// logs runs alone: it waits for the rounds in flight, and no round starts
// beside it, so no two rounds each hold several logs' syncIOMu.
//
// With one log in a round the loop fsyncs that log's files, as without a
// group; with several it notes each log's end, makes the filesystem
// durable with one SyncFS, and advances each log's durable offset to what
// it noted.
//
// SyncFS flushes everything dirty on the filesystem, other programs' writes
// included: on a filesystem shared with busy writers one SyncFS waits for
// their data too. So the group times both ways (a moving average of one
// log's fsync and of one SyncFS) and takes SyncFS only while it costs less
// than fsyncing the logs side by side would; otherwise it fsyncs them side
// by side, trying SyncFS again now and then. Without an FSSyncer, the logs
// are always fsynced side by side.
//
// Lock order: a round's logs' syncIOMu (read), then costMu, then mu.
type SyncGroup struct {
	dir string
	now func() time.Time // monotonic clock, for the costs

	mu       sync.Mutex
	waiting  map[*Log]struct{} // logs that join the next round
	inflight []*syncRound      // the rounds syncing
	alone    *syncRound        // the round of several logs, running alone
	loops    int               // sync loops running
	closed   bool              // Close was called: no loop starts
	rounds   int               // at most this many: maxSyncRounds (tests may set 1)
	next     chan struct{}     // closed when the next round ends
	nextWait int               // goroutines waiting for next
	loop     sync.WaitGroup

	costMu     sync.Mutex    // the costs, shared by the loops
	fsyncCost  time.Duration // moving average of one log's sync
	syncFSCost time.Duration // moving average of one SyncFS; 0 until tried
	skipped    int           // syncs of several logs since SyncFS was last tried
	retryAfter int           // skipped syncs before SyncFS is tried again

	// fsHandle syncs the directory's filesystem when the FS is an
	// FSSyncOpener. It is opened when the group's first log opens, before
	// any of them writes, so it reports every write-back error since, even
	// one a SyncFS of another directory on the same filesystem saw first.
	// mu guards it.
	fsHandle   FSSyncHandle
	fsAttached bool
	// fsErr is the first error a SyncFS of the group returned. The pages
	// whose write-back failed are marked clean and the error is reported
	// once, so a later SyncFS would succeed without them: a log written
	// before the failure but not in its round would be acknowledged. After
	// it, no SyncFS is trusted: every later round that would sync the
	// filesystem fails the directory's logs with it. Rounds that fsync
	// logs one by one (a round of one log, or several side by side) need
	// no such rule: a log's own fdatasync(2) reports its file's errors to
	// that file. costMu guards it.
	fsErr error

	// zeroBytes is the zeros the group's logs hold written past their
	// ends (zero_ahead.go); zeros is a buffer of zeros to write them from.
	zeroBytes atomic.Int64
	zeroMu    sync.Mutex
	zeros     []byte

	// Observer, if set before the group's first use, is told of every
	// sync it makes (how long it took, how many logs it covered) once its
	// waiters are woken.
	Observer SyncObserver
}

// syncRound is a round in flight.
type syncRound struct {
	// covered is, for each log of the round, its log end offset when the
	// round took it: the round makes at least that durable.
	covered map[*Log]int64
	done    chan struct{} // closed when the round ends
	waiters int           // goroutines waiting for done; g.mu guards it
}

// maxSyncRounds is how many rounds of a group run side by side.
const maxSyncRounds = 2

// SyncObserver is told of each sync of a SyncGroup (the node's metrics).
// The loop calls it after the sync, with no lock held.
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
	return &SyncGroup{dir: dir, now: time.Now, waiting: make(map[*Log]struct{}), next: make(chan struct{}), rounds: maxSyncRounds}
}

// Close waits for the group's sync loops to finish the rounds they have.
// The owner calls it after closing the group's logs. No loop starts after
// it (one starting while Close waits would race the WaitGroup), and a wait
// that would need one ends with ErrClosed.
func (g *SyncGroup) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.loop.Wait()
	g.mu.Lock()
	close(g.next) // the waiters of a round no loop will run
	g.next = make(chan struct{})
	h := g.fsHandle
	g.fsHandle = nil
	g.mu.Unlock()
	if h != nil {
		h.Close()
	}
}

// attach is called by each log of the group as it opens, before it writes:
// the first opens the filesystem handle, if fsys can.
func (g *SyncGroup) attach(fsys FS, logger *slog.Logger) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fsAttached || g.closed {
		return
	}
	g.fsAttached = true
	o, ok := fsys.(FSSyncOpener)
	if !ok {
		return
	}
	h, err := o.OpenSyncFS(g.dir)
	if err != nil {
		// Each SyncFS opens the directory anew instead.
		logger.Warn("open log directory for syncfs", "dir", g.dir, "err", err)
		return
	}
	g.fsHandle = h
}

// syncFS makes the group's filesystem durable, through its handle when it
// has one. The caller holds costMu.
func (g *SyncGroup) syncFS(fsys FSSyncer) error {
	if g.fsErr != nil {
		return g.fsErr
	}
	g.mu.Lock()
	h := g.fsHandle
	g.mu.Unlock()
	var err error
	if h != nil {
		err = h.SyncFS()
	} else {
		err = fsys.SyncFS(g.dir)
	}
	g.fsErr = err
	return err
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

// joinLocked adds l to the next round and returns the channel closed when
// that round ends. g.mu is held.
func (g *SyncGroup) joinLocked(l *Log) chan struct{} {
	g.waiting[l] = struct{}{}
	return g.next
}

// startLocked starts a loop if a log waits and fewer than maxSyncRounds
// loops run. g.mu is held.
func (g *SyncGroup) startLocked() {
	if !g.closed && g.loops < g.rounds && len(g.waiting) > 0 {
		g.loops++
		g.loop.Add(1)
		go g.run()
	}
}

// waitDurable is Log.waitDurable: it waits for a round in flight that
// covers offset, and otherwise joins the next one.
func (g *SyncGroup) waitDurable(ctx context.Context, l *Log, offset int64) error {
	for woken := false; ; woken = true {
		if err := ctx.Err(); err != nil {
			return err
		}
		if done, err := l.durableAt(offset, woken); done || err != nil {
			return err
		}
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			return ErrClosed
		}
		var ch chan struct{}
		for _, r := range g.inflight {
			if end, ok := r.covered[l]; ok && end >= offset {
				ch = r.done
				r.waiters++
				break
			}
		}
		if ch == nil {
			ch = g.joinLocked(l)
			g.nextWait++
			g.startLocked()
		}
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// run is a sync loop: rounds until it finds no log waiting.
func (g *SyncGroup) run() {
	defer g.loop.Done()
	var logs []*Log
	for {
		g.mu.Lock()
		for g.alone != nil {
			ch := g.alone.done
			g.mu.Unlock()
			<-ch
			g.mu.Lock()
		}
		if len(g.waiting) == 0 {
			g.loops--
			g.mu.Unlock()
			return
		}
		r := &syncRound{covered: make(map[*Log]int64, len(g.waiting)), done: g.next, waiters: g.nextWait}
		logs = logs[:0]
		for l := range g.waiting {
			logs = append(logs, l)
			r.covered[l] = l.leo.Load()
		}
		clear(g.waiting)
		g.next, g.nextWait = make(chan struct{}), 0
		var before []chan struct{}
		if len(logs) > 1 {
			for _, o := range g.inflight {
				before = append(before, o.done)
			}
			g.alone = r
		}
		g.inflight = append(g.inflight, r)
		g.mu.Unlock()

		for _, ch := range before {
			<-ch
		}
		start := g.now()
		g.sync(logs)
		took := g.now().Sub(start)
		g.mu.Lock()
		g.inflight = slices.DeleteFunc(g.inflight, func(o *syncRound) bool { return o == r })
		if g.alone == r {
			g.alone = nil
		}
		woke := r.waiters > 0
		g.mu.Unlock()
		for _, l := range logs {
			if fn := l.onDurable.Load(); fn != nil {
				(*fn)()
			}
		}
		close(r.done)
		if woke {
			// The woken waiters (the writers of acks=all answers) are
			// queued on this goroutine's P, which the next round would
			// take into fdatasync(2) with it: Go keeps a P with a
			// goroutine in a system call until sysmon takes it back,
			// 20 µs at the soonest. Yield it to them first. At 10,000
			// acks=all records a second on the development machine the
			// answers left 30-95 µs after their round's end at the
			// median before, and at once after; over 20 alternating
			// runs the ack median fell 4-6% and the ack and end-to-end
			// p99 6-25%, with acks=all throughput unchanged.
			runtime.Gosched()
		}
		if g.Observer != nil {
			g.Observer.ObserveSync(took, len(logs))
		}
		clear(logs) // no log kept alive by the loop's buffer
	}
}

// ExpectWait announces that what was just appended is to be made durable:
// the log joins its group's next round. StartSync then starts that round
// if a loop is free (a running loop takes it next anyway), as a waiter
// does. A produce request calls ExpectWait for each acks=all
// partition after appending them all, then StartSync, so that one round
// covers every partition of the request (and of the requests pipelined
// behind it), and the round runs while the request waits for its turn to
// be answered.
func (l *Log) ExpectWait() {
	g := l.group
	g.mu.Lock()
	g.joinLocked(l)
	g.mu.Unlock()
}

// StartSync starts the round of the logs announced with ExpectWait, if a
// loop of the log's group is free.
func (l *Log) StartSync() {
	g := l.group
	g.mu.Lock()
	g.startLocked()
	g.mu.Unlock()
}

// durableAt reports whether every offset below offset is durable, or the
// error that keeps it from ever being. Once the log is offline nothing more
// is acknowledged, except to a waiter woken by the sync that made its
// offset durable before the failure. What was made durable stays
// acknowledged after the log closes.
func (l *Log) durableAt(offset int64, woken bool) (bool, error) {
	l.syncMu.Lock()
	durable := l.durable
	l.syncMu.Unlock()
	if err := l.offlineErr(); err != nil && (!woken || durable < offset) {
		return false, err
	}
	if durable >= offset {
		return true, nil
	}
	l.segMu.RLock()
	closed := l.filesClosed
	l.segMu.RUnlock()
	if closed {
		return false, ErrClosed
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
			took := g.now().Sub(start)
			g.costMu.Lock()
			g.fsyncCost = average(g.fsyncCost, took)
			g.costMu.Unlock()
		}
		return
	}
	// A round of several logs runs alone, so it has the costs to itself.
	g.costMu.Lock()
	defer g.costMu.Unlock()
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
	// two logs' syncIOMu, and this round runs alone in its group.
	plans := make([]syncPlan, len(logs))
	held := logs[:0:0]
	defer func() {
		for _, l := range held {
			l.syncIOMu.RUnlock()
		}
	}()
	for i, l := range logs {
		l.syncIOMu.RLock()
		held = append(held, l)
		plans[i].bySyncFS = true
		plans[i].err = l.beginSync(&plans[i])
		// A log relocated to another directory since it joined the
		// group may be on another filesystem: it fsyncs its own files.
		plans[i].inDir = filepath.Dir(l.dir) == g.dir
	}
	start := g.now()
	serr := g.syncFS(fsys)
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
			l.endSync(&plans[i])
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
	return h.done
}

// markSynced records that the writes up to gen (writeGen) were made
// durable by something other than the file's own fsync.
func (h *cachedFile) markSynced(gen uint64) {
	h.cache.mu.Lock()
	defer h.cache.mu.Unlock()
	h.synced = max(h.synced, gen)
}
