package cluster

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestWithinSessionEndsAtLapseOnly: a session that heartbeats keep
// extending does not end the context; once they stop, it ends with
// ErrSessionLapsed about when the session runs out.
func TestWithinSessionEndsAtLapseOnly(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	exp := time.Now().Add(100 * time.Millisecond)
	expiry := func() (time.Time, bool) {
		mu.Lock()
		defer mu.Unlock()
		return exp, true
	}
	ctx, cancel := WithinSession(t.Context(), expiry)
	defer cancel()
	extend := time.NewTicker(20 * time.Millisecond)
	defer extend.Stop()
	for end := time.Now().Add(400 * time.Millisecond); time.Now().Before(end); {
		<-extend.C
		mu.Lock()
		exp = time.Now().Add(100 * time.Millisecond)
		mu.Unlock()
		if ctx.Err() != nil {
			t.Fatalf("the context ended while the session was being extended: %v", context.Cause(ctx))
		}
	}
	stopped := time.Now()
	<-ctx.Done()
	if d := time.Since(stopped); d > 2*time.Second {
		t.Errorf("the context ended %v after heartbeats stopped extending a 100 ms session", d)
	}
	if cause := context.Cause(ctx); cause != ErrSessionLapsed {
		t.Errorf("the context ended with %v, want %v", cause, ErrSessionLapsed)
	}
}

// TestWithinSessionUnbounded: without a session (one-voter cluster, or no
// expiry at all) the context ends only with its parent or cancel.
func TestWithinSessionUnbounded(t *testing.T) {
	t.Parallel()
	for name, expiry := range map[string]func() (time.Time, bool){
		"nil":       nil,
		"unbounded": func() (time.Time, bool) { return time.Time{}, false },
	} {
		ctx, cancel := WithinSession(context.Background(), expiry)
		if ctx.Err() != nil {
			t.Errorf("%s: ended at once: %v", name, context.Cause(ctx))
		}
		cancel()
		if cause := context.Cause(ctx); cause != context.Canceled {
			t.Errorf("%s: cancelled with cause %v", name, cause)
		}
	}
}
