package auth

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestAuditRateLimits(t *testing.T) {
	var buf bytes.Buffer
	a := NewAudit(slog.New(slog.NewTextHandler(&buf, nil)), 2)
	now := time.Unix(1000, 0)
	a.now = func() time.Time { return now }
	for range 5 {
		a.Log(context.Background(), "authentication failed", slog.String("principal", "User:eve"))
	}
	if n := strings.Count(buf.String(), "authentication failed"); n != 2 {
		t.Fatalf("logged %d lines in one second, want 2:\n%s", n, buf.String())
	}
	now = now.Add(time.Second)
	a.Log(context.Background(), "authentication failed", slog.String("principal", "User:eve"))
	if !strings.Contains(buf.String(), "suppressed_before=3") {
		t.Fatalf("the next second's line does not count the 3 suppressed lines:\n%s", buf.String())
	}
}
