package cluster

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrSessionLapsed is the cause of a WithinSession context that ended
// because the broker's session with the controller may have ended.
var ErrSessionLapsed = errors.New("cluster: this broker's session with the controller lapsed: what it leads may have moved")

// WithinSession returns a context that also ends, with ErrSessionLapsed as
// its cause, once the session that expiry reports (Node.SessionExpiry)
// lapses. Heartbeats keep extending a session, so expiry is read again
// each time the session was due to end. A broker cut off from its
// followers still appends as leader, but they have moved to a new leader:
// a wait for them to copy the append would last its whole timeout, while
// the client should go to the new leader. A nil expiry, or an unbounded
// session, never lapses. cancel ends the watch and must be called.
func WithinSession(ctx context.Context, expiry func() (time.Time, bool)) (_ context.Context, cancel context.CancelFunc) {
	if expiry == nil {
		return context.WithCancel(ctx)
	}
	ctx, cancelCause := context.WithCancelCause(ctx)
	exp, bounded := expiry()
	switch {
	case !bounded:
		return ctx, func() { cancelCause(context.Canceled) }
	case !time.Now().Before(exp):
		cancelCause(ErrSessionLapsed)
		return ctx, func() {}
	}
	// One timer, armed again while heartbeats extend the session: no
	// goroutine per wait, since every acks=all produce takes one. mu keeps
	// the timer from being armed again once cancel has run.
	var mu sync.Mutex
	var t *time.Timer
	mu.Lock()
	defer mu.Unlock()
	t = time.AfterFunc(time.Until(exp), func() {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		exp, bounded := expiry()
		switch wait := time.Until(exp); {
		case !bounded:
		case wait <= 0:
			cancelCause(ErrSessionLapsed)
		default:
			t.Reset(wait)
		}
	})
	return ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		cancelCause(context.Canceled)
		t.Stop()
	}
}
