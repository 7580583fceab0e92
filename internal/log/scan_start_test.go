package log

import (
	"bytes"
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// scanStartLog writes batches of an idempotent producer into one large
// segment (timestamps rising, so the time index grows too), checkpoints
// the recovery point with its scan start at the log end, appends and
// fsyncs a few more (past the recovery point) and crashes. It returns
// what survived, the model and the scan start written.
func scanStartLog(t *testing.T) (*memFS, string, *model, *scanStart) {
	t.Helper()
	mem, dir := newMemFS(), "/data/t-0"
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	l := openLog(t, mem, dir, cfg)
	m := &model{}
	prod := &record.Producer{ID: 7, Epoch: 0}
	add := func(i int) {
		prod.BaseSequence = int32(i)
		b := newBatch(t, batchSpec{ts: 1000 + int64(i)*10, valueSize: 100, producer: prod})
		mustAppend(t, l, b, 0)
		m.add(b)
	}
	for i := range 40 {
		add(i)
	}
	if err := l.syncNow(); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	rp, at, _, err := readRecoveryPoint(mem, dir)
	if err != nil || at == nil || rp != 40 || at.offset != 40 || at.pos != l.active.size.Load() {
		t.Fatalf("recovery point %d, scan start %+v, %v; want both at the log end 40 (position %d)", rp, at, err, l.active.size.Load())
	}
	for i := 40; i < 45; i++ {
		add(i)
	}
	if err := l.syncNow(); err != nil {
		t.Fatal(err)
	}
	crashed := mem.CrashClone()
	l.Close()
	return crashed, dir, m, at
}

// withoutScanStart leaves the recovery point at rp without a scan start,
// as a broker that never wrote one leaves it.
func withoutScanStart(t *testing.T, fsys FS, dir string, rp int64) {
	t.Helper()
	if err := writeFileAtomic(fsys, dir, recoveryPointFile, formatOffsetCheckpoint(rp)); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Remove(filepath.Join(dir, scanStartFile)); err != nil && !isNotExist(err) {
		t.Fatal(err)
	}
}

// openedState is what two opens of the same files must agree on.
type openedState struct {
	offs      []offsetEntry
	times     []timeEntry
	maxTs     [2]int64
	producers []byte
	leo       int64
	byTime    []int64
}

// stateAfterUse reads everything through the model (which completes the
// active segment's indexes) and notes the log's in-memory state.
func stateAfterUse(t *testing.T, l *Log, m *model) openedState {
	t.Helper()
	m.check(t, l, 0)
	return openedStateOf(t, l, false)
}

func (a openedState) equal(b openedState) bool {
	return slices.Equal(a.offs, b.offs) && slices.Equal(a.times, b.times) && a.maxTs == b.maxTs &&
		bytes.Equal(a.producers, b.producers) && a.leo == b.leo && slices.Equal(a.byTime, b.byTime)
}

// Open with a scan start reads only the batches after it: the indexes of
// the part before it are rebuilt on first use, and end up exactly as a
// full scan (a recovery point without a scan start)
// builds them. Producer state comes from the snapshot at the scan start,
// so a retried batch is still recognised as a duplicate; a roll after it
// seals a segment whose index files check out.
func TestScanStartOpensOnlyTheTail(t *testing.T) {
	t.Parallel()
	mem, dir, m, at := scanStartLog(t)
	// The same files, without the scan start.
	old := mem.CrashClone()
	withoutScanStart(t, old, dir, 40)

	full := openLog(t, old, dir, testConfig())
	defer mustClose(t, full)
	if full.active.unchecked.Load() {
		t.Fatal("a recovery point without a scan start left indexes to first use")
	}
	want := stateAfterUse(t, full, m)

	l := openLog(t, mem, dir, testConfig())
	defer mustClose(t, l)
	if !l.active.unchecked.Load() {
		t.Fatal("Open with a scan start rebuilt the whole index")
	}
	l.active.index.mu.RLock()
	for _, e := range l.active.index.mem {
		if int64(e.pos) < at.pos {
			t.Errorf("index entry %+v before the scan start (position %d) right after Open", e, at.pos)
		}
	}
	l.active.index.mu.RUnlock()
	if ts, off := l.active.maxTimestamp(); ts != want.maxTs[0] || off != want.maxTs[1] {
		t.Fatalf("max timestamp %d at %d after Open, want %d at %d", ts, off, want.maxTs[0], want.maxTs[1])
	}
	got := stateAfterUse(t, l, m)
	if !got.equal(want) {
		t.Fatalf("after a scan from the scan start and the first use:\n%+v\nafter a full scan:\n%+v", got, want)
	}

	// The producer's last batch again: a duplicate, from the snapshot.
	dup := newBatch(t, batchSpec{ts: 1000 + 44*10, valueSize: 100, producer: &record.Producer{ID: 7, BaseSequence: 44}})
	if info, err := appendBatch(l, dup, 0); !errors.Is(err, ErrDuplicateSequence) || info.BaseOffset != 44 {
		t.Fatalf("retried batch: %+v, %v; want ErrDuplicateSequence at 44", info, err)
	}
	// Roll: the sealed segment's index files are whole and in order.
	for i := 45; l.segs[len(l.segs)-1].base == 0; i++ {
		b := newBatch(t, batchSpec{ts: 1000 + int64(i)*10, valueSize: 100, producer: &record.Producer{ID: 7, BaseSequence: int32(i)}})
		mustAppend(t, l, b, 0)
		m.add(b)
		if i == 45 {
			l.mu.Lock()
			l.cfg.SegmentBytes = l.active.size.Load() + 1
			l.mu.Unlock()
		}
	}
	if ok, why, err := loadIndexes(l.segs[0]); !ok || err != nil {
		t.Fatalf("sealed segment's indexes: %s, %v", why, err)
	}
	m.check(t, l, 0)
}

// A scan start that does not fit the segment is logged and Open reads the
// segment from its start, as without one: past the end of the file, not
// at a batch boundary, at a boundary with the wrong offset. A recovery
// point without one still opens the log. Everything reads back.
func TestScanStartThatDoesNotFitFallsBackToAFullScan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		edit  func(at *scanStart, size int64)
		warns string
	}{
		{"no scan start", nil, ""},
		{"past the end of the file", func(at *scanStart, size int64) { at.pos, at.prevPos = size+4096, size+1000 }, "past the end"},
		{"not at a batch boundary", func(at *scanStart, _ int64) { at.pos -= 7; at.prevPos -= 7 }, "before it"},
		{"boundary of another offset", func(at *scanStart, _ int64) { at.offset-- }, "batch before it"},
		{"does not parse", func(at *scanStart, _ int64) { at.sinceIndex = -1 }, "does not hold together"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem, dir, m, at := scanStartLog(t)
			withoutScanStart(t, mem, dir, 40)
			if tc.edit != nil {
				size := fileSize(t, mem, filepath.Join(dir, fileName(0, logSuffix)))
				bad := *at
				tc.edit(&bad, size)
				if err := writeFileAtomic(mem, dir, scanStartFile, formatRecoveryPoint(40, &bad)); err != nil {
					t.Fatal(err)
				}
			}
			var out logBuffer
			l := openLog(t, mem, dir, testConfig(), func(o *Options) { o.Logger = out.logger() })
			defer mustClose(t, l)
			if l.active.unchecked.Load() {
				t.Fatal("indexes left to first use after a full scan")
			}
			if l.LogEndOffset() != 45 {
				t.Fatalf("log end %d, want 45", l.LogEndOffset())
			}
			logged := out.String()
			if tc.warns == "" && strings.Contains(logged, "scan start") {
				t.Fatalf("logged a scan start problem without a scan start:\n%s", logged)
			}
			if tc.warns != "" && (!strings.Contains(logged, "scan start does not") || !strings.Contains(logged, tc.warns)) {
				t.Fatalf("log does not say the scan start (%s) was refused:\n%s", tc.warns, logged)
			}
			m.check(t, l, 0)
		})
	}
}

// The recovery-point file round-trips with and without a scan start. A
// version 1 file whose offset does not parse is refused; one whose scan
// start does not parse or hold together gives its offset without it.
func TestRecoveryPointFormat(t *testing.T) {
	t.Parallel()
	at := &scanStart{seg: 100, pos: 4096, offset: 140, prevPos: 3000, maxTs: 1700000000000, maxTsOffset: 139, firstTs: -1, sinceIndex: 30}
	for _, c := range []struct {
		off int64
		at  *scanStart
	}{{0, nil}, {150, nil}, {150, at}, {140, at}, {math.MaxInt64, nil}} {
		off, got, why, err := parseRecoveryPoint(formatRecoveryPoint(c.off, c.at))
		if err != nil || why != "" || off != c.off || (got == nil) != (c.at == nil) || (got != nil && *got != *c.at) {
			t.Fatalf("round trip of %d %+v: %d %+v %q %v", c.off, c.at, off, got, why, err)
		}
	}
	for _, bad := range []string{
		"1\n150\n100 4096 140 3000 1 139 -1 0",
		"1\nx\n100 4096 140 3000 1 139 -1 0\n",
		"1\n-3\n",
		"1\n",
		"1\n\n",
		"2\n150\n",
		"0\n150\n100 4096 140 3000 1 139 -1 0\n",
	} {
		if _, _, _, err := parseRecoveryPoint([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	for _, noStart := range []string{
		"1\n150\n",
		"1\n150\n100 4096 140 3000 1 139 -1\n",     // a field too few
		"1\n150\n100 4096 160 3000 1 139 -1 0\n",   // scan start past the recovery point
		"1\n150\n100 4096 90 3000 1 139 -1 0\n",    // offset below the segment's base
		"1\n150\n100 4096 140 4096 1 139 -1 0\n",   // batch before it not before it
		"1\n150\n100 4096 140 -1 1 139 -1 0\n",     // no batch before a non-zero position
		"1\n150\n100 4096 140 3000 1 139 -1 -5\n",  // negative byte count
		"1\n150\n100 4096 140 3000 1 139 -1 0 5\n", // a field too many
		"1\n150\n100 4096 140 3000 x 139 -1 0\n",
		"1\n150\n100 4096 140 3000 1 139 -1 0\nmore\n",
	} {
		off, got, why, err := parseRecoveryPoint([]byte(noStart))
		if err != nil || off != 150 || got != nil || why == "" {
			t.Errorf("%q: %d %+v %q %v; want 150 without a scan start, and why", noStart, off, got, why, err)
		}
	}
}

// The first checkpoint after Open fsyncs the tail Open found past the
// recovery point and moves the recovery point and the scan start to the
// log end, so a log not written to again is not read past its scan start
// at every restart; later checkpoints of the idle log write nothing.
func TestFirstCheckpointAfterOpenTakesInTheRecoveredTail(t *testing.T) {
	t.Parallel()
	mem, dir, m, _ := scanStartLog(t)
	var syncs syncCounter
	writes := 0
	fsys := &hookFS{FS: mem, onSync: syncs.hook, onWrite: func(string) error { writes++; return nil }}
	l := openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	if l.DurableOffset() != 40 || l.LogEndOffset() != 45 {
		t.Fatalf("durable offset %d, log end %d after Open; want 40 and 45", l.DurableOffset(), l.LogEndOffset())
	}
	if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	rp, at, _, err := readRecoveryPoint(mem, dir)
	if err != nil || rp != 45 || at == nil || at.offset != 45 {
		t.Fatalf("after the first checkpoint: recovery point %d, scan start %+v, %v; want both at 45", rp, at, err)
	}
	syncs.take()
	writes = 0
	if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := syncs.take(); len(n) != 0 || writes != 0 {
		t.Fatalf("a checkpoint of an idle log fsynced %v and wrote %d times", n, writes)
	}
	// What survives a crash now opens reading nothing past the scan start.
	l2 := openLog(t, mem.CrashClone(), dir, testConfig())
	defer mustClose(t, l2)
	if l2.DurableOffset() != 45 {
		t.Fatalf("durable offset %d after the next Open, want 45", l2.DurableOffset())
	}
	m.check(t, l2, 0)
}

// FuzzParseRecoveryPoint: no recovery-point file, however damaged, panics
// its parser, and what it accepts holds together.
func FuzzParseRecoveryPoint(f *testing.F) {
	for _, s := range []string{"0\n150\n", "1\n150\n100 4096 140 3000 1 139 -1 0\n", "1\n", "1\n150\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		off, at, _, err := parseRecoveryPoint(b)
		if err == nil && off < 0 {
			t.Fatalf("%q: negative offset %d", b, off)
		}
		if at != nil && (at.offset > off || at.offset < at.seg) {
			t.Fatalf("%q: scan start %+v outside the recovery point %d", b, at, off)
		}
	})
}
