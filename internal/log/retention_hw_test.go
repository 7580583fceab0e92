package log

import (
	"errors"
	"math"
	"testing"
	"time"
)

// TestRetentionStopsAtTheHighWatermark follows Kafka's deletableSegments:
// a segment goes only when every record of it is below the high watermark
// (highWatermark >= the next segment's base offset), whatever retention.ms
// or retention.bytes say, so the log start offset never passes the high
// watermark and no record a new leader may lack is deleted.
func TestRetentionStopsAtTheHighWatermark(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.UnixMilli(1_000_000)}
	fsys, dir := newMemFS(), "/data/t-0"
	cfg := testConfig()
	cfg.RetentionMs = 10_000
	l := openLog(t, fsys, dir, cfg, func(o *Options) { o.Now = clock.Now })
	defer mustClose(t, l)
	m := &model{}
	for i := 0; i < 100; i++ {
		b := newBatch(t, batchSpec{ts: 1_000_000 + int64(i), valueSize: 150})
		mustAppend(t, l, b, 0)
		m.add(b)
	}
	if len(l.segs) < 5 {
		t.Fatalf("want several segments, have %d", len(l.segs))
	}
	bases := make([]int64, len(l.segs))
	for i, s := range l.segs {
		bases[i] = s.base
	}
	clock.now = clock.now.Add(time.Hour) // every record is past retention.ms

	// The high watermark inside the third segment: the first two go.
	l.HighWatermarkMoved(bases[2] + 1)
	if n, err := l.ApplyRetention(); err != nil || n != 2 || l.LogStartOffset() != bases[2] {
		t.Fatalf("ApplyRetention: %d, %v, log start %d; want 2 segments, start %d", n, err, l.LogStartOffset(), bases[2])
	}
	// Exactly at the next segment's base: that segment goes too.
	l.HighWatermarkMoved(bases[3])
	if n, err := l.ApplyRetention(); err != nil || n != 1 || l.LogStartOffset() != bases[3] {
		t.Fatalf("ApplyRetention: %d, %v, log start %d; want 1 segment, start %d", n, err, l.LogStartOffset(), bases[3])
	}
	// retention.bytes is held back the same way.
	cfg.RetentionBytes = 0
	l.SetConfig(cfg)
	if n, err := l.ApplyRetention(); err != nil || n != 0 || l.LogStartOffset() != bases[3] {
		t.Fatalf("retention.bytes past the high watermark: %d, %v, log start %d", n, err, l.LogStartOffset())
	}
	// A high watermark moving down (a follower truncated) is honoured.
	l.HighWatermarkMoved(bases[3] - 1)
	if n, err := l.ApplyRetention(); err != nil || n != 0 {
		t.Fatalf("below the log start: %d, %v", n, err)
	}
	m.check(t, l, bases[3])
	// Once the high watermark reaches the log end, everything goes.
	l.HighWatermarkMoved(l.LogEndOffset())
	if n, err := l.ApplyRetention(); err != nil || n != len(bases)-3 || l.LogStartOffset() != 100 || l.LogEndOffset() != 100 {
		t.Fatalf("ApplyRetention: %d, %v, log [%d, %d); want %d segments, log [100, 100)", n, err, l.LogStartOffset(), l.LogEndOffset(), len(bases)-3)
	}
}

// TestRetentionDeletesAnExpiredActiveSegment: as Kafka, the active segment
// counts once it holds records, all below the high watermark, that
// retention has expired. The log rolls first and the log start offset moves
// to the log end offset, which stays: a partition written once and left
// idle does not keep its records forever. It survives a crash.
func TestRetentionDeletesAnExpiredActiveSegment(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.UnixMilli(1_000_000)}
	fsys, dir := newMemFS(), "/data/t-0"
	cfg := testConfig()
	cfg.RetentionMs = 10_000
	l := openLog(t, fsys, dir, cfg, func(o *Options) { o.Now = clock.Now })
	for i := 0; i < 3; i++ {
		mustAppend(t, l, newBatch(t, batchSpec{ts: 1_000_000 + int64(i), valueSize: 150}), 3)
	}
	durable(t, l)
	l.HighWatermarkMoved(2)
	const expiry = time.Hour
	due, ok := l.NextRetention(clock.now, expiry)
	if want := time.UnixMilli(1_000_002 + cfg.RetentionMs + 1); !ok || !due.Equal(want) {
		t.Fatalf("a lone segment with records: due %v (%v), want %v", due, ok, want)
	}
	clock.now = due
	// Its last record is not below the high watermark yet.
	if n, err := l.ApplyRetention(); err != nil || n != 0 || l.LogStartOffset() != 0 {
		t.Fatalf("ApplyRetention above the high watermark: %d, %v, log start %d", n, err, l.LogStartOffset())
	}
	l.HighWatermarkMoved(3)
	if n, err := l.ApplyRetention(); err != nil || n != 1 {
		t.Fatalf("ApplyRetention: %d, %v; want the active segment deleted", n, err)
	}
	if l.LogStartOffset() != 3 || l.LogEndOffset() != 3 || len(l.segs) != 1 || l.segs[0].base != 3 {
		t.Fatalf("log [%d, %d), %d segments; want [3, 3) in one segment at 3", l.LogStartOffset(), l.LogEndOffset(), len(l.segs))
	}
	if _, err := l.Read(2, 100, math.MaxInt64); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the new log start: %v", err)
	}
	if epoch, end := l.EndOffsetForEpoch(3); epoch != 3 || end != 3 {
		t.Fatalf("epoch 3 ends at %d (epoch %d), want 3", end, epoch)
	}
	// An empty log has nothing for retention.
	if due, ok := l.NextRetention(clock.now, expiry); ok {
		t.Fatalf("an emptied log is due at %v", due)
	}
	if n, err := l.ApplyRetention(); err != nil || n != 0 {
		t.Fatalf("ApplyRetention on the emptied log: %d, %v", n, err)
	}

	// A crash now keeps the new log start and end.
	crashed := fsys.CrashClone()
	c := openLog(t, crashed, dir, cfg)
	if c.LogStartOffset() != 3 || c.LogEndOffset() != 3 {
		t.Fatalf("after a crash: log [%d, %d), want [3, 3)", c.LogStartOffset(), c.LogEndOffset())
	}
	mustClose(t, c)

	// Appends go on at the old log end, and survive a reopen.
	b := newBatch(t, batchSpec{ts: clock.now.UnixMilli(), valueSize: 150})
	if info := mustAppend(t, l, b, 3); info.BaseOffset != 3 || info.LogStartOffset != 3 {
		t.Fatalf("append after retention: %+v", info)
	}
	mustClose(t, l)
	l = openLog(t, fsys, dir, cfg, func(o *Options) { o.Now = clock.Now })
	defer mustClose(t, l)
	if l.LogStartOffset() != 3 || l.LogEndOffset() != 4 {
		t.Fatalf("after reopen: log [%d, %d), want [3, 4)", l.LogStartOffset(), l.LogEndOffset())
	}
	(&model{batches: [][]byte{b}}).check(t, l, 3)
}
