package log

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncAll is syncfs(2) on a memFS: every file's bytes and every
// directory's entries become durable as of now.
func (m *memFS) syncAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.durable)
	for name, n := range m.files {
		n.mu.Lock()
		n.synced = append(n.synced[:0:0], n.data...)
		n.mu.Unlock()
		m.durable[name] = n
	}
}

// groupFS is a hookFS over a memFS that also implements FSSyncer.
type groupFS struct {
	*hookFS
	mem      *memFS
	onSyncFS func() error
	syncFSes atomic.Int64
}

func newGroupFS(mem *memFS) *groupFS {
	return &groupFS{hookFS: &hookFS{FS: mem}, mem: mem}
}

func (g *groupFS) SyncFS(string) error {
	g.syncFSes.Add(1)
	if g.onSyncFS != nil {
		if err := g.onSyncFS(); err != nil {
			return err
		}
	}
	g.mem.syncAll()
	return nil
}

// openAppendedLogs opens n logs /data/t-<i> of group, closed when the test
// ends, and appends a batch of two records to each; ends are their log
// end offsets.
func openAppendedLogs(t *testing.T, fsys *groupFS, group *SyncGroup, n int) (logs []*Log, ends []int64) {
	t.Helper()
	for i := range n {
		l := openLog(t, fsys, fmt.Sprintf("/data/t-%d", i), testConfig(), func(o *Options) { o.Group = group })
		t.Cleanup(func() { l.Close() })
		logs = append(logs, l)
		ends = append(ends, mustAppend(t, l, newBatch(t, batchSpec{records: 2}), 0).LastOffset+1)
	}
	return logs, ends
}

// holdFirstSegmentSync makes fsys count the fsyncs of segment files and
// hold the first one: started is closed when it begins, and it returns
// once release is closed.
func holdFirstSegmentSync(fsys *groupFS) (segSyncs *atomic.Int64, started, release chan struct{}) {
	segSyncs, started, release = new(atomic.Int64), make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsys.onSync = func(name string) error {
		if strings.HasSuffix(name, logSuffix) {
			segSyncs.Add(1)
			once.Do(func() { close(started); <-release })
		}
		return nil
	}
	return segSyncs, started, release
}

// waitForWaiters waits until n logs of g have a waiter for the next sync.
func waitForWaiters(g *SyncGroup, n int) {
	for {
		g.mu.Lock()
		got := len(g.waiting)
		g.mu.Unlock()
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

// waitForIdle waits until no sync loop of g runs: the next logs announced
// all join one round.
func waitForIdle(g *SyncGroup) {
	for {
		g.mu.Lock()
		loops := g.loops
		g.mu.Unlock()
		if loops == 0 {
			return
		}
		runtime.Gosched()
	}
}

// While one log's fsync runs, the waiters of three other logs of the same
// directory queue up; the next sync makes all three durable with one
// syncfs and no fsync of their segments, and what it acknowledged survives
// a crash.
func TestSyncGroupSharesOneSyncFSAcrossLogs(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	fsys := newGroupFS(mem)
	group := NewSyncGroup("/data")
	group.rounds = 1 // one round at a time: the others queue behind the held one
	withGroup := func(o *Options) { o.Group = group }
	logs := make([]*Log, 4)
	for i := range logs {
		logs[i] = openLog(t, fsys, fmt.Sprintf("/data/t-%d", i), testConfig(), withGroup)
	}
	var (
		holding  atomic.Bool
		started  = make(chan struct{})
		release  = make(chan struct{})
		segSyncs atomic.Int64
	)
	fsys.onSync = func(name string) error {
		if !strings.HasSuffix(name, logSuffix) {
			return nil
		}
		segSyncs.Add(1)
		if strings.HasPrefix(name, "/data/t-0/") && holding.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
		return nil
	}
	errs := make(chan error, len(logs))
	appendAndWait := func(l *Log) {
		info, err := appendBatch(l, newBatch(t, batchSpec{records: 3}), 0)
		if err == nil {
			err = l.WaitDurable(context.Background(), info.LastOffset+1)
		}
		errs <- err
	}
	go appendAndWait(logs[0]) // the syncer, held in the fsync of t-0
	<-started
	for _, l := range logs[1:] {
		go appendAndWait(l)
	}
	waitForWaiters(group, 3)
	close(release)
	for range logs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := fsys.syncFSes.Load(); n != 1 {
		t.Fatalf("%d syncfs calls, want 1", n)
	}
	if n := segSyncs.Load(); n != 1 {
		t.Fatalf("%d segment fsyncs, want 1 (t-0's alone)", n)
	}
	crashed := mem.CrashClone()
	for i, l := range logs {
		if d := l.DurableOffset(); d != 3 {
			t.Fatalf("t-%d durable offset %d, want 3", i, d)
		}
		l.Close()
		r := openLog(t, crashed, fmt.Sprintf("/data/t-%d", i), testConfig())
		if end := r.LogEndOffset(); end != 3 {
			t.Fatalf("t-%d after a crash has log end %d, want the 3 acknowledged records", i, end)
		}
		mustClose(t, r)
	}
}

// A failed syncfs takes every log it was to make durable offline, as a
// failed fsync takes its own log.
func TestSyncGroupFailedSyncFSTakesItsLogsOffline(t *testing.T) {
	t.Parallel()
	fsys := newGroupFS(newMemFS())
	group := NewSyncGroup("/data")
	group.rounds = 1 // one round at a time: the others queue behind the held one
	withGroup := func(o *Options) { o.Group = group }
	a := openLog(t, fsys, "/data/a-0", testConfig(), withGroup)
	b := openLog(t, fsys, "/data/b-0", testConfig(), withGroup)
	defer a.Close()
	defer b.Close()
	// Hold a first sync of a (alone) so that both queue for the next.
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsys.onSync = func(name string) error {
		if strings.HasPrefix(name, "/data/a-0/") && strings.HasSuffix(name, logSuffix) {
			once.Do(func() { close(started); <-release })
		}
		return nil
	}
	first := mustAppend(t, a, newBatch(t, batchSpec{}), 0)
	firstDone := make(chan error, 1)
	go func() { firstDone <- a.WaitDurable(context.Background(), first.LastOffset+1) }()
	<-started
	fsys.onSyncFS = func() error { return errors.New("EIO") }
	errs := make(chan error, 2)
	for _, l := range []*Log{a, b} {
		info := mustAppend(t, l, newBatch(t, batchSpec{}), 0)
		go func() { errs <- l.WaitDurable(context.Background(), info.LastOffset+1) }()
	}
	waitForWaiters(group, 2)
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatalf("first sync: %v", err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrOffline) {
			t.Fatalf("wait after a failed syncfs: %v, want ErrOffline", err)
		}
	}
	if _, err := appendBatch(b, newBatch(t, batchSpec{}), 0); !errors.Is(err, ErrOffline) {
		t.Fatalf("append after a failed syncfs: %v, want ErrOffline", err)
	}
}

// A failed syncfs marks the lost pages clean and reports the error once,
// so a later syncfs succeeds without them. A log written before the
// failure but not in its round (c) must not be acknowledged by the next
// round: no syncfs of the group is trusted after one failed.
func TestSyncGroupTrustsNoSyncFSAfterOneFailed(t *testing.T) {
	t.Parallel()
	fsys := newGroupFS(newMemFS())
	group := NewSyncGroup("/data")
	withGroup := func(o *Options) { o.Group = group }
	var logs []*Log
	for _, name := range []string{"a", "b", "c", "d"} {
		l := openLog(t, fsys, "/data/"+name+"-0", testConfig(), withGroup)
		defer l.Close()
		logs = append(logs, l)
	}
	a, b, c, d := logs[0], logs[1], logs[2], logs[3]
	var failed atomic.Bool
	fsys.onSyncFS = func() error {
		if failed.CompareAndSwap(false, true) {
			return errors.New("EIO")
		}
		return nil
	}
	endA := mustAppend(t, a, newBatch(t, batchSpec{}), 0).LastOffset + 1
	endB := mustAppend(t, b, newBatch(t, batchSpec{}), 0).LastOffset + 1
	endC := mustAppend(t, c, newBatch(t, batchSpec{}), 0).LastOffset + 1 // dirty during the failed syncfs
	a.ExpectWait()
	b.ExpectWait()
	a.StartSync()
	for _, w := range []struct {
		l   *Log
		end int64
	}{{a, endA}, {b, endB}} {
		if err := w.l.WaitDurable(context.Background(), w.end); !errors.Is(err, ErrOffline) {
			t.Fatalf("wait in the failed round: %v, want ErrOffline", err)
		}
	}
	endD := mustAppend(t, d, newBatch(t, batchSpec{}), 0).LastOffset + 1
	c.ExpectWait()
	d.ExpectWait()
	c.StartSync()
	if err := c.WaitDurable(context.Background(), endC); !errors.Is(err, ErrOffline) {
		t.Fatalf("log written before the failed syncfs, synced by a later one: %v, want ErrOffline", err)
	}
	if err := d.WaitDurable(context.Background(), endD); !errors.Is(err, ErrOffline) {
		t.Fatalf("log synced by a syncfs after a failed one: %v, want ErrOffline", err)
	}
	if n := fsys.syncFSes.Load(); n != 1 {
		t.Fatalf("%d syncfs calls, want 1: none after the failure", n)
	}
}

// openerFS is a groupFS that is also an FSSyncOpener, counting its handles
// and their syncs.
type openerFS struct {
	*groupFS
	opens, handleSyncs, closes atomic.Int64
}

func (o *openerFS) OpenSyncFS(string) (FSSyncHandle, error) {
	o.opens.Add(1)
	return openerHandle{o}, nil
}

type openerHandle struct{ o *openerFS }

func (h openerHandle) SyncFS() error {
	h.o.handleSyncs.Add(1)
	h.o.mem.syncAll()
	return nil
}

func (h openerHandle) Close() error {
	h.o.closes.Add(1)
	return nil
}

// The group opens one handle on its filesystem when its first log opens,
// before anything is written, syncs every round of several logs through
// it, and closes it with the group.
func TestSyncGroupSyncsThroughAHandleOpenedBeforeWrites(t *testing.T) {
	t.Parallel()
	fsys := &openerFS{groupFS: newGroupFS(newMemFS())}
	group := NewSyncGroup("/data")
	withGroup := func(o *Options) { o.Group = group }
	a := openLog(t, fsys, "/data/a-0", testConfig(), withGroup)
	b := openLog(t, fsys, "/data/b-0", testConfig(), withGroup)
	if n := fsys.opens.Load(); n != 1 {
		t.Fatalf("%d handles opened by two logs before any write, want 1", n)
	}
	endA := mustAppend(t, a, newBatch(t, batchSpec{}), 0).LastOffset + 1
	endB := mustAppend(t, b, newBatch(t, batchSpec{}), 0).LastOffset + 1
	a.ExpectWait()
	b.ExpectWait()
	a.StartSync()
	if err := a.WaitDurable(context.Background(), endA); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitDurable(context.Background(), endB); err != nil {
		t.Fatal(err)
	}
	if h, d := fsys.handleSyncs.Load(), fsys.syncFSes.Load(); h != 1 || d != 0 {
		t.Fatalf("syncs through the handle %d, by directory name %d; want 1 and 0", h, d)
	}
	a.Close()
	b.Close()
	group.Close()
	if n := fsys.closes.Load(); n != 1 {
		t.Fatalf("handle closed %d times, want 1", n)
	}
}

// Producers on several logs of one group append and wait while the
// filesystem crashes at a random moment: every batch acknowledged before
// the crash is there after it, on every log, round after round.
func TestSyncGroupAcknowledgedBatchesSurviveACrash(t *testing.T) {
	t.Parallel()
	const (
		rounds = 6
		nlogs  = 4
	)
	rng := rand.New(rand.NewPCG(3, 4))
	cfg := testConfig()
	mem := newMemFS()
	acked := make([]map[int64][]byte, nlogs)
	for i := range acked {
		acked[i] = map[int64][]byte{}
	}
	for round := 0; round < rounds; round++ {
		cfg.SegmentBytes = 2048 << (round % 2 * 9) // rolls in even rounds
		fsys := newGroupFS(mem)
		group := NewSyncGroup("/data")
		logs := make([]*Log, nlogs)
		for i := range logs {
			logs[i] = openLog(t, fsys, filepath.Join("/data", fmt.Sprintf("t-%d", i)), cfg, func(o *Options) { o.Group = group })
			checkAcked(t, logs[i], acked[i])
		}
		var (
			mu        sync.Mutex
			crashed   bool
			newAcks   = make([]map[int64][]byte, nlogs)
			n         int
			crashNow  = make(chan struct{})
			crashAt   = 20 + rng.IntN(100)
			producers sync.WaitGroup
		)
		for i := range newAcks {
			newAcks[i] = map[int64][]byte{}
		}
		for p := 0; p < 2*nlogs; p++ {
			producers.Add(1)
			go func(seed uint64) {
				defer producers.Done()
				r := rand.New(rand.NewPCG(seed, 9))
				li := int(seed) % nlogs
				for {
					b := newBatch(t, batchSpec{records: 1 + r.IntN(4), valueSize: 1 + r.IntN(200)})
					info, err := appendBatch(logs[li], b, int32(round))
					if err != nil {
						return
					}
					if err := logs[li].WaitDurable(context.Background(), info.LastOffset+1); err != nil {
						return
					}
					mu.Lock()
					if crashed {
						mu.Unlock()
						return
					}
					newAcks[li][info.BaseOffset] = append([]byte(nil), b...)
					if n++; n == crashAt {
						close(crashNow)
					}
					mu.Unlock()
				}
			}(uint64(round*100 + p))
		}
		<-crashNow
		mu.Lock()
		crashed = true
		next := mem.CrashClone()
		for i := range newAcks {
			for off, b := range newAcks[i] {
				acked[i][off] = b
			}
		}
		mu.Unlock()
		for _, l := range logs {
			l.Close()
		}
		producers.Wait()
		mem = next
	}
	for i := range nlogs {
		l := openLog(t, mem, filepath.Join("/data", fmt.Sprintf("t-%d", i)), cfg)
		checkAcked(t, l, acked[i])
		mustClose(t, l)
	}
}

// Logs announced with ExpectWait before a sync starts are made durable by
// it: the partitions of one produce request share one syncfs even though
// their waits begin one after another.
func TestSyncGroupCoversLogsExpectingAWait(t *testing.T) {
	t.Parallel()
	fsys := newGroupFS(newMemFS())
	group := NewSyncGroup("/data")
	var segSyncs atomic.Int64
	fsys.onSync = func(name string) error {
		if strings.HasSuffix(name, logSuffix) {
			segSyncs.Add(1)
		}
		return nil
	}
	logs, ends := openAppendedLogs(t, fsys, group, 3)
	for _, l := range logs {
		l.ExpectWait()
	}
	for i, l := range logs {
		if err := l.WaitDurable(context.Background(), ends[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n, s := fsys.syncFSes.Load(), segSyncs.Load(); n != 1 || s != 0 {
		t.Fatalf("%d syncfs and %d segment fsyncs for three announced logs, want 1 and 0", n, s)
	}
}

// A group takes syncfs only while it costs less than fsyncing the logs side
// by side: when other writers on the filesystem make it dear, the logs are
// fsynced on their own, and syncfs is tried again after syncFSRetry syncs.
func TestSyncGroupFallsBackToFsyncsWhenSyncFSIsDear(t *testing.T) {
	t.Parallel()
	fsys := newGroupFS(newMemFS())
	group := NewSyncGroup("/data")
	var clock atomic.Int64 // the group's clock: each fsync takes 1 ms, each syncfs 50 ms
	group.now = func() time.Time { return time.Unix(0, clock.Load()) }
	var segSyncs atomic.Int64
	fsys.onSync = func(name string) error {
		if strings.HasSuffix(name, logSuffix) {
			segSyncs.Add(1)
			clock.Add(int64(time.Millisecond))
		}
		return nil
	}
	fsys.onSyncFS = func() error {
		clock.Add(int64(50 * time.Millisecond))
		return nil
	}
	logs := make([]*Log, 3)
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 30 // no roll: a roll fsyncs the segment it seals
	for i := range logs {
		logs[i] = openLog(t, fsys, fmt.Sprintf("/data/t-%d", i), cfg, func(o *Options) { o.Group = group })
		defer logs[i].Close()
	}
	// syncAll appends to ls, announces them and waits for them all. The
	// loop of the last round is gone first, so that one round takes them
	// all.
	syncAll := func(ls ...*Log) {
		t.Helper()
		waitForIdle(group)
		ends := make([]int64, len(ls))
		for i, l := range ls {
			ends[i] = mustAppend(t, l, newBatch(t, batchSpec{}), 0).LastOffset + 1
			l.ExpectWait()
		}
		for i, l := range ls {
			if err := l.WaitDurable(context.Background(), ends[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(when string, syncFSes, segs int64) {
		t.Helper()
		if n, s := fsys.syncFSes.Load(), segSyncs.Load(); n != syncFSes || s != segs {
			t.Fatalf("%s: %d syncfs and %d segment fsyncs, want %d and %d", when, n, s, syncFSes, segs)
		}
	}
	syncAll(logs[0])
	check("one log", 0, 1)
	syncAll(logs...)
	check("three logs, syncfs untried", 1, 1)
	segs := int64(1)
	for i := 1; i < syncFSRetry; i++ {
		syncAll(logs...)
		segs += 3
		check(fmt.Sprintf("three logs after a 50 ms syncfs, sync %d", i), 1, segs)
	}
	syncAll(logs...)
	check("three logs, syncfs retried", 2, segs)
	// Still dear: the next retry comes after twice as many syncs.
	for i := 1; i < 2*syncFSRetry; i++ {
		syncAll(logs...)
		segs += 3
	}
	check("after the second wait", 2, segs)
	fsys.onSyncFS = nil // cheap again: the retry finds it so and keeps it
	syncAll(logs...)
	syncAll(logs...)
	check("syncfs cheap again", 4, segs)
}

// A log announced with ExpectWait and StartSync is made durable without
// anyone waiting: the sync loop runs the round it joined as soon as the
// round in flight ends, back to back, and ends once no log waits. A waiter
// whose offset the round in flight covers waits for that round and asks
// for no other.
func TestSyncGroupLoopRunsRoundsBackToBackAndEndsWhenIdle(t *testing.T) {
	t.Parallel()
	fsys := newGroupFS(newMemFS())
	group := NewSyncGroup("/data")
	group.rounds = 1 // one round at a time: the others queue behind the held one
	l := openLog(t, fsys, "/data/t-0", testConfig(), func(o *Options) { o.Group = group })
	defer l.Close()
	segSyncs, started, release := holdFirstSegmentSync(fsys)
	first := mustAppend(t, l, newBatch(t, batchSpec{records: 2}), 0).LastOffset + 1
	l.ExpectWait()
	l.StartSync()
	<-started // the first round, held in its fsync
	waited := make(chan error, 1)
	go func() { waited <- l.WaitDurable(context.Background(), first) }()
	second := mustAppend(t, l, newBatch(t, batchSpec{records: 3}), 0).LastOffset + 1
	l.ExpectWait()
	l.StartSync() // the loop runs: it takes the log next
	waitForWaiters(group, 1)
	close(release)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.DurableOffset() < second {
		if time.Now().After(deadline) {
			t.Fatalf("durable offset %d 10s after the first round, want %d with no waiter", l.DurableOffset(), second)
		}
		runtime.Gosched()
	}
	closed := make(chan struct{})
	go func() { group.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the sync loop of an idle group did not end")
	}
	if n := segSyncs.Load(); n != 2 {
		t.Fatalf("%d fsyncs of the segment, want 2: the waiter of the first round must not ask for a third", n)
	}
}

// A log appended to while a round fsyncs it joins a second round, which
// starts at once: its fsync runs beside the first one's, through a
// descriptor of its own (a writeback error is reported once per
// descriptor). Its waiter is still answered only after the first round
// has finished, since the syncs of a log finish in the order they began;
// a failure of either takes the log offline, and neither acknowledges
// anything after it.
func TestSyncGroupSecondRoundOverlapsTheFirst(t *testing.T) {
	t.Parallel()
	for _, fail := range []string{"none", "first", "second"} {
		fsys := newGroupFS(newMemFS())
		group := NewSyncGroup("/data")
		l := openLog(t, fsys, "/data/t-0", testConfig(), func(o *Options) { o.Group = group })
		var (
			calls    atomic.Int64
			holding  atomic.Bool
			ownOpens atomic.Int64 // read-only opens of the segment while the first fsync is held
			started  = make(chan struct{})
			release  = make(chan struct{})
			overlaps = make(chan struct{})
		)
		fsys.onOpen = func(name string, flag int) error {
			if holding.Load() && strings.HasSuffix(name, logSuffix) && flag == os.O_RDONLY {
				ownOpens.Add(1)
			}
			return nil
		}
		fsys.onSync = func(name string) error {
			if !strings.HasSuffix(name, logSuffix) {
				return nil
			}
			switch calls.Add(1) {
			case 1:
				holding.Store(true)
				close(started)
				<-release
				if fail == "first" {
					return errors.New("EIO")
				}
			case 2:
				close(overlaps)
				if fail == "second" {
					return errors.New("EIO")
				}
			}
			return nil
		}
		first := mustAppend(t, l, newBatch(t, batchSpec{records: 2}), 0).LastOffset + 1
		firstDone := make(chan error, 1)
		go func() { firstDone <- l.WaitDurable(context.Background(), first) }()
		<-started // the first round, held in its fsync
		second := mustAppend(t, l, newBatch(t, batchSpec{records: 3}), 0).LastOffset + 1
		secondDone := make(chan error, 1)
		go func() { secondDone <- l.WaitDurable(context.Background(), second) }()
		select {
		case <-overlaps:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no second fsync while the first was held", fail)
		}
		if n := ownOpens.Load(); n != 1 {
			t.Fatalf("%s: %d read-only opens of the segment for the second fsync, want 1 (a descriptor of its own)", fail, n)
		}
		if fail != "second" { // a failure is answered at once
			select {
			case err := <-secondDone:
				t.Fatalf("%s: second waiter answered (%v) before the first round finished", fail, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
		if d := l.DurableOffset(); d != 0 {
			t.Fatalf("%s: durable offset %d while the first round is held, want 0", fail, d)
		}
		close(release)
		errFirst, errSecond := <-firstDone, <-secondDone
		switch fail {
		case "none":
			if errFirst != nil || errSecond != nil {
				t.Fatalf("waits: %v, %v", errFirst, errSecond)
			}
			if d := l.DurableOffset(); d != second {
				t.Fatalf("durable offset %d, want %d", d, second)
			}
		default:
			// Once offline the log acknowledges nothing more, not even
			// what the fsync that succeeded covered.
			if !errors.Is(errFirst, ErrOffline) || !errors.Is(errSecond, ErrOffline) {
				t.Fatalf("after a failed %s fsync: %v and %v, want ErrOffline for both", fail, errFirst, errSecond)
			}
			if d := l.DurableOffset(); d != 0 {
				t.Fatalf("durable offset %d after a failed %s fsync, want 0", d, fail)
			}
		}
		l.Close()
		group.Close()
	}
}

// Closing a group lets the rounds its loops have run to the end, waiters
// that joined them included, and starts no loop after: a wait that would
// need one ends with ErrClosed instead of a sync loop racing Close.
func TestSyncGroupCloseFinishesItsRoundsAndStartsNone(t *testing.T) {
	t.Parallel()
	fsys := newGroupFS(newMemFS())
	group := NewSyncGroup("/data")
	group.rounds = 1 // the second waiter queues behind the held round
	segSyncs, started, release := holdFirstSegmentSync(fsys)
	logs, ends := openAppendedLogs(t, fsys, group, 3)
	waits := make([]chan error, 2)
	for i := range waits {
		waits[i] = make(chan error, 1)
	}
	go func() { waits[0] <- logs[0].WaitDurable(context.Background(), ends[0]) }()
	<-started // t-0's round, held in its fsync
	go func() { waits[1] <- logs[1].WaitDurable(context.Background(), ends[1]) }()
	waitForWaiters(group, 1)
	closed := make(chan struct{})
	go func() { group.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned with a round in flight")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	for i, w := range waits {
		if err := <-w; err != nil {
			t.Fatalf("t-%d: waiter that joined before Close: %v", i, err)
		}
	}
	<-closed
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := logs[2].WaitDurable(ctx, ends[2]); !errors.Is(err, ErrClosed) {
		t.Fatalf("wait after Close: %v, want ErrClosed", err)
	}
	if n := segSyncs.Load(); n != 2 {
		t.Fatalf("%d segment fsyncs, want 2: none after Close", n)
	}
}
