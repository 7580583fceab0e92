package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"sort"

	"github.com/sluice-io/sluice/internal/record"
)

// Producer state is what makes idempotent produce work (KIP-98): for every
// producer ID the log keeps the producer's epoch and its last five batches,
// so a retried batch is recognised and answered with its original offsets,
// and a gap or a zombie producer is refused. It is rebuilt on Open from the
// newest snapshot at or below the log end offset plus the batch headers
// after it.

// maxProducerBatches is how many recent batches are kept per producer, as
// in Kafka (the producer has at most five requests in flight).
const maxProducerBatches = 5

// batchMetadata remembers one appended batch of a producer.
type batchMetadata struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	maxTimestamp            int64
	appendTime              int64 // LogAppendTime, or -1
}

// producerEntry is the state of one producer ID.
type producerEntry struct {
	epoch   int16
	batches []batchMetadata // oldest first, at most maxProducerBatches
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastSeq
}

// producerStates maps producer IDs to their state. The log's mutex guards it.
type producerStates map[int64]*producerEntry

// check decides whether a batch may be appended (Kafka's
// ProducerStateManager). A repeat of one of the producer's last batches
// returns that batch's metadata with ErrDuplicateSequence.
func (ps producerStates) check(h *record.Header) (batchMetadata, error) {
	if h.ProducerID < 0 || h.BaseSequence < 0 {
		return batchMetadata{}, nil // not idempotent
	}
	e := ps[h.ProducerID]
	if e == nil {
		// No state: a new producer, or one whose state retention removed.
		// Any sequence is accepted, as Kafka does.
		return batchMetadata{}, nil
	}
	first, last := h.BaseSequence, h.LastSequence()
	if h.ProducerEpoch == e.epoch {
		for _, b := range e.batches {
			if b.firstSeq == first && b.lastSeq == last {
				return b, ErrDuplicateSequence
			}
		}
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return batchMetadata{}, fmt.Errorf("%w: producer %d has epoch %d, batch has %d",
			ErrInvalidProducerEpoch, h.ProducerID, e.epoch, h.ProducerEpoch)
	case h.ProducerEpoch > e.epoch:
		if first != 0 {
			return batchMetadata{}, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, not %d",
				ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, first)
		}
	default:
		if !inSequence(e.lastSeq(), first) {
			return batchMetadata{}, fmt.Errorf("%w: producer %d epoch %d expected sequence %d, got %d",
				ErrOutOfOrderSequence, h.ProducerID, e.epoch, nextSeq(e.lastSeq()), first)
		}
	}
	return batchMetadata{}, nil
}

// inSequence reports whether next follows last, wrapping at MaxInt32.
func inSequence(last, next int32) bool { return next == nextSeq(last) }

func nextSeq(last int32) int32 {
	if last == math.MaxInt32 {
		return 0
	}
	return last + 1
}

// update records an appended batch; h.BaseOffset must be its assigned base
// offset. Batches without a producer ID change nothing; a batch without a
// sequence (a transaction marker) only moves the producer to a newer epoch.
func (ps producerStates) update(h *record.Header) {
	if h.ProducerID < 0 {
		return
	}
	e := ps[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch}
		ps[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.epoch {
		if h.ProducerEpoch < e.epoch && h.BaseSequence < 0 {
			return
		}
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	if h.BaseSequence < 0 {
		return
	}
	appendTime := int64(-1)
	if h.LogAppendTime() {
		appendTime = h.MaxTimestamp
	}
	if len(e.batches) == maxProducerBatches {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:maxProducerBatches-1]
	}
	e.batches = append(e.batches, batchMetadata{
		firstSeq:     h.BaseSequence,
		lastSeq:      h.LastSequence(),
		firstOffset:  h.BaseOffset,
		lastOffset:   h.LastOffset(),
		maxTimestamp: h.MaxTimestamp,
		appendTime:   appendTime,
	})
}

// ProducerState is what the log knows about one producer ID.
type ProducerState struct {
	Epoch        int16
	LastSequence int32 // -1 when no batch of this epoch is remembered
	LastOffset   int64 // -1 when no batch of this epoch is remembered
}

func (e *producerEntry) public() ProducerState {
	s := ProducerState{Epoch: e.epoch, LastSequence: -1, LastOffset: -1}
	if n := len(e.batches); n > 0 {
		s.LastSequence = e.batches[n-1].lastSeq
		s.LastOffset = e.batches[n-1].lastOffset
	}
	return s
}

// Snapshot file format, all big-endian. The CRC32C covers every byte after
// the CRC field, so a torn or half-written snapshot is detected and skipped.
//
//	offset  size  field
//	0       2     version (1)
//	2       4     crc32c of the rest
//	6       4     producer count
//	10      ...   producers, each:
//	                producerId int64, epoch int16, batch count uint8,
//	                then per batch: firstSeq int32, lastSeq int32,
//	                firstOffset int64, lastOffset int64,
//	                maxTimestamp int64, appendTime int64
const (
	snapshotVersion     = 1
	snapshotHeaderSize  = 10
	snapshotEntryHeader = 11
	snapshotBatchSize   = 40
	snapshotSuffix      = ".snapshot"
)

var errBadSnapshot = errors.New("bad producer snapshot")

// encodeSnapshot serialises the producer states, ordered by producer ID so
// equal states give equal bytes.
func (ps producerStates) encodeSnapshot() []byte {
	ids := make([]int64, 0, len(ps))
	size := snapshotHeaderSize
	for id, e := range ps {
		ids = append(ids, id)
		size += snapshotEntryHeader + len(e.batches)*snapshotBatchSize
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := make([]byte, snapshotHeaderSize, size)
	binary.BigEndian.PutUint16(b[0:], snapshotVersion)
	binary.BigEndian.PutUint32(b[6:], uint32(len(ids)))
	for _, id := range ids {
		e := ps[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = append(b, byte(len(e.batches)))
		for _, m := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.maxTimestamp))
			b = binary.BigEndian.AppendUint64(b, uint64(m.appendTime))
		}
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// decodeSnapshot parses a snapshot, checking its CRC and every count
// against the bytes that remain before allocating.
func decodeSnapshot(b []byte) (producerStates, error) {
	if len(b) < snapshotHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes", errBadSnapshot, len(b))
	}
	if v := binary.BigEndian.Uint16(b); v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", errBadSnapshot, v)
	}
	if want, got := binary.BigEndian.Uint32(b[2:]), crc32.Checksum(b[6:], castagnoli); want != got {
		return nil, fmt.Errorf("%w: crc32c %08x, file says %08x", errBadSnapshot, got, want)
	}
	n := binary.BigEndian.Uint32(b[6:])
	rest := b[snapshotHeaderSize:]
	if uint64(n) > uint64(len(rest)/snapshotEntryHeader) {
		return nil, fmt.Errorf("%w: %d producers in %d bytes", errBadSnapshot, n, len(rest))
	}
	ps := make(producerStates, n)
	var prev int64
	for i := uint32(0); i < n; i++ {
		if len(rest) < snapshotEntryHeader {
			return nil, fmt.Errorf("%w: truncated producer %d", errBadSnapshot, i)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		e := &producerEntry{epoch: int16(binary.BigEndian.Uint16(rest[8:]))}
		k := int(rest[10])
		rest = rest[snapshotEntryHeader:]
		if id < 0 || k > maxProducerBatches || len(rest) < k*snapshotBatchSize {
			return nil, fmt.Errorf("%w: producer %d with %d batches", errBadSnapshot, id, k)
		}
		if i > 0 && id <= prev {
			return nil, fmt.Errorf("%w: producer %d after %d", errBadSnapshot, id, prev)
		}
		prev = id
		for j := 0; j < k; j++ {
			e.batches = append(e.batches, batchMetadata{
				firstSeq:     int32(binary.BigEndian.Uint32(rest[0:])),
				lastSeq:      int32(binary.BigEndian.Uint32(rest[4:])),
				firstOffset:  int64(binary.BigEndian.Uint64(rest[8:])),
				lastOffset:   int64(binary.BigEndian.Uint64(rest[16:])),
				maxTimestamp: int64(binary.BigEndian.Uint64(rest[24:])),
				appendTime:   int64(binary.BigEndian.Uint64(rest[32:])),
			})
			rest = rest[snapshotBatchSize:]
		}
		ps[id] = e
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadSnapshot, len(rest))
	}
	return ps, nil
}
