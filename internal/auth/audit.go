package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Audit logs security events (failed authentications, denied operations)
// at INFO, at most Burst lines per second; lines beyond that are counted
// and the count is reported with the next line logged. It never logs
// secrets: callers pass principals, operations, resources and addresses.
type Audit struct {
	logger *slog.Logger
	burst  int
	now    func() time.Time

	mu         sync.Mutex
	window     time.Time
	logged     int
	suppressed int
}

// NewAudit returns an audit log writing to logger, burst lines a second
// at most (10 when burst <= 0).
func NewAudit(logger *slog.Logger, burst int) *Audit {
	if burst <= 0 {
		burst = 10
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Audit{logger: logger, burst: burst, now: time.Now}
}

// Log writes one event unless this second's lines are used up.
func (a *Audit) Log(ctx context.Context, msg string, attrs ...slog.Attr) {
	if a == nil {
		return
	}
	a.mu.Lock()
	now := a.now()
	if now.Sub(a.window) >= time.Second {
		a.window, a.logged = now, 0
	}
	if a.logged >= a.burst {
		a.suppressed++
		a.mu.Unlock()
		return
	}
	a.logged++
	suppressed := a.suppressed
	a.suppressed = 0
	a.mu.Unlock()
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed_before", suppressed))
	}
	a.logger.LogAttrs(ctx, slog.LevelInfo, msg, attrs...)
}
