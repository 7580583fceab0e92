package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/quota"
)

// Handler serves decoded requests; internal/broker implements it.
type Handler interface {
	// Supports reports whether an API key is implemented at a version.
	Supports(key, version int16) bool
	// Handle serves one request in the connection's request order.
	Handle(ctx context.Context, client *broker.Client, req kmsg.Request) broker.Reply
}

// Config configures the listener.
type Config struct {
	// MaxRequestSize is socket.request.max.bytes.
	MaxRequestSize int32
	// MaxQueuedBytes bounds the request bytes read and not yet handled,
	// over all connections (queued.max.request.bytes). Zero or less means
	// 512 MiB; it is never below MaxRequestSize.
	MaxQueuedBytes int64
	// IdleTimeout is connections.max.idle.ms.
	IdleTimeout time.Duration
	// RequestReadTimeout bounds reading one request body once its size
	// has arrived.
	RequestReadTimeout time.Duration
	// WriteTimeout bounds writing one response.
	WriteTimeout time.Duration
	Logger       *slog.Logger
	// Audit logs failed authentications; nil logs none.
	Audit *auth.Audit
	// FailedAuthDelay is connection.failed.authentication.delay.ms: how
	// long a connection whose SASL authentication failed stays open
	// (answered, unread) before it is closed.
	FailedAuthDelay time.Duration
	// Connections, when set, counts connections against max.connections
	// and its kin (connection_limits.go); ProtectedListener is a listener
	// they do not apply to (the inter-broker one, when there are others).
	Connections       *quota.Connections
	ProtectedListener string
	// ArrayLimits bounds request arrays before decoding (limits.go); nil
	// uses the Handler's when it implements ArrayLimiter.
	ArrayLimits ArrayLimiter
}

func (c *Config) setDefaults() {
	if c.MaxRequestSize <= 0 {
		c.MaxRequestSize = 100 << 20
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = 512 << 20
	}
	c.MaxQueuedBytes = max(c.MaxQueuedBytes, int64(c.MaxRequestSize))
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.RequestReadTimeout <= 0 {
		c.RequestReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server accepts Kafka connections and serves them with a Handler.
type Server struct {
	cfg     Config
	handler Handler

	mu      sync.Mutex
	lns     []net.Listener
	conns   map[*conn]struct{}
	wg      sync.WaitGroup
	cancels []context.CancelFunc
	closed  bool

	// buffers holds response encoding buffers (*[]byte) shared by all
	// connections.
	buffers sync.Pool
	// wireBufs holds the buffers TLS connections gather records in
	// (tlswire.go), shared by all connections.
	wireBufs sync.Pool
	// budget holds the request bytes connections may have in flight.
	budget *quota.Budget
	refusalLog
	// closing holds connections refused by connection_creation_rate until
	// their throttle time has passed (closeLater).
	closing map[net.Conn]*time.Timer
}

// New returns a server; call Serve to start it.
func New(cfg Config, h Handler) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, handler: h, conns: make(map[*conn]struct{}), budget: quota.NewBudget(cfg.MaxQueuedBytes)}
	s.buffers.New = func() any { b := make([]byte, 0, 64<<10); return &b }
	s.wireBufs.New = newWireBuffer
	return s
}

// Serve accepts PLAINTEXT connections on ln until Shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.ServeListener(ctx, ln, plaintextListener())
}

// ServeListener accepts connections on ln until Shutdown, with the
// security of l (TLS, SASL). A server may serve several listeners, one
// call each. Temporary accept errors back off exponentially up to a
// second, as net/http does.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener, l Listener) error {
	if err := l.check(); err != nil {
		return err
	}
	if l.Name == "" {
		l.Name = l.Protocol
	}
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		return net.ErrClosed
	}
	s.lns, s.cancels = append(s.lns, ln), append(s.cancels, cancel)
	s.mu.Unlock()
	defer cancel()

	var backoff time.Duration
	for {
		if err := s.waitToAccept(ctx, &l); err != nil { // connection_limits.go
			return nil
		}
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Logger.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return nil
				}
				continue
			}
			return err
		}
		backoff = 0
		closed, ok := s.admit(nc, &l)
		if !ok {
			continue
		}
		c := &conn{
			srv:      s,
			nc:       nc,
			logger:   s.cfg.Logger.With("remote", nc.RemoteAddr().String(), "listener", l.Name),
			client:   broker.Client{Addr: nc.RemoteAddr().String(), Host: hostOf(nc.RemoteAddr()), Listener: l.Name, Principal: broker.Anonymous},
			listener: &l,
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			closed()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve(ctx)
			closed()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// hostOf is the IP address of addr, or addr itself when it has no port.
func hostOf(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Shutdown stops accepting, stops reading new requests, lets every
// connection answer the requests it already read, and waits for them. When
// ctx ends first, remaining connections are closed at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		// Unblock readers; writers drain what was read.
		c.stopReading()
	}
	s.closeWaitingLocked()
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for _, cancel := range s.cancels {
			cancel()
		}
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
