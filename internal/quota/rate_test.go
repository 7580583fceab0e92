package quota

import (
	"testing"
	"time"
)

// The span a rate divides by adds the whole windows it lacks of samples-1
// to the time elapsed, as Kafka's Rate.windowSize: half a window into a
// rate of 11 one-second samples, 10.5 s.
func TestRateWindowSizeAddsTheMissingWindows(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	r := newRate(11, time.Second, t0)
	now := t0.Add(500 * time.Millisecond)
	r.record(21, now)
	if got, want := r.windowSize(now), 10500*time.Millisecond; got != want {
		t.Fatalf("window size %v, want %v", got, want)
	}
	if got := r.value(now); got != 2 {
		t.Fatalf("rate %v, want 2", got)
	}
}
