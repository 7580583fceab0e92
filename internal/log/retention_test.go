package log

import (
	"errors"
	"math"
	"testing"
	"time"
)

// fakeClock is an injected wall clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestRetentionByTime(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.UnixMilli(1_000_000)}
	fsys, dir := newMemFS(), "/data/t-0"
	cfg := testConfig()
	cfg.RetentionMs = 10_000
	l := openLog(t, fsys, dir, cfg, func(o *Options) { o.Now = clock.Now })
	defer mustClose(t, l)
	// Segments of ~20 batches; batch i has timestamp 1_000_000 + 100*i.
	m := &model{}
	for i := 0; i < 100; i++ {
		b := newBatch(t, batchSpec{ts: 1_000_000 + 100*int64(i), valueSize: 150})
		mustAppend(t, l, b, 0)
		m.add(b)
	}
	if len(l.segs) < 4 {
		t.Fatalf("want several segments, have %d", len(l.segs))
	}
	// Nothing is older than retention.ms yet.
	if n, err := l.ApplyRetention(); n != 0 || err != nil {
		t.Fatalf("ApplyRetention deleted %d, %v; want 0", n, err)
	}
	// Move the clock so that the first two segments' largest timestamps
	// are more than retention.ms old, and the third's is not.
	second := l.segs[1]
	ts2, _ := second.maxTimestamp()
	ts3, _ := l.segs[2].maxTimestamp()
	clock.now = time.UnixMilli(ts2 + cfg.RetentionMs + 1)
	if clock.now.UnixMilli()-ts3 > cfg.RetentionMs {
		t.Fatal("the test wants the third segment to be kept")
	}
	wantStart := l.segs[2].base
	n, err := l.ApplyRetention()
	if err != nil || n != 2 {
		t.Fatalf("ApplyRetention deleted %d, %v; want 2", n, err)
	}
	if l.LogStartOffset() != wantStart || l.segs[0].base != wantStart {
		t.Fatalf("log start %d, first segment %d; want %d", l.LogStartOffset(), l.segs[0].base, wantStart)
	}
	if _, err := fsys.Stat(second.path); !isNotExist(err) {
		t.Fatalf("deleted segment's file remains: %v", err)
	}
	if _, err := l.Read(wantStart-1, 100, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the new log start: %v", err)
	}
	m.check(t, l, wantStart)

	// Once expired, the active segment goes too (Kafka's deletableSegments):
	// the log rolls and keeps an empty segment at its end offset.
	clock.now = clock.now.Add(365 * 24 * time.Hour)
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if len(l.segs) != 1 || l.segs[0].base != 100 || l.segs[0].size.Load() != 0 || l.LogEndOffset() != 100 || l.LogStartOffset() != 100 {
		t.Fatalf("%d segments (first at %d), log [%d, %d); want one empty segment at 100", len(l.segs), l.segs[0].base, l.LogStartOffset(), l.LogEndOffset())
	}
}

func TestRetentionBySize(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	cfg := testConfig()
	l := openLog(t, fsys, dir, cfg)
	for i := 0; i < 100; i++ {
		mustAppend(t, l, newBatch(t, batchSpec{valueSize: 150}), 0)
	}
	var sizes []int64
	for _, s := range l.segs {
		sizes = append(sizes, s.size.Load())
	}
	total := l.Size()
	// Keep at least retention.bytes: deleting the first two segments leaves
	// exactly that; deleting the third would go below.
	cfg.RetentionBytes = total - sizes[0] - sizes[1]
	l.SetConfig(cfg)
	wantStart := l.segs[2].base
	n, err := l.ApplyRetention()
	if err != nil || n != 2 || l.LogStartOffset() != wantStart {
		t.Fatalf("ApplyRetention: %d, %v, log start %d; want 2 segments deleted, start %d", n, err, l.LogStartOffset(), wantStart)
	}
	if l.Size() != cfg.RetentionBytes {
		t.Fatalf("size %d, want %d", l.Size(), cfg.RetentionBytes)
	}
	mustClose(t, l)

	// The new log start offset survives a restart.
	l = openLog(t, fsys, dir, cfg)
	defer mustClose(t, l)
	if l.LogStartOffset() != wantStart {
		t.Fatalf("log start %d after reopen, want %d", l.LogStartOffset(), wantStart)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	m := &model{}
	for i := 0; i < 100; i++ {
		b := newBatch(t, batchSpec{records: 2, valueSize: 150})
		mustAppend(t, l, b, 0)
		m.add(b)
	}
	// Offset 2 segments in, in the middle of a batch.
	target := l.segs[2].base + 3
	if err := l.DeleteRecordsBefore(target); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != target || l.segs[0].base != target-3 {
		t.Fatalf("log start %d, first segment %d; want %d, %d", l.LogStartOffset(), l.segs[0].base, target, target-3)
	}
	if err := l.DeleteRecordsBefore(5); err != nil || l.LogStartOffset() != target {
		t.Fatalf("DeleteRecordsBefore below the start: %v, start %d", err, l.LogStartOffset())
	}
	if err := l.DeleteRecordsBefore(l.LogEndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecordsBefore past the end: %v", err)
	}
	b := newBatch(t, batchSpec{})
	info := mustAppend(t, l, b, 0)
	m.add(b)
	if info.LogStartOffset != target {
		t.Fatalf("AppendInfo.LogStartOffset %d, want %d", info.LogStartOffset, target)
	}
	mustClose(t, l)
	l = openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	if l.LogStartOffset() != target {
		t.Fatalf("log start %d after reopen, want %d", l.LogStartOffset(), target)
	}
	if _, err := l.Read(target-1, 100, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start after reopen: %v", err)
	}
	m.check(t, l, target)
}

// NextRetention says when retention or producer expiry may next act, and
// OnRetentionDue tells of what makes a log due without a check (a roll, a
// first producer ID), so that the owner schedules logs instead of visiting
// every log on every check.
func TestNextRetentionAndOnRetentionDue(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.UnixMilli(1_000_000)}
	cfg := testConfig()
	cfg.RetentionMs = 10_000
	calls := 0
	l := openLog(t, newMemFS(), "/data/t-0", cfg, func(o *Options) {
		o.Now = clock.Now
		o.OnRetentionDue = func() { calls++ }
	})
	defer mustClose(t, l)
	const expiry = time.Hour
	if _, ok := l.NextRetention(clock.now, expiry); ok {
		t.Fatal("an empty log has retention work ahead")
	}
	// The first records of a lone segment make the log due when they
	// expire: the active segment is deleted too once expired.
	mustAppend(t, l, newBatch(t, batchSpec{ts: 1_000_000, valueSize: 150}), 0)
	if due, ok := l.NextRetention(clock.now, expiry); !ok || calls != 1 || !due.Equal(time.UnixMilli(1_000_000+cfg.RetentionMs+1)) {
		t.Fatalf("a log of one segment without producers: due %v (%v), %d calls", due, ok, calls)
	}
	// Fill the first segment (timestamps up to 1_001_900) until it rolls.
	for i := 1; len(l.segs) < 2; i++ {
		mustAppend(t, l, newBatch(t, batchSpec{ts: 1_000_000 + 100*int64(i), valueSize: 150}), 0)
	}
	if calls != 2 {
		t.Fatalf("the first records and a roll called OnRetentionDue %d times, want 2", calls)
	}
	ts, _ := l.segs[0].maxTimestamp()
	due, ok := l.NextRetention(clock.now, expiry)
	if want := time.UnixMilli(ts + cfg.RetentionMs + 1); !ok || !due.Equal(want) {
		t.Fatalf("due %v (%v), want %v: when the first segment passes retention.ms", due, ok, want)
	}
	clock.now = due
	if n, err := l.ApplyRetention(); n != 1 || err != nil {
		t.Fatalf("at its due time retention deleted %d, %v; want 1", n, err)
	}

	// A first producer ID makes the log due for its expiry.
	pb := producerBatch(t, produce{pid: 9, records: 1})
	mustAppend(t, l, pb, 0)
	if calls != 3 {
		t.Fatalf("a first producer ID called OnRetentionDue %d times in all, want 3", calls)
	}
	due, ok = l.NextRetention(clock.now, expiry)
	if !ok || due.After(clock.now.Add(expiry+time.Millisecond)) {
		t.Fatalf("with a producer ID: due %v (%v), want by %v", due, ok, clock.now.Add(expiry))
	}

	// Under retention.bytes a log with a sealed segment is due at once.
	for i := 0; len(l.segs) < 2; i++ {
		mustAppend(t, l, newBatch(t, batchSpec{ts: clock.now.UnixMilli(), valueSize: 150}), 0)
	}
	cfg.RetentionBytes = 1 << 30
	l.SetConfig(cfg)
	if due, ok := l.NextRetention(clock.now, expiry); !ok || due.After(clock.now) {
		t.Fatalf("under retention.bytes: due %v (%v), want now", due, ok)
	}
}
