package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sluice-io/sluice/internal/quota"
)

// Request bytes draw on one budget shared by every connection
// (queued.max.request.bytes), taken as the bytes arrive rather than from
// the size prefix: a client that sends a size of 100 MB and then nothing
// holds nothing, and cannot make other clients' requests wait (issue 13:
// six such connections once held the whole budget until the read timeout).
//
// A request takes budget for its first firstStep bytes once its first byte
// has arrived, and for the rest of its size once those have arrived (so a
// request waiting for room holds at most firstStep, and waiting requests
// cannot hold the budget between them); the frame buffer is allocated for
// what the budget covers, so the whole body only once its first firstStep
// bytes are in. The budget is not first-in first-out: a small request
// that fits is read while a large one waits. A request holds its budget
// until it has been handled, and one connection reads one request at a
// time, so a connection holds at most one request's worth.
//
// A client, known by its address (the unit of max.connections.per.ip),
// holds at most a fair share of the budget across its connections
// (quota.Budget's ...For methods): beyond one request of any size, what
// it holds stays within the budget divided by the clients holding or
// waiting for request bytes now, and never more than half. A client that
// opens many connections and leaves partial requests on them waits for
// its own bytes to be released, while the others are read.
//
// Reading a body must keep making progress: a read that brings nothing
// for requestStallTimeout closes the connection, as does a body not
// complete within the request read timeout.

// firstStep is the budget a request takes before the rest of its size.
const firstStep = 64 << 10

// requestStallTimeout bounds the wait for the next bytes of a body.
const requestStallTimeout = 10 * time.Second

// readBody reads a request body of size bytes from r into a buffer whose
// budget use holds (use must hold nothing); the caller releases use once
// the request has been handled.
func (c *conn) readBody(ctx context.Context, r *bufio.Reader, size int32, deadline time.Time, use *quota.Use) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		use.Release()
		return nil, fmt.Errorf("read request body of %d bytes: %w", size, err)
	}
	n := int(size)
	if n == 0 {
		// Nothing to wait for (an empty SASL token after SaslHandshake
		// v0 is a frame of size 0).
		return []byte{}, nil
	}
	if n <= firstStep {
		// Most requests: one step, one buffer of the exact size.
		if !c.armRead(min(time.Until(deadline), requestStallTimeout)) {
			return fail(context.Canceled)
		}
		if _, err := r.Peek(1); err != nil {
			return fail(err)
		}
		if !use.TryGrow(int64(n)) {
			if err := c.takeBudget(ctx, use, int64(n), deadline); err != nil {
				return fail(err)
			}
			if !c.armRead(min(time.Until(deadline), requestStallTimeout)) {
				return fail(context.Canceled)
			}
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return fail(err)
		}
		return buf, nil
	}
	var buf []byte
	for len(buf) < n {
		if !c.armRead(min(time.Until(deadline), requestStallTimeout)) {
			return fail(context.Canceled)
		}
		// Wait for bytes before taking budget for them.
		if _, err := r.Peek(1); err != nil {
			return fail(err)
		}
		want := int64(min(n, firstStep))
		if len(buf) >= firstStep {
			want = int64(n)
		}
		if held := use.Held(); held < want {
			if err := c.takeBudget(ctx, use, want-held, deadline); err != nil {
				return fail(err)
			}
			if !c.armRead(min(time.Until(deadline), requestStallTimeout)) {
				return fail(context.Canceled)
			}
		}
		if len(buf) == cap(buf) {
			// The first step's buffer, then, with the whole size's
			// budget held and bytes flowing, the whole body at once.
			grown := make([]byte, len(buf), min(n, int(use.Held())))
			copy(grown, buf)
			buf = grown
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil && len(buf) < n {
			return fail(err)
		}
	}
	return buf, nil
}

// takeBudget takes n more bytes of the request budget for use, waiting for
// them until the body's deadline.
func (c *conn) takeBudget(ctx context.Context, use *quota.Use, n int64, deadline time.Time) error {
	if use.TryGrow(n) {
		return nil
	}
	if b := c.srv.budget; b.ShouldReport(time.Now()) {
		c.srv.cfg.Logger.Warn("request budget full or client at its share: reading waits (queued.max.request.bytes)",
			"client", c.client.Host, "in_use", b.InUse(), "size", b.Size(), "clients", b.Holders(), "waits_so_far", b.Waits(), "want", n)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := use.Grow(ctx, n); err != nil {
		return fmt.Errorf("waiting for %d bytes of queued.max.request.bytes: %w", n, err)
	}
	return nil
}
