package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestHCLogAdapterLevelsAndAttributes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		log  func(l hclog.Logger)
		want string // "" = nothing at Info and above
	}{
		{name: "info is debug", log: func(l hclog.Logger) { l.Info("entering leader state") }},
		{name: "trace is debug", log: func(l hclog.Logger) { l.Trace("x") }},
		{name: "warn is info", log: func(l hclog.Logger) { l.Warn("heartbeat timeout reached", "term", 2) },
			want: "level=INFO msg=\"heartbeat timeout reached\" subsystem=raft term=2"},
		{name: "error stays error", log: func(l hclog.Logger) { l.Error("failed to persist vote", "error", "disk") },
			want: "level=ERROR msg=\"failed to persist vote\" subsystem=raft error=disk"},
		{name: "named and with", log: func(l hclog.Logger) { l.Named("snapshot").With("id", 7).Warn("reaping") },
			want: "level=INFO msg=reaping subsystem=raft.snapshot id=7"},
		{name: "fmt values", log: func(l hclog.Logger) { l.Error("got", "command", hclog.Fmt("%d-%s", 1, "a")) },
			want: "level=ERROR msg=got subsystem=raft command=1-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}})
			tt.log(newHCLog(slog.New(h), "raft", nil))
			if got := strings.TrimSpace(buf.String()); got != tt.want {
				t.Errorf("logged %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHCLogAdapterLogsPeerFailuresOncePerState: Raft retries a dead peer
// with a backoff under 10.24 s and logs every failure; the adapter logs a
// failure when it changes (first, different error, after a quiet gap) and
// reminds every five minutes, instead of 96 lines in 40 s.
func TestHCLogAdapterLogsPeerFailuresOncePerState(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := time.Unix(1_700_000_000, 0)
	l := newHCLogShared(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), "raft", nil,
		newPeerErrors(func() time.Time { return now }))
	refused := "dial tcp 127.0.0.1:9193: connect: connection refused"
	lines := func() int { return strings.Count(buf.String(), "\n") }
	step := func(d time.Duration) { now = now.Add(d) }

	// 96 heartbeat failures and appends in 40 s to one dead peer.
	for range 48 {
		l.Error("failed to heartbeat to", "peer", "127.0.0.1:9193", "backoff time", "10ms", "error", refused)
		l.Error("failed to appendEntries to", "peer", "{Voter 2 127.0.0.1:9193}", "error", refused)
		step(40 * time.Second / 48)
	}
	if got := lines(); got != 2 {
		t.Fatalf("96 failures logged %d lines, want 2 (one per message):\n%s", got, buf.String())
	}
	// Another peer fails too: its own line.
	l.Error("failed to heartbeat to", "peer", "127.0.0.1:9194", "error", refused)
	if got := lines(); got != 3 {
		t.Fatalf("a second peer: %d lines, want 3", got)
	}
	// The error changes: logged.
	l.Error("failed to heartbeat to", "peer", "127.0.0.1:9193", "error", "i/o timeout")
	if got := lines(); got != 4 {
		t.Fatalf("a different error: %d lines, want 4", got)
	}
	// Still failing five minutes later: one reminder with the count.
	buf.Reset()
	for range 31 {
		step(10 * time.Second)
		l.Error("failed to heartbeat to", "peer", "127.0.0.1:9193", "error", "i/o timeout")
	}
	if got := lines(); got != 1 || !strings.Contains(buf.String(), "repeated=") {
		t.Fatalf("five minutes of failures: %d lines, want one reminder with repeated=:\n%s", got, buf.String())
	}
	// The peer came back (no failure for a minute), then fails again: logged.
	buf.Reset()
	step(time.Minute)
	l.Error("failed to heartbeat to", "peer", "127.0.0.1:9193", "error", "i/o timeout")
	if got := lines(); got != 1 {
		t.Fatalf("failure after a quiet minute: %d lines, want 1", got)
	}
	// Lines without a peer and error are never held back.
	buf.Reset()
	for range 3 {
		l.Error("failed to persist vote", "error", "disk")
	}
	if got := lines(); got != 3 {
		t.Fatalf("failures not about a peer: %d lines, want 3", got)
	}
}
