package log

import (
	"context"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// TestScanStartMatchesAFullScanAfterCrashes runs random appends (one
// idempotent producer, batches of one to three records), fsyncs,
// recovery-point checkpoints, truncations and rolls, and crashes at a
// random fsync. The files that survive are opened twice: as they are, and
// with the recovery point alone, without its scan
// start (a full scan of the active segment). Both must agree on the
// indexes, timestamps, producer state and records, and neither may lose
// an offset that was durable at the crash. SLUICE_SCAN_START_SEED replays
// a seed.
func TestScanStartMatchesAFullScanAfterCrashes(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	if s := os.Getenv("SLUICE_SCAN_START_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("SLUICE_SCAN_START_SEED: %v", err)
		}
	}
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	rounds, withStart, used := 2000, 0, 0
	for round := range rounds {
		mem, dir := newMemFS(), "/data/t-0"
		cfg := testConfig()
		cfg.SegmentBytes = int64(2048 + rng.Intn(8192))
		var (
			crashed *memFS
			l       *Log
		)
		durableAtCrash := int64(0)
		syncs, crashSync := 0, 1+rng.Intn(60)
		var hookMu sync.Mutex // fsyncs run on the sync loops and on a roll's appender
		fsys := &hookFS{FS: mem, onSync: func(string) error {
			hookMu.Lock()
			defer hookMu.Unlock()
			// Taken before this fsync applies: what is durable by then
			// must survive.
			if syncs++; syncs == crashSync {
				crashed = mem.CrashClone()
				if l != nil {
					durableAtCrash = l.DurableOffset()
				}
			}
			return nil
		}}
		l = openLog(t, fsys, dir, cfg)
		prod := &record.Producer{ID: 7, Epoch: 0}
		for i, steps := 0, 20+rng.Intn(120); i < steps; i++ {
			switch r := rng.Intn(20); {
			case r < 12:
				prod.BaseSequence = int32(l.LogEndOffset())
				b := newBatch(t, batchSpec{records: 1 + rng.Intn(3), ts: 1000 + int64(i)*7, tsStep: 1, valueSize: 30 + rng.Intn(200), producer: prod})
				if _, err := appendBatch(l, b, 0); err != nil {
					t.Fatalf("seed %d round %d: append: %v", seed, round, err)
				}
			case r < 15:
				if err := l.syncNow(); err != nil {
					t.Fatal(err)
				}
			case r < 18:
				if err := l.CheckpointRecoveryPoint(context.Background()); err != nil {
					t.Fatal(err)
				}
			default:
				if leo := l.LogEndOffset(); leo > 0 {
					if err := l.Truncate(leo - int64(rng.Intn(int(min(leo, 12))))); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		mustClose(t, l)
		if crashed == nil {
			continue
		}
		rp, at, _, err := readRecoveryPoint(crashed, dir)
		if err != nil {
			continue // no recovery point yet
		}
		if at != nil {
			withStart++
		}
		full := crashed.CrashClone()
		withoutScanStart(t, full, dir, rp)
		a, b := openLog(t, crashed, dir, cfg), openLog(t, full, dir, cfg)
		if a.active.unchecked.Load() {
			used++ // Open read the active segment from the scan start
		}
		if sa, sb := openedStateOf(t, a, true), openedStateOf(t, b, true); !sa.equal(sb) {
			t.Errorf("seed %d round %d: scan start %+v, recovery point %d: opened state differs from a full scan's:\nscan start: %+v\nfull scan:  %+v",
				seed, round, at, rp, sa, sb)
		}
		if a.LogEndOffset() < durableAtCrash {
			t.Errorf("seed %d round %d: %d was durable at the crash, the log ends at %d after it", seed, round, durableAtCrash, a.LogEndOffset())
		}
		ra, rb := readAll(t, a, a.LogStartOffset(), 1<<20), readAll(t, b, b.LogStartOffset(), 1<<20)
		if len(ra) != len(rb) {
			t.Errorf("seed %d round %d: %d batches read after Open with the scan start, %d after a full scan", seed, round, len(ra), len(rb))
		}
		for i := range min(len(ra), len(rb)) {
			if !slices.Equal(ra[i], rb[i]) {
				t.Errorf("seed %d round %d: batch %d differs", seed, round, i)
				break
			}
		}
		mustClose(t, a)
		mustClose(t, b)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d of %d rounds crashed with a scan start in the recovery point, %d read from it", withStart, rounds, used)
	if used < rounds/20 {
		t.Errorf("only %d of %d rounds opened reading from a scan start", used, rounds)
	}
}

// openedStateOf looks up timestamps and reads the whole log, which
// completes the active segment's indexes, and notes the log's in-memory
// state. With complete it completes them itself (reads that never search
// past the segment's first offset leave them as they are); without, it
// fails when the reads did not.
func openedStateOf(t *testing.T, l *Log, complete bool) openedState {
	t.Helper()
	var st openedState
	for _, ts := range []int64{0, 1005, 1200, 1395, 1440, 1800, 5000} {
		off, _, ok, err := l.OffsetForTimestamp(ts)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			off = -1
		}
		st.byTime = append(st.byTime, off)
	}
	readAll(t, l, l.LogStartOffset(), 1<<20)
	s := l.active
	if complete {
		if err := s.ensureIndexes(); err != nil {
			t.Fatal(err)
		}
	} else if s.unchecked.Load() {
		t.Fatal("the active segment's indexes are still incomplete after reading it all")
	}
	s.index.mu.RLock()
	st.offs = slices.Clone(s.index.mem)
	s.index.mu.RUnlock()
	s.tindex.mu.RLock()
	st.times = slices.Clone(s.tindex.mem)
	s.tindex.mu.RUnlock()
	ts, off := s.maxTimestamp()
	st.maxTs = [2]int64{ts, off}
	l.mu.Lock()
	st.producers = l.producers.encodeSnapshot()
	l.mu.Unlock()
	st.leo = l.LogEndOffset()
	return st
}
