package log

import (
	"errors"
	"fmt"

	"github.com/sluice-io/sluice/internal/record"
)

// Timestamp lookups answer ListOffsets by time. The time index narrows the
// search to a segment and a position; the batch headers' max timestamps
// pick the batch; the records inside it (decompressed when needed) give the
// exact offset. Batches stamped with LogAppendTime carry one timestamp for
// all their records, the batch's max timestamp.

// maxDecompressedBatch caps the decompressed size of one batch when its
// records are decoded for a timestamp lookup.
const maxDecompressedBatch = 256 << 20

var errStopIteration = errors.New("stop")

// RecordVisitor visits the records of one compressed batch for a timestamp
// lookup: src is the batch's record section and limit the most it may
// decompress to (record.Codecs.CheckCompressed's contract), so the caller
// can bound the memory decompression takes (the broker's decompression
// budget). Its errors other than record.ErrCorrupt and record.ErrInvalid
// are returned as they are, not as corruption.
type RecordVisitor func(h record.Header, src []byte, limit int, fn func(record.Record) error) error

func (l *Log) recordCodecs() *record.Codecs {
	l.codecsOnce.Do(func() {
		if l.codecs == nil {
			l.codecs = record.NewCodecs()
		}
	})
	return l.codecs
}

// readable checks that reads may proceed. The caller holds segMu.
func (l *Log) readable() error {
	if l.filesClosed {
		return ErrClosed
	}
	return l.offlineErr()
}

func (l *Log) offsetForTimestamp(ts int64, visit RecordVisitor) (int64, int64, bool, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if err := l.readable(); err != nil {
		return 0, 0, false, err
	}
	start := l.logStart.Load()
	buf := make([]byte, record.HeaderSize)
	for _, s := range l.segs {
		if err := s.ensureIndexes(); err != nil {
			return 0, 0, false, err
		}
		if maxTs, _ := s.maxTimestamp(); maxTs < ts {
			continue
		}
		// Every record up to a time index entry older than ts is older
		// than ts: the answer lies after it.
		from := s.base
		if e, ok, err := lookupTime(s.tindex, ts); err != nil {
			return 0, 0, false, err
		} else if ok {
			from = s.base + int64(e.rel) + 1
		}
		from = max(from, start)
		end := s.size.Load()
		pos, _, found, err := s.find(buf, from, end)
		if err != nil {
			return 0, 0, false, err
		}
		if !found {
			continue
		}
		sc := newBatchScanner(s.log, pos, end, false)
		for sc.next() {
			h := sc.h
			if h.MaxTimestamp < ts || h.LastOffset() < from {
				continue
			}
			off, rts, ok, err := l.firstRecordAtOrAfter(s, sc.at, &h, from, func(rts int64) bool { return rts >= ts }, visit)
			if err != nil {
				return 0, 0, false, err
			}
			if ok {
				return off, rts, true, nil
			}
		}
		if sc.err != nil {
			return 0, 0, false, sc.err
		}
		if sc.bad != nil {
			return 0, 0, false, s.corruptAt(sc.pos, sc.bad)
		}
	}
	return 0, 0, false, nil
}

// firstRecordAtOrAfter returns the first record of the batch at pos with
// offset at least from whose timestamp satisfies match, decompressing it
// through visit when set.
func (l *Log) firstRecordAtOrAfter(s *segment, pos int64, h *record.Header, from int64, match func(int64) bool, visit RecordVisitor) (int64, int64, bool, error) {
	if h.LogAppendTime() {
		if !match(h.MaxTimestamp) {
			return 0, 0, false, nil
		}
		return max(h.BaseOffset, from), h.MaxTimestamp, true, nil
	}
	batch := make([]byte, h.Size())
	if _, err := s.log.ReadAt(batch, pos); err != nil {
		return 0, 0, false, fmt.Errorf("read %s at %d: %w", s.path, pos, err)
	}
	raw := batch[record.HeaderSize:]
	var off, rts int64
	found := false
	visitRecord := func(r record.Record) error {
		o, t := h.BaseOffset+int64(r.OffsetDelta), h.BaseTimestamp+r.TimestampDelta
		if o >= from && match(t) {
			off, rts, found = o, t, true
			return errStopIteration
		}
		return nil
	}
	if visit != nil && h.Codec() != record.CodecNone {
		err := visit(*h, raw, maxDecompressedBatch, visitRecord)
		switch {
		case err == nil, errors.Is(err, errStopIteration):
			return off, rts, found, nil
		case errors.Is(err, record.ErrCorrupt), errors.Is(err, record.ErrInvalid):
			return 0, 0, false, s.corruptAt(pos, err)
		default:
			return 0, 0, false, err
		}
	}
	if h.Codec() != record.CodecNone {
		var err error
		if raw, err = l.recordCodecs().Decompress(h.Codec(), raw, maxDecompressedBatch); err != nil {
			return 0, 0, false, s.corruptAt(pos, err)
		}
	}
	err := record.IterRecords(raw, h.RecordCount, visitRecord)
	if err != nil && !errors.Is(err, errStopIteration) {
		return 0, 0, false, s.corruptAt(pos, err)
	}
	return off, rts, found, nil
}

func (l *Log) maxTimestamp(visit RecordVisitor) (int64, int64, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if err := l.readable(); err != nil {
		return 0, 0, err
	}
	var best *segment
	bestTs, bestOff := int64(-1), int64(-1)
	for _, s := range l.segs {
		if err := s.ensureIndexes(); err != nil {
			return 0, 0, err
		}
		if ts, off := s.maxTimestamp(); ts > bestTs {
			best, bestTs, bestOff = s, ts, off
		}
	}
	if best == nil {
		return -1, -1, nil
	}
	// The segment remembers the last offset of the first batch that
	// carried the largest timestamp; the exact record is inside it.
	buf := make([]byte, record.HeaderSize)
	end := best.size.Load()
	pos, h, found, err := best.find(buf, bestOff, end)
	if err != nil {
		return 0, 0, err
	}
	if !found || h.MaxTimestamp != bestTs {
		return bestTs, bestOff, nil
	}
	off, _, ok, err := l.firstRecordAtOrAfter(best, pos, &h, h.BaseOffset, func(ts int64) bool { return ts == bestTs }, visit)
	if err != nil || !ok {
		return bestTs, bestOff, err
	}
	return bestTs, off, nil
}
