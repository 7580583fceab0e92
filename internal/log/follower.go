package log

import (
	"errors"
	"fmt"

	"github.com/sluice-io/sluice/internal/record"
)

// Replication: a follower copies the leader's batches as they are, with the
// leader's offsets and partition leader epochs (Kafka's appendAsFollower),
// and a new leader records where its epoch starts before it appends
// anything, so OffsetForLeaderEpoch answers followers right away (KIP-101).

// ErrUnexpectedAppendOffset is a follower append whose first batch starts
// below the log end offset: the follower's log and the leader's disagree,
// and the follower must truncate again.
var ErrUnexpectedAppendOffset = errors.New("log: follower batch starts below the log end offset")

// AssignEpoch records that leader epoch epoch starts at startOffset (a new
// leader calls it with its log end offset). An epoch not newer than the
// latest known one changes nothing.
func (l *Log) AssignEpoch(epoch int32, startOffset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if !l.epochs.assign(epoch, startOffset) {
		return nil
	}
	if l.leo.Load() == l.logStart.Load() {
		// An empty log (a partition just created) has nothing the
		// entry must be durable with yet: the log's next fsync writes
		// the checkpoint (syncOnce), which keeps creating many
		// partitions from costing two fsyncs each. A crash before then
		// loses only an epoch no record carries; recovery learns every
		// epoch a record carries from the batches it scans.
		l.epochUnsaved = true
		return nil
	}
	if err := l.writeEpochCheckpoint(); err != nil {
		return l.fail("write leader epoch checkpoint", err)
	}
	return nil
}

// LatestEpoch is the newest leader epoch in the leader-epoch cache, or -1
// when the cache is empty.
func (l *Log) LatestEpoch() int32 { return l.epochs.latest() }

// AppendAsFollower appends batches copied from the leader: whole v2
// batches, back to back, each with a valid CRC. Offsets and partition
// leader epochs are kept byte for byte; the first batch must start at or
// after the log end offset (a gap is what compaction on the leader leaves),
// and each later one after the previous one. The leader-epoch cache learns
// every new epoch, producer state is updated without sequence, epoch or
// transaction checks (the leader made them), and the indexes are
// maintained as for Append. Transaction markers (control batches) close
// their producer's transaction as AppendMarker does, and an ABORT adds
// its entry to the aborted-transaction index. Batches
// before a bad one stay appended; the error says which one failed.
func (l *Log) AppendAsFollower(batches []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	for len(batches) > 0 {
		h, err := record.ParseHeader(batches)
		if err != nil {
			return fmt.Errorf("follower append to %s: %w", l.dir, err)
		}
		n := h.Size()
		if n > len(batches) {
			return fmt.Errorf("follower append to %s: %w: batch of %d bytes, %d left", l.dir, record.ErrTruncated, n, len(batches))
		}
		batch := batches[:n]
		if h, err = record.Validate(batch); err != nil {
			return fmt.Errorf("follower append to %s at offset %d: %w", l.dir, h.BaseOffset, err)
		}
		m, err := l.markerOf(batch, &h)
		if err != nil {
			return fmt.Errorf("follower append to %s at offset %d: %w", l.dir, h.BaseOffset, err)
		}
		if err := l.appendFollowerBatch(batch, &h, m); err != nil {
			return err
		}
		batches = batches[n:]
	}
	return nil
}

// appendFollowerBatch writes one validated batch at its own offsets. The
// caller holds mu.
func (l *Log) appendFollowerBatch(batch []byte, h *record.Header, m *markerInfo) error {
	if leo := l.leo.Load(); h.BaseOffset < leo {
		return fmt.Errorf("%w: %s: batch [%d, %d], log end offset %d", ErrUnexpectedAppendOffset, l.dir, h.BaseOffset, h.LastOffset(), leo)
	}
	now := l.now()
	if l.shouldRoll(h, now) || (l.active.size.Load() > 0 && !l.active.fits(h.BaseOffset, h.LastOffsetDelta, h.Size())) {
		if err := l.roll(); err != nil {
			return err
		}
	}
	seg := l.active
	if err := l.bear(seg); err != nil {
		return err
	}
	pos := seg.size.Load()
	if _, err := seg.log.WriteAt(batch, pos); err != nil {
		return l.fail("append to "+seg.path, err)
	}
	if pos == 0 {
		seg.firstAppend = now
		l.firstInLoneSegment()
	}
	seg.observe(h, pos, l.cfg.IndexIntervalBytes)
	seg.size.Store(pos + int64(len(batch)))
	l.wrote(seg, pos, len(batch))
	if err := l.applyBatch(seg, h, m); err != nil {
		return err
	}
	if h.IsTransactional() && h.ProducerID >= 0 {
		l.endVerification(h) // a replicated marker takes a guard back too
	}
	l.leo.Store(h.LastOffset() + 1)

	if l.unflushedSince.IsZero() {
		l.unflushedSince = l.mono()
	}
	if l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset) {
		if err := l.writeEpochCheckpoint(); err != nil {
			return l.fail("write leader epoch checkpoint", err)
		}
	}
	return nil
}
