package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter sends hashicorp/raft's logs to slog. Raft narrates its
// routine work (Info: state changes, snapshots) and treats elections as
// warnings (a single node "times out" into an election on every start), so
// levels move down one step: Trace, Debug and Info become Debug, Warn
// becomes Info, and Error stays Error.
type hclogAdapter struct {
	base    *slog.Logger // without name and implied args
	logger  *slog.Logger // base with component and implied args
	name    string
	implied []any
}

func newHCLog(base *slog.Logger, name string, implied []any) *hclogAdapter {
	l := base
	if name != "" {
		l = l.With("component", name)
	}
	if len(implied) > 0 {
		l = l.With(slogArgs(implied)...)
	}
	return &hclogAdapter{base: base, logger: l, name: name, implied: implied}
}

func slogLevel(level hclog.Level) (slog.Level, bool) {
	switch level {
	case hclog.Off:
		return 0, false
	case hclog.Warn:
		return slog.LevelInfo, true
	case hclog.Error:
		return slog.LevelError, true
	default: // NoLevel, Trace, Debug, Info
		return slog.LevelDebug, true
	}
}

// slogArgs turns hclog's alternating key/value args into slog's, formatting
// hclog.Fmt values.
func slogArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if f, ok := a.(hclog.Format); ok && len(f) > 0 {
			if s, ok := f[0].(string); ok {
				a = fmt.Sprintf(s, f[1:]...)
			}
		}
		out[i] = a
	}
	return out
}

func (h *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	lvl, ok := slogLevel(level)
	if !ok || !h.logger.Enabled(context.Background(), lvl) {
		return
	}
	h.logger.Log(context.Background(), lvl, msg, slogArgs(args)...)
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogAdapter) enabled(level hclog.Level) bool {
	lvl, ok := slogLevel(level)
	return ok && h.logger.Enabled(context.Background(), lvl)
}

func (h *hclogAdapter) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogAdapter) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogAdapter) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogAdapter) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogAdapter) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogAdapter) ImpliedArgs() []any { return h.implied }

func (h *hclogAdapter) With(args ...any) hclog.Logger {
	return newHCLog(h.base, h.name, append(h.implied[:len(h.implied):len(h.implied)], args...))
}

func (h *hclogAdapter) Name() string { return h.name }

func (h *hclogAdapter) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return newHCLog(h.base, name, h.implied)
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return newHCLog(h.base, name, h.implied)
}

// SetLevel is a no-op: the slog handler decides what is emitted.
func (h *hclogAdapter) SetLevel(hclog.Level) {}

func (h *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Warn, hclog.Error} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (h *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(h.logger.Handler(), slog.LevelDebug)
}

func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(nil).Writer()
}
