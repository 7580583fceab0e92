package log

import (
	"testing"

	"github.com/sluice-io/sluice/internal/record"
)

// TestOffsetForTimestamp checks ListOffsets by timestamp: the first record
// (in offset order) whose timestamp is at or after the target, found inside
// compressed batches too.
func TestOffsetForTimestamp(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	codecs := []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd}
	// Batch i (offsets 4i..4i+3) has timestamps 1000i + 0, 10, 20, 30,
	// except batch 50, which is late: its records are at 100 ... 130.
	for i := 0; i < 100; i++ {
		ts := int64(1000 * i)
		if i == 50 {
			ts = 100
		}
		mustAppend(t, l, newBatch(t, batchSpec{records: 4, ts: ts, tsStep: 10, valueSize: 40, codec: codecs[i%len(codecs)]}), 0)
	}
	// Batch 100 is stamped by the broker: all its records carry 200_000.
	lat := newBatch(t, batchSpec{records: 4, ts: 5, tsStep: 1})
	record.SetLogAppendTime(lat, 200_000)
	if info := mustAppend(t, l, lat, 0); info.LogAppendTime != 200_000 {
		t.Fatalf("AppendInfo.LogAppendTime %d, want 200000", info.LogAppendTime)
	}
	if len(l.segs) < 3 {
		t.Fatalf("want several segments, have %d", len(l.segs))
	}

	tests := []struct {
		name       string
		ts         int64
		wantOffset int64
		wantTs     int64
		wantOK     bool
	}{
		{"before everything", -5, 0, 0, true},
		{"the first record", 0, 0, 0, true},
		{"between records of one batch", 15, 2, 20, true},
		{"exactly a record inside a compressed batch", 7020, 30, 7020, true},
		{"after the last record of a batch", 7031, 32, 8000, true},
		{"a late batch does not hide earlier matches", 90, 4, 1000, true},
		{"in a later segment", 77_010, 309, 77_010, true},
		{"inside a gzip batch", 51_030, 207, 51_030, true},
		{"the broker-stamped batch", 150_000, 400, 200_000, true},
		{"after everything", 200_001, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, ts, ok, err := l.OffsetForTimestamp(tt.ts)
			if err != nil || ok != tt.wantOK || (ok && (off != tt.wantOffset || ts != tt.wantTs)) {
				t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d, %d, %v", tt.ts, off, ts, ok, err, tt.wantOffset, tt.wantTs, tt.wantOK)
			}
		})
	}

	// Records below the log start offset are not answers.
	if err := l.DeleteRecordsBefore(6); err != nil {
		t.Fatal(err)
	}
	if off, ts, ok, err := l.OffsetForTimestamp(0); err != nil || !ok || off != 6 || ts != 1020 {
		t.Fatalf("OffsetForTimestamp(0) after DeleteRecordsBefore(6) = %d, %d, %v, %v; want 6, 1020", off, ts, ok, err)
	}
}

// KIP-734: ListOffsets with timestamp -3 returns the largest timestamp and
// the offset of the record that carries it (the first such record).
func TestMaxTimestamp(t *testing.T) {
	t.Parallel()
	fsys, dir := newMemFS(), "/data/t-0"
	l := openLog(t, fsys, dir, testConfig())
	if ts, off, err := l.MaxTimestamp(); err != nil || ts != -1 || off != -1 {
		t.Fatalf("MaxTimestamp of an empty log = %d, %d, %v; want -1, -1", ts, off, err)
	}
	for i := 0; i < 60; i++ {
		ts := int64(100 * i)
		spec := batchSpec{records: 5, ts: ts, tsStep: 1, valueSize: 40, codec: record.CodecZstd}
		if i == 20 {
			// The largest timestamp sits in the middle record of a
			// compressed batch: offsets 100..104, record 102 at 99_999.
			b := buildWithTimestamps(t, 50_000, []int64{0, 3, 49_999, 5, 49_999}, record.CodecZstd)
			mustAppend(t, l, b, 0)
			continue
		}
		mustAppend(t, l, newBatch(t, spec), 0)
	}
	check := func(when string) {
		t.Helper()
		if ts, off, err := l.MaxTimestamp(); err != nil || ts != 99_999 || off != 102 {
			t.Fatalf("MaxTimestamp %s = %d, %d, %v; want 99999 at 102", when, ts, off, err)
		}
	}
	check("")
	mustClose(t, l)
	l = openLog(t, fsys, dir, testConfig())
	defer mustClose(t, l)
	check("after reopen")
}

// buildWithTimestamps builds a batch whose record i has timestamp
// base+deltas[i].
func buildWithTimestamps(t *testing.T, base int64, deltas []int64, codec record.Codec) []byte {
	t.Helper()
	recs := make([]record.Record, len(deltas))
	for i, d := range deltas {
		recs[i] = record.Record{TimestampDelta: d, OffsetDelta: int32(i), Value: []byte("value")}
	}
	b, err := record.Build(record.BuildOptions{BaseTimestamp: base, Codec: codec}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
