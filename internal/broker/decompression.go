package broker

// Decompression draws on one broker-wide budget
// (sluice.decompression.max.bytes): a compressed batch's records are
// decompressed into memory to be validated, and without a shared bound a
// few kilobytes of zstd or gzip of zeros per request, from many
// connections at once, took gigabytes. A batch may decompress to at most
// its topic's max.message.bytes (Kafka bounds only the compressed size):
// one that would exceed it fails with MESSAGE_TOO_LARGE as soon as the
// stream passes the limit, without inflating the rest. The Java producer
// answers that by splitting the batch.
//
// Small batches of known size (snappy, zstd with bounded blocks) are
// decompressed whole; others are checked record by record as they stream
// out of the decompressor (record.CheckCompressed), so a batch holds one
// record at a time, and a record whose length passes the limit is refused
// before it is read. The memory is reserved before it is allocated: the
// whole output, or the record buffer each time it grows, each step after
// the first taken only if free at once. When a step is not
// free, the batch gives back what it holds, waits for its whole limit
// with nothing held, and decompresses again, so batches never wait on each
// other while holding part of the budget. Waiting is the back-pressure:
// the connection's next request is not read meanwhile.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/quota"
	"github.com/sluice-io/sluice/internal/record"
)

// errStepRefused stops a decompression whose next step is not free now.
var errStepRefused = errors.New("broker: decompression budget taken")

// checkCompressed checks the records of a compressed batch (src is its
// record section) within limit bytes of output, holding budget for the
// memory the check allocates while it runs. A wait for the budget lasts at
// most timeoutMs, the request's timeout.
func (b *Broker) checkCompressed(ctx context.Context, h record.Header, src []byte, limit int, timeoutMs int32, fn func(record.Record) error) error {
	err := b.checkCompressedHeld(ctx, h, src, limit, timeoutMs, fn)
	if errors.Is(err, record.ErrTooLarge) {
		return kerrf(kerr.MessageTooLarge, "%s batch decompresses to more than max.message.bytes %d", h.Codec(), limit)
	}
	return err
}

func (b *Broker) checkCompressedHeld(ctx context.Context, h record.Header, src []byte, limit int, timeoutMs int32, fn func(record.Record) error) error {
	budget := b.cfg.Decompression
	if budget == nil {
		return b.codecs.CheckCompressed(h, src, limit, nil, fn)
	}
	var held int64
	defer func() { budget.Release(held) }()
	step := func(n int) error {
		n64 := min(int64(n), budget.Size()-held) // past the whole budget, the batch runs alone
		if n64 <= 0 {
			return nil
		}
		if held == 0 {
			// The first step waits: nothing is held while waiting.
			if err := b.acquireWithin(ctx, budget, n64, timeoutMs); err != nil {
				return err
			}
		} else if !budget.TryAcquire(n64) {
			return errStepRefused
		}
		held += n64
		return nil
	}
	err := b.codecs.CheckCompressed(h, src, limit, step, fn)
	if errors.Is(err, errStepRefused) {
		budget.Release(held)
		held = 0
		if err := b.acquireWithin(ctx, budget, int64(limit), timeoutMs); err != nil {
			return err
		}
		held = budget.Clamp(int64(limit))
		err = b.codecs.CheckCompressed(h, src, limit, nil, fn)
	}
	return err
}

// acquireWithin takes n bytes of budget, waiting at most the request's
// timeout; a batch that waited that long is answered REQUEST_TIMED_OUT.
func (b *Broker) acquireWithin(ctx context.Context, budget *quota.Budget, n int64, timeoutMs int32) error {
	if budget.TryAcquire(n) {
		return nil
	}
	if budget.ShouldReport(time.Now()) {
		b.logger.Warn("decompression budget full: produced batches wait (sluice.decompression.max.bytes)",
			"in_use", budget.InUse(), "size", budget.Size(), "waits_so_far", budget.Waits(), "want", n)
	}
	ctx, cancel := requestTimeout(ctx, timeoutMs)
	defer cancel()
	if err := budget.Acquire(ctx, n); err != nil {
		return kerrf(kerr.RequestTimedOut, "waiting for the decompression budget: %v", err)
	}
	return nil
}
