package quota

import (
	"math"
	"testing"
	"time"
)

// KIP-73: a replication throttle is exceeded once the bytes recorded over
// its sample windows (at least samples-1 of them) pass the bound, and comes
// back under it as the samples expire; with no bound it is never exceeded.
func TestReplicationThrottleExceededOverBoundAndRecovers(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	q := NewReplication(func() time.Time { return now })
	q.Record(100 << 20)
	if q.Exceeded() || q.Delay() != 0 {
		t.Fatalf("unbounded quota exceeded %v delay %v", q.Exceeded(), q.Delay())
	}
	// Kafka's default Long.MAX_VALUE is no bound.
	q.Configure(math.MaxInt64, 2, time.Second)
	if q.Exceeded() {
		t.Fatal("Long.MAX_VALUE is a bound")
	}
	// 2 samples of 1 s: the rate spans at least 1 s. The change of
	// windows above started the measurement over, forgetting the 100 MiB.
	q.Configure(1000, 2, time.Second)
	if q.Exceeded() {
		t.Fatalf("exceeded after the windows changed (rate %v)", q.Rate())
	}
	q.Record(1000)
	if q.Exceeded() {
		t.Fatalf("1000 bytes in the first second exceed 1000/s (rate %v)", q.Rate())
	}
	q.Record(1)
	if !q.Exceeded() {
		t.Fatalf("1001 bytes in the first second do not exceed 1000/s (rate %v)", q.Rate())
	}
	if d := q.Delay(); d <= 0 {
		t.Fatalf("delay %v over the bound", d)
	}
	// Both samples expire after 2 s.
	now = now.Add(2500 * time.Millisecond)
	if q.Exceeded() {
		t.Fatalf("still exceeded after the samples expired (rate %v)", q.Rate())
	}
	// Removing the bound unthrottles at once.
	q.Record(1 << 20)
	q.Configure(1000, 2, time.Second)
	if !q.Exceeded() {
		t.Fatal("1 MiB in a second does not exceed 1000/s")
	}
	q.Configure(math.MaxInt64, 2, time.Second)
	if q.Exceeded() {
		t.Fatal("exceeded with the bound removed")
	}
}
