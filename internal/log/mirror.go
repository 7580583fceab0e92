package log

import (
	"errors"
	"fmt"

	"github.com/sluice-io/sluice/internal/record"
)

// Mirroring between clusters: a mirror topic's leader appends the batches
// it copied from another cluster's partition at their own offsets, the way
// a follower appends its leader's batches, so that every record keeps its
// source offset, timestamp, producer ID and transaction markers.

// ErrMirrorOverlap is a mirrored batch that starts below the log end offset
// and ends at or past it: the mirror topic and its source disagree about
// where batches begin, and nothing of the batch is appended.
var ErrMirrorOverlap = errors.New("log: mirrored batch overlaps the log end offset")

// AppendMirrored appends batches copied from a partition of another
// cluster: whole v2 batches, back to back, each with a valid CRC, kept
// byte for byte except their partition leader epoch, which becomes
// leaderEpoch (the source's epochs mean nothing to this cluster's leader
// epoch cache, and the field is outside the CRC). A batch that ends below
// the log end offset is skipped: an earlier attempt of the mirror appended
// it already, so a retried copy is stored once. The first batch kept may
// start past the log end offset (the source's gap, from compaction or
// transactions); a batch that starts below the log end offset and ends at
// or past it is ErrMirrorOverlap. Producer state, transaction markers and
// the aborted-transaction index are maintained as AppendAsFollower does.
// The returned AppendInfo spans what was appended; with nothing new,
// BaseOffset and LastOffset are -1. The batches slice is modified in place.
func (l *Log) AppendMirrored(batches []byte, leaderEpoch int32) (AppendInfo, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	info := AppendInfo{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1}
	if err := l.writable(); err != nil {
		return info, err
	}
	for len(batches) > 0 {
		h, err := record.ParseHeader(batches)
		if err != nil {
			return info, fmt.Errorf("mirror append to %s: %w", l.dir, err)
		}
		n := h.Size()
		if n > len(batches) {
			return info, fmt.Errorf("mirror append to %s: %w: batch of %d bytes, %d left", l.dir, record.ErrTruncated, n, len(batches))
		}
		batch := batches[:n]
		batches = batches[n:]
		leo := l.leo.Load()
		if h.LastOffset() < leo {
			continue
		}
		if h.BaseOffset < leo {
			return info, fmt.Errorf("%w: %s: batch [%d, %d], log end offset %d", ErrMirrorOverlap, l.dir, h.BaseOffset, h.LastOffset(), leo)
		}
		record.SetPartitionLeaderEpoch(batch, leaderEpoch)
		if h, err = record.Validate(batch); err != nil {
			return info, fmt.Errorf("mirror append to %s at offset %d: %w", l.dir, h.BaseOffset, err)
		}
		m, err := l.markerOf(batch, &h)
		if err != nil {
			return info, fmt.Errorf("mirror append to %s at offset %d: %w", l.dir, h.BaseOffset, err)
		}
		if err := l.appendFollowerBatch(batch, &h, m); err != nil {
			return info, err
		}
		if info.BaseOffset < 0 {
			info.BaseOffset = h.BaseOffset
		}
		info.LastOffset = h.LastOffset()
	}
	info.LogStartOffset = l.logStart.Load()
	return info, nil
}
