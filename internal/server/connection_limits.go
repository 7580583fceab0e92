package server

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/quota"
)

// Connection limits (Kafka's ConnectionQuotas; KIP-308, KIP-612): with
// Config.Connections set, a listener waits before accepting while
// max.connections are open or max.connection.creation.rate is reached
// (new connections wait in the kernel's backlog), and a connection from an
// address that already has max.connections.per.ip (or its override) is
// closed at once. As in Kafka, the inter-broker listener never waits for
// max.connections or max.connection.creation.rate when the broker has
// other listeners (Config.ProtectedListener), so replication keeps its
// connections whatever clients do; its connections still count against
// their address's max.connections.per.ip and connection_creation_rate.

// limited reports whether accepting on l waits for the broker-wide limits.
func (s *Server) limited(l *Listener) bool {
	return s.cfg.Connections != nil && l.Name != s.cfg.ProtectedListener
}

// waitToAccept waits until the limits allow another connection on l.
func (s *Server) waitToAccept(ctx context.Context, l *Listener) error {
	if !s.limited(l) {
		return nil
	}
	return s.cfg.Connections.WaitForSlot(ctx)
}

// admit counts an accepted connection. It returns what to call when the
// connection ends, or false when the connection's address is at its
// maximum: the connection has then been closed.
func (s *Server) admit(nc net.Conn, l *Listener) (func(), bool) {
	if s.cfg.Connections == nil {
		return func() {}, true
	}
	ip := addrIP(nc.RemoteAddr())
	open := s.cfg.Connections.Open
	if !s.limited(l) {
		open = s.cfg.Connections.OpenProtected
	}
	if err := open(ip); err != nil {
		var te *quota.ThrottledError
		if errors.As(err, &te) && te.Throttle > 0 {
			s.closeLater(nc, te.Throttle)
		} else {
			nc.Close()
		}
		s.logRefusal(l, err)
		return nil, false
	}
	return func() { s.cfg.Connections.Close(ip) }, true
}

// closeLater closes a connection refused by connection_creation_rate
// after its throttle time, as Kafka does, so that a client reconnecting
// at once does not spin against the quota. Shutdown closes those still
// waiting.
func (s *Server) closeLater(nc net.Conn, after time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return
	}
	if s.closing == nil {
		s.closing = make(map[net.Conn]*time.Timer)
	}
	s.closing[nc] = time.AfterFunc(after, func() {
		s.mu.Lock()
		delete(s.closing, nc)
		s.mu.Unlock()
		nc.Close()
	})
}

// closeWaitingLocked closes the connections closeLater holds. s.mu is
// held.
func (s *Server) closeWaitingLocked() {
	for nc, t := range s.closing {
		t.Stop()
		nc.Close()
	}
	clear(s.closing)
}

// logRefusal logs a refused connection, at most one line a second.
func (s *Server) logRefusal(l *Listener, err error) {
	now := time.Now().UnixNano()
	last := s.lastRefusalLog.Load()
	n := s.refusals.Add(1)
	if now-last < int64(time.Second) || !s.lastRefusalLog.CompareAndSwap(last, now) {
		return
	}
	s.refusals.Store(0)
	s.cfg.Logger.Warn("connection refused", "listener", l.Name, "reason", err, "refused_since_last_log", n)
}

// refusalLog is the state of logRefusal's rate limit.
type refusalLog struct {
	lastRefusalLog atomic.Int64
	refusals       atomic.Int64
}

// addrIP is the IP address of addr (the zero Addr when it has none).
func addrIP(addr net.Addr) netip.Addr {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(tcp.IP); ok {
			return ip.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
