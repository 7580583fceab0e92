package log

import (
	"fmt"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// rollNow seals the active segment as a roll on append would.
func rollNow(t testing.TB, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.roll(); err != nil {
		t.Fatal(err)
	}
}

// TestCleanerDropsEmptyBatchesNoLongerLastOfTheirProducer follows Kafka's
// log cleaner (BatchRetention): an empty batch stays only while it holds its
// producer's last sequence (RETAIN_EMPTY); every other empty batch goes
// (DELETE_EMPTY). Ten idempotent producers and a plain one overwrite the
// same key pass after pass; what is left must not grow with the passes.
func TestCleanerDropsEmptyBatchesNoLongerLastOfTheirProducer(t *testing.T) {
	t.Parallel()
	cfg := compactConfig()
	cfg.SegmentBytes = 1 << 20 // the test rolls
	l := openLog(t, newMemFS(), "/data/t-0", cfg)
	defer mustClose(t, l)
	const producers, passes = 10, 40
	for pass := 0; pass < passes; pass++ {
		key := "z"
		if pass == 0 {
			key = "k"
		}
		for pid := int64(100); pid < 100+producers; pid++ {
			p := &record.Producer{ID: pid, Epoch: 0, BaseSequence: int32(pass)}
			mustAppend(t, l, keyedBatch(t, record.CodecNone, p, int64(pass), kv{key: key, value: str(fmt.Sprint(pid))}), 1)
		}
		mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, int64(pass), kv{key: key, value: str(fmt.Sprint("plain-", pass))}), 1)
		rollNow(t, l)
		durable(t, l)
		mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), Force: true})
		checkEmptyBatches(t, l, pass)
	}
	recs, hs := readRecords(t, l)
	want := []string{"10:k=plain-0", fmt.Sprintf("%d:z=plain-%d", passes*(producers+1)-1, passes-1)}
	if len(recs) != len(want) || recs[0].String() != want[0] || recs[1].String() != want[1] {
		t.Fatalf("records %v, want %v", recs, want)
	}
	// One empty batch per producer (its last sequence) and at most one per
	// segment to end it.
	if max := producers + len(l.segs); len(hs) > max+len(recs) {
		t.Fatalf("%d batches after %d passes, want at most %d", len(hs), passes, max+len(recs))
	}
}

// checkEmptyBatches fails unless every empty batch of l is either its
// producer's last batch or the last batch of its segment, with no producer.
func checkEmptyBatches(t testing.TB, l *Log, pass int) {
	t.Helper()
	_, hs := readRecords(t, l)
	l.segMu.RLock()
	ends := map[int64]bool{} // the next offset of each segment but the active one
	for i := 1; i < len(l.segs); i++ {
		ends[l.segs[i].base] = true
	}
	l.segMu.RUnlock()
	for _, h := range hs {
		if h.RecordCount != 0 {
			continue
		}
		if !h.HasProducerID() {
			if !ends[h.LastOffset()+1] {
				t.Fatalf("pass %d: an empty batch of no producer at %d does not end its segment", pass, h.BaseOffset)
			}
			continue
		}
		st, ok := l.ProducerState(h.ProducerID)
		if !ok || st.LastOffset != h.LastOffset() {
			t.Fatalf("pass %d: empty batch at %d of producer %d (seq %d) kept; its last batch ends at %d",
				pass, h.BaseOffset, h.ProducerID, h.BaseSequence, st.LastOffset)
		}
	}
}

// TestCleanerKeepsTheBatchThatEndsAGroupAsItIs: when a group's last batch
// goes, the cleaned segment ends with an empty batch of no producer; a
// later pass with nothing to remove leaves that segment as it is instead
// of writing the same batch again.
func TestCleanerKeepsTheBatchThatEndsAGroupAsItIs(t *testing.T) {
	t.Parallel()
	cfg := compactConfig()
	cfg.SegmentBytes = 1 << 20 // the test rolls
	l := openLog(t, newMemFS(), "/data/t-0", cfg)
	defer mustClose(t, l)
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 1, kv{key: "a", value: str("1")}), 1)
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 2, kv{key: "b", value: str("1")}), 1)
	rollNow(t, l)
	mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, 3, kv{key: "b", value: str("2")}), 1)
	rollNow(t, l)
	durable(t, l)
	cfg.SegmentBytes = 150 // a group of one segment each
	l.SetConfig(cfg)
	// The first segment loses its last batch (b=1): an empty batch ends it.
	mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), Force: true})
	_, hs := readRecords(t, l)
	if len(hs) != 3 || hs[1].RecordCount != 0 || hs[1].BaseOffset != 1 || hs[1].HasProducerID() {
		t.Fatalf("batches after cleaning: %+v", hs)
	}
	l.segMu.RLock()
	first := l.segs[0]
	l.segMu.RUnlock()
	st := mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), Force: true})
	l.segMu.RLock()
	same := l.segs[0] == first
	l.segMu.RUnlock()
	if !same || st.BytesAfter != st.BytesBefore {
		t.Fatalf("a pass with nothing to remove rewrote the segment (%d -> %d bytes)", st.BytesBefore, st.BytesAfter)
	}
	if _, hs2 := readRecords(t, l); len(hs2) != len(hs) {
		t.Fatalf("batches %+v, want %+v", hs2, hs)
	}
}
