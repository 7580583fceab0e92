package log

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// writeLog appends n batches of 5 records (with producer 1 and epoch 4)
// and closes the log cleanly. It returns the model.
func writeLog(t *testing.T, fsys FS, dir string, n int) *model {
	t.Helper()
	l := openLog(t, fsys, dir, testConfig())
	m := &model{}
	for i := 0; i < n; i++ {
		b := producerBatch(t, produce{pid: 1, seq: int32(5 * i), records: 5})
		mustAppend(t, l, b, 4)
		m.add(b)
	}
	mustClose(t, l)
	return m
}

func lastSegmentPath(t *testing.T, fsys FS, dir string) string {
	t.Helper()
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	last := ""
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), logSuffix) {
			last = e.Name()
		}
	}
	return filepath.Join(dir, last)
}

func fileSize(t *testing.T, fsys FS, path string) int64 {
	t.Helper()
	st, err := fsys.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// damage changes a file of a closed log.
func damage(t *testing.T, fsys FS, path string, fn func(f File, size int64)) {
	t.Helper()
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	fn(f, st.Size())
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// setRecoveryPoint rewrites the recovery-point checkpoint, as if the log
// had crashed with only the bytes below offset fsynced.
func setRecoveryPoint(t *testing.T, fsys FS, dir string, offset int64) {
	t.Helper()
	if err := writeFileAtomic(fsys, dir, recoveryPointFile, formatOffsetCheckpoint(offset)); err != nil {
		t.Fatal(err)
	}
}

// TestRecoveryTruncatesABadTail damages the tail past the recovery point:
// recovery must cut the log at the last good batch, say so in the log, and
// keep everything before it (DESIGN.md: a torn tail is truncated, never
// served).
func TestRecoveryTruncatesABadTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// damage returns how many whole batches at the end it ruined.
		damage      func(f File, size int64, lastBatch int) int
		wantDropped func(size int64, lastBatch int) int64
	}{
		{"torn write in the middle of the last batch", func(f File, size int64, last int) int {
			f.Truncate(size - int64(last)/2)
			return 1
		}, func(size int64, last int) int64 { return int64(last) - int64(last)/2 }},
		{"torn header of the last batch", func(f File, size int64, last int) int {
			f.Truncate(size - int64(last) + 30)
			return 1
		}, func(size int64, last int) int64 { return 30 }},
		{"garbage after the last batch", func(f File, size int64, last int) int {
			f.WriteAt(bytes.Repeat([]byte{0xab}, 100), size)
			return 0
		}, func(size int64, last int) int64 { return 100 }},
		{"zeros after the last batch", func(f File, size int64, last int) int {
			f.WriteAt(make([]byte, 4096), size)
			return 0
		}, func(size int64, last int) int64 { return 4096 }},
		{"flipped byte in the last batch's records (CRC)", func(f File, size int64, last int) int {
			b := []byte{0}
			f.ReadAt(b, size-3)
			f.WriteAt([]byte{b[0] ^ 0x40}, size-3)
			return 1
		}, func(size int64, last int) int64 { return int64(last) }},
		{"bad magic in the last batch", func(f File, size int64, last int) int {
			f.WriteAt([]byte{7}, size-int64(last)+16)
			return 1
		}, func(size int64, last int) int64 { return int64(last) }},
		{"length field larger than the file", func(f File, size int64, last int) int {
			f.WriteAt([]byte{0x7f, 0xff, 0xff, 0xff}, size-int64(last)+8)
			return 1
		}, func(size int64, last int) int64 { return int64(last) }},
	}
	for _, tt := range tests {
		for _, k := range fsKinds {
			t.Run(tt.name+"/"+k.name, func(t *testing.T) {
				fsys, dir := k.new(t)
				m := writeLog(t, fsys, dir, 40)
				lastLen := len(m.batches[len(m.batches)-1])
				path := lastSegmentPath(t, fsys, dir)
				// Everything in the last segment is past the recovery point.
				base, _, _ := parseFileName(filepath.Base(path))
				setRecoveryPoint(t, fsys, dir, base)
				var ruined int
				var dropped int64
				damage(t, fsys, path, func(f File, size int64) {
					ruined = tt.damage(f, size, lastLen)
					dropped = tt.wantDropped(size, lastLen)
				})
				sizeBefore := fileSize(t, fsys, path)

				var logs logBuffer
				l := openLog(t, fsys, dir, testConfig(), func(o *Options) { o.Logger = logs.logger() })
				defer mustClose(t, l)
				m.batches = m.batches[:len(m.batches)-ruined]
				m.check(t, l, 0)
				wantEnd := int64(5 * len(m.batches))
				if l.LogEndOffset() != wantEnd {
					t.Fatalf("log end %d, want %d", l.LogEndOffset(), wantEnd)
				}
				if got := fileSize(t, fsys, path); got != sizeBefore-dropped {
					t.Fatalf("segment is %d bytes, want %d", got, sizeBefore-dropped)
				}
				out := logs.String()
				wantPos := "position=" + strconv.FormatInt(sizeBefore-dropped, 10)
				// Zeros past the last batch are what zero-ahead leaves
				// after a crash: cut without a warning.
				wantMsg, wantBytes := "truncated torn or corrupt log tail", "dropped_bytes="
				if tt.name == "zeros after the last batch" {
					wantMsg, wantBytes = "cut the zeros written ahead of the log end", "bytes="
				}
				if !strings.Contains(out, wantMsg) || !strings.Contains(out, wantPos) ||
					!strings.Contains(out, wantBytes+strconv.FormatInt(dropped, 10)) || !strings.Contains(out, filepath.Base(path)) {
					t.Fatalf("log output does not report the truncation at %s of %d bytes:\n%s", wantPos, dropped, out)
				}
				// The producer state reflects the surviving batches only, and
				// the log takes appends right after them.
				ps, _ := l.ProducerState(1)
				if ps.LastOffset != wantEnd-1 {
					t.Fatalf("producer 1 last offset %d, want %d", ps.LastOffset, wantEnd-1)
				}
				info := mustAppend(t, l, producerBatch(t, produce{pid: 1, seq: int32(wantEnd), records: 1}), 4)
				if info.BaseOffset != wantEnd {
					t.Fatalf("append after recovery at %d, want %d", info.BaseOffset, wantEnd)
				}
			})
		}
	}
}

// A bad batch in a segment that was not the last deletes every later
// segment: they follow a hole.
func TestRecoveryDeletesSegmentsAfterABadBatch(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	m := writeLog(t, fsys, dir, 100)
	l := openLog(t, fsys, dir, testConfig())
	if len(l.segs) < 4 {
		t.Fatalf("want at least 4 segments, have %d", len(l.segs))
	}
	second := l.segs[1]
	secondBase, thirdBase := second.base, l.segs[2].base
	mustClose(t, l)
	setRecoveryPoint(t, fsys, dir, secondBase)
	damage(t, fsys, second.path, func(f File, size int64) { f.Truncate(size - 10) })

	var logs logBuffer
	l = openLog(t, fsys, dir, testConfig(), func(o *Options) { o.Logger = logs.logger() })
	defer mustClose(t, l)
	if len(l.segs) != 2 {
		t.Fatalf("%d segments after recovery, want 2", len(l.segs))
	}
	// The second segment lost its last batch (5 records).
	if want := thirdBase - 5; l.LogEndOffset() != want {
		t.Fatalf("log end %d, want %d", l.LogEndOffset(), want)
	}
	var keep [][]byte
	for _, b := range m.batches {
		if h, _ := record.ParseHeader(b); h.BaseOffset < thirdBase-5 {
			keep = append(keep, b)
		}
	}
	m.batches = keep
	m.check(t, l, 0)
	if !strings.Contains(logs.String(), "deleted segment after a truncated tail") {
		t.Fatalf("no warning about deleted segments:\n%s", logs.String())
	}
	if _, err := fsys.Stat(filepath.Join(dir, fileName(thirdBase, logSuffix))); !isNotExist(err) {
		t.Fatalf("segment %d still exists: %v", thirdBase, err)
	}
}

// DESIGN.md: a CRC failure before the recovery point is corruption, not a
// torn write; it must be reported naming the file and position instead of
// dropping fsynced data. In an older segment Open meets it and fails; in
// the active segment Open reads the batches below the recovery point
// header-only (a fast restart) and VerifyUnchecked, which the owner runs
// after Open, meets it.
func TestRecoveryReportsCorruptionBelowTheRecoveryPoint(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"last segment", "older segment"} {
		t.Run(where, func(t *testing.T) {
			fsys, dir := newMemFS(), "/data/t-0"
			writeLog(t, fsys, dir, 60)
			l := openLog(t, fsys, dir, testConfig())
			seg := l.segs[len(l.segs)-1]
			if where == "older segment" {
				seg = l.segs[1]
			}
			path, size := seg.path, seg.size.Load()
			mustClose(t, l) // recovery point = log end
			if where == "older segment" {
				// Make the index of the damaged segment unusable, so Open has
				// to scan it (and meets the bad CRC).
				fsys.Remove(filepath.Join(dir, fileName(seg.base, indexSuffix)))
			}
			damage(t, fsys, path, func(f File, _ int64) { f.WriteAt([]byte{0xee}, size-5) })
			r, err := Open(dir, testConfig(), Options{FS: fsys})
			if where == "last segment" {
				if err != nil {
					t.Fatalf("Open: %v, want it to leave the active segment's CRCs to VerifyUnchecked", err)
				}
				err = r.VerifyUnchecked(context.Background(), 0)
				r.Close()
			}
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("Open: %v, want ErrCorruption", err)
			}
			if !strings.Contains(err.Error(), filepath.Base(path)) || !strings.Contains(err.Error(), "position") {
				t.Fatalf("error does not name the file and position: %v", err)
			}
			if got := fileSize(t, fsys, path); got != size {
				t.Fatalf("Open changed the corrupt segment: %d bytes, was %d", got, size)
			}
		})
	}
}

func TestRecoveryRebuildsMissingAndDamagedIndexes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(t *testing.T, fsys FS, dir string, base int64)
	}{
		{"index files missing", func(t *testing.T, fsys FS, dir string, base int64) {
			fsys.Remove(filepath.Join(dir, fileName(base, indexSuffix)))
			fsys.Remove(filepath.Join(dir, fileName(base, timeIndexSuffix)))
		}},
		{"offset index torn", func(t *testing.T, fsys FS, dir string, base int64) {
			damage(t, fsys, filepath.Join(dir, fileName(base, indexSuffix)), func(f File, size int64) { f.Truncate(size - 3) })
		}},
		{"offset index out of order", func(t *testing.T, fsys FS, dir string, base int64) {
			damage(t, fsys, filepath.Join(dir, fileName(base, indexSuffix)), func(f File, size int64) {
				f.WriteAt([]byte{0, 0, 0, 0, 0, 0, 0, 0}, size-8)
			})
		}},
		{"time index garbage", func(t *testing.T, fsys FS, dir string, base int64) {
			damage(t, fsys, filepath.Join(dir, fileName(base, timeIndexSuffix)), func(f File, size int64) {
				f.WriteAt(bytes.Repeat([]byte{0xff}, 12), 0)
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys, dir := OSFS{}, filepath.Join(t.TempDir(), "t-0")
			l := openLog(t, fsys, dir, testConfig())
			m := &model{}
			for i := 0; i < 100; i++ {
				b := newBatch(t, batchSpec{records: 3, ts: int64(1000 + 10*i), tsStep: 1})
				mustAppend(t, l, b, 0)
				m.add(b)
			}
			base := l.segs[1].base
			mustClose(t, l)
			idx, _ := os.ReadFile(filepath.Join(dir, fileName(base, indexSuffix)))
			tidx, _ := os.ReadFile(filepath.Join(dir, fileName(base, timeIndexSuffix)))
			if len(idx) == 0 || len(tidx) == 0 {
				t.Fatalf("the test wants non-empty indexes: %d, %d bytes", len(idx), len(tidx))
			}
			tt.damage(t, fsys, dir, base)

			// Open reads the indexes of a segment below the recovery point
			// only when their files are missing; otherwise their first use
			// checks them.
			var logs logBuffer
			l = openLog(t, fsys, dir, testConfig(), func(o *Options) { o.Logger = logs.logger() })
			defer mustClose(t, l)
			m.check(t, l, 0)
			if off, ts, ok, err := l.OffsetForTimestamp(1000 + 10*50 + 1); err != nil || !ok || off != 151 || ts != 1501 {
				t.Fatalf("OffsetForTimestamp after rebuild: %d %d %v %v", off, ts, ok, err)
			}
			if !strings.Contains(logs.String(), "rebuilding index") {
				t.Fatalf("no rebuild logged:\n%s", logs.String())
			}
			gotIdx, _ := os.ReadFile(filepath.Join(dir, fileName(base, indexSuffix)))
			gotTidx, _ := os.ReadFile(filepath.Join(dir, fileName(base, timeIndexSuffix)))
			if !bytes.Equal(gotIdx, idx) || !bytes.Equal(gotTidx, tidx) {
				t.Fatalf("rebuilt indexes differ from the originals")
			}
		})
	}
}

func TestRecoveryRemovesLeftoversAndCompletesSwaps(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	m := writeLog(t, fsys, dir, 30)
	create := func(name string, data []byte) {
		f, err := fsys.OpenFile(filepath.Join(dir, name), osCreateTrunc, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
		f.Close()
	}
	create("recovery-point.tmp", []byte("junk"))
	create(fileName(5, logSuffix+deletedSuffix), []byte("old"))
	create(fileName(7, logSuffix+cleanedSuffix), []byte("half-cleaned"))
	create(fileName(99999, indexSuffix), []byte("orphan index"))
	// A swap replacing segment 0 with the same bytes (as the cleaner would
	// after finding nothing to remove).
	seg0, _ := readMemFile(fsys, filepath.Join(dir, fileName(0, logSuffix)))
	create(fileName(0, logSuffix+swapSuffix), seg0)

	l := openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	m.check(t, l, 0)
	ents, _ := fsys.ReadDir(dir)
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, tmpSuffix) || strings.HasSuffix(n, deletedSuffix) || strings.HasSuffix(n, cleanedSuffix) ||
			strings.HasSuffix(n, swapSuffix) || strings.HasPrefix(n, fileName(99999, "")) {
			t.Fatalf("leftover %s survived Open", n)
		}
	}
}

func readMemFile(fsys FS, path string) ([]byte, error) {
	return ReadSmallFile(fsys, path, 1<<30)
}

// The recovery point moves to the log end after Open, after a roll's
// background flush, and at Close, never past what is fsynced.
func TestRecoveryPointIsCheckpointed(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	rp := func() int64 {
		off, _, _, err := readRecoveryPoint(fsys, dir)
		if errors.Is(err, errNoCheckpoint) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return off
	}
	if got := rp(); got != 0 {
		t.Fatalf("recovery point %d after creating the log", got)
	}
	for l.segs[len(l.segs)-1].base == 0 {
		mustAppend(t, l, newBatch(t, batchSpec{valueSize: 200}), 0)
	}
	rolledAt := l.segs[len(l.segs)-1].base
	l.bg.Wait() // the background flush after the roll
	// The flush notes the log end when it starts, which may already be
	// past the roll.
	if got := rp(); got < rolledAt || got > l.LogEndOffset() {
		t.Fatalf("recovery point %d after a roll at %d, log end %d", got, rolledAt, l.LogEndOffset())
	}
	if d := l.DurableOffset(); d < rolledAt {
		t.Fatalf("durable offset %d below the rolled base %d", d, rolledAt)
	}
	mustAppend(t, l, newBatch(t, batchSpec{}), 0)
	mustClose(t, l)
	if got := rp(); got != l.LogEndOffset() {
		t.Fatalf("recovery point %d after Close, log end %d", got, l.LogEndOffset())
	}
}

// A leader-epoch checkpoint with entries past the recovered log end loses
// them; one that does not parse is corruption.
func TestRecoveryTruncatesTheEpochCache(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	mustAppend(t, l, newBatch(t, batchSpec{records: 10}), 1) // epoch 1 at 0
	mustAppend(t, l, newBatch(t, batchSpec{records: 10}), 3) // epoch 3 at 10
	mustClose(t, l)
	if err := writeFileAtomic(fsys, dir, epochCheckpoint, formatEpochCheckpoint([]epochEntry{{1, 0}, {3, 10}, {5, 20}, {6, 25}})); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, fsys, dir, testConfig())
	if got := l.epochs.snapshot(); len(got) != 2 || got[1] != (epochEntry{3, 10}) {
		t.Fatalf("epoch cache %v, want [{1 0} {3 10}]", got)
	}
	b, _ := readMemFile(fsys, filepath.Join(dir, epochCheckpoint))
	if string(b) != "0\n2\n1 0\n3 10\n" {
		t.Fatalf("checkpoint %q not rewritten", b)
	}
	mustClose(t, l)

	// Epochs seen in scanned batches but missing from the checkpoint are
	// learned again.
	writeFileAtomic(fsys, dir, epochCheckpoint, formatEpochCheckpoint([]epochEntry{{1, 0}}))
	setRecoveryPoint(t, fsys, dir, 0)
	l = openLog(t, fsys, dir, testConfig())
	if got := l.epochs.snapshot(); len(got) != 2 || got[1] != (epochEntry{3, 10}) {
		t.Fatalf("epoch cache %v after relearning, want [{1 0} {3 10}]", got)
	}
	mustClose(t, l)

	writeFileAtomic(fsys, dir, epochCheckpoint, []byte("0\n3\n1 0\n"))
	if _, err := Open(dir, testConfig(), Options{FS: fsys}); !errors.Is(err, ErrCorruption) {
		t.Fatalf("Open with a bad epoch checkpoint: %v, want ErrCorruption", err)
	}
}

// An empty log has no segment file (its first append creates one), so a
// directory without segments is an empty log at its log start offset:
// reopening it, cleanly or after a crash, keeps that offset, and the first
// append after it lands there and survives a crash once acknowledged.
func TestEmptyLogWithoutSegmentFileOpensAtItsLogStart(t *testing.T) {
	t.Parallel()
	mem := newMemFS()
	dir := "/data/t-0"
	segFile := filepath.Join(dir, fileName(7, logSuffix))
	l := openLog(t, mem, dir, testConfig())
	mustClose(t, l)
	// As DeleteRecords and retention leave a log whose records are all
	// gone, with only its start offset checkpointed. (An empty new log
	// has no directory yet: dir.go.)
	if err := mem.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(mem, dir, logStartOffsetFile, formatOffsetCheckpoint(7)); err != nil {
		t.Fatal(err)
	}
	for _, crash := range []bool{false, true} {
		l = openLog(t, mem, dir, testConfig())
		if err := l.AssignEpoch(3, 7); err != nil { // a new leader of the empty log
			t.Fatal(err)
		}
		if l.LogStartOffset() != 7 || l.LogEndOffset() != 7 {
			t.Fatalf("crash=%v: log [%d, %d), want [7, 7)", crash, l.LogStartOffset(), l.LogEndOffset())
		}
		if crash {
			mem = mem.CrashClone()
		}
		mustClose(t, l)
		ents, err := mem.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if _, _, ok := parseFileName(e.Name()); ok || e.Name() == epochCheckpoint {
				t.Fatalf("crash=%v: opening and closing an empty log left %s", crash, e.Name())
			}
		}
	}

	l = openLog(t, mem, dir, testConfig())
	b := newBatch(t, batchSpec{records: 2})
	info := mustAppend(t, l, b, 0)
	if info.BaseOffset != 7 {
		t.Fatalf("first append at %d, want 7", info.BaseOffset)
	}
	if err := l.WaitDurable(context.Background(), info.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Stat(segFile); err != nil {
		t.Fatalf("the first append created no segment file: %v", err)
	}
	next := mem.CrashClone()
	l.Close()
	l = openLog(t, next, dir, testConfig())
	defer mustClose(t, l)
	checkAcked(t, l, map[int64][]byte{7: b})
	if l.LogStartOffset() != 7 || l.LogEndOffset() != 9 {
		t.Fatalf("after the crash: log [%d, %d), want [7, 9)", l.LogStartOffset(), l.LogEndOffset())
	}
}
