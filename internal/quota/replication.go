package quota

import (
	"math"
	"sync"
	"time"
)

// Replication is one replication throttle of a broker (KIP-73, Kafka's
// ReplicationQuotaManager): the rate of the bytes of throttled replicas
// sent as leader, fetched as follower, or copied between log directories,
// and the bound over which the throttled replicas wait. Bytes are recorded
// whatever the bound, so a bound set later applies to the traffic already
// measured. It is safe for concurrent use.
type Replication struct {
	now func() time.Time

	mu      sync.Mutex
	rate    *rate
	samples int
	window  time.Duration
	bound   float64 // bytes a second; +Inf for none
	total   int64   // bytes recorded since the quota was made
	// changed is closed, and cleared, when Configure changes the bound or
	// the windows; made on demand by Changed.
	changed chan struct{}
}

// Default sample windows of replication quotas: replication.quota.window.num
// and replication.quota.window.size.seconds.
const (
	DefaultReplicationSamples = 11
	DefaultReplicationWindow  = time.Second
)

// NewReplication returns an unbounded replication quota measured over
// Kafka's default windows; now is the clock (nil: time.Now).
func NewReplication(now func() time.Time) *Replication {
	if now == nil {
		now = time.Now
	}
	q := &Replication{now: now, samples: DefaultReplicationSamples, window: DefaultReplicationWindow, bound: math.Inf(1)}
	q.rate = newRate(q.samples, q.window, now())
	return q
}

// Configure sets the bound in bytes a second (at or above math.MaxInt64,
// Kafka's default, or negative is no bound) and the sample windows. A change
// of windows starts the measurement over.
func (q *Replication) Configure(bound float64, samples int, window time.Duration) {
	if bound < 0 || bound >= math.MaxInt64 {
		bound = math.Inf(1)
	}
	samples, window = max(samples, 1), max(window, time.Millisecond)
	q.mu.Lock()
	defer q.mu.Unlock()
	changed := bound != q.bound
	q.bound = bound
	if samples != q.samples || window != q.window {
		changed = true
		q.samples, q.window = samples, window
		q.rate = newRate(samples, window, q.now())
	}
	if changed && q.changed != nil {
		close(q.changed)
		q.changed = nil
	}
}

// Changed returns a channel closed at the next Configure that changes the
// bound or the windows, so that one waiting out a Delay learns at once
// that the bound was raised or lifted.
func (q *Replication) Changed() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.changed == nil {
		q.changed = make(chan struct{})
	}
	return q.changed
}

// Record adds n bytes of throttled replicas to the rate.
func (q *Replication) Record(n int) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	q.rate.record(float64(n), q.now())
	q.total += int64(n)
	q.mu.Unlock()
}

// Exceeded reports whether the rate is over the bound (Kafka's
// isQuotaExceeded): throttled replicas then get no bytes.
func (q *Replication) Exceeded() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if math.IsInf(q.bound, 1) {
		return false
	}
	return q.rate.value(q.now()) > q.bound
}

// Delay is how long the rate takes to come back to the bound: 0 when it is
// not over it.
func (q *Replication) Delay() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if math.IsInf(q.bound, 1) {
		return 0
	}
	return q.rate.throttle(q.bound, q.now())
}

// Rate is the measured rate in bytes a second.
func (q *Replication) Rate() float64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rate.value(q.now())
}

// Bound is the bound in bytes a second: +Inf when there is none.
func (q *Replication) Bound() float64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bound
}

// Total is the bytes recorded since the quota was made, whatever the
// windows and bounds were.
func (q *Replication) Total() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}
