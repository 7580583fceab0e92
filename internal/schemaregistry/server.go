package schemaregistry

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server serves a registry's REST API on one listener until Shutdown.
type Server struct {
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
	log *slog.Logger
}

// Serve starts serving the registry's API on ln, in a goroutine Shutdown
// stops.
func (r *Registry) Serve(ln net.Listener) *Server {
	s := &Server{
		ln:  ln,
		log: r.log,
		srv: &http.Server{
			Handler:           r.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			// A body trickling in must not hold a connection forever;
			// answers may wait for a writer (Config.Timeout), so writes
			// have no deadline of their own.
			ReadTimeout: 30 * time.Second,
			IdleTimeout: 2 * time.Minute,
			ErrorLog:    slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
		},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("schema registry listener stopped", "err", err)
		}
	}()
	return s
}

// Addr is the address the listener is bound to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops the listener, lets requests in flight finish until ctx
// ends, closes the rest, and waits for the serving goroutine.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	s.wg.Wait()
	return err
}
