package log

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestCheckpointFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		offset  int64
		entries []epochEntry
		ok      bool
	}{
		{name: "offset", in: "0\n42\n", offset: 42, ok: true},
		{name: "zero offset", in: "0\n0\n", offset: 0, ok: true},
		{name: "negative offset", in: "0\n-1\n"},
		{name: "unknown version", in: "1\n42\n"},
		{name: "no trailing newline", in: "0\n42"},
		{name: "extra line", in: "0\n42\n43\n"},
		{name: "epochs", in: "0\n2\n1 0\n3 10\n", entries: []epochEntry{{1, 0}, {3, 10}}, ok: true},
		{name: "no epochs", in: "0\n0\n", entries: []epochEntry{}, ok: true},
		{name: "count too large", in: "0\n3\n1 0\n3 10\n"},
		{name: "count too small", in: "0\n1\n1 0\n3 10\n"},
		{name: "epochs out of order", in: "0\n2\n3 0\n1 10\n"},
		{name: "offsets out of order", in: "0\n2\n1 10\n3 0\n"},
		{name: "tab separated", in: "0\n1\n1\t0\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(tt.in)
			if tt.entries == nil {
				off, err := parseOffsetCheckpoint(b)
				if (err == nil) != tt.ok || (tt.ok && off != tt.offset) {
					t.Fatalf("parseOffsetCheckpoint(%q) = %d, %v", tt.in, off, err)
				}
				if tt.ok && string(formatOffsetCheckpoint(off)) != tt.in {
					t.Fatalf("format(%d) = %q", off, formatOffsetCheckpoint(off))
				}
			} else {
				got, err := parseEpochCheckpoint(b)
				if (err == nil) != tt.ok || (tt.ok && !slices.Equal(got, tt.entries)) {
					t.Fatalf("parseEpochCheckpoint(%q) = %v, %v", tt.in, got, err)
				}
				if tt.ok && string(formatEpochCheckpoint(got)) != tt.in {
					t.Fatalf("format(%v) = %q", got, formatEpochCheckpoint(got))
				}
			}
			if !tt.ok {
				return
			}
			// Every proper prefix (a torn write) is refused.
			for i := 0; i < len(b); i++ {
				var err error
				if tt.entries == nil {
					_, err = parseOffsetCheckpoint(b[:i])
				} else {
					_, err = parseEpochCheckpoint(b[:i])
				}
				if err == nil {
					t.Fatalf("prefix %q of %q parsed", b[:i], b)
				}
			}
		})
	}
}

func TestSegmentRollsBySegmentMs(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.UnixMilli(5_000_000)}
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 30
	cfg.SegmentMs = 60_000
	l := openLog(t, newMemFS(), "/data/t-0", cfg, func(o *Options) { o.Now = clock.Now })
	defer mustClose(t, l)
	mustAppend(t, l, newBatch(t, batchSpec{}), 0)
	clock.now = clock.now.Add(59 * time.Second)
	mustAppend(t, l, newBatch(t, batchSpec{}), 0)
	if len(l.segs) != 1 {
		t.Fatalf("rolled before segment.ms: %d segments", len(l.segs))
	}
	clock.now = clock.now.Add(time.Second)
	if info := mustAppend(t, l, newBatch(t, batchSpec{}), 0); len(l.segs) != 2 || l.segs[1].base != 2 || info.BaseOffset != 2 {
		t.Fatalf("no roll after segment.ms since the first batch: %d segments", len(l.segs))
	}
	// The new segment's clock starts at its own first batch.
	clock.now = clock.now.Add(59 * time.Second)
	mustAppend(t, l, newBatch(t, batchSpec{}), 0)
	if len(l.segs) != 2 {
		t.Fatalf("%d segments, want 2", len(l.segs))
	}
}

// segment.jitter.ms rolls each segment up to that much before segment.ms,
// by an amount drawn per segment, so that partitions created together do
// not roll together (Kafka's randomSegmentJitter). Of 20 partitions, each
// rolls within [segment.ms - jitter, segment.ms], and not all at one time.
func TestSegmentJitterSpreadsRolls(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 30
	cfg.SegmentMs = 60_000
	cfg.SegmentJitterMs = 30_000
	rolledAt := map[int]bool{}
	for p := range 20 {
		clock := &fakeClock{now: time.UnixMilli(5_000_000)}
		l := openLog(t, newMemFS(), fmt.Sprintf("/data/t-%d", p), cfg, func(o *Options) { o.Now = clock.Now })
		mustAppend(t, l, newBatch(t, batchSpec{}), 0)
		sec := 0
		for ; sec <= 60 && len(l.segs) == 1; sec++ {
			clock.now = time.UnixMilli(5_000_000).Add(time.Duration(sec) * time.Second)
			mustAppend(t, l, newBatch(t, batchSpec{}), 0)
		}
		mustClose(t, l)
		rolled := sec - 1
		if rolled < 30 || rolled > 60 {
			t.Fatalf("partition %d rolled %d s after its first batch; want 30-60 s (segment.ms 60 s, jitter 30 s)", p, rolled)
		}
		rolledAt[rolled] = true
	}
	if len(rolledAt) < 5 {
		t.Fatalf("20 partitions rolled at only %d distinct times: %v", len(rolledAt), rolledAt)
	}
}

func TestSegmentRollsWhenTheIndexIsFull(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 30
	cfg.IndexIntervalBytes = 1 // an index entry for every batch after the first
	cfg.SegmentIndexBytes = 4 * offsetEntrySize
	l := openLog(t, newMemFS(), "/data/t-0", cfg)
	defer mustClose(t, l)
	for i := 0; i < 12; i++ {
		mustAppend(t, l, newBatch(t, batchSpec{ts: int64(i)}), 0)
	}
	// Time index entries are 12 bytes: it holds 2 and fills first (entries
	// for the 2nd and 3rd batch), so every segment holds 3 batches.
	if len(l.segs) != 4 {
		t.Fatalf("%d segments, want 4", len(l.segs))
	}
	for i, s := range l.segs {
		if s.base != int64(3*i) {
			t.Fatalf("segment %d based at %d, want %d", i, s.base, 3*i)
		}
	}
}
