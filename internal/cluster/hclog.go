package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"sync"
	"time"

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
	// peers is shared by every logger derived from one adapter.
	peers *peerErrors
}

func newHCLog(base *slog.Logger, name string, implied []any) *hclogAdapter {
	return newHCLogShared(base, name, implied, newPeerErrors(time.Now))
}

func newHCLogShared(base *slog.Logger, name string, implied []any, peers *peerErrors) *hclogAdapter {
	l := base
	if name != "" {
		// The node's logger already names its component (cluster): a
		// second "component" key would repeat it in JSON.
		l = l.With("subsystem", name)
	}
	if len(implied) > 0 {
		l = l.With(slogArgs(implied)...)
	}
	return &hclogAdapter{base: base, logger: l, name: name, implied: implied, peers: peers}
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
	args = slogArgs(args)
	if level >= hclog.Warn {
		var keep bool
		if args, keep = h.peers.admit(msg, args); !keep {
			return
		}
	}
	h.logger.Log(context.Background(), lvl, msg, args...)
}

// peerErrors keeps Raft's retries against an unreachable peer out of the
// log. Raft logs every failed heartbeat and append to a dead peer, with a
// backoff capped near 10 s: about a hundred lines a minute per peer. A
// failure about a peer (a "peer" or "target" argument with an "error") is
// logged when its state changes: the first failure, a different error, or
// a failure after quietGap without one (the peer came back in between).
// The same failure again is counted, and logged at most every
// remindEvery with the count of those left out.
type peerErrors struct {
	now  func() time.Time
	mu   sync.Mutex
	last map[string]*peerError // message and peer
}

type peerError struct {
	err        string
	seen       time.Time // last failure
	logged     time.Time // last failure logged
	suppressed int       // failures since logged
}

const (
	// quietGap is longer than Raft's longest retry backoff (10.24 s):
	// a failure after this much silence is a new episode.
	quietGap    = 30 * time.Second
	remindEvery = 5 * time.Minute
)

func newPeerErrors(now func() time.Time) *peerErrors {
	return &peerErrors{now: now, last: map[string]*peerError{}}
}

// admit reports whether a line is logged, with the args to log it with.
func (p *peerErrors) admit(msg string, args []any) ([]any, bool) {
	var peer, errText string
	found := false
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "peer", "target":
			peer, found = fmt.Sprint(args[i+1]), true
		case "error", "err":
			errText = fmt.Sprint(args[i+1])
		}
	}
	if !found || errText == "" {
		return args, true
	}
	now := p.now()
	key := msg + "\x00" + peer
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.last[key]
	if e == nil || e.err != errText || now.Sub(e.seen) >= quietGap {
		if len(p.last) > 1024 { // peers come and go; forget old ones
			for k, old := range p.last {
				if now.Sub(old.seen) >= quietGap {
					delete(p.last, k)
				}
			}
		}
		p.last[key] = &peerError{err: errText, seen: now, logged: now}
		return args, true
	}
	e.seen = now
	if now.Sub(e.logged) < remindEvery {
		e.suppressed++
		return nil, false
	}
	args = append(args, "repeated", e.suppressed+1, "since", e.logged.UTC().Format(time.RFC3339))
	e.logged, e.suppressed = now, 0
	return args, true
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
	return newHCLogShared(h.base, h.name, append(h.implied[:len(h.implied):len(h.implied)], args...), h.peers)
}

func (h *hclogAdapter) Name() string { return h.name }

func (h *hclogAdapter) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return newHCLogShared(h.base, name, h.implied, h.peers)
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	return newHCLogShared(h.base, name, h.implied, h.peers)
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
