package broker

// The acks=-1 wait of a produce request (produce.go).

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
)

// ackPartition is what an acks=-1 wait needs of a partition
// (*replica.Partition).
type ackPartition interface {
	// WaitReplicated waits until the high watermark reaches end, as
	// replica.Partition.WaitReplicated.
	WaitReplicated(ctx context.Context, end int64, epoch int32, minISR int) error
	// WaitDurable waits until every offset below end is fsynced here.
	WaitDurable(ctx context.Context, end int64) error
	// ExpectWaitDurable announces a WaitDurable, so that a sync of the
	// log directory starting before it covers the partition too.
	ExpectWaitDurable()
	// StartSyncs starts the announced sync if none is running.
	StartSyncs()
}

// awaitDurable returns the reply of an acks=-1 produce request whose
// batches are appended. It starts their fsyncs at once: each partition
// joins the next sync of its log directory (ExpectWaitDurable), then the
// syncs start (StartSyncs), so one
// sync covers every partition of the request and of the requests
// pipelined behind it, and a pipelined request's fsync need not wait for
// the answer to the one before it (franz-go keeps up to 5 produce
// requests in flight per broker). The connection's writer, when it
// reaches the request, waits in Wait for the fsyncs and the replication
// and gets resp with each partition's outcome. Waiting in the writer
// rather than in a goroutine of the request's own takes one hand-off off
// every answer: the sync that covers the request wakes the writer itself.
// The waits end within timeout of now, or when ctx (the connection's) or
// the writer's context ends, or when this broker's session with the
// controller lapses (session, if set: cluster.Node.SessionExpiry), since
// its followers may then follow a new leader and the client should go
// there. waiting, if set, counts the request until its reply is released.
func awaitDurable(ctx context.Context, waits []durableWait, timeout time.Duration, session func() (time.Time, bool), resp kmsg.Response, waiting *atomic.Int64) Reply {
	for i := range waits {
		waits[i].part.ExpectWaitDurable()
	}
	for i := range waits {
		waits[i].part.StartSyncs()
	}
	timeout = max(timeout, time.Millisecond)
	deadline := time.Now().Add(timeout)
	reply := Reply{Wait: func(wctx context.Context) kmsg.Response {
		dctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		defer context.AfterFunc(wctx, cancel)()
		dctx, stop := cluster.WithinSession(dctx, session)
		defer stop()
		for i := range waits {
			waits[i].wait(dctx, timeout)
		}
		return resp
	}}
	if waiting != nil {
		waiting.Add(1)
		reply.Release = func() { waiting.Add(-1) }
	}
	return reply
}

// wait waits until the partition's batch is fsynced here and replicated to
// the ISR, and writes an error into its response if either fails. The
// fsync comes first: the followers fetch the batch meanwhile, so the two
// overlap instead of adding up.
func (w *durableWait) wait(ctx context.Context, timeout time.Duration) {
	derr := w.part.WaitDurable(ctx, w.end)
	rerr := w.part.WaitReplicated(ctx, w.end, w.epoch, w.minISR)
	var err error
	switch {
	case rerr != nil && errors.Is(context.Cause(ctx), cluster.ErrSessionLapsed):
		err = kerrf(kerr.NotLeaderForPartition, "the batch was written but not replicated: this broker is cut off from the controller and may no longer lead the partition")
	case rerr != nil && !errors.Is(rerr, context.DeadlineExceeded):
		err = rerr // not the leader any more, or the ISR shrank
	case errors.Is(derr, context.DeadlineExceeded):
		err = kerrf(kerr.RequestTimedOut, "the batch was written but not fsynced within %v", timeout)
	case derr != nil:
		err = derr
	case rerr != nil:
		err = kerrf(kerr.RequestTimedOut, "the batch was written but not replicated to the ISR within %v", timeout)
	}
	if err != nil {
		w.resp.ErrorCode, w.resp.ErrorMessage = errorCode(err), errorMessage(err)
	}
}
