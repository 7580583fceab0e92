package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/broker"
)

// pending is a dispatched request whose response the writer still owes.
type pending struct {
	corr     int32
	key      int16
	flexible bool
	reply    broker.Reply
	// clientID is the client ID as the reader knew it when it queued
	// this reply: the writer logs with it, never reading c.client.
	clientID string
	// raw, after a SaslHandshake v0, sends rawBytes as a bare
	// size-prefixed token, without a response header.
	raw      bool
	rawBytes []byte
	// frame is the response already encoded, with its header and size
	// (encodeEarly), in the pooled buffer pooled; encodeTook is how long
	// that took.
	frame      []byte
	pooled     *[]byte
	encodeTook time.Duration
}

// conn serves one client connection.
type conn struct {
	srv    *Server
	nc     net.Conn
	logger *slog.Logger
	client broker.Client
	queue  chan pending
	// held is what the replies read but not yet released hold
	// (broker.Reply.Holds); drained is signalled when it falls.
	held    atomic.Int64
	drained chan struct{}
	// listener is the security of the listener the connection came in on;
	// sasl is its SASL state, owned by the reader (security.go).
	listener *Listener
	sasl     saslState
	// wire gathers a TLS connection's records into larger writes
	// (tlswire.go); nil without TLS. flushWire sends what it holds.
	wire *coalescingConn

	// deadlineMu orders the reader's deadline updates with Shutdown's, so
	// a shutdown cannot be undone by a reader arming its idle timer.
	deadlineMu sync.Mutex
	stopping   bool
}

// armRead sets the read deadline unless the connection is stopping.
func (c *conn) armRead(d time.Duration) bool {
	c.deadlineMu.Lock()
	defer c.deadlineMu.Unlock()
	if c.stopping {
		return false
	}
	c.nc.SetReadDeadline(time.Now().Add(d))
	return true
}

// stopReading makes the reader return at its next read.
func (c *conn) stopReading() {
	c.deadlineMu.Lock()
	c.stopping = true
	c.nc.SetReadDeadline(time.Now())
	c.deadlineMu.Unlock()
}

// maxPipelined bounds how many requests of one connection may wait for
// their responses; the reader stops reading while the writer is behind.
const maxPipelined = 64

// maxHeldReplyBytes bounds the memory the replies of one connection not
// yet written may hold (broker.Reply.Holds, or the size of a response
// encoded early): past it the reader waits for the writer, as Kafka mutes
// a connection until its response is sent. A fetch that read records
// holds at least one 2 MiB chunk, so a client that pipelines fetches and
// does not read the answers gets one read at a time from the disk, not 64
// (which held 128 MiB or more per connection).
const maxHeldReplyBytes = 1 << 20

// encodeEarly encodes a reply that is ready now (not deferred, holding no
// buffers of its own) on the reader, so that its size counts toward
// maxHeldReplyBytes: a response can be far larger than its request
// (Metadata, DescribeConfigs, ListGroups, OffsetFetch of a whole group),
// and 64 of them queued for a client that reads nothing held hundreds of
// megabytes. Produce is left to the writer: its answers are small and
// bounded by its request, and encoding them there keeps a pipelining
// producer's requests read while earlier answers are encoded.
func (c *conn) encodeEarly(p *pending) {
	if p.raw || p.reply.Response == nil || p.reply.Wait != nil || p.reply.Holds != 0 || p.key == 0 {
		return
	}
	start := time.Now()
	bp := c.srv.buffers.Get().(*[]byte)
	p.frame = encodeFrame((*bp)[:0], *p, p.reply.Response)
	*bp = p.frame
	p.pooled = bp
	p.encodeTook = time.Since(start)
	p.reply.Holds = int64(cap(p.frame))
}

// encodeFrame appends the response's frame (size, header, body) to buf.
func encodeFrame(buf []byte, p pending, resp kmsg.Response) []byte {
	buf = AppendResponseHeader(buf, p.corr, p.flexible, p.key)
	buf = resp.AppendTo(buf)
	FinishFrame(buf, 0)
	return buf
}

// serve runs the connection until the client leaves, a frame is malformed,
// or the server shuts down. The reader decodes and dispatches in order; the
// writer, started here, answers in the same order.
func (c *conn) serve(srvCtx context.Context) {
	ctx, cancel := context.WithCancel(srvCtx)
	defer cancel()
	if c.listener.TLS != nil {
		if err := c.handshakeTLS(ctx); err != nil {
			c.nc.Close()
			if errors.Is(err, net.ErrClosed) {
				c.logger.Debug("connection closed during the TLS handshake", "reason", "shutting down")
			} else {
				c.logger.Info("closing connection", "reason", err)
			}
			return
		}
	}
	c.sasl.authenticated = !c.listener.usesSASL()
	c.queue = make(chan pending, maxPipelined)
	c.drained = make(chan struct{}, 1)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(ctx)
		// The writer stops on a write error; unblock the reader.
		cancel()
		c.stopReading()
	}()
	err := c.readLoop(ctx)
	close(c.queue)
	<-writerDone
	// Replies the writer did not reach are never sent: release what they
	// hold (fetch buffers, a produce request's place in purgatory).
	for p := range c.queue {
		c.release(p)
	}
	if d := c.srv.cfg.FailedAuthDelay; d > 0 && errors.As(err, new(*errAuthClose)) {
		// connection.failed.authentication.delay.ms: the refusal is
		// answered, the close comes later, so guessing passwords is slow.
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-srvCtx.Done():
		}
		t.Stop()
	}
	c.nc.Close()
	lg := c.logger
	if c.client.ID != "" { // the reader and writer are done: no race
		lg = lg.With("client_id", c.client.ID)
	}
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, context.Canceled):
		lg.Debug("connection closed")
	case errors.Is(err, os.ErrDeadlineExceeded):
		lg.Debug("connection closed", "reason", "idle or shutting down")
	case errors.As(err, new(*errAuthClose)):
		lg.Info("closing connection", "reason", err)
	default:
		lg.Warn("closing connection", "reason", err)
	}
}

// readBufferSize is a connection's read buffer: requests larger than it
// are read straight into their frames, so it need only hold the small
// ones, and an idle connection costs little.
const readBufferSize = 16 << 10

func (c *conn) readLoop(ctx context.Context) error {
	r := bufio.NewReaderSize(c.nc, readBufferSize)
	cfg := c.srv.cfg
	// use holds the request budget of the request being read and handled,
	// drawn fairly with the client's other connections (request_budget.go).
	use := c.srv.budget.NewUse(c.client.Host)
	for first := true; ; first = false {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !c.armRead(cfg.IdleTimeout) {
			return nil
		}
		if first && c.listener.TLS == nil {
			if b, err := r.Peek(3); err == nil && looksLikeTLS(b) {
				c.srv.auditFailure(ctx, c, "", "TLS", "TLS handshake on a plaintext listener")
				return fmt.Errorf("a TLS handshake arrived on the plaintext listener %s (%s): the client uses TLS, the listener does not", c.listener.Name, c.listener.Protocol)
			}
		}
		limit := cfg.MaxRequestSize
		if !c.sasl.authenticated {
			limit = min(limit, c.listener.preAuthLimit())
		}
		var size int32
		var err error
		if c.sasl.raw {
			size, err = readRawSize(r, limit)
		} else {
			size, err = ReadFrameSize(r, limit)
		}
		if err != nil {
			if !c.sasl.authenticated && errors.Is(err, ErrFrameTooLarge) {
				return fmt.Errorf("before authentication: %w", err)
			}
			return err
		}
		// The body must arrive within the request timeout, independent of
		// how long the connection idled before it. Every connection's
		// requests draw on one budget of request bytes, taken as the bytes
		// arrive and given back once the request is handled
		// (request_budget.go).
		frame, err := c.readBody(ctx, r, size, time.Now().Add(cfg.RequestReadTimeout), &use)
		if err != nil {
			return err
		}
		var p pending
		if c.sasl.raw {
			p, err = c.rawToken(ctx, frame)
		} else {
			p, err = c.decode(ctx, frame)
		}
		use.Release()
		var refused *errAuthClose
		if err != nil && !errors.As(err, &refused) {
			return err
		}
		p.clientID = c.client.ID
		c.encodeEarly(&p)
		c.held.Add(p.reply.Holds)
		select {
		case c.queue <- p:
		case <-ctx.Done():
			c.release(p)
			return ctx.Err()
		}
		for c.held.Load() > maxHeldReplyBytes {
			select {
			case <-c.drained:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if refused != nil {
			// The refusal is answered, then the connection closes.
			return refused
		}
		if err := c.mute(ctx, p.reply.Throttle); err != nil { // throttle.go
			return err
		}
	}
}

// looksLikeTLS reports whether the first bytes of a connection are a TLS
// record (change_cipher_spec 20, alert 21, handshake 22 or application
// data 23, version 3.x): a client that gave up on one handshake may open
// the next connection with an alert. As a Kafka size prefix any of them
// would be a request of 335 MB or more.
func looksLikeTLS(b []byte) bool {
	return len(b) >= 3 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03 && b[2] <= 0x04
}

// readRawSize reads the size prefix of a SASL token after SaslHandshake v0.
func readRawSize(r io.Reader, limit int32) (int32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	n := int32(binary.BigEndian.Uint32(b[:]))
	if n < 0 || n > limit {
		return 0, fmt.Errorf("%w: SASL token of %d bytes, limit %d", ErrFrameTooLarge, uint32(n), limit)
	}
	return n, nil
}

// decode parses one frame and dispatches it. An error closes the connection.
func (c *conn) decode(ctx context.Context, frame []byte) (pending, error) {
	key, version := PeekKey(frame)
	if c.listener.usesSASL() && !c.sasl.authenticated && key != 17 && key != 18 && key != 36 {
		// As Kafka's SaslServerAuthenticator, a request other than
		// ApiVersions and the SASL ones is refused unread before
		// authentication: its body could decode to many times its size.
		return pending{}, fmt.Errorf("%s before SASL authentication completed on listener %s", kmsg.NameForKey(key), c.listener.Name)
	}
	h := c.srv.handler
	req := kmsg.RequestForKey(key)
	if req == nil {
		return pending{}, fmt.Errorf("unknown api key %d", key)
	}
	if !h.Supports(key, version) {
		// KIP-511: an ApiVersions the broker does not know is answered at
		// v0 with UNSUPPORTED_VERSION and the supported ranges, so the
		// client can retry at a version both sides speak. Any other
		// unsupported version closes the connection, as in Kafka.
		if key != 18 {
			return pending{}, fmt.Errorf("unsupported version %d of %s", version, kmsg.NameForKey(key))
		}
		hdr, _, err := ParseRequestHeader(frame, version >= 3)
		if err != nil {
			return pending{}, err
		}
		c.setClientID(hdr.ClientID)
		av := &kmsg.ApiVersionsRequest{Version: version}
		if c.listener.usesSASL() {
			// The same SASL state rules as a supported version: none in
			// the middle of an exchange, none after the session ended.
			if _, handled, err := c.gate(ctx, key, version, av); handled || err != nil {
				return pending{}, err
			}
		}
		return pending{corr: hdr.CorrelationID, key: key, reply: c.handle(ctx, av)}, nil
	}
	req.SetVersion(version)
	hdr, body, err := ParseRequestHeader(frame, req.IsFlexible())
	if err != nil {
		return pending{}, err
	}
	c.setClientID(hdr.ClientID)
	if err := c.srv.checkArrays(key, version, body); err != nil { // limits.go
		return pending{}, err
	}
	if err := req.ReadFrom(body); err != nil {
		return pending{}, fmt.Errorf("decode %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	if c.listener.usesSASL() {
		resp, handled, err := c.gate(ctx, key, version, req)
		if resp != nil {
			return pending{corr: hdr.CorrelationID, key: key, flexible: req.IsFlexible(), reply: broker.Reply{Response: resp}}, err
		}
		if handled || err != nil {
			return pending{}, err
		}
	}
	return pending{corr: hdr.CorrelationID, key: key, flexible: req.IsFlexible(), reply: c.handle(ctx, req)}, nil
}

func (c *conn) setClientID(id *string) {
	if id != nil && *id != c.client.ID {
		c.client.ID = *id
	}
}

// handle calls the broker, turning a panic into a closed connection.
func (c *conn) handle(ctx context.Context, req kmsg.Request) (reply broker.Reply) {
	defer func() {
		if r := recover(); r != nil {
			c.logger.Error("handler panicked; closing connection", "api", kmsg.NameForKey(req.Key()), "client_id", c.client.ID, "panic", r, "stack", string(debug.Stack()))
			reply = broker.Reply{Fatal: fmt.Errorf("handler panic: %v", r)}
		}
	}()
	return c.srv.handler.Handle(ctx, &c.client, req)
}

// wait completes a deferred reply, turning a panic into a closed connection.
func (c *conn) wait(ctx context.Context, p pending) (resp kmsg.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.logger.Error("handler panicked; closing connection", "api", kmsg.NameForKey(p.key), "client_id", p.clientID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return p.reply.Wait(ctx), nil
}

func (c *conn) writeLoop(ctx context.Context) {
	// The write buffer is made for the first reply: a connection that
	// never sends a request costs no write buffer.
	var w *bufio.Writer
	defer func() {
		if w != nil {
			c.flushWire(w)
		}
	}()
	for p := range c.queue {
		if w == nil {
			w = bufio.NewWriterSize(c.nc, 64<<10)
		}
		if p.raw {
			if !c.writeRaw(w, p.rawBytes) {
				return
			}
			continue
		}
		if p.reply.Fatal != nil {
			c.logger.Warn("closing connection", "reason", p.reply.Fatal, "client_id", p.clientID)
			c.release(p)
			return
		}
		resp := p.reply.Response
		if p.reply.Wait != nil {
			// Responses already written must not wait for this one
			// (an acks=all produce waits for an fsync).
			if w.Buffered() > 0 || c.wire != nil && c.wire.Pending() {
				if err := c.flushWire(w); err != nil {
					c.logger.Debug("write response", "err", err)
					c.release(p)
					return
				}
			}
			var err error
			if resp, err = c.wait(ctx, p); err != nil {
				c.release(p)
				return
			}
		}
		var sendStart time.Time
		if p.reply.Sent != nil {
			sendStart = time.Now()
		}
		var ok bool
		switch {
		case p.frame != nil:
			ok = c.writeFrame(w, p.frame)
		case resp != nil:
			ok = c.writeResponse(w, p, resp)
		default:
			ok = true
		}
		if p.reply.Sent != nil && ok && resp != nil {
			p.reply.Sent(p.encodeTook + time.Since(sendStart)) // request_percentage counts the send
		}
		c.release(p)
		if !ok {
			return
		}
		if len(c.queue) == 0 {
			if err := c.flushWire(w); err != nil {
				c.logger.Debug("write response", "err", err)
				return
			}
		}
	}
}

// release lets the handler reuse what p's reply holds: its response was
// written, or never will be. A reader waiting for held to fall is told.
func (c *conn) release(p pending) {
	if p.reply.Release != nil {
		p.reply.Release()
	}
	if p.pooled != nil {
		c.srv.buffers.Put(p.pooled)
	}
	if p.reply.Holds > 0 {
		c.held.Add(-p.reply.Holds)
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
}

// flushWire sends everything written so far: the bufio buffer, and under
// TLS the records the coalescing layer holds.
func (c *conn) flushWire(w *bufio.Writer) error {
	if err := w.Flush(); err != nil {
		return err
	}
	if c.wire != nil {
		return c.wire.Flush()
	}
	return nil
}

// writeRaw writes a bare size-prefixed SASL token (SaslHandshake v0).
func (c *conn) writeRaw(w *bufio.Writer, token []byte) bool {
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], uint32(len(token)))
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_, err := w.Write(size[:])
	if err == nil {
		_, err = w.Write(token)
	}
	if err == nil {
		err = c.flushWire(w)
	}
	if err != nil {
		c.logger.Debug("write SASL token", "err", err)
		return false
	}
	return true
}

// writeResponse encodes one response into a pooled buffer and writes it.
// Fetch responses run to megabytes; reusing buffers across connections
// keeps them from being regrown for every response.
func (c *conn) writeResponse(w *bufio.Writer, p pending, resp kmsg.Response) bool {
	bp := c.srv.buffers.Get().(*[]byte)
	buf := encodeFrame((*bp)[:0], p, resp)
	ok := c.writeFrame(w, buf)
	*bp = buf
	c.srv.buffers.Put(bp)
	return ok
}

// writeFrame writes an encoded response frame.
func (c *conn) writeFrame(w *bufio.Writer, buf []byte) bool {
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	var err error
	if len(buf) >= w.Available() {
		// Large responses skip the bufio copy.
		if err = w.Flush(); err == nil {
			_, err = c.nc.Write(buf)
		}
	} else {
		_, err = w.Write(buf)
	}
	if err != nil {
		c.logger.Debug("write response", "err", err)
		return false
	}
	return true
}
