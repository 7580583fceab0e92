package httpapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-io/sluice/internal/buildinfo"
)

// Readiness is the /readyz answer: whether this broker serves clients, and
// if not, why.
type Readiness struct {
	Ready   bool     `json:"ready"`
	NodeID  int32    `json:"node_id"`
	Reasons []string `json:"reasons,omitempty"`
	// Checks are the individual conditions, true when met.
	Checks  map[string]bool `json:"checks"`
	Version string          `json:"version"`
}

// Config configures the admin listener.
type Config struct {
	NodeID int32
	// Gatherer serves /metrics; nil serves no /metrics.
	Gatherer prometheus.Gatherer
	// Ready computes /readyz.
	Ready func() Readiness
	// Pprof adds /debug/pprof/.
	Pprof bool
	// Admin serves the admin API under /v1/ (admin.go); nil serves none.
	Admin Admin
	// TLS, if set, serves HTTPS.
	TLS *tls.Config
	// Auth, if set, authenticates and authorizes every request but
	// /healthz, /readyz and, with MetricsOpen, /metrics (auth.go).
	Auth        Auth
	MetricsOpen bool
	Logger      *slog.Logger
}

// Server serves the admin endpoints on one listener until Shutdown.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	wg   sync.WaitGroup
	log  *slog.Logger
	once sync.Once
}

// New returns the admin server over ln; Serve starts it.
func New(ln net.Listener, cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	started := time.Now()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"status":         "ok",
			"node_id":        cfg.NodeID,
			"version":        buildinfo.Get().Version,
			"uptime_seconds": int64(time.Since(started).Seconds()),
		})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		r := cfg.Ready()
		code := http.StatusOK
		if !r.Ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, r)
	})
	if cfg.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	if cfg.Admin != nil {
		registerAdmin(mux, cfg.Admin)
	}
	if cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	var handler http.Handler = mux
	if cfg.Auth != nil {
		handler = authorize(mux, cfg.Auth, cfg.MetricsOpen)
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	return &Server{
		ln:  ln,
		log: cfg.Logger,
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		},
	}
}

// Addr is the address the admin listener is bound to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve starts serving in a goroutine that Shutdown stops and waits for.
func (s *Server) Serve() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP admin listener stopped", "err", err)
		}
	}()
}

// Shutdown stops the listener, lets requests in flight finish until ctx
// ends, then closes what remains, and waits for the serving goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		if err = s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
		s.ln.Close()
		s.wg.Wait()
	})
	return err
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
