package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
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
	// coordinatorEpoch is that of the last marker written for the
	// producer, -1 when none.
	coordinatorEpoch int32
	// txnFirst is the first offset of the producer's open transaction, -1
	// when none is open.
	txnFirst int64
	// lastTimestamp is the max timestamp of the producer's last batch
	// (data or marker), -1 when none is known; producer expiry counts from
	// it.
	lastTimestamp int64
}

func newProducerEntry(epoch int16) *producerEntry {
	return &producerEntry{epoch: epoch, coordinatorEpoch: -1, txnFirst: -1, lastTimestamp: -1}
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastSeq
}

// openTxn is an open transaction: its producer and first offset.
type openTxn struct{ producerID, first int64 }

// producerStates is the state of every producer, and the open
// transactions. The log's mutex guards it.
//
// Transactions open in offset order (a transaction opens at the batch
// being appended, at the log end), so open is sorted by first offset by
// construction; a closed transaction stays in it until it reaches the
// front, where firstOpen drops it. The oldest open transaction is thus
// found in amortised constant time.
type producerStates struct {
	byID  map[int64]*producerEntry
	open  []openTxn
	nOpen int // transactions in open that are still open
}

func newProducerStates() producerStates {
	return producerStates{byID: map[int64]*producerEntry{}}
}

// markerInfo is what the log reads from a transaction marker's control
// record.
type markerInfo struct {
	commit           bool
	coordinatorEpoch int32
}

// completedTxn is a transaction a marker closed.
type completedTxn struct {
	producerID  int64
	firstOffset int64
	lastOffset  int64 // the marker's offset
	aborted     bool
}

// check decides whether a batch may be appended by the leader (Kafka's
// ProducerAppendInfo): a repeat of one of the producer's last batches
// returns that batch's metadata with ErrDuplicateSequence. m is set for a
// transaction marker. Batches without a sequence (markers, the group
// coordinator's transactional offset commits) skip the sequence checks;
// the epoch checks apply to every batch with a producer ID.
func (ps *producerStates) check(h *record.Header, m *markerInfo) (batchMetadata, error) {
	if h.ProducerID < 0 {
		return batchMetadata{}, nil // not idempotent
	}
	e := ps.byID[h.ProducerID]
	if e == nil {
		// No state: a new producer, or one whose state retention or
		// expiry removed. Any sequence is accepted, as Kafka does.
		return batchMetadata{}, nil
	}
	if h.ProducerEpoch < e.epoch {
		return batchMetadata{}, fmt.Errorf("%w: producer %d has epoch %d, batch has %d",
			ErrInvalidProducerEpoch, h.ProducerID, e.epoch, h.ProducerEpoch)
	}
	if m != nil {
		if m.coordinatorEpoch < e.coordinatorEpoch {
			return batchMetadata{}, fmt.Errorf("%w: producer %d: marker from coordinator epoch %d, %d was seen",
				ErrTxnCoordinatorFenced, h.ProducerID, m.coordinatorEpoch, e.coordinatorEpoch)
		}
		return batchMetadata{}, nil
	}
	if h.BaseSequence >= 0 {
		first, last := h.BaseSequence, h.LastSequence()
		if h.ProducerEpoch == e.epoch {
			for _, b := range e.batches {
				if b.firstSeq == first && b.lastSeq == last {
					return b, ErrDuplicateSequence
				}
			}
		}
		switch {
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
	}
	if e.txnFirst >= 0 {
		switch {
		case !h.IsTransactional():
			return batchMetadata{}, fmt.Errorf("%w: producer %d sent a non-transactional batch while its transaction from offset %d is open",
				ErrInvalidTxnState, h.ProducerID, e.txnFirst)
		case h.ProducerEpoch > e.epoch:
			// The coordinator aborts a transaction before it gives the
			// producer a new epoch; data of the new epoch must not join
			// the old transaction (Kafka would fold it in).
			return batchMetadata{}, fmt.Errorf("%w: producer %d epoch %d wrote while its epoch %d transaction from offset %d is open",
				ErrInvalidTxnState, h.ProducerID, h.ProducerEpoch, e.epoch, e.txnFirst)
		}
	}
	return batchMetadata{}, nil
}

// apply records an appended batch; h.BaseOffset must be its assigned base
// offset and m is set for a transaction marker. Every path that writes
// batches (leader appends, markers, followers, recovery's replay) applies
// them here, without checks: a follower takes what its leader wrote. A
// marker closes the producer's open transaction, which it returns (ok is
// false when none was open).
func (ps *producerStates) apply(h *record.Header, m *markerInfo) (done completedTxn, ok bool) {
	if h.ProducerID < 0 {
		return completedTxn{}, false
	}
	e := ps.byID[h.ProducerID]
	if e == nil {
		e = newProducerEntry(h.ProducerEpoch)
		ps.byID[h.ProducerID] = e
	}
	e.lastTimestamp = h.MaxTimestamp
	if m != nil {
		if h.ProducerEpoch > e.epoch {
			e.epoch = h.ProducerEpoch
			e.batches = e.batches[:0]
		}
		e.coordinatorEpoch = max(e.coordinatorEpoch, m.coordinatorEpoch)
		if e.txnFirst < 0 {
			return completedTxn{}, false
		}
		done = completedTxn{producerID: h.ProducerID, firstOffset: e.txnFirst, lastOffset: h.BaseOffset, aborted: !m.commit}
		e.txnFirst = -1
		ps.closed()
		return done, true
	}
	if h.ProducerEpoch != e.epoch && (h.ProducerEpoch > e.epoch || h.BaseSequence >= 0) {
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	if h.IsTransactional() && e.txnFirst < 0 {
		e.txnFirst = h.BaseOffset
		ps.open = append(ps.open, openTxn{producerID: h.ProducerID, first: h.BaseOffset})
		ps.nOpen++
	}
	if h.BaseSequence < 0 {
		return completedTxn{}, false
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
	return completedTxn{}, false
}

// closed notes that a transaction closed. Closed transactions behind a
// long-open one would pile up in open, so it is compacted once they
// outnumber the open ones.
func (ps *producerStates) closed() {
	ps.nOpen--
	if len(ps.open) <= 2*ps.nOpen+64 {
		return
	}
	ps.open = slices.DeleteFunc(ps.open, func(t openTxn) bool {
		e := ps.byID[t.producerID]
		return e == nil || e.txnFirst != t.first
	})
}

// remove forgets a producer that has no open transaction.
func (ps *producerStates) remove(id int64) { delete(ps.byID, id) }

// firstOpen is the first offset of the oldest open transaction, or -1.
func (ps *producerStates) firstOpen() int64 {
	for len(ps.open) > 0 {
		t := ps.open[0]
		if e := ps.byID[t.producerID]; e != nil && e.txnFirst == t.first {
			return t.first
		}
		ps.open[0] = openTxn{}
		ps.open = ps.open[1:]
	}
	ps.open = nil // let the old backing array go
	return -1
}

// openAt reports whether producer id has a transaction open at epoch.
func (ps *producerStates) openAt(id int64, epoch int16) bool {
	e := ps.byID[id]
	return e != nil && e.txnFirst >= 0 && e.epoch == epoch
}

// anyOpen reports whether a producer has a transaction open.
func (ps *producerStates) anyOpen() bool {
	for _, e := range ps.byID {
		if e.txnFirst >= 0 {
			return true
		}
	}
	return false
}

// rebuildOpen recomputes the open-transaction queue from the entries
// (after a snapshot is loaded).
func (ps *producerStates) rebuildOpen() {
	ps.open = ps.open[:0]
	for id, e := range ps.byID {
		if e.txnFirst >= 0 {
			ps.open = append(ps.open, openTxn{producerID: id, first: e.txnFirst})
		}
	}
	ps.nOpen = len(ps.open)
	sort.Slice(ps.open, func(i, j int) bool { return ps.open[i].first < ps.open[j].first })
}

// inSequence reports whether next follows last, wrapping at MaxInt32.
func inSequence(last, next int32) bool { return next == nextSeq(last) }

func nextSeq(last int32) int32 {
	if last == math.MaxInt32 {
		return 0
	}
	return last + 1
}

// ProducerState is what the log knows about one producer ID.
type ProducerState struct {
	Epoch        int16
	LastSequence int32 // -1 when no batch of this epoch is remembered
	LastOffset   int64 // -1 when no batch of this epoch is remembered
	// TxnFirstOffset is the first offset of the producer's open
	// transaction, -1 when none is open.
	TxnFirstOffset int64
}

func (e *producerEntry) public() ProducerState {
	s := ProducerState{Epoch: e.epoch, LastSequence: -1, LastOffset: -1, TxnFirstOffset: e.txnFirst}
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
//	0       2     version (2; version 1 is still read)
//	2       4     crc32c of the rest
//	6       4     producer count
//	10      ...   producers, ascending by ID, each:
//	                producerId int64, epoch int16,
//	                (version 2) coordinatorEpoch int32, txnFirstOffset int64,
//	                lastTimestamp int64,
//	                batch count uint8,
//	                then per batch: firstSeq int32, lastSeq int32,
//	                firstOffset int64, lastOffset int64,
//	                maxTimestamp int64, appendTime int64
//
// Version 1 has no transaction fields: its producers load with no open
// transaction, no coordinator epoch, and the last batch's timestamp.
const (
	snapshotVersion       = 2
	snapshotHeaderSize    = 10
	snapshotEntryHeaderV1 = 11
	snapshotEntryHeader   = 31
	snapshotBatchSize     = 40
	snapshotSuffix        = ".snapshot"
)

var errBadSnapshot = errors.New("bad producer snapshot")

// encodeSnapshot serialises the producer states, ordered by producer ID so
// equal states give equal bytes.
func (ps *producerStates) encodeSnapshot() []byte {
	ids := make([]int64, 0, len(ps.byID))
	size := snapshotHeaderSize
	for id, e := range ps.byID {
		ids = append(ids, id)
		size += snapshotEntryHeader + len(e.batches)*snapshotBatchSize
	}
	slices.Sort(ids)
	b := make([]byte, snapshotHeaderSize, size)
	binary.BigEndian.PutUint16(b[0:], snapshotVersion)
	binary.BigEndian.PutUint32(b[6:], uint32(len(ids)))
	for _, id := range ids {
		e := ps.byID[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordinatorEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirst))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTimestamp))
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

// decodeSnapshot parses a snapshot of version 1 or 2, checking its CRC and
// every count against the bytes that remain before allocating.
func decodeSnapshot(b []byte) (producerStates, error) {
	if len(b) < snapshotHeaderSize {
		return producerStates{}, fmt.Errorf("%w: %d bytes", errBadSnapshot, len(b))
	}
	v := binary.BigEndian.Uint16(b)
	entryHeader := snapshotEntryHeader
	switch v {
	case 1:
		entryHeader = snapshotEntryHeaderV1
	case snapshotVersion:
	default:
		return producerStates{}, fmt.Errorf("%w: version %d", errBadSnapshot, v)
	}
	if want, got := binary.BigEndian.Uint32(b[2:]), crc32.Checksum(b[6:], castagnoli); want != got {
		return producerStates{}, fmt.Errorf("%w: crc32c %08x, file says %08x", errBadSnapshot, got, want)
	}
	n := binary.BigEndian.Uint32(b[6:])
	rest := b[snapshotHeaderSize:]
	if uint64(n) > uint64(len(rest)/entryHeader) {
		return producerStates{}, fmt.Errorf("%w: %d producers in %d bytes", errBadSnapshot, n, len(rest))
	}
	ps := producerStates{byID: make(map[int64]*producerEntry, n)}
	var prev int64
	for i := uint32(0); i < n; i++ {
		if len(rest) < entryHeader {
			return producerStates{}, fmt.Errorf("%w: truncated producer %d", errBadSnapshot, i)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		e := newProducerEntry(int16(binary.BigEndian.Uint16(rest[8:])))
		if v >= 2 {
			e.coordinatorEpoch = int32(binary.BigEndian.Uint32(rest[10:]))
			e.txnFirst = int64(binary.BigEndian.Uint64(rest[14:]))
			e.lastTimestamp = int64(binary.BigEndian.Uint64(rest[22:]))
		}
		k := int(rest[entryHeader-1])
		rest = rest[entryHeader:]
		if id < 0 || k > maxProducerBatches || len(rest) < k*snapshotBatchSize || e.txnFirst < -1 {
			return producerStates{}, fmt.Errorf("%w: producer %d with %d batches", errBadSnapshot, id, k)
		}
		if i > 0 && id <= prev {
			return producerStates{}, fmt.Errorf("%w: producer %d after %d", errBadSnapshot, id, prev)
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
		if v == 1 && k > 0 {
			e.lastTimestamp = e.batches[k-1].maxTimestamp
		}
		ps.byID[id] = e
	}
	if len(rest) != 0 {
		return producerStates{}, fmt.Errorf("%w: %d trailing bytes", errBadSnapshot, len(rest))
	}
	ps.rebuildOpen()
	return ps, nil
}
