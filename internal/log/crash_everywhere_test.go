package log

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// stepFS counts the operations that change a dirRenameFS and, just
// before operation number crashAt, keeps two crash states: crashed (only
// what was fsynced survives) and committed (the filesystem committed every
// directory on its own just then, as it may at any time: every name,
// rename and removal made so far is durable, file contents only as far as
// they were fsynced).
type stepFS struct {
	dirRenameFS
	mu        sync.Mutex
	steps     int
	crashAt   int
	crashed   *memFS
	committed *memFS
}

func newStepFS(m *memFS) *stepFS { return &stepFS{dirRenameFS: dirRenameFS{m}} }

// countFrom starts counting again, to crash before operation crashAt
// (none when 0).
func (s *stepFS) countFrom(crashAt int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps, s.crashAt = 0, crashAt
}

func (s *stepFS) step() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.steps++; s.steps != s.crashAt {
		return
	}
	s.crashed = s.memFS.CrashClone()
	live := s.memFS.liveClone() // committing the live filesystem would change the run
	var dirs []string
	for d := range live.dirs {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		live.SyncDir(d)
	}
	s.committed = live.CrashClone()
}

// liveClone copies the filesystem as it is now, keeping what is durable.
func (m *memFS) liveClone() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemFS()
	nodes := map[*memNode]*memNode{}
	cp := func(n *memNode) *memNode {
		if x := nodes[n]; x != nil {
			return x
		}
		n.mu.Lock()
		x := &memNode{data: append([]byte(nil), n.data...), synced: append([]byte(nil), n.synced...), modTime: n.modTime}
		n.mu.Unlock()
		nodes[n] = x
		return x
	}
	for d := range m.dirs {
		c.dirs[d] = true
	}
	for name, n := range m.files {
		c.files[name] = cp(n)
	}
	for name, n := range m.durable {
		c.durable[name] = cp(n)
	}
	return c
}

func (s *stepFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		s.step()
	}
	f, err := s.dirRenameFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &stepFile{File: f, fs: s}, nil
}
func (s *stepFS) Remove(name string) error    { s.step(); return s.dirRenameFS.Remove(name) }
func (s *stepFS) RemoveAll(name string) error { s.step(); return s.dirRenameFS.RemoveAll(name) }
func (s *stepFS) Rename(o, n string) error    { s.step(); return s.dirRenameFS.Rename(o, n) }
func (s *stepFS) SyncDir(name string) error   { s.step(); return s.dirRenameFS.SyncDir(name) }
func (s *stepFS) MkdirAll(name string, perm os.FileMode) error {
	s.step()
	return s.dirRenameFS.MkdirAll(name, perm)
}

type stepFile struct {
	File
	fs *stepFS
}

func (f *stepFile) Write(p []byte) (int, error) { f.fs.step(); return f.File.Write(p) }
func (f *stepFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.step()
	return f.File.WriteAt(p, off)
}
func (f *stepFile) Sync() error               { f.fs.step(); return f.File.Sync() }
func (f *stepFile) Truncate(size int64) error { f.fs.step(); return f.File.Truncate(size) }

// crashEverywhere runs op on a fresh stepFS built from base at every
// operation it makes and calls check on both crash states.
func crashEverywhere(t *testing.T, base *memFS, op func(fsys *stepFS) any, check func(t *testing.T, at int, kind string, fsys FS, res any)) {
	t.Helper()
	run := func(at int) (*stepFS, int, any) {
		fsys := newStepFS(base.CrashClone())
		fsys.countFrom(at)
		res := op(fsys)
		fsys.mu.Lock()
		defer fsys.mu.Unlock()
		return fsys, fsys.steps, res
	}
	_, total, res := run(0)
	if total < 5 {
		t.Fatalf("only %d operations", total)
	}
	for at := 1; at <= total; at++ {
		fsys, _, _ := run(at)
		fsys.mu.Lock()
		crashed, committed := fsys.crashed, fsys.committed
		fsys.mu.Unlock()
		if crashed == nil {
			t.Fatalf("crash point %d of %d not reached", at, total)
		}
		check(t, at, "crashed", dirRenameFS{crashed}, res)
		check(t, at, "dir-committed", dirRenameFS{committed}, res)
	}
}

// fillIdempotent appends n durable batches with an idempotent producer and two
// leader epochs and returns them by base offset.
func fillIdempotent(t *testing.T, l *Log, n int, pid int64, seq0 int32, epoch int32) map[int64][]byte {
	t.Helper()
	acked := map[int64][]byte{}
	seq := seq0
	for i := 0; i < n; i++ {
		b := newBatch(t, batchSpec{records: 2, ts: int64(1000 + i), valueSize: 200,
			producer: &record.Producer{ID: pid, Epoch: 0, BaseSequence: seq}})
		info := mustAppend(t, l, b, epoch)
		acked[info.BaseOffset] = append([]byte(nil), b...)
		seq += 2
	}
	if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	return acked
}

// A crash at every step of a DeleteRecords inside the third segment and
// the retention that follows: the log start is the old one or the new one,
// every acknowledged batch from it on is intact, nothing below it is
// served, and the producer's last sequence and the leader epochs survive.
func TestCrashEverywhereInDeleteRecordsAndRetention(t *testing.T) {
	t.Parallel()
	dir := "/data/t-0"
	cfg := testConfig()
	mem := newMemFS()
	l := openLog(t, mem, dir, cfg)
	acked := fillIdempotent(t, l, 30, 7, 0, 1)
	for k, v := range fillIdempotent(t, l, 30, 7, 60, 2) {
		acked[k] = v
	}
	if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	leo := l.LogEndOffset()
	if len(l.segs) < 4 {
		t.Fatalf("want several segments, have %d", len(l.segs))
	}
	cut := l.segs[2].base + 1 // inside the third segment
	mustClose(t, l)
	base := mem.CrashClone()

	crashEverywhere(t, base, func(fsys *stepFS) any {
		l := openLog(t, fsys, dir, cfg)
		if err := l.DeleteRecordsBefore(cut); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ApplyRetention(); err != nil {
			t.Fatal(err)
		}
		mustClose(t, l)
		return nil
	}, func(t *testing.T, at int, kind string, fsys FS, _ any) {
		l, err := Open(dir, cfg, Options{FS: fsys})
		if err != nil {
			t.Fatalf("crash at %d (%s): open: %v", at, kind, err)
		}
		defer l.Close()
		if l.LogEndOffset() != leo {
			t.Fatalf("crash at %d (%s): log end %d, want %d", at, kind, l.LogEndOffset(), leo)
		}
		start := l.LogStartOffset()
		if start != 0 && start != cut {
			t.Fatalf("crash at %d (%s): log start %d, want 0 or %d", at, kind, start, cut)
		}
		// Every acknowledged batch at or past the log start is there.
		kept := map[int64][]byte{}
		for off, b := range acked {
			h, _ := record.Validate(b)
			if h.LastOffset() >= start {
				kept[off] = b
			}
		}
		checkAcknowledged(t, l, kept)
		// The first read returns nothing below the log start.
		b, err := l.Read(start, 1<<20, math.MaxInt64)
		if err != nil {
			t.Fatalf("crash at %d (%s): read at log start: %v", at, kind, err)
		}
		h, err := record.ParseHeader(b)
		if err != nil || h.LastOffset() < start {
			t.Fatalf("crash at %d (%s): first batch %+v ends below the log start %d", at, kind, h, start)
		}
		// Producer state survives: the next sequence is still in order.
		st, ok := l.ProducerState(7)
		if !ok || st.LastSequence != 119 {
			t.Fatalf("crash at %d (%s): producer state %+v ok=%v, want last sequence 119", at, kind, st, ok)
		}
		if e, end := l.EndOffsetForEpoch(2); e != 2 || end != leo {
			t.Fatalf("crash at %d (%s): epoch 2 ends at (%d, %d), want (2, %d)", at, kind, e, end, leo)
		}
	})
}

// A crash at every step of rounds of idempotent appends, an aborted
// transaction and recovery-point checkpoints (scan starts moving, producer
// snapshots rotating, transaction indexes created): acknowledged batches
// are there, the producer's last sequence matches what survived, the
// unchecked indexes verify, and every abort marker has its index entry.
func TestCrashEverywhereInRecoveryPointCheckpoints(t *testing.T) {
	t.Parallel()
	dir := "/data/t-0"
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 10 // one active segment throughout
	mem := newMemFS()
	l := openLog(t, mem, dir, cfg)
	acked := fillIdempotent(t, l, 10, 7, 0, 1)
	if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	base := mem.CrashClone()

	type result struct {
		acked map[int64][]byte
		seq   int32 // the producer's last acknowledged sequence
	}
	crashEverywhere(t, base, func(fsys *stepFS) any {
		l := openLog(t, fsys, dir, cfg)
		a := map[int64][]byte{}
		seq := int32(20)
		for round := 0; round < 3; round++ {
			for k, v := range fillIdempotent(t, l, 4, 7, seq, 1) {
				a[k] = v
			}
			seq += 8
			// A transaction aborted, for the index.
			pid := int64(100 + round)
			mustAppend(t, l, txnBatch(t, pid, 0, 900, kv{key: "k", value: str("x")}), 1)
			if _, err := l.AppendMarker(Marker{ProducerID: pid, Timestamp: 901}, 1); err != nil {
				t.Fatal(err)
			}
			if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
			if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		// Close is not part of it: a crash after the last checkpoint.
		return result{a, seq - 1}
	}, func(t *testing.T, at int, kind string, fsys FS, res any) {
		r := res.(result)
		l, err := Open(dir, cfg, Options{FS: fsys})
		if err != nil {
			t.Fatalf("crash at %d (%s): open: %v", at, kind, err)
		}
		defer l.Close()
		all := map[int64][]byte{}
		for k, v := range acked {
			all[k] = v
		}
		checkAcknowledged(t, l, all)
		// What the run acknowledged before the crash point is there as a
		// prefix: the producer's sequence matches the last batch there.
		end := l.LogEndOffset()
		var last int32 = 19
		for _, b := range r.acked {
			h, _ := record.Validate(b)
			if h.LastOffset() < end {
				if seq := h.BaseSequence + h.LastOffsetDelta; seq > last {
					last = seq
				}
			}
		}
		st, ok := l.ProducerState(7)
		if !ok || st.LastSequence != last {
			t.Fatalf("crash at %d (%s): producer state %+v ok=%v, want last sequence %d (log end %d)", at, kind, st, ok, last, end)
		}
		if err := l.VerifyUnchecked(context.Background(), 0); err != nil {
			t.Fatalf("crash at %d (%s): verify: %v", at, kind, err)
		}
		// Aborted transactions whose markers survived are indexed.
		ab := abortedAll(t, l)
		bs := readAll(t, l, 0, 1<<20)
		markers := 0
		for _, b := range bs {
			h, _ := record.ParseHeader(b)
			if h.IsControl() {
				markers++
			}
		}
		if len(ab) != markers {
			t.Fatalf("crash at %d (%s): %d abort markers, %d aborted txns indexed: %+v", at, kind, markers, len(ab), ab)
		}
	})
}

// A crash at every step of a relocation of a log with an aborted
// transaction and three leader epochs: once settled, exactly one copy is
// left, with the same log end, every acknowledged batch, the aborted
// transaction and the epochs.
func TestCrashEverywhereInARelocation(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	fs0 := dirRenameFS{mem}
	fs0.MkdirAll("/b", 0o755)
	var m model
	l := openLog(t, fs0, "/a/topic-0", testConfig())
	fillLog(t, l, &m, 120)
	mustAppend(t, l, txnBatch(t, 77, 0, 900, kv{key: "k", value: str("x")}), 3)
	if _, err := l.AppendMarker(Marker{ProducerID: 77, Timestamp: 901}, 3); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	leo := l.LogEndOffset()
	mustClose(t, l)
	base := mem.CrashClone()

	crashEverywhere(t, base, func(fsys *stepFS) any {
		l := openLog(t, fsys, "/a/topic-0", testConfig())
		if err := l.Relocate(context.Background(), "/b/topic-0", nil); err != nil {
			t.Fatalf("relocate: %v", err)
		}
		mustClose(t, l)
		return nil
	}, func(t *testing.T, at int, kind string, fsys FS, _ any) {
		if failed, _, dup := SettleRelocations(fsys, []string{"/a", "/b"}, nil); len(failed) > 0 || dup != nil {
			t.Fatalf("crash at %d (%s): settle: %v %v", at, kind, failed, dup)
		}
		var copies []string
		for _, root := range []string{"/a", "/b"} {
			if _, err := fsys.Stat(filepath.Join(root, "topic-0")); err == nil {
				copies = append(copies, root)
			}
		}
		if len(copies) != 1 {
			t.Fatalf("crash at %d (%s): partition in %v", at, kind, copies)
		}
		l, err := Open(filepath.Join(copies[0], "topic-0"), testConfig(), Options{FS: fsys})
		if err != nil {
			t.Fatalf("crash at %d (%s): open: %v", at, kind, err)
		}
		defer l.Close()
		if l.LogEndOffset() != leo {
			t.Fatalf("crash at %d (%s): log end %d, want %d", at, kind, l.LogEndOffset(), leo)
		}
		want := map[int64][]byte{}
		for _, b := range m.batches {
			h, _ := record.ParseHeader(b)
			want[h.BaseOffset] = b
		}
		checkAcknowledged(t, l, want)
		if ab := abortedAll(t, l); len(ab) != 1 {
			t.Fatalf("crash at %d (%s): aborted txns %+v, want one", at, kind, ab)
		}
		if e, end := l.EndOffsetForEpoch(3); e != 3 || end != leo {
			t.Fatalf("crash at %d (%s): epoch 3 ends at (%d, %d)", at, kind, e, end)
		}
	})
}

// TestCrashEverywhereInTheRecoveryOfACleanerSwap crashes a cleaning pass where
// it leaves a committed swap, then crashes the Open that completes it at
// every step (both crash kinds): the third Open must hold the same records.
func TestCrashEverywhereInTheRecoveryOfACleanerSwap(t *testing.T) {
	t.Parallel()
	dir := "/data/t-0"
	cfg := compactConfig()
	cfg.SegmentBytes = 1024
	clock := &msClock{}
	clock.ms.Store(1_000_000)
	rng := rand.New(rand.NewPCG(8, 8))
	mem := newMemFS()
	l := openLog(t, mem, dir, cfg, withClock(clock))
	appendAbortedTxns(t, l, 50, 2)
	fillKeyed(t, l, rng, record.CodecNone, 80, 10, 1000)
	mustClose(t, l)
	base := mem.CrashClone()
	cfg2 := cfg
	cfg2.SegmentBytes = 8192

	var states []*memFS
	var total int
	for at := 1; total == 0 || at <= total; at++ {
		fsys := newStepFS(base.CrashClone())
		l := openLog(t, fsys, dir, cfg2, withClock(clock))
		fsys.countFrom(at)
		mustClean(t, l, CleanOptions{UpperBound: math.MaxInt64, Force: true})
		mustClose(t, l)
		fsys.mu.Lock()
		total = fsys.steps
		fsys.mu.Unlock()
		for _, st := range []*memFS{fsys.crashed, fsys.committed} {
			if st == nil {
				continue
			}
			names, _ := st.ReadDir(dir)
			for _, e := range names {
				if filepath.Ext(e.Name()) == swapSuffix {
					states = append(states, st)
					break
				}
			}
		}
	}
	if len(states) == 0 {
		t.Fatal("no crash state with a swap file")
	}
	// Expected contents: open once without a second crash.
	for i, st := range states {
		l := openLog(t, st.CrashClone(), dir, cfg2, withClock(clock))
		want, _ := readRecords(t, l)
		leo := l.LogEndOffset()
		mustClose(t, l)
		crashEverywhere(t, st, func(fsys *stepFS) any {
			l, err := Open(dir, cfg2, Options{FS: fsys, Now: clock.now})
			if err != nil {
				t.Fatalf("state %d: open: %v", i, err)
			}
			mustClose(t, l)
			return nil
		}, func(t *testing.T, at int, kind string, fsys FS, _ any) {
			l, err := Open(dir, cfg2, Options{FS: fsys})
			if err != nil {
				t.Fatalf("state %d, crash at %d (%s): open: %v", i, at, kind, err)
			}
			defer l.Close()
			got, _ := readRecords(t, l)
			if l.LogEndOffset() != leo || len(got) != len(want) {
				t.Fatalf("state %d, crash at %d (%s): log end %d, %d records; want %d, %d", i, at, kind, l.LogEndOffset(), len(got), leo, len(want))
			}
			for j := range got {
				if got[j].String() != want[j].String() {
					t.Fatalf("state %d, crash at %d (%s): record %d is %v, want %v", i, at, kind, j, got[j], want[j])
				}
			}
		})
	}
	t.Logf("%d crash states with a swap file", len(states))
}
