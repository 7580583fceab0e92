package log

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// A damaged batch before the scan start that a roll meets first (no read
// came before it) is corruption, reported as a read reports it
// (OnCorruption, so a replica fetches it again), never an I/O failure that
// takes the log directory offline: the roll goes on without the index
// entries of the damaged part, appends go on, and a read of the damaged
// part still fails with a *CorruptionError.
func TestDamagedBatchBeforeScanStartMetByRollIsCorruption(t *testing.T) {
	t.Parallel()
	for _, repair := range []bool{false, true} {
		mem, dir, _, _ := scanStartLog(t)
		// The length of the second batch, well before the scan start.
		damage(t, mem, filepath.Join(dir, fileName(0, logSuffix)), func(f File, _ int64) {
			h := make([]byte, record.HeaderSize)
			if _, err := f.ReadAt(h, 0); err != nil {
				t.Fatal(err)
			}
			first, err := record.ParseHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{0x7f, 0xff, 0xff, 0x00}, int64(first.Size())+8); err != nil {
				t.Fatal(err)
			}
		})
		var mu sync.Mutex
		var offline []error
		var corrupt []*CorruptionError
		l := openLog(t, mem, dir, testConfig(), func(o *Options) {
			o.RepairCorruption = repair
			o.OnOffline = func(err error) { mu.Lock(); offline = append(offline, err); mu.Unlock() }
			o.OnCorruption = func(e *CorruptionError) { mu.Lock(); corrupt = append(corrupt, e); mu.Unlock() }
		})
		if !l.active.unchecked.Load() {
			t.Fatal("Open read the segment before the scan start")
		}
		l.mu.Lock()
		l.cfg.SegmentBytes = l.active.size.Load() + 1
		l.mu.Unlock()
		for i := range 2 {
			if _, err := appendBatch(l, newBatch(t, batchSpec{ts: 9000 + int64(i), valueSize: 100}), 0); err != nil {
				t.Fatalf("repair=%v: append %d after the roll: %v", repair, i, err)
			}
		}
		if len(l.segs) < 2 {
			t.Fatalf("repair=%v: no roll (%d segments)", repair, len(l.segs))
		}
		mu.Lock()
		if len(offline) != 0 {
			t.Errorf("repair=%v: damage before the scan start took the log offline: %v", repair, offline)
		}
		if len(corrupt) == 0 || corrupt[0].Offset != 0 || !errors.Is(corrupt[0].Err, ErrCorruption) {
			t.Errorf("repair=%v: OnCorruption heard %v; want the damage reported from offset 0", repair, corrupt)
		}
		mu.Unlock()
		if err := l.offlineErr(); err != nil {
			t.Fatalf("repair=%v: log offline: %v", repair, err)
		}
		var cerr *CorruptionError
		if _, err := l.read(nil, 1, 1<<16, math.MaxInt64); !errors.As(err, &cerr) {
			t.Errorf("repair=%v: read of the damaged batch: %v, want a *CorruptionError", repair, err)
		}
		if b, err := l.read(nil, 45, 1<<16, math.MaxInt64); err != nil || len(b) == 0 {
			t.Errorf("repair=%v: read past the roll: %d bytes, %v", repair, len(b), err)
		}
		mustClose(t, l)
	}
}

// The scan starts' producer snapshots, one every checkpoint, do not push
// out the ones at the newest segments' bases: at most one is kept beside
// them, so a truncation inside the active segment replays the producer
// state from its base, not from the log's start.
func TestScanStartSnapshotsKeepTheSegmentSnapshots(t *testing.T) {
	t.Parallel()
	mem, dir := newMemFS(), "/data/t-0"
	var reads atomic.Int64
	first := fileName(0, logSuffix)
	fsys := &hookFS{FS: mem, onRead: func(name string) {
		if filepath.Base(name) == first {
			reads.Add(1)
		}
	}}
	cfg := testConfig()
	cfg.SegmentBytes = 4096
	l := openLog(t, fsys, dir, cfg)
	defer mustClose(t, l)
	prod := &record.Producer{ID: 7, Epoch: 0}
	seq := int32(0)
	add := func(n int) {
		for range n {
			prod.BaseSequence = seq
			seq++
			mustAppend(t, l, newBatch(t, batchSpec{ts: 1000 + int64(seq), valueSize: 100, producer: prod}), 0)
		}
	}
	add(200)
	if err := l.syncNow(); err != nil {
		t.Fatal(err)
	}
	base := l.active.base
	prev := l.segs[len(l.segs)-2].base
	var last int64
	for range 4 {
		add(2)
		if err := l.syncNow(); err != nil {
			t.Fatal(err)
		}
		if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		last = l.LogEndOffset()
	}
	if l.active.base != base {
		t.Fatalf("rolled during the checkpoints (active base %d, was %d)", l.active.base, base)
	}
	l.mu.Lock()
	got := slices.Clone(l.snapshots)
	l.mu.Unlock()
	if want := []int64{prev, base, last}; !slices.Equal(got, want) {
		t.Fatalf("snapshots %v after four checkpoints, want %v (the two newest segment bases and the last scan start)", got, want)
	}
	ents, err := mem.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []int64
	for _, e := range ents {
		if off, ok := strings.CutSuffix(e.Name(), snapshotSuffix); ok {
			n, _ := strconv.ParseInt(off, 10, 64)
			onDisk = append(onDisk, n)
		}
	}
	if !slices.Equal(onDisk, got) {
		t.Fatalf("snapshot files %v, the log keeps %v", onDisk, got)
	}
	reads.Store(0)
	if err := l.Truncate(base + 1); err != nil {
		t.Fatal(err)
	}
	if n := reads.Load(); n != 0 {
		t.Fatalf("a truncation inside the active segment read the log's first segment %d times (producer state replayed from offset 0)", n)
	}
	if st, ok := l.ProducerState(7); !ok || st.LastSequence != int32(base) {
		t.Fatalf("producer state after the truncation to %d: %+v, %v; want last sequence %d", base+1, st, ok, base)
	}
}

// A checkpoint writes and fsyncs its scan start's producer snapshot
// without the writer's lock: an append, and a roll, go through while that
// fsync is held up; the snapshot then lands where the recovery point names
// it, and the log's list of snapshots stays in order although the roll's
// came first.
func TestScanStartSnapshotFsyncDoesNotHoldUpAppends(t *testing.T) {
	t.Parallel()
	mem, dir := newMemFS(), "/data/t-0"
	var block, holdRolled atomic.Bool
	entered := make(chan struct{}, 1)
	release, releaseRolled := make(chan struct{}), make(chan struct{})
	fsys := &hookFS{FS: mem, onSync: func(name string) error {
		// The roll's background flush would move the recovery point past
		// the rolled segment as soon as the checkpoint is done: it waits
		// until the test has read what the checkpoint wrote.
		if holdRolled.Load() && strings.HasSuffix(name, fileName(0, logSuffix)) {
			<-releaseRolled
		}
		if block.Load() && strings.Contains(name, snapshotSuffix) {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		return nil
	}}
	l := openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	for i := range 5 {
		mustAppend(t, l, newBatch(t, batchSpec{ts: 1000 + int64(i)}), 0)
	}
	if err := l.syncNow(); err != nil {
		t.Fatal(err)
	}
	block.Store(true)
	checkpointed := make(chan error, 1)
	go func() { checkpointed <- l.CheckpointRecoveryPoint(context.Background()) }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the checkpoint fsynced no producer snapshot")
	}
	appended := make(chan error, 1)
	go func() {
		_, err := appendBatch(l, newBatch(t, batchSpec{ts: 2000}), 0)
		appended <- err
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Errorf("append during the snapshot's fsync: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an append waited for the scan start's snapshot fsync")
	}
	// A roll meanwhile writes its snapshot past the scan start's.
	holdRolled.Store(true)
	l.mu.Lock()
	l.cfg.SegmentBytes = l.active.size.Load() + 1
	l.mu.Unlock()
	mustAppend(t, l, newBatch(t, batchSpec{ts: 2001}), 0)
	if len(l.segs) != 2 {
		t.Fatalf("%d segments, want a roll", len(l.segs))
	}
	block.Store(false)
	close(release)
	if err := <-checkpointed; err != nil {
		t.Fatal(err)
	}
	rp, at, _, err := readRecoveryPoint(mem, dir)
	holdRolled.Store(false)
	close(releaseRolled)
	if err != nil || rp != 5 || at == nil || at.offset != 5 {
		t.Fatalf("recovery point %d, scan start %+v, %v; want both at 5", rp, at, err)
	}
	l.mu.Lock()
	snaps := slices.Clone(l.snapshots)
	l.mu.Unlock()
	if !slices.Contains(snaps, 5) || !slices.IsSorted(snaps) {
		t.Fatalf("snapshots %v: want them sorted, with the scan start's at 5", snaps)
	}
}

// The first checkpoint after Open waits for the tail Open found to be
// fsynced within the caller's context: one that has ended returns its
// error and leaves the tail to the next call, which takes it in.
func TestCheckpointRecoveryPointHonoursItsContext(t *testing.T) {
	t.Parallel()
	mem, dir, m, _ := scanStartLog(t)
	l := openLog(t, mem, dir, testConfig())
	defer mustClose(t, l)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.CheckpointRecoveryPoint(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("checkpoint with an ended context: %v, want context.Canceled", err)
	}
	if rp, _, _, err := readRecoveryPoint(mem, dir); err != nil || rp != 40 {
		t.Fatalf("recovery point %d, %v after the refused checkpoint; want 40", rp, err)
	}
	if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rp, at, _, err := readRecoveryPoint(mem, dir); err != nil || rp != 45 || at == nil || at.offset != 45 {
		t.Fatalf("recovery point %d, scan start %+v, %v; want both at 45", rp, at, err)
	}
	m.check(t, l, 0)
}

// The recovery-point file keeps the one-offset format every broker version
// reads; the scan start lies beside it in a file of its own, read only
// with the recovery point it names. A recovery-point file that carries
// its scan start (version 1, as written before) is still read, and the
// next checkpoint writes the two files. A truncation below the recovery
// point removes the scan start's file.
func TestScanStartLivesBesideTheRecoveryPoint(t *testing.T) {
	t.Parallel()
	mem, dir, m, at := scanStartLog(t)
	read := func(fsys FS, name string) []byte {
		t.Helper()
		b, err := ReadSmallFile(fsys, filepath.Join(dir, name), 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if rp, err := parseOffsetCheckpoint(read(mem, recoveryPointFile)); err != nil || rp != 40 {
		t.Fatalf("recovery-point file %q: %d, %v; want the one-offset format at 40", read(mem, recoveryPointFile), rp, err)
	}
	if off, got, why, err := parseRecoveryPoint(read(mem, scanStartFile)); err != nil || why != "" || off != 40 || got == nil || *got != *at {
		t.Fatalf("scan start file: %d %+v %q %v; want %+v with 40", off, got, why, err, at)
	}

	t.Run("stale", func(t *testing.T) {
		// Written with a recovery point that did not land.
		fsys := mem.CrashClone()
		withoutScanStart(t, fsys, dir, 38)
		if err := writeFileAtomic(fsys, dir, scanStartFile, formatRecoveryPoint(40, at)); err != nil {
			t.Fatal(err)
		}
		var out logBuffer
		l := openLog(t, fsys, dir, testConfig(), func(o *Options) { o.Logger = out.logger() })
		defer mustClose(t, l)
		if l.active.unchecked.Load() || strings.Contains(out.String(), "scan start") {
			t.Fatalf("a scan start written with another recovery point was used or warned of:\n%s", out.String())
		}
		if _, err := fsys.Stat(filepath.Join(dir, scanStartFile)); !isNotExist(err) {
			t.Fatalf("stale scan start file left after Open: %v", err)
		}
		m.check(t, l, 0)
	})

	t.Run("version 1", func(t *testing.T) {
		fsys := mem.CrashClone()
		withoutScanStart(t, fsys, dir, 40)
		if err := writeFileAtomic(fsys, dir, recoveryPointFile, formatRecoveryPoint(40, at)); err != nil {
			t.Fatal(err)
		}
		l := openLog(t, fsys, dir, testConfig())
		defer mustClose(t, l)
		if !l.active.unchecked.Load() {
			t.Fatal("the scan start of a version 1 recovery point was not used")
		}
		m.check(t, l, 0)
		if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rp, err := parseOffsetCheckpoint(read(fsys, recoveryPointFile)); err != nil || rp != 45 {
			t.Fatalf("recovery point after the checkpoint: %d, %v; want 45 in the one-offset format", rp, err)
		}
		if off, got, _, err := parseRecoveryPoint(read(fsys, scanStartFile)); err != nil || off != 45 || got == nil || got.offset != 45 {
			t.Fatalf("scan start file after the checkpoint: %d %+v %v; want at 45", off, got, err)
		}
		if err := l.Truncate(42); err != nil {
			t.Fatal(err)
		}
		if _, err := fsys.Stat(filepath.Join(dir, scanStartFile)); !isNotExist(err) {
			t.Fatalf("scan start file left after a truncation below the recovery point: %v", err)
		}
		if rp, _, _, err := readRecoveryPoint(fsys, dir); err != nil || rp != 42 {
			t.Fatalf("recovery point after the truncation: %d, %v; want 42", rp, err)
		}
	})
}
