package server

import (
	"net"
	"sync"
)

// coalescingConn sits under a TLS connection and gathers the records
// crypto/tls writes one by one (16 KiB each, one write call apiece) into
// fewer, larger writes: a 1 MiB fetch response is then a few syscalls
// instead of 64. It buffers only once enabled (after the handshake, which
// must not wait) and sends what it holds when it reaches coalesceLimit,
// on Flush, and on Close (so a close_notify alert is not lost). Writes
// come from the connection's writer and, rarely, from crypto/tls on the
// reading side (a KeyUpdate answer), hence the lock.
type coalescingConn struct {
	net.Conn
	// pool lends buffers of coalesceLimit bytes: a connection holds one
	// only while it has bytes to send.
	pool *sync.Pool

	mu  sync.Mutex
	on  bool
	buf *[]byte
}

// coalesceLimit is the most bytes held before they are written.
const coalesceLimit = 256 << 10

// newWireBuffer makes a buffer for the pool.
func newWireBuffer() any { b := make([]byte, 0, coalesceLimit); return &b }

func (c *coalescingConn) enable() {
	c.mu.Lock()
	c.on = true
	c.mu.Unlock()
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return c.Conn.Write(p)
	}
	if c.buf != nil && len(*c.buf)+len(p) > coalesceLimit {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) > coalesceLimit {
		return c.Conn.Write(p)
	}
	if c.buf == nil {
		c.buf = c.pool.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// Flush writes what is held.
func (c *coalescingConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

// Pending reports whether bytes are held.
func (c *coalescingConn) Pending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf != nil
}

func (c *coalescingConn) flushLocked() error {
	if c.buf == nil {
		return nil
	}
	_, err := c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	c.pool.Put(c.buf)
	c.buf = nil
	return err
}

// Close sends what is held (a close_notify alert, say) and closes.
func (c *coalescingConn) Close() error {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}
