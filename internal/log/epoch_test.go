package log

import (
	"path/filepath"
	"testing"
)

// TestEndOffsetForEpoch checks OffsetForLeaderEpoch answers (KIP-101,
// KIP-279) for a log written by epochs 1 (offsets 0-9), 3 (10-19) and 5
// (20-29).
func TestEndOffsetForEpoch(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	if e, off := l.EndOffsetForEpoch(0); e != -1 || off != -1 {
		t.Fatalf("empty cache: %d, %d; want UNDEFINED", e, off)
	}
	for _, epoch := range []int32{1, 1, 3, 3, 5, 5} {
		mustAppend(t, l, newBatch(t, batchSpec{records: 5}), epoch)
	}
	tests := []struct {
		name      string
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{"the latest epoch ends at the log end", 5, 5, 30},
		{"an epoch between known ones ends where the next starts", 4, 3, 20},
		{"a known older epoch", 3, 3, 20},
		{"another gap", 2, 1, 10},
		{"the first epoch", 1, 1, 10},
		{"below the first epoch: where the first starts", 0, 0, 0},
		{"above the latest epoch", 6, -1, -1},
		{"the undefined epoch", -1, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, off := l.EndOffsetForEpoch(tt.epoch)
			if e != tt.wantEpoch || off != tt.wantEnd {
				t.Fatalf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tt.epoch, e, off, tt.wantEpoch, tt.wantEnd)
			}
		})
	}
	b, err := ReadSmallFile(fsys, filepath.Join(dir, epochCheckpoint), 1<<10)
	if err != nil || string(b) != "0\n3\n1 0\n3 10\n5 20\n" {
		t.Fatalf("leader-epoch-checkpoint %q, %v", b, err)
	}
	// An append with an older leader epoch is written but does not change
	// the cache.
	mustAppend(t, l, newBatch(t, batchSpec{records: 5}), 2)
	if e, off := l.EndOffsetForEpoch(5); e != 5 || off != 35 {
		t.Fatalf("after an old-epoch append: %d, %d", e, off)
	}
	// With the log start moved into epoch 3, epochs 1 and 2 end where the
	// log now starts, as Kafka answers (a follower of epoch 1 cuts there).
	if err := l.DeleteRecordsBefore(15); err != nil {
		t.Fatal(err)
	}
	for _, epoch := range []int32{1, 2} {
		if e, off := l.EndOffsetForEpoch(epoch); e != epoch || off != 15 {
			t.Fatalf("EndOffsetForEpoch(%d) after the log start moved to 15 = %d, %d; want %d, 15", epoch, e, off, epoch)
		}
	}
}

func TestEpochCacheTruncation(t *testing.T) {
	t.Parallel()
	base := []epochEntry{{1, 0}, {3, 10}, {5, 20}}
	tests := []struct {
		name string
		op   func(c *epochCache) bool
		want []epochEntry
		chg  bool
	}{
		{"truncate from end inside the last epoch", func(c *epochCache) bool { return c.truncateFromEnd(25) }, base, false},
		{"truncate from end at an epoch start", func(c *epochCache) bool { return c.truncateFromEnd(20) }, base[:2], true},
		{"truncate from end to zero", func(c *epochCache) bool { return c.truncateFromEnd(0) }, nil, true},
		{"truncate from start inside an epoch", func(c *epochCache) bool { return c.truncateFromStart(15) }, []epochEntry{{3, 15}, {5, 20}}, true},
		{"truncate from start at an epoch start", func(c *epochCache) bool { return c.truncateFromStart(20) }, []epochEntry{{5, 20}}, true},
		{"truncate from start at zero", func(c *epochCache) bool { return c.truncateFromStart(0) }, base, false},
		{"assign a newer epoch", func(c *epochCache) bool { return c.assign(7, 30) }, append(base[:3:3], epochEntry{7, 30}), true},
		{"assign an older epoch", func(c *epochCache) bool { return c.assign(4, 30) }, base, false},
		{"assign replaces entries at or after its start", func(c *epochCache) bool { return c.assign(8, 10) }, []epochEntry{{1, 0}, {8, 10}}, true},
		{"assign a negative epoch", func(c *epochCache) bool { return c.assign(-1, 30) }, base, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c epochCache
			c.set(append([]epochEntry(nil), base...))
			if chg := tt.op(&c); chg != tt.chg {
				t.Fatalf("changed = %v, want %v", chg, tt.chg)
			}
			got := c.snapshot()
			if len(got) != len(tt.want) {
				t.Fatalf("entries %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("entries %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestTruncateForgetsLaterEpochsAndProducerBatches(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	m := &model{}
	for i := 0; i < 60; i++ {
		b := producerBatch(t, produce{pid: 1, seq: int32(5 * i), records: 5})
		mustAppend(t, l, b, int32(i/20)) // epochs 0, 1, 2 start at 0, 100, 200
		m.add(b)
	}
	if err := l.WaitDurable(t.Context(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	segments := len(l.segs)
	if err := l.Truncate(150); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 150 || len(l.segs) >= segments {
		t.Fatalf("log end %d with %d segments (was %d)", l.LogEndOffset(), len(l.segs), segments)
	}
	if d := l.DurableOffset(); d > 150 {
		t.Fatalf("durable offset %d past the truncation", d)
	}
	m.batches = m.batches[:30]
	m.check(t, l, 0)
	if e, off := l.EndOffsetForEpoch(1); e != 1 || off != 150 {
		t.Fatalf("EndOffsetForEpoch(1) = %d, %d after truncation", e, off)
	}
	if e, _ := l.EndOffsetForEpoch(2); e != -1 {
		t.Fatalf("epoch 2 survived the truncation")
	}
	ps, _ := l.ProducerState(1)
	if ps.LastSequence != 149 || ps.LastOffset != 149 {
		t.Fatalf("producer state after truncation: %+v", ps)
	}
	// The producer continues from the truncated point.
	b := producerBatch(t, produce{pid: 1, seq: 150, records: 5})
	if info := mustAppend(t, l, b, 3); info.BaseOffset != 150 {
		t.Fatalf("append after truncation at %d", info.BaseOffset)
	}
	m.add(b)
	m.check(t, l, 0)

	// TruncateFullyAndStartAt empties the log.
	if err := l.TruncateFullyAndStartAt(1000); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1000 || len(l.segs) != 1 {
		t.Fatalf("after TruncateFullyAndStartAt: start %d end %d segments %d", l.LogStartOffset(), l.LogEndOffset(), len(l.segs))
	}
	if _, ok := l.ProducerState(1); ok {
		t.Fatal("producer state survived a full truncation")
	}
	if info := mustAppend(t, l, newBatch(t, batchSpec{}), 4); info.BaseOffset != 1000 {
		t.Fatalf("append after full truncation at %d", info.BaseOffset)
	}
}
