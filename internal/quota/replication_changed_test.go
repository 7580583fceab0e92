package quota

import (
	"math"
	"testing"
	"time"
)

// Changed wakes whoever waits out a Delay when the bound (or the windows)
// changes, and only then: Configure runs at every metadata change with the
// same values. Total and Bound are what the metrics report.
func TestReplicationChangedClosesWhenTheBoundChanges(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	q := NewReplication(func() time.Time { return now })
	if !math.IsInf(q.Bound(), 1) {
		t.Fatalf("bound %v of a new quota, want none", q.Bound())
	}
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	ch := q.Changed()
	q.Configure(math.MaxInt64, DefaultReplicationSamples, DefaultReplicationWindow)
	if closed(ch) {
		t.Fatal("Changed closed by a Configure that changed nothing")
	}
	q.Configure(1000, DefaultReplicationSamples, DefaultReplicationWindow)
	if !closed(ch) {
		t.Fatal("Changed not closed when a bound was set")
	}
	if q.Bound() != 1000 {
		t.Fatalf("bound %v, want 1000", q.Bound())
	}
	ch = q.Changed()
	q.Configure(1000, DefaultReplicationSamples, DefaultReplicationWindow)
	if closed(ch) {
		t.Fatal("Changed closed by the same bound again")
	}
	q.Configure(1000, 2, DefaultReplicationWindow)
	if !closed(ch) {
		t.Fatal("Changed not closed when the windows changed")
	}
	ch = q.Changed()
	q.Configure(-1, 2, DefaultReplicationWindow)
	if !closed(ch) || !math.IsInf(q.Bound(), 1) {
		t.Fatalf("deleting the bound: closed %v, bound %v", closed(ch), q.Bound())
	}

	q.Record(10)
	q.Record(0)
	q.Configure(5, 3, time.Second) // starts the rate over, not the total
	q.Record(7)
	if got := q.Total(); got != 17 {
		t.Fatalf("total %d, want 17", got)
	}
}

// A burst counts for nothing once it is older than all the samples span,
// even when no record has moved the rate on since (Kafka's SampledStat
// purges obsolete samples before it measures): a throttled copy waiting on
// Delay is let go when the burst expires, not a window later.
func TestReplicationBurstExpiresWithoutNewRecords(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	now := start
	q := NewReplication(func() time.Time { return now })
	q.Configure(1000, 2, time.Second)
	q.Record(2000)
	now = start.Add(1500 * time.Millisecond)
	if !q.Exceeded() { // moves to a second sample, starting at 1.5 s
		t.Fatalf("2000 bytes over 1.5 s do not exceed 1000/s (rate %v)", q.Rate())
	}
	// At 2.2 s the first sample is past the 2 s span; the second, empty
	// one is not over yet.
	now = start.Add(2200 * time.Millisecond)
	if q.Exceeded() || q.Delay() != 0 {
		t.Fatalf("an expired burst still throttles: rate %v, delay %v", q.Rate(), q.Delay())
	}
}
