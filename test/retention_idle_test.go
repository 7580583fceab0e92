package test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A partition written once and left idle loses its records to retention.ms
// like any other: Kafka's retention counts the active segment once it holds
// records, all below the high watermark, that retention has expired. It
// rolls the log first, so the log start offset moves to the log end offset,
// which stays, and the next record lands there (UnifiedLog.deleteSegments).
func TestRetentionDeletesAnIdlePartitionsRecords(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"log.retention.check.interval.ms": "100"})
	const topic = "ret-idle"
	b.createTopic(topic, 1, map[string]*string{
		"retention.ms":         ptr("1000"),
		"file.delete.delay.ms": ptr("0"),
	})
	dir := filepath.Join(b.dataDir, topic+"-0")
	// Not idempotent: no producer ID makes the log due for its expiry, so
	// only the first records in its lone segment schedule the check.
	cl := b.client(kgo.ProducerLinger(0), kgo.DisableIdempotentWrite())
	adm := b.admin()
	records := retentionRecords(topic, 20, time.Now().Truncate(time.Millisecond), 0)
	produceAll(t, cl, records)
	for i, r := range records {
		if r.Offset != int64(i) {
			t.Fatalf("record %d acknowledged at offset %d", i, r.Offset)
		}
	}
	if segs := segments(t, dir); len(segs) != 1 || segs[0].base != 0 {
		t.Fatalf("segments %+v, want the one at 0", segs)
	}

	// Nothing more is produced: the only segment expires and goes.
	waitFor(t, 30*time.Second, "retention to delete the idle partition's records", func() bool {
		return logStartOffset(t, adm, topic, 0) == 20
	})
	if end := endOffsets(t, cl, topic)[0]; end != 20 {
		t.Fatalf("end offset %d after retention, want 20", end)
	}
	if segs := segments(t, dir); len(segs) != 1 || segs[0].base != 20 || segs[0].size != 0 {
		t.Fatalf("segments %+v after retention, want one empty segment at 20", segs)
	}
	id := topicID(t, cl, topic)
	if p := fetchRaw(t, cl, topic, id, 0, 19); p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at 19 below log start 20: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(p.ErrorCode))
	}
	p := fetchRaw(t, cl, topic, id, 0, 20)
	if p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.LogStartOffset != 20 || p.HighWatermark != 20 {
		t.Fatalf("fetch at 20: %v, %d bytes, log start %d, high watermark %d",
			kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches), p.LogStartOffset, p.HighWatermark)
	}

	// Offsets go on from the old log end.
	more := retentionRecords(topic, 5, time.Now().Truncate(time.Millisecond), 20)
	produceAll(t, cl, more)
	for i, r := range more {
		if r.Offset != int64(20+i) {
			t.Fatalf("record %d after retention acknowledged at offset %d, want %d", i, r.Offset, 20+i)
		}
	}
	checkConsumeFrom(t, b.addr, topic, 20, append(records, more...))
}
