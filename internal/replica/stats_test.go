package replica

import (
	"errors"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/log"
)

func TestStatsCountISRChangesAndCleanings(t *testing.T) {
	t.Parallel()
	var s Stats
	s.countISRChange([]int32{1, 2, 3}, []int32{1, 4})
	s.countISRChange([]int32{1}, []int32{1})
	if got := [2]uint64{s.ISRShrinks.Load(), s.ISRExpands.Load()}; got != [2]uint64{2, 1} {
		t.Errorf("shrinks, expands = %v, want [2 1]", got)
	}
	var nilStats *Stats
	nilStats.countISRChange([]int32{1}, nil) // a partition outside a Manager

	s.cleaned(log.CleanStats{Cleaned: true, BytesBefore: 1000, BytesAfter: 300, SegmentsBefore: 3, RecordsRead: 50, RecordsKept: 10}, nil)
	s.cleaned(log.CleanStats{}, nil) // nothing to clean
	s.cleaned(log.CleanStats{}, errors.New("disk"))
	got := []uint64{s.CleanerLogs.Load(), s.CleanerBytesRead.Load(), s.CleanerBytesWritten.Load(),
		s.CleanerSegments.Load(), s.CleanerRecordsRemoved.Load(), s.CleanerErrors.Load()}
	want := []uint64{1, 1000, 300, 3, 40, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("cleaner counters %v, want %v", got, want)
		}
	}
	start := time.Unix(100, 0)
	s.cleanerPass(start, start.Add(250*time.Millisecond))
	if s.CleanerLastPass.Load() != start.Add(250*time.Millisecond).UnixNano() || s.CleanerLastPassTook.Load() != int64(250*time.Millisecond) {
		t.Errorf("last pass %d took %d", s.CleanerLastPass.Load(), s.CleanerLastPassTook.Load())
	}
}

type syncRecorder struct{ took []time.Duration }

func (r *syncRecorder) ObserveSync(took time.Duration, _ int) { r.took = append(r.took, took) }

func TestStatsForwardSyncsOnceObserved(t *testing.T) {
	t.Parallel()
	var s Stats
	s.ObserveSync(time.Millisecond, 1) // no observer yet: dropped
	r := &syncRecorder{}
	s.SetSyncObserver(r)
	s.ObserveSync(2*time.Millisecond, 3)
	if len(r.took) != 1 || r.took[0] != 2*time.Millisecond {
		t.Errorf("observed %v, want one sync of 2ms", r.took)
	}
}
