package replica

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/log"
)

// Retention on a leader deletes no record its ISR has not replicated: the
// partition gives its log the high watermark, and the log start offset
// never passes it (Kafka's deletableSegments), however expired the records
// are. Once the high watermark reaches the log end, the active segment goes
// too and the log start offset moves to the log end offset.
func TestRetentionNeverPassesThePartitionsHighWatermark(t *testing.T) {
	t.Parallel()
	f := newLeaderFixture(t, []int32{1, 2, 3}, []int32{1, 2, 3})
	l := f.p.Log()
	cfg := testLogConfig(t)
	cfg.SegmentBytes = 200 // a few batches a segment
	cfg.RetentionMs = 1000 // the records' timestamps are 0: long expired
	l.SetConfig(cfg)
	f.produce(10)
	apply := func(wantStart int64) {
		t.Helper()
		if _, err := l.ApplyRetention(); err != nil {
			t.Fatal(err)
		}
		hw := f.p.HighWatermark()
		if start := l.LogStartOffset(); start != wantStart || start > hw {
			t.Fatalf("log start %d with high watermark %d, want %d", start, hw, wantStart)
		}
		if end := l.LogEndOffset(); end != 10 {
			t.Fatalf("log end %d, want 10", end)
		}
	}
	f.wantHW(0)
	apply(0)
	f.fetched(2, 10)
	f.fetched(3, 4)
	f.wantHW(4)
	// Only the segments wholly below offset 4 go.
	wantStart := int64(0)
	for _, b := range segmentBases(t, l) {
		if b <= 4 {
			wantStart = b
		}
	}
	if wantStart == 0 {
		t.Fatalf("no segment boundary in [1, 4]: %v", segmentBases(t, l))
	}
	apply(wantStart)
	f.fetched(3, 10)
	f.wantHW(10)
	apply(10)
}

// segmentBases lists the base offsets of the log's segment files.
func segmentBases(t *testing.T, l *log.Log) []int64 {
	t.Helper()
	entries, err := os.ReadDir(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		b, err := strconv.ParseInt(name, 10, 64)
		if err != nil {
			t.Fatalf("segment file %s: %v", e.Name(), err)
		}
		bases = append(bases, b)
	}
	return bases
}
