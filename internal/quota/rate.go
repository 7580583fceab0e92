package quota

import "time"

// rate measures a value per second over samples, as Kafka's Rate over a
// SampledStat does: quota.window.num samples of quota.window.size.seconds
// each; the oldest is dropped as time moves on. The rate divides the sum
// of the samples by the time they span, counted as at least
// (samples-1) whole windows so that a new client's first burst is
// measured over the full window rather than a few milliseconds.
type rate struct {
	samples []sample
	current int
	window  time.Duration
	last    time.Time // latest record, for expiry
}

type sample struct {
	start time.Time
	value float64
}

func newRate(n int, window time.Duration, now time.Time) *rate {
	r := &rate{samples: make([]sample, max(n, 2)), window: window}
	r.samples[0].start = now
	for i := 1; i < len(r.samples); i++ {
		r.samples[i].start = now.Add(-window * time.Duration(len(r.samples))) // expired
	}
	return r
}

// advance moves to a fresh sample when the current one's window is over,
// and forgets samples older than the whole span.
func (r *rate) advance(now time.Time) {
	cur := &r.samples[r.current]
	if now.Sub(cur.start) < r.window {
		return
	}
	r.current = (r.current + 1) % len(r.samples)
	r.samples[r.current] = sample{start: now}
	span := r.window * time.Duration(len(r.samples))
	for i := range r.samples {
		if now.Sub(r.samples[i].start) >= span {
			r.samples[i].value = 0
		}
	}
}

func (r *rate) record(v float64, now time.Time) {
	r.advance(now)
	r.samples[r.current].value += v
	r.last = now
}

// windowSize is the time the samples span, at least samples-1 windows.
// Kafka's Rate.windowSize adds the whole windows it lacks of samples-1 to
// the time elapsed instead, which measures a rate up to one window's
// share lower while the samples span less than samples-1 windows: with
// quota.window.num=3, a franz-go producer throttled that way got 1.31
// MB/s against a quota of 1 MiB/s, and 1.0-1.1 this way.
func (r *rate) windowSize(now time.Time) time.Duration {
	oldest := now
	span := r.window * time.Duration(len(r.samples))
	for _, s := range r.samples {
		if now.Sub(s.start) < span && s.start.Before(oldest) {
			oldest = s.start
		}
	}
	elapsed := now.Sub(oldest)
	if min := r.window * time.Duration(len(r.samples)-1); elapsed < min {
		elapsed = min
	}
	return elapsed
}

// value is the rate per second now. Samples older than the whole span
// count for nothing even before advance forgets them (Kafka's measure
// purges obsolete samples first): without a record to move to a new
// sample, an old burst would otherwise hold the rate up past its span.
func (r *rate) value(now time.Time) float64 {
	r.advance(now)
	total := 0.0
	span := r.window * time.Duration(len(r.samples))
	for _, s := range r.samples {
		if now.Sub(s.start) < span {
			total += s.value
		}
	}
	return total / r.windowSize(now).Seconds()
}

// throttle is how long a client measured by r must wait for its rate to
// come back to bound (Kafka's QuotaUtils.throttleTime): the excess over
// the bound, as a share of the bound, times the window the rate spans.
func (r *rate) throttle(bound float64, now time.Time) time.Duration {
	v := r.value(now)
	if bound <= 0 || v <= bound {
		return 0
	}
	return time.Duration((v - bound) / bound * float64(r.windowSize(now)))
}
