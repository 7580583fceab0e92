package cluster

import (
	"context"
	"errors"
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
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			exp, bounded := expiry()
			if !bounded {
				return
			}
			wait := time.Until(exp)
			if wait <= 0 {
				cancelCause(ErrSessionLapsed)
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return ctx, func() {
		cancelCause(context.Canceled)
		<-done
	}
}
