package txn

import (
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeSession is a broker's session with the controller in tests.
type fakeSession struct {
	mu      sync.Mutex
	expiry  time.Time
	bounded bool
}

func (s *fakeSession) SessionExpiry() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiry, s.bounded
}

func (s *fakeSession) set(expiry time.Time) {
	s.mu.Lock()
	s.expiry, s.bounded = expiry, true
	s.mu.Unlock()
}

// TestSessionLapsedAnswersNotCoordinator: once this broker's session with
// the controller may have ended, its __transaction_state partitions may
// have other leaders, so every request for their IDs gets NOT_COORDINATOR
// (the client looks the coordinator up again), until a heartbeat gets
// through again.
func TestSessionLapsedAnswersNotCoordinator(t *testing.T) {
	s := &fakeSession{}
	s.set(time.Now().Add(time.Hour))
	h := newHarnessWith(t, newFakeLog(), func(c *Config) { c.SessionExpiry = s.SessionExpiry })
	pid, epoch := h.begin("a")

	s.set(time.Now().Add(-time.Millisecond))
	wantCode(t, "InitProducerId", h.init("a", 4, -1, -1).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "AddPartitionsToTxn", h.add(3, "a", pid, epoch, "t", 0)[0], kerr.NotCoordinator.Code)
	wantCode(t, "EndTxn", h.end(3, "a", pid, epoch, false).ErrorCode, kerr.NotCoordinator.Code)

	s.set(time.Now().Add(time.Hour))
	h.mustAdd("a", pid, epoch, "t", 0)
}

// TestSessionLapseEndsWaitingWrite: a write to __transaction_state that
// the partition's followers do not copy (this broker is cut off from
// them) is given up when the broker's session lapses, answered
// NOT_COORDINATOR, not after the write's 30 s timeout; the state is as
// before the write.
func TestSessionLapseEndsWaitingWrite(t *testing.T) {
	s := &fakeSession{}
	s.set(time.Now().Add(time.Hour))
	log := newFakeLog()
	h := newHarnessWith(t, log, func(c *Config) { c.SessionExpiry = s.SessionExpiry })
	pid, epoch := h.begin("a")

	log.mu.Lock()
	log.stall = true
	log.mu.Unlock()
	const lapse = 300 * time.Millisecond
	start := time.Now()
	s.set(start.Add(lapse))
	code := h.add(3, "a", pid, epoch, "t", 0)[0]
	took := time.Since(start)
	wantCode(t, "AddPartitionsToTxn while cut off", code, kerr.NotCoordinator.Code)
	if took < lapse || took > lapse+5*time.Second {
		t.Errorf("the write was given up after %v; the session lapsed after %v", took, lapse)
	}

	log.mu.Lock()
	log.stall = false
	log.mu.Unlock()
	s.set(time.Now().Add(time.Hour))
	if d := h.describe("a"); d.State != "Empty" || len(d.Topics) != 0 {
		t.Errorf("after the failed write: state %s with %d topics, want Empty with none", d.State, len(d.Topics))
	}
	h.mustAdd("a", pid, epoch, "t", 0)
}
