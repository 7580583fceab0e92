package quota

import (
	"sync"
	"time"
)

// Mutations measures clients against controller_mutation_rate (KIP-599):
// the partitions they create (CreateTopics, CreatePartitions) and delete
// (DeleteTopics) per second. As in Kafka, the rate is a token bucket: it
// holds up to bound × samples × window seconds of mutations (the burst),
// refills at bound a second, starts full, and may go into debt: the
// mutation that empties it is allowed, and the client then waits until
// the debt is paid back. It is safe for concurrent use.
type Mutations struct {
	burstSeconds float64

	mu        sync.Mutex
	buckets   map[SensorKey]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
	bound  float64 // the rate it refilled at last
}

// NewMutations returns a measure whose burst is num samples of window
// (controller.quota.window.num, controller.quota.window.size.seconds).
func NewMutations(num int, window time.Duration) *Mutations {
	return &Mutations{burstSeconds: float64(max(num, 1)) * max(window, time.Millisecond).Seconds(), buckets: map[SensorKey]*bucket{}}
}

// refillLocked brings key's bucket up to now at bound a second.
func (m *Mutations) refillLocked(key SensorKey, bound float64, now time.Time) *bucket {
	burst := bound * m.burstSeconds
	b := m.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		m.buckets[key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(burst, b.tokens+bound*el.Seconds())
		b.last = now
	}
	b.bound = bound
	return b
}

// throttle is how long a bucket in debt takes to refill to zero.
func throttleOf(b *bucket, bound float64) time.Duration {
	if b.tokens >= 0 || bound <= 0 {
		return 0
	}
	return time.Duration(-b.tokens / bound * float64(time.Second))
}

// Exceeded returns, when key's bucket is in debt, how long key must wait
// for it to be paid back: a strict quota (KIP-599: CreateTopics v6+,
// CreatePartitions v3+, DeleteTopics v5+) refuses the next mutation then.
// Zero means the mutation may go ahead.
func (m *Mutations) Exceeded(key SensorKey, bound float64, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return throttleOf(m.refillLocked(key, bound, now), bound)
}

// Record takes n mutations from key's bucket and returns how long key must
// now wait, zero unless the bucket went into debt.
func (m *Mutations) Record(key SensorKey, bound, n float64, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.refillLocked(key, bound, now)
	b.tokens -= n
	m.sweepLocked(now)
	return throttleOf(b, bound)
}

// sweepLocked drops buckets unused past sensorExpiry whose debt, if they
// had one, is paid back by now, at most once a minute; a dropped bucket
// comes back full, as it would have refilled.
func (m *Mutations) sweepLocked(now time.Time) {
	if now.Sub(m.lastSweep) < time.Minute {
		return
	}
	m.lastSweep = now
	for k, b := range m.buckets {
		idle := now.Sub(b.last)
		if idle > sensorExpiry && b.tokens+b.bound*idle.Seconds() >= 0 {
			delete(m.buckets, k)
		}
	}
}
