package broker

// The acks=-1 wait of a produce request (produce.go).

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
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
}

// maxParallelWaits bounds the goroutines one acks=all produce request
// uses to wait for its partitions.
const maxParallelWaits = 256

// awaitDurable starts the acks=-1 waits of a produce request as soon as
// its batches are appended, and returns the reply that answers with resp
// once they have all ended. Starting them here rather than when the
// connection's writer reaches the request matters for a producer that
// pipelines requests (franz-go keeps up to 5 in flight): the fsync of a
// request to one partition need not wait for the answer to an earlier
// request to another; and announcing every partition first lets one sync
// of the log directory cover them all. The waits end within timeout, or
// when ctx (the connection's) ends. waiting, if set, counts the request
// while its waits run.
func awaitDurable(ctx context.Context, waits []durableWait, timeout time.Duration, resp kmsg.Response, waiting *atomic.Int64) Reply {
	for i := range waits {
		waits[i].part.ExpectWaitDurable()
	}
	wctx, cancel := context.WithTimeout(ctx, max(timeout, time.Millisecond))
	done := make(chan struct{})
	if waiting != nil {
		waiting.Add(1)
	}
	go func() {
		defer close(done)
		defer cancel()
		if waiting != nil {
			defer waiting.Add(-1)
		}
		waitAll(wctx, waits, timeout)
	}()
	return Reply{Wait: func(ctx context.Context) kmsg.Response {
		select {
		case <-done:
		case <-ctx.Done():
			cancel()
			<-done
		}
		return resp
	}}
}

// waitAll runs the waits of one request. Each partition is its own file:
// several are waited for side by side, so their fsyncs overlap (the
// filesystem shares journal commits between concurrent fsyncs) instead of
// paying one fsync after another.
func waitAll(ctx context.Context, waits []durableWait, timeout time.Duration) {
	if len(waits) == 1 {
		waits[0].wait(ctx, timeout)
		return
	}
	sem := make(chan struct{}, maxParallelWaits)
	var wg sync.WaitGroup
	for i := range waits {
		sem <- struct{}{}
		wg.Add(1)
		go func(w *durableWait) {
			defer func() { <-sem; wg.Done() }()
			w.wait(ctx, timeout)
		}(&waits[i])
	}
	wg.Wait()
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
