package log

import (
	"context"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// CheckpointRecoveryPoint moves the recovery point up to the durable
// offset when it lags behind it (Kafka's recovery-point checkpoint, every
// log.flush.offset.checkpoint.interval.ms): an fsync of the active
// segment alone makes its batches durable but leaves the recovery point
// where the last roll put it. After a crash, a restart then reads only the
// headers of the batches below the recovery point and checks the rest
// with their CRC, instead of checking the whole active segment. It writes
// the checkpoint file (two fsyncs) only when the point moves.
func (l *Log) CheckpointRecoveryPoint() error {
	l.syncIOMu.Lock()
	defer l.syncIOMu.Unlock()
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := l.offlineErr(); err != nil {
		return err
	}
	l.syncMu.Lock()
	durable := l.durable
	l.syncMu.Unlock()
	if durable <= l.recoveryPoint {
		return nil
	}
	if err := l.writeRecoveryPoint(durable); err != nil {
		return l.fail("write recovery point", err)
	}
	return nil
}

// VerifyUnchecked checks the CRC32C of the batches Open read header-only
// (below the recovery point in the active segment), through the read path,
// so a damaged one is reported as any read of it would be
// (Options.OnCorruption) and returned as a *CorruptionError. The owner
// runs it in the background after Open; a later call does nothing. After
// each read (up to 1 MiB) it rests rest times as long as that read and its
// check took, so that it takes at most 1/(1+rest) of the disk's time and of
// a core from the requests served beside it (a restart with gigabytes
// below its recovery points would otherwise read them all at full speed
// while clients wait).
func (l *Log) VerifyUnchecked(ctx context.Context, rest float64) error {
	l.mu.Lock()
	from, to := l.uncheckedFrom, l.uncheckedTo
	l.uncheckedFrom, l.uncheckedTo = 0, 0
	l.mu.Unlock()
	var buf []byte
	for off := max(from, l.LogStartOffset()); off < to; {
		if err := ctx.Err(); err != nil {
			return err
		}
		began := time.Now()
		b, err := l.read(buf, off, 1<<20, to)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return nil
		}
		last := int64(-1)
		_ = record.Batches(b, true, func(h record.Header, _ []byte) error {
			last = h.LastOffset()
			return nil
		})
		if last < off {
			return nil
		}
		off, buf = last+1, b[:0]
		if err := restFor(ctx, time.Duration(float64(time.Since(began))*rest)); err != nil {
			return err
		}
	}
	return nil
}

// restFor waits d, or until ctx ends.
func restFor(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
