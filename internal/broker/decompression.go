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
//
// A batch recompressed to its topic's compression.type (produce.go) is
// decompressed whole a second time, after its checks, holding budget for
// its topic's max.message.bytes until the new batch is built.
//
// ListOffsets by timestamp (and KIP-734's largest timestamp) decompresses
// the stored batch it looks into on the same budget (searchDecompressing).
// The search holds the log's segment lock, so it never waits there: a
// step not free at once stops it, and it runs again once the budget has
// room for the topic's max.message.bytes, holding that.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/log"
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

// recompress returns a validated batch with its records in codec target,
// at the topic's compression level for it, as Kafka stores a batch whose
// codec is not its topic's compression.type.
func (b *Broker) recompress(ctx context.Context, h record.Header, batch []byte, ts *topicSettings, target record.Codec, timeoutMs int32) ([]byte, error) {
	raw := batch[record.HeaderSize:]
	if h.Codec() != record.CodecNone {
		limit := int(min(ts.maxMessageBytes, maxDecompressed))
		if budget := b.cfg.Decompression; budget != nil {
			if err := b.acquireWithin(ctx, budget, int64(limit), timeoutMs); err != nil {
				return nil, err
			}
			defer budget.Release(budget.Clamp(int64(limit)))
		}
		var err error
		if raw, err = b.codecs.Decompress(h.Codec(), raw, limit); err != nil {
			return nil, err // the checks passed on the same bytes: not expected
		}
	}
	level := 0
	switch target {
	case record.CodecGzip:
		level = int(ts.cfg.Int64("compression.gzip.level"))
	case record.CodecLZ4:
		level = int(ts.cfg.Int64("compression.lz4.level"))
	case record.CodecZstd:
		level = int(ts.cfg.Int64("compression.zstd.level"))
	}
	out, err := b.codecs.Recompress(batch, raw, target, level)
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > ts.maxMessageBytes {
		return nil, kerrf(kerr.MessageTooLarge, "batch of %d bytes recompressed with compression.type=%s is %d bytes, over max.message.bytes %d",
			len(batch), ts.cfg.String("compression.type"), len(out), ts.maxMessageBytes)
	}
	return out, nil
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

// listOffsetsBudgetWait bounds a ListOffsets' wait for the decompression
// budget (the request has no timeout of its own; a client's default is
// 30 s).
const listOffsetsBudgetWait = 30_000

// searchDecompressing runs search, a timestamp search of one log, with the
// batches it decompresses on the decompression budget (see the top of
// this file); limit is the topic's max.message.bytes.
func (b *Broker) searchDecompressing(ctx context.Context, limit int, search func(log.RecordVisitor) error) error {
	budget := b.cfg.Decompression
	if budget == nil {
		return search(nil)
	}
	visit := func(step record.Reserve) log.RecordVisitor {
		return func(h record.Header, src []byte, maxOut int, fn func(record.Record) error) error {
			raw, err := b.codecs.DecompressReserve(h.Codec(), src, maxOut, step)
			if err != nil {
				return err
			}
			return record.IterRecords(raw, h.RecordCount, fn)
		}
	}
	var held int64
	err := search(func(h record.Header, src []byte, maxOut int, fn func(record.Record) error) error {
		defer func() { budget.Release(held); held = 0 }()
		return visit(func(n int) error {
			n64 := min(int64(n), budget.Size()-held) // past the whole budget, the batch runs alone
			if n64 <= 0 {
				return nil
			}
			if !budget.TryAcquire(n64) {
				return errStepRefused
			}
			held += n64
			return nil
		})(h, src, maxOut, fn)
	})
	if !errors.Is(err, errStepRefused) {
		return err
	}
	if err := b.acquireWithin(ctx, budget, int64(limit), listOffsetsBudgetWait); err != nil {
		return err
	}
	defer budget.Release(int64(limit))
	return search(visit(nil))
}
