package log

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// appendSynced appends a small batch with epoch and waits until it is
// durable; it returns the batch (with its offsets set) and its info.
func appendSynced(t *testing.T, l *Log, epoch int32) ([]byte, AppendInfo) {
	t.Helper()
	b := newBatch(t, batchSpec{records: 2, valueSize: 500})
	info := mustAppend(t, l, b, epoch)
	if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), b...), info
}

// checkAcknowledged reads the whole log, checks every batch is valid (no zero
// bytes served as a batch) and that every acknowledged batch is there
// byte for byte.
func checkAcknowledged(t *testing.T, l *Log, acked map[int64][]byte) {
	t.Helper()
	byBase := map[int64][]byte{}
	for _, b := range readAll(t, l, l.LogStartOffset(), 1<<20) {
		if bytes.Count(b, []byte{0}) == len(b) {
			t.Fatalf("read returned %d zero bytes as a batch", len(b))
		}
		h, err := record.Validate(b)
		if err != nil {
			t.Fatalf("read an invalid batch: %v", err)
		}
		byBase[h.BaseOffset] = b
	}
	for off, want := range acked {
		if got, ok := byBase[off]; !ok || !bytes.Equal(got, want) {
			t.Fatalf("acknowledged batch at %d lost or changed (log end %d)", off, l.LogEndOffset())
		}
	}
}

// batchesEnd returns where the valid batches of the segment file at path
// end (the file's size when nothing follows them).
func batchesEnd(t *testing.T, fsys FS, path string) int64 {
	t.Helper()
	f, err := fsys.OpenFile(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	sc := newBatchScanner(f, 0, st.Size(), true)
	for sc.next() {
	}
	return sc.pos
}

// A crash leaves zeros past the end of the active segment, with the
// recovery point at the segment's end; the restart cuts them without an
// fsync. A roll then seals that segment, and a directory fsync (the
// leader-epoch checkpoint of the next append, or the periodic recovery
// point checkpoint) makes the new segment's name durable. A second power
// loss must not bring the zeros back: Open takes the size of a segment
// below the recovery point from its file. The roll cuts them durably
// (segment.zeroCut).
func TestZerosCutAtOpenAreCutDurablyByTheRoll(t *testing.T) {
	t.Parallel()
	for _, trigger := range []string{"epoch-checkpoint", "recovery-point-checkpoint"} {
		t.Run(trigger, func(t *testing.T) { zerosCutThenRoll(t, trigger) })
	}
}

func zerosCutThenRoll(t *testing.T, trigger string) {
	mem := newMemFS()
	dir := "/data/t-0"
	cfg := zeroAheadConfig()
	l := openLog(t, mem, dir, cfg)
	acked := map[int64][]byte{}
	zeroAheadLog(t, l)
	// Record what zeroAheadLog acknowledged.
	for _, b := range readAll(t, l, 0, 1<<20) {
		h, _ := record.ParseHeader(b)
		acked[h.BaseOffset] = append([]byte(nil), b...)
	}
	if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	end := l.LogEndOffset()
	dataSize := l.active.size.Load()
	segPath := l.active.path
	crash1 := mem.CrashClone()
	l.Close()
	if rp, err := readOffsetCheckpoint(crash1, dir, recoveryPointFile); err != nil || rp != end {
		t.Fatalf("recovery point %d, %v; want %d", rp, err, end)
	}
	if got := fileSize(t, crash1, segPath); got <= dataSize {
		t.Fatalf("want zeros past the data after the crash: file %d, data %d", got, dataSize)
	}

	r := openLog(t, crash1, dir, cfg)
	if r.LogEndOffset() != end {
		t.Fatalf("log end %d after crash, want %d", r.LogEndOffset(), end)
	}
	// Roll at the next append (any non-empty segment is full now).
	small := cfg
	small.SegmentBytes = 1
	r.SetConfig(small)
	b := newBatch(t, batchSpec{records: 1, valueSize: 100})
	if trigger == "epoch-checkpoint" {
		mustAppend(t, r, b, 1) // a new epoch: the epoch checkpoint fsyncs the directory
	} else {
		mustAppend(t, r, b, 0)
		r.bg.Wait()
		// The periodic checkpoint: the recovery point stays, the scan
		// start of the old segment goes, the directory is fsynced.
		if err := r.CheckpointRecoveryPoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(r.segs); n != 2 {
		t.Fatalf("%d segments after the roll, want 2", n)
	}
	r.bg.Wait() // the background flush after the roll is done
	crash2 := crash1.CrashClone()
	r.Close()

	onDisk := fileSize(t, crash2, segPath)
	if onDisk != dataSize {
		t.Errorf("sealed segment %s is %d bytes on disk after the second crash, its batches end at %d: %d bytes of zeros below the recovery point",
			filepath.Base(segPath), onDisk, dataSize, onDisk-dataSize)
	}
	var logs logBuffer
	r2, err := Open(dir, cfg, Options{FS: crash2, Logger: logs.logger()})
	if err != nil {
		t.Fatalf("reopening after the second crash: %v\nlog output:\n%s", err, logs.String())
	}
	defer mustClose(t, r2)
	checkAcknowledged(t, r2, acked)
	var sum int64
	for _, s := range r2.segs {
		sum += batchesEnd(t, crash2, s.path)
	}
	if got := r2.Size(); got != sum {
		t.Errorf("log size %d after reopening, its batches %d (zeros counted as data)", got, sum)
	}
	for _, s := range r2.segs[:len(r2.segs)-1] {
		if s.size.Load() != batchesEnd(t, crash2, s.path) {
			t.Errorf("sealed segment %s: size %d, batches end at %d", filepath.Base(s.path), s.size.Load(), batchesEnd(t, crash2, s.path))
		}
	}
}

// readBatches reads every batch of l into a map by base offset.
func readBatches(t *testing.T, l *Log) map[int64][]byte {
	t.Helper()
	m := map[int64][]byte{}
	for _, b := range readAll(t, l, l.LogStartOffset(), 1<<20) {
		h, _ := record.ParseHeader(b)
		m[h.BaseOffset] = append([]byte(nil), b...)
	}
	return m
}

// checkSealedEnds checks on a crashed clone that no sealed segment at or
// below the recovery point holds bytes past its last batch.
func checkSealedEnds(t *testing.T, fsys FS, dir string) {
	t.Helper()
	rp, err := readOffsetCheckpoint(fsys, dir, recoveryPointFile)
	if err != nil {
		rp = 0
	}
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for _, e := range ents {
		if b, suf, ok := parseFileName(e.Name()); ok && suf == logSuffix {
			bases = append(bases, b)
		}
	}
	for i := 0; i+1 < len(bases); i++ {
		if bases[i+1] > rp {
			break // scanned at Open
		}
		p := filepath.Join(dir, fileName(bases[i], logSuffix))
		if size, end := fileSize(t, fsys, p), batchesEnd(t, fsys, p); size != end {
			t.Errorf("sealed segment %s below the recovery point %d: %d bytes on disk, batches end at %d", filepath.Base(p), rp, size, end)
		}
	}
}

// A roll right after zeros were written ahead, then crashes before and
// after the next sync, and with the recovery point checkpointed at the
// sealed segment's end.
func TestRollAfterZerosAheadSurvivesCrashes(t *testing.T) {
	t.Parallel()
	for _, when := range []string{"before-sync", "after-sync", "after-checkpoint", "checkpoint-before-sync"} {
		t.Run(when, func(t *testing.T) {
			mem := newMemFS()
			dir := "/data/t-0"
			cfg := zeroAheadConfig()
			l := openLog(t, mem, dir, cfg)
			zeroAheadLog(t, l)
			if l.active.zeroEnd <= l.active.size.Load() {
				t.Fatal("no zeros ahead")
			}
			acked := readBatches(t, l)
			// Every sync so far covered the whole log: durable == leo ==
			// the end of the segment about to be sealed.
			small := cfg
			small.SegmentBytes = 1
			l.SetConfig(small)
			b := newBatch(t, batchSpec{records: 1, valueSize: 100})
			info := mustAppend(t, l, b, 0)
			if len(l.segs) != 2 {
				t.Fatalf("%d segments, want 2", len(l.segs))
			}
			switch when {
			case "after-sync":
				if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
					t.Fatal(err)
				}
				acked[info.BaseOffset] = append([]byte(nil), b...)
			case "after-checkpoint":
				if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
					t.Fatal(err)
				}
				acked[info.BaseOffset] = append([]byte(nil), b...)
				if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
					t.Fatal(err)
				}
			case "checkpoint-before-sync":
				l.bg.Wait()
				if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			crashed := mem.CrashClone()
			l.Close()
			checkSealedEnds(t, crashed, dir)
			r := openLog(t, crashed, dir, cfg)
			checkAcknowledged(t, r, acked)
			// And once more: recovery's own writes crash too.
			again := crashed.CrashClone()
			mustClose(t, r)
			checkSealedEnds(t, again, dir)
			r = openLog(t, again, dir, cfg)
			defer mustClose(t, r)
			checkAcknowledged(t, r, acked)
		})
	}
}

// Truncations with zeros ahead: of the active segment (the cut takes the
// zeros), into the sealed segment before it (the active one with its zeros
// goes), and fully; each then a crash.
func TestTruncateWithZerosAheadSurvivesACrash(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"active", "sealed", "fully"} {
		t.Run(kind, func(t *testing.T) {
			mem := newMemFS()
			dir := "/data/t-0"
			cfg := zeroAheadConfig()
			l := openLog(t, mem, dir, cfg)
			var sealedEnd int64
			if kind == "sealed" {
				zeroAheadLog(t, l)
				small := cfg
				small.SegmentBytes = 1
				l.SetConfig(small)
				appendSynced(t, l, 0) // rolls
				l.SetConfig(cfg)
				sealedEnd = l.active.base
			}
			zeroAheadLog(t, l)
			for range 3 {
				appendSynced(t, l, 0)
			}
			if l.active.zeroEnd <= l.active.size.Load() {
				t.Fatal("no zeros ahead")
			}
			acked := readBatches(t, l)
			var to int64
			switch kind {
			case "active":
				to = l.active.base + 2
			case "sealed":
				to = sealedEnd - 2
			case "fully":
				to = l.LogEndOffset() + 10
			}
			if kind == "fully" {
				if err := l.TruncateFullyAndStartAt(to); err != nil {
					t.Fatal(err)
				}
				acked = map[int64][]byte{}
			} else {
				if err := l.Truncate(to); err != nil {
					t.Fatal(err)
				}
				for off := range acked {
					if off >= l.LogEndOffset() {
						delete(acked, off)
					}
				}
			}
			if got, size := fileSize(t, mem, l.active.path), l.active.size.Load(); got != size {
				t.Fatalf("active segment file %d bytes after truncation, data %d", got, size)
			}
			if n := l.group.zeroBytes.Load(); n != 0 {
				t.Fatalf("group counts %d bytes of zeros after the truncation", n)
			}
			end := l.LogEndOffset()
			// Appends after the truncation, zero-ahead again, acknowledged.
			for range 6 {
				b, info := appendSynced(t, l, 1)
				acked[info.BaseOffset] = b
			}
			crashed := mem.CrashClone()
			l.Close()
			checkSealedEnds(t, crashed, dir)
			r := openLog(t, crashed, dir, cfg)
			defer mustClose(t, r)
			if r.LogEndOffset() < end {
				t.Fatalf("log end %d after the crash, below the truncation's %d", r.LogEndOffset(), end)
			}
			checkAcknowledged(t, r, acked)
		})
	}
}

// Close cuts the zeros durably: a power loss right after Close, and
// appends after the reopen that are acknowledged and crash again.
func TestCloseCutsZerosAheadDurably(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	dir := "/data/t-0"
	cfg := zeroAheadConfig()
	l := openLog(t, mem, dir, cfg)
	zeroAheadLog(t, l)
	acked := readBatches(t, l)
	path := l.active.path
	size := l.active.size.Load()
	mustClose(t, l)
	crashed := mem.CrashClone()
	if got := fileSize(t, crashed, path); got != size {
		t.Fatalf("after Close and a crash the segment is %d bytes, data %d", got, size)
	}
	r := openLog(t, crashed, dir, cfg)
	checkAcknowledged(t, r, acked)
	zeroAheadLog(t, r)
	for off, b := range readBatches(t, r) {
		acked[off] = b
	}
	again := crashed.CrashClone()
	r.Close()
	r = openLog(t, again, dir, cfg)
	defer mustClose(t, r)
	checkAcknowledged(t, r, acked)
}

// tornZerosFS fails writes of zeros (a full disk) after writing half of them:
// the zeros ahead are torn.
type tornZerosFS struct {
	*memFS
	tear atomic.Bool
	torn atomic.Int64
}

type tornZerosFile struct {
	File
	fs *tornZerosFS
}

func (z *tornZerosFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := z.memFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &tornZerosFile{File: f, fs: z}, nil
}

func (f *tornZerosFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.tear.Load() && len(p) >= 4<<10 && bytes.Count(p, []byte{0}) == len(p) {
		f.fs.torn.Add(1)
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, syscall.ENOSPC
	}
	return f.File.WriteAt(p, off)
}

// Zeros torn by a failed write: no more zeros in the segment, and the
// roll, Close and a crash all leave a file that ends where its data does
// (or is cut quietly at Open when it is the last segment).
func TestTornZerosAreCutByRollCloseAndOpen(t *testing.T) {
	t.Parallel()
	for _, then := range []string{"crash", "roll-crash", "roll-checkpoint-crash", "close-crash"} {
		t.Run(then, func(t *testing.T) {
			mem := newMemFS()
			fsys := &tornZerosFS{memFS: mem}
			dir := "/data/t-0"
			cfg := zeroAheadConfig()
			l := openLog(t, fsys, dir, cfg)
			zeroAheadLog(t, l)
			fsys.tear.Store(true)
			for fsys.torn.Load() == 0 {
				appendSynced(t, l, 0)
				if l.LogEndOffset() > 2000 {
					t.Fatal("no zeros written after the first chunk")
				}
			}
			fsys.tear.Store(false)
			if !l.active.zeroTorn {
				t.Fatal("zeros not marked torn")
			}
			if l.offlineErr() != nil {
				t.Fatal("a failed write of zeros took the log offline")
			}
			// More appends into what zeros there are, acknowledged.
			for range 4 {
				appendSynced(t, l, 0)
			}
			acked := readBatches(t, l)
			sealedPath := l.active.path
			sealedSize := l.active.size.Load()
			switch then {
			case "roll-crash", "roll-checkpoint-crash":
				small := cfg
				small.SegmentBytes = 1
				l.SetConfig(small)
				b, info := appendSynced(t, l, 0)
				acked[info.BaseOffset] = b
				if then == "roll-checkpoint-crash" {
					if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				if got := fileSize(t, mem, sealedPath); got != sealedSize {
					t.Fatalf("sealed segment is %d bytes after the roll, data %d (torn zeros left)", got, sealedSize)
				}
			case "close-crash":
				mustClose(t, l)
				if got := fileSize(t, mem, sealedPath); got != sealedSize {
					t.Fatalf("segment is %d bytes after Close, data %d (torn zeros left)", got, sealedSize)
				}
			}
			crashed := mem.CrashClone()
			l.Close()
			checkSealedEnds(t, crashed, dir)
			r := openLog(t, crashed, dir, cfg)
			defer mustClose(t, r)
			checkAcknowledged(t, r, acked)
		})
	}
}

// A SyncFS round of three logs, one of which (with zeros ahead) rolls and
// appends while the syncfs runs: every acknowledged batch survives a crash
// taken right after its acknowledgement, and so does the sealed segment.
func TestSyncFSRoundWithARollMidRoundKeepsAcknowledged(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	fsys := newGroupFS(mem)
	group := NewSyncGroup("/data")
	withGroup := func(o *Options) { o.Group = group }
	cfg := zeroAheadConfig()
	logs := make([]*Log, 3)
	for i := range logs {
		logs[i] = openLog(t, fsys, fmt.Sprintf("/data/t-%d", i), cfg, withGroup)
	}
	a := logs[0]
	zeroAheadLog(t, a) // alone: fsyncs, zeros ahead
	acked := make([]map[int64][]byte, len(logs))
	for i, l := range logs {
		acked[i] = readBatches(t, l)
	}

	var held atomic.Bool
	started, release := make(chan struct{}), make(chan struct{})
	fsys.onSyncFS = func() error {
		if held.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
		return nil
	}
	type ack struct {
		i    int
		b    []byte
		info AppendInfo
		err  error
	}
	acks := make(chan ack, 16)
	type snap struct {
		fs   *memFS
		i    int
		base int64
		b    []byte
	}
	var snaps []snap
	var snapMu sync.Mutex
	wait := func(i int, b []byte, info AppendInfo) {
		err := logs[i].WaitDurable(context.Background(), info.LastOffset+1)
		if err == nil {
			// A crash right after this acknowledgement.
			snapMu.Lock()
			snaps = append(snaps, snap{mem.CrashClone(), i, info.BaseOffset, b})
			snapMu.Unlock()
		}
		acks <- ack{i, b, info, err}
	}
	// All three join the next round before any waiter can start one.
	var firsts []AppendInfo
	var firstBatches [][]byte
	for _, l := range logs {
		b := newBatch(t, batchSpec{records: 2, valueSize: 300})
		firsts = append(firsts, mustAppend(t, l, b, 0))
		firstBatches = append(firstBatches, append([]byte(nil), b...))
		l.ExpectWait()
	}
	for i := range logs {
		go wait(i, firstBatches[i], firsts[i])
	}
	logs[0].StartSync()
	select { // the round of three is in its syncfs: beginSync noted each log
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no syncfs round of several logs")
	}
	// a rolls and appends meanwhile.
	small := cfg
	small.SegmentBytes = 1
	a.SetConfig(small)
	b := newBatch(t, batchSpec{records: 1, valueSize: 100})
	info := mustAppend(t, a, b, 0)
	a.SetConfig(cfg)
	if len(a.segs) != 2 {
		t.Fatalf("a has %d segments, want 2", len(a.segs))
	}
	go wait(0, append([]byte(nil), b...), info)
	// And another log appends to join the next round with a.
	b2 := newBatch(t, batchSpec{records: 1, valueSize: 100})
	info2 := mustAppend(t, logs[1], b2, 0)
	go wait(1, append([]byte(nil), b2...), info2)
	close(release)
	for range 5 {
		k := <-acks
		if k.err != nil {
			t.Fatalf("t-%d wait: %v", k.i, k.err)
		}
		acked[k.i][k.info.BaseOffset] = k.b
	}
	snapMu.Lock()
	snaps = append(snaps, snap{fs: mem.CrashClone(), i: -1})
	snapMu.Unlock()
	for _, l := range logs {
		l.Close()
	}
	group.Close()
	// The last crash image holds every acknowledgement; earlier ones hold
	// at least the batches acknowledged before them. Check the last fully
	// and every image for consistency (opens, reads valid batches).
	for _, sn := range snaps {
		for i := range logs {
			dir := fmt.Sprintf("/data/t-%d", i)
			checkSealedEnds(t, sn.fs, dir)
			r := openLog(t, sn.fs, dir, cfg)
			want := map[int64][]byte{}
			if sn.i < 0 {
				want = acked[i]
			} else if sn.i == i {
				want[sn.base] = sn.b
			}
			checkAcknowledged(t, r, want)
			mustClose(t, r)
		}
	}
}

// A follower's appends write zeros ahead too; a roll by the follower (a
// segment full of the leader's batches) cuts them durably, and retention
// of the sealed segments and a crash leave every acknowledged batch.
func TestFollowerRollsWithZerosAheadSurviveRetentionAndACrash(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	dir := "/data/t-0"
	cfg := testConfig()
	cfg.SegmentBytes = 96 << 10
	l := openLog(t, mem, dir, cfg)
	acked := map[int64][]byte{}
	next := int64(0)
	sawZeros, rolls := false, 0
	for i := 0; i < 400 && rolls < 3; i++ {
		b := newBatch(t, batchSpec{records: 2, valueSize: 500, ts: int64(i)})
		record.SetBaseOffset(b, next)
		record.SetPartitionLeaderEpoch(b, 0)
		segs := len(l.segs)
		if err := l.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
		if len(l.segs) > segs {
			rolls++
		}
		if err := l.WaitDurable(context.Background(), next+2); err != nil {
			t.Fatal(err)
		}
		acked[next] = append([]byte(nil), b...)
		next += 2
		if l.active.zeroEnd > l.active.size.Load() {
			sawZeros = true
		}
	}
	if !sawZeros || rolls < 3 {
		t.Fatalf("zeros ahead %v, %d rolls", sawZeros, rolls)
	}
	crashed := mem.CrashClone()
	checkSealedEnds(t, crashed, dir)
	// Retention of the first sealed segment, then a crash.
	keep := cfg
	keep.RetentionBytes = l.Size() - l.segs[0].size.Load()
	l.SetConfig(keep)
	if n, err := l.ApplyRetention(); err != nil || n != 1 {
		t.Fatalf("retention deleted %d segments: %v", n, err)
	}
	for off := range acked {
		if off < l.LogStartOffset() {
			delete(acked, off)
		}
	}
	crashed = mem.CrashClone()
	l.Close()
	checkSealedEnds(t, crashed, dir)
	r := openLog(t, crashed, dir, cfg)
	defer mustClose(t, r)
	checkAcknowledged(t, r, acked)
}

// A rolled segment's sealed indexes are durable before Open can trust
// them, whatever comes between the roll and the recovery point reaching
// the segment's end (a sync covered or is covering the active segment to
// its very end, then the roll came with the next append):
//   - checkpoint after the roll: the periodic checkpoint writes the
//     durable offset as the recovery point, past the rolled segment,
//     which the next sync of the log was to fsync.
//   - a sync in flight at the roll, begun before it: it makes the durable
//     offset the segment's end, and the periodic checkpoint comes before
//     the next sync.
//   - checkpoint before the roll: the recovery point is already at the
//     segment's end when it is sealed, and the filesystem may commit the
//     new segment's name on its own (SyncDir here) before any sync of the
//     log.
//
// The roll fsyncs the indexes at once when a sync reached or began at its
// base, and the checkpoint fsyncs rolled segments before it writes.
// Otherwise a crash leaves a segment below the recovery point, which Open
// does not scan, with index files whose names are durable and whose bytes
// are not: its largest timestamp is lost.
func TestSealedIndexesAreDurableBeforeTheRecoveryPointPassesThem(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"checkpoint-after-roll", "sync-in-flight-at-roll", "checkpoint-before-roll"} {
		t.Run(order, func(t *testing.T) {
			mem := newMemFS()
			fsys := newGroupFS(mem)
			dir := "/data/t-0"
			cfg := testConfig()
			cfg.SegmentBytes = 1 << 20
			cfg.IndexIntervalBytes = 100
			l := openLog(t, fsys, dir, cfg)
			acked := map[int64][]byte{}
			for i := range 20 {
				b := newBatch(t, batchSpec{records: 2, valueSize: 200, ts: 1000 + int64(i)*10})
				info := mustAppend(t, l, b, 0)
				acked[info.BaseOffset] = append([]byte(nil), b...)
			}
			end := l.LogEndOffset()
			synced := make(chan error, 1)
			var release chan struct{}
			if order == "sync-in-flight-at-roll" {
				var started chan struct{}
				_, started, release = holdFirstSegmentSync(fsys)
				go func() { synced <- l.WaitDurable(context.Background(), end) }()
				<-started
			} else {
				synced <- l.WaitDurable(context.Background(), end)
			}
			checkpoint := func() {
				if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if order == "checkpoint-before-roll" {
				checkpoint()
			}
			small := cfg
			small.SegmentBytes = 1
			l.SetConfig(small)
			mustAppend(t, l, newBatch(t, batchSpec{records: 1, ts: 5000}), 0) // rolls; not waited for
			l.SetConfig(cfg)
			if release != nil {
				close(release)
			}
			if err := <-synced; err != nil {
				t.Fatal(err)
			}
			l.bg.Wait()
			wantOff, wantTs, ok, err := l.OffsetForTimestamp(1000)
			if err != nil || !ok {
				t.Fatal(ok, err)
			}
			if order != "checkpoint-before-roll" {
				checkpoint()
			} else if err := mem.SyncDir(dir); err != nil {
				t.Fatal(err)
			}
			crashed := mem.CrashClone()
			mustClose(t, l)
			if rp, err := readOffsetCheckpoint(crashed, dir, recoveryPointFile); err != nil || rp != end {
				t.Fatalf("recovery point %d, %v after the crash; want %d, the sealed segment's end", rp, err, end)
			}
			r := openLog(t, crashed, dir, cfg)
			defer mustClose(t, r)
			checkAcknowledged(t, r, acked)
			if off, ts, ok, err := r.OffsetForTimestamp(1000); err != nil || !ok || off != wantOff || ts != wantTs {
				t.Errorf("after the crash OffsetForTimestamp(1000) = %d, %d, %v, %v; before it %d, %d", off, ts, ok, err, wantOff, wantTs)
			}
			if maxTs, _ := r.segs[0].maxTimestamp(); maxTs != 1000+19*10 {
				t.Errorf("sealed segment's max timestamp %d after the crash, want %d", maxTs, 1000+19*10)
			}
		})
	}
}

// A sync begun before a roll, with an earlier rolled segment in it and the
// rolling segment's end as its target, writes the recovery point at that
// end once it finishes: the roll fsyncs the sealed indexes at once, since
// the sync will not, or a crash leaves the segment below the recovery
// point without its largest timestamp.
func TestRollBehindASyncThatWritesTheRecoveryPointPastIt(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	fsys := newGroupFS(mem)
	dir := "/data/t-0"
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 100
	l := openLog(t, fsys, dir, cfg)
	acked := map[int64][]byte{}
	appendOne := func(i int) {
		b := newBatch(t, batchSpec{records: 2, valueSize: 200, ts: 1000 + int64(i)*10})
		info := mustAppend(t, l, b, 0)
		acked[info.BaseOffset] = append([]byte(nil), b...)
	}
	rollAndAppend := func(i int) {
		small := cfg
		small.SegmentBytes = 1
		l.SetConfig(small)
		appendOne(i)
		l.SetConfig(cfg)
	}
	for i := range 10 {
		appendOne(i) // offsets 0-19
	}
	_, started, release := holdFirstSegmentSync(fsys)
	rollAndAppend(10) // seals 0-19; the roll's flush syncs to 22, held
	<-started
	rollAndAppend(11) // seals 20-21 at 22, below no durable offset yet
	wantMax, _ := l.segs[1].maxTimestamp()
	close(release)
	l.bg.Wait()
	delete(acked, 22) // not waited for
	crashed := mem.CrashClone()
	mustClose(t, l)
	if rp, err := readOffsetCheckpoint(crashed, dir, recoveryPointFile); err != nil || rp != 22 {
		t.Fatalf("recovery point %d, %v after the crash; want 22, the second sealed segment's end", rp, err)
	}
	r := openLog(t, crashed, dir, cfg)
	defer mustClose(t, r)
	checkAcknowledged(t, r, acked)
	if err := r.segs[1].ensureIndexes(); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.segs[1].maxTimestamp(); got != wantMax {
		t.Errorf("the segment sealed behind the sync has max timestamp %d after the crash, want %d", got, wantMax)
	}
}
