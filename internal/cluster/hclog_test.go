package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

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
			want: "level=INFO msg=\"heartbeat timeout reached\" component=raft term=2"},
		{name: "error stays error", log: func(l hclog.Logger) { l.Error("failed to persist vote", "error", "disk") },
			want: "level=ERROR msg=\"failed to persist vote\" component=raft error=disk"},
		{name: "named and with", log: func(l hclog.Logger) { l.Named("snapshot").With("id", 7).Warn("reaping") },
			want: "level=INFO msg=reaping component=raft.snapshot id=7"},
		{name: "fmt values", log: func(l hclog.Logger) { l.Error("got", "command", hclog.Fmt("%d-%s", 1, "a")) },
			want: "level=ERROR msg=got component=raft command=1-a"},
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
