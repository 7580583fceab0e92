package log

import (
	"fmt"
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// TestCleanerOffsetMapStopsMidSegment follows Kafka's buildOffsetMap: the
// offset map stops taking records when full, even in the middle of a
// segment, and the pass cleans only up to the last offset it mapped
// (records past it stay, Kafka's pastLatestOffset). Passes after it go on
// from there until the whole log is clean.
func TestCleanerOffsetMapStopsMidSegment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		segmentBytes int64
	}{
		{"one big segment", 1 << 20},
		{"small segments", 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := compactConfig()
			cfg.SegmentBytes = tc.segmentBytes
			clock := &msClock{} // fixed: no tombstone's horizon passes
			clock.ms.Store(1_000_000)
			l := openLog(t, newMemFS(), "/data/t-0", cfg, withClock(clock))
			defer mustClose(t, l)
			// Offsets 0-99 cycle over 5 keys, then 100-299 over 120 others,
			// with one tombstone in seven.
			for i := 0; i < 300; i++ {
				r := kv{key: fmt.Sprintf("a-%d", i%5), value: str(fmt.Sprint(i))}
				if i >= 100 {
					r.key = fmt.Sprintf("b-%d", i%120)
				}
				if i%7 == 3 {
					r.value = nil
				}
				mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, int64(i), r), 1)
			}
			rollNow(t, l)
			durable(t, l)
			all, _ := readRecords(t, l)
			const maxKeys = 50
			end := int64(0)
			for pass := 0; end < 300; pass++ {
				if pass > 300/maxKeys+len(l.segs) {
					t.Fatalf("still at %d after %d passes", end, pass)
				}
				st := mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), MaxKeys: maxKeys, Force: true})
				if !st.Cleaned || st.EndOffset <= end {
					t.Fatalf("pass %d: %+v, after %d", pass, st, end)
				}
				end = st.EndOffset
				// The first pass maps 0-99 (5 keys), then 45 keys of 100-144:
				// the map is full before offset 145.
				if pass == 0 && end != 145 {
					t.Fatalf("first pass cleaned up to %d, want 145", end)
				}
				got, _ := readRecords(t, l)
				sameRecords(t, got, expectAfterClean(all, end, true))
			}
			if end != 300 {
				t.Fatalf("cleaned up to %d, want 300", end)
			}
		})
	}
}

// TestCleanerKeepsAbortedTransactionsPastAFullOffsetMap: an aborted
// transaction past the last offset the map took stays as it is, data,
// marker and .txnindex entry, so read_committed consumers still skip it
// until a later pass removes its data.
func TestCleanerKeepsAbortedTransactionsPastAFullOffsetMap(t *testing.T) {
	t.Parallel()
	cfg := compactConfig()
	cfg.SegmentBytes = 1 << 20 // one segment
	l := openLog(t, newMemFS(), "/data/t-0", cfg)
	defer mustClose(t, l)
	// Offsets 0-9 cycle over 5 keys, 10-19 have a key each: the map is
	// full before offset 15.
	for i := 0; i < 20; i++ {
		key := fmt.Sprint("k", i%5)
		if i >= 10 {
			key = fmt.Sprint("d", i)
		}
		mustAppend(t, l, keyedBatch(t, record.CodecNone, nil, int64(i), kv{key: key, value: str("v")}), 1)
	}
	appendAbortedTxns(t, l, 7, 1) // data at 20, marker at 21
	rollNow(t, l)
	l.HighWatermarkMoved(l.LogEndOffset()) // the marker is replicated
	durable(t, l)
	want := abortedAll(t, l)
	if len(want) != 1 {
		t.Fatalf("aborted transactions before cleaning: %+v", want)
	}
	st := mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), MaxKeys: 10, Force: true})
	if st.EndOffset != 15 {
		t.Fatalf("cleaned up to %d, want 15", st.EndOffset)
	}
	if got := abortedAll(t, l); len(got) != 1 || got[0] != want[0] {
		t.Fatalf("aborted transactions after cleaning: %+v, want %+v", got, want)
	}
	// 5-19 and the transaction's data and marker.
	if recs, _ := readRecords(t, l); len(recs) != 17 {
		t.Fatalf("%d records after cleaning, want 17: %v", len(recs), recs)
	}
	// Passes that reach it remove its data, then its entry.
	for range 5 {
		mustClean(t, l, CleanOptions{UpperBound: l.LogEndOffset(), MaxKeys: 10, Force: true})
	}
	recs, _ := readRecords(t, l)
	for _, r := range recs {
		if r.key == "ab7" {
			t.Fatalf("aborted data kept: %v", recs)
		}
	}
}
