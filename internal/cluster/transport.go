package cluster

// One TCP listener per node carries two protocols, told apart by the first
// byte of every connection (as Consul multiplexes its server RPC port):
//
//	'R'  hashicorp/raft's NetworkTransport, through raftLayer
//	'C'  the control RPC (rpc.go): proposals, joins, heartbeats, catch-up
//
// Every connection has deadlines: the first byte must arrive within
// muxHandshakeTimeout, dials give up after their timeout, and control
// requests after rpcTimeout, so a dead or silent peer never blocks a
// goroutine for long.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

const (
	muxRaft    byte = 'R'
	muxControl byte = 'C'

	muxHandshakeTimeout = 5 * time.Second
	// raftTimeout bounds one Raft RPC (and dial) to a peer.
	raftTimeout = 2 * time.Second
	// raftRedialInterval is how often a Raft dial refused by its peer
	// tries again until its timeout (raftLayer.Dial).
	raftRedialInterval = 50 * time.Millisecond
)

// mux accepts connections on the node's Raft address and routes them by
// their first byte.
type mux struct {
	ln        net.Listener
	advertise net.Addr
	logger    *slog.Logger
	raft      *raftLayer
	control   func(net.Conn) // serves one control connection; set before serve
	// serverTLS and clientTLS, when set, wrap accepted and dialed
	// connections in (mutual) TLS before the protocol byte.
	serverTLS, clientTLS *tls.Config

	// dialFilter, if set, refuses dials to some addresses (tests use it to
	// partition the network).
	filterMu   sync.Mutex
	dialFilter func(addr string) bool

	mu     sync.Mutex
	conns  map[net.Conn]string // open connections (accepted and dialed) -> peer address ("" if accepted)
	closed bool
	wg     sync.WaitGroup
}

func newMux(ln net.Listener, advertise net.Addr, logger *slog.Logger) *mux {
	m := &mux{ln: ln, advertise: advertise, logger: logger, conns: map[net.Conn]string{}}
	m.raft = &raftLayer{mux: m, accept: make(chan net.Conn), done: make(chan struct{}), stopRedial: make(chan struct{})}
	return m
}

// serve runs the accept loop until the listener closes.
func (m *mux) serve() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		var delay time.Duration
		for {
			c, err := m.ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// Temporary trouble (out of file descriptors): back off.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				m.logger.Warn("metadata listener accept failed", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			delay = 0
			if !m.track(c, "") {
				c.Close()
				return
			}
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.route(c)
			}()
		}
	}()
}

func (m *mux) track(c net.Conn, peer string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.conns[c] = peer
	return true
}

func (m *mux) untrack(c net.Conn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}

// route reads the first byte and hands the connection to its protocol.
func (m *mux) route(raw net.Conn) {
	var b [1]byte
	c := raw
	raw.SetDeadline(time.Now().Add(muxHandshakeTimeout))
	if m.serverTLS != nil {
		tc := tls.Server(raw, m.serverTLS)
		if err := tc.Handshake(); err != nil {
			m.logger.Warn("metadata listener: TLS handshake failed", "remote", raw.RemoteAddr(), "err", err)
			m.closeConn(raw)
			return
		}
		c = tc
	}
	if _, err := c.Read(b[:]); err != nil {
		m.closeConn(raw)
		return
	}
	raw.SetDeadline(time.Time{})
	switch b[0] {
	case muxRaft:
		select {
		case m.raft.accept <- &trackedConn{Conn: c, raw: raw, mux: m}:
		case <-m.raft.done:
			m.closeConn(raw)
		}
	case muxControl:
		defer m.closeConn(raw)
		m.control(c)
	default:
		m.logger.Warn("metadata listener: unknown protocol byte", "byte", b[0], "remote", c.RemoteAddr())
		m.closeConn(raw)
	}
}

func (m *mux) closeConn(c net.Conn) {
	m.untrack(c)
	c.Close()
}

// dial connects to a peer's listener and writes the protocol byte.
func (m *mux) dial(addr string, proto byte, timeout time.Duration) (net.Conn, error) {
	m.filterMu.Lock()
	filter := m.dialFilter
	m.filterMu.Unlock()
	if filter != nil && filter(addr) {
		return nil, fmt.Errorf("cluster: dial %s: blocked", addr)
	}
	raw, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	c := raw
	raw.SetDeadline(time.Now().Add(timeout))
	if m.clientTLS != nil {
		cfg := m.clientTLS
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(raw, cfg)
		if err := tc.Handshake(); err != nil {
			raw.Close()
			return nil, fmt.Errorf("cluster: TLS handshake with %s: %w", addr, err)
		}
		c = tc
	}
	if _, err := c.Write([]byte{proto}); err != nil {
		raw.Close()
		return nil, err
	}
	raw.SetDeadline(time.Time{})
	if !m.track(raw, addr) {
		raw.Close()
		return nil, ErrClosed
	}
	// A partition that came while this dial was under way did not see
	// the connection among those it closed: check its filter again.
	m.filterMu.Lock()
	filter = m.dialFilter
	m.filterMu.Unlock()
	if filter != nil && filter(addr) {
		m.closeConn(raw)
		return nil, fmt.Errorf("cluster: dial %s: blocked", addr)
	}
	return &trackedConn{Conn: c, raw: raw, mux: m}, nil
}

// partition makes dials to addresses for which blocked returns true fail,
// and closes the connections already dialed to them (tests only).
func (m *mux) partition(blocked func(addr string) bool) {
	m.filterMu.Lock()
	m.dialFilter = blocked
	m.filterMu.Unlock()
	m.mu.Lock()
	var drop []net.Conn
	for c, peer := range m.conns {
		if peer != "" && blocked != nil && blocked(peer) {
			drop = append(drop, c)
		}
	}
	m.mu.Unlock()
	for _, c := range drop {
		m.closeConn(c)
	}
}

// close stops accepting, closes every open connection, and waits for the
// connection goroutines.
func (m *mux) close() error {
	err := m.ln.Close()
	m.mu.Lock()
	m.closed = true
	conns := make([]net.Conn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c)
	}
	m.conns = map[net.Conn]string{}
	m.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	m.raft.Close()
	m.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// trackedConn leaves the mux's set of open connections when closed.
type trackedConn struct {
	net.Conn
	raw  net.Conn // the TCP connection under Conn (itself without TLS), as tracked
	mux  *mux
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.mux.untrack(c.raw) })
	return c.Conn.Close()
}

// raftLayer is the raft.StreamLayer of the mux: Accept yields the
// connections that announced Raft, Dial announces Raft.
type raftLayer struct {
	mux       *mux
	accept    chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	// stopRedial, closed when the node starts closing, ends the waits of
	// dials refused by their peer, so that Raft's shutdown (which waits
	// for its replication goroutines) does not wait for them.
	stopRedial chan struct{}
	redialOnce sync.Once
}

var _ raft.StreamLayer = (*raftLayer)(nil)

func (l *raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.accept:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; the listener itself belongs to the mux.
func (l *raftLayer) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	l.endRedials()
	return nil
}

// endRedials makes dials waiting for a peer that refused them give up.
func (l *raftLayer) endRedials() {
	l.redialOnce.Do(func() { close(l.stopRedial) })
}

func (l *raftLayer) Addr() net.Addr { return l.mux.advertise }

// Dial announces Raft to the peer at addr. A peer that refuses the
// connection (its process is down or still starting) is dialed again every
// raftRedialInterval until the timeout, and only then is the refusal
// returned. hashicorp/raft waits longer after each failed RPC before it
// replicates to a follower again, doubling up to 10 s, and it counts
// failures, not time: a refusal returned at once made a voter that was down
// for 5 s wait 1-2 s more once back before the leader sent it the log it
// missed, and one down for 12 s about 7 s (while it waits, a restarted
// broker cannot register). Refused for the whole timeout, a dial counts
// one failure per timeout of down time; a peer that comes back meanwhile
// is reached within an interval.
func (l *raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := l.mux.dial(string(addr), muxRaft, time.Until(deadline))
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
			return c, err
		}
		// With too little time left for another dial, the refusal
		// stands once the timeout is over.
		wait, rest := raftRedialInterval, time.Until(deadline)
		if rest < 2*raftRedialInterval {
			wait = rest
		}
		if !l.redialWait(wait) || wait == rest {
			return nil, err
		}
	}
}

// redialWait waits d, and reports false if the node started closing
// meanwhile.
func (l *raftLayer) redialWait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.stopRedial:
		return false
	}
}

// tcpAddr is a net.Addr for an advertised host:port that need not resolve
// locally.
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }
