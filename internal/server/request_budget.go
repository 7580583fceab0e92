package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"
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
// Reading a body must keep making progress: a read that brings nothing
// for requestStallTimeout closes the connection, as does a body not
// complete within the request read timeout.

// firstStep is the budget a request takes before the rest of its size.
const firstStep = 64 << 10

// requestStallTimeout bounds the wait for the next bytes of a body.
const requestStallTimeout = 10 * time.Second

// readBody reads a request body of size bytes from r. It returns the body
// and the budget it holds, which the caller releases once the request has
// been handled.
func (c *conn) readBody(ctx context.Context, r *bufio.Reader, size int32, deadline time.Time) ([]byte, int64, error) {
	budget := c.srv.budget
	var held int64
	fail := func(err error) ([]byte, int64, error) {
		budget.Release(held)
		return nil, 0, fmt.Errorf("read request body of %d bytes: %w", size, err)
	}
	n := int(size)
	if n <= firstStep {
		// Most requests: one step, one buffer of the exact size.
		if !c.armRead(min(time.Until(deadline), requestStallTimeout)) {
			return fail(context.Canceled)
		}
		if _, err := r.Peek(1); err != nil {
			return fail(err)
		}
		if !budget.TryAcquire(int64(n)) {
			if err := c.takeBudget(ctx, int64(n), deadline); err != nil {
				return fail(err)
			}
			if !c.armRead(min(time.Until(deadline), requestStallTimeout)) {
				budget.Release(int64(n))
				return fail(context.Canceled)
			}
		}
		held = int64(n)
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return fail(err)
		}
		return buf, held, nil
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
		if held < want {
			if err := c.takeBudget(ctx, want-held, deadline); err != nil {
				return fail(err)
			}
			held = want
			if !c.armRead(min(time.Until(deadline), requestStallTimeout)) {
				return fail(context.Canceled)
			}
		}
		if len(buf) == cap(buf) {
			// The first step's buffer, then, with the whole size's
			// budget held and bytes flowing, the whole body at once.
			grown := make([]byte, len(buf), min(n, int(held)))
			copy(grown, buf)
			buf = grown
		}
		k, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil && len(buf) < n {
			return fail(err)
		}
	}
	return buf, held, nil
}

// takeBudget takes n bytes of the request budget, waiting for them until
// the body's deadline.
func (c *conn) takeBudget(ctx context.Context, n int64, deadline time.Time) error {
	b := c.srv.budget
	if b.TryAcquire(n) {
		return nil
	}
	if b.ShouldReport(time.Now()) {
		c.srv.cfg.Logger.Warn("request budget full: reading waits (queued.max.request.bytes)",
			"in_use", b.InUse(), "size", b.Size(), "waits_so_far", b.Waits(), "want", n)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	if err := c.srv.budget.Acquire(ctx, n); err != nil {
		return fmt.Errorf("waiting for %d bytes of queued.max.request.bytes: %w", n, err)
	}
	return nil
}
