package quota

import (
	"sync"
	"time"
)

// Manager measures clients against their quotas and computes how long a
// client over its quota is throttled. It holds one rate per quota kind and
// sensor key; rates idle for an hour are dropped (Kafka's inactive sensor
// expiry). It is safe for concurrent use.
type Manager struct {
	num    int
	window time.Duration

	mu        sync.Mutex
	rates     [numKinds]map[SensorKey]*rate
	lastSweep time.Time
}

// sensorExpiry is how long an unused rate is kept.
const sensorExpiry = time.Hour

// NewManager returns a manager with samples of window each, num of them
// (quota.window.num, quota.window.size.seconds).
func NewManager(num int, window time.Duration) *Manager {
	m := &Manager{num: max(num, 2), window: max(window, time.Millisecond)}
	for i := range m.rates {
		m.rates[i] = map[SensorKey]*rate{}
	}
	return m
}

// MaxRequestThrottle caps a request-percentage throttle, as Kafka caps it
// at one sample window.
func (m *Manager) MaxRequestThrottle() time.Duration { return m.window }

// Record adds v to the rate of key under kind and returns how long the
// client must be throttled for the rate to come back to bound (zero when
// it is within).
func (m *Manager) Record(kind Kind, key SensorKey, bound, v float64, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rateLocked(kind, key, now)
	r.record(v, now)
	d := r.throttle(bound, now)
	if kind == Request {
		d = min(d, m.window)
	}
	m.sweepLocked(now)
	return d
}

// Unrecord takes back v recorded for key under kind now, as Kafka
// un-records the bytes of a fetch it answers empty because the client is
// throttled.
func (m *Manager) Unrecord(kind Kind, key SensorKey, v float64, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.rates[kind][key]; r != nil {
		r.record(-v, now)
	}
}

// MaxValueInWindow is the most a client with a rate quota of bound may
// take in one request (Kafka's getMaxValueInQuotaWindow): what the bound
// allows over all samples but the current one. A fetch of a client with a
// consumer_byte_rate quota reads at most this much.
func (m *Manager) MaxValueInWindow(bound float64) float64 {
	return bound * float64(m.num-1) * m.window.Seconds()
}

// Rate is the measured rate of key under kind now (for tests and metrics).
func (m *Manager) Rate(kind Kind, key SensorKey, now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.rates[kind][key]; r != nil {
		return r.value(now)
	}
	return 0
}

func (m *Manager) rateLocked(kind Kind, key SensorKey, now time.Time) *rate {
	r := m.rates[kind][key]
	if r == nil {
		r = newRate(m.num, m.window, now)
		m.rates[kind][key] = r
	}
	return r
}

// sweepLocked drops rates idle past sensorExpiry, at most once a minute.
func (m *Manager) sweepLocked(now time.Time) {
	if now.Sub(m.lastSweep) < time.Minute {
		return
	}
	m.lastSweep = now
	for _, rates := range m.rates {
		for k, r := range rates {
			if now.Sub(r.last) > sensorExpiry {
				delete(rates, k)
			}
		}
	}
}
