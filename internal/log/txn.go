package log

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// Transactions in the log (KIP-98). Producer state (producer_state.go)
// tracks each producer's open transaction: a transactional data batch opens
// one when none is open, and a marker (a control batch whose one record's
// key is a COMMIT or ABORT type and whose value holds the coordinator
// epoch) closes it. Every path that writes batches applies them the same
// way (applyBatch): Append, AppendMarker, AppendAsFollower, and the replay
// of recovery and truncation. An ABORT that closes a transaction adds an
// entry to the .txnindex of the segment it is written to (txnindex.go).
//
// The first unstable offset is the first offset of the oldest transaction
// that is open, or closed by a marker the high watermark has not passed
// yet (Kafka's unreplicated transactions: the partition tells the log of
// its high watermark, HighWatermarkMoved); read_committed consumers read
// below min(it, high watermark) and skip the aborted transactions
// AbortedTransactions lists. So the last stable offset moves with the high
// watermark, never past a marker a new leader may not have.

// markerOf reads the marker of a control batch with a producer ID: nil for
// any other batch, and for control records that are not COMMIT or ABORT.
func (l *Log) markerOf(batch []byte, h *record.Header) (*markerInfo, error) {
	if !h.IsControl() || !h.HasProducerID() {
		return nil, nil
	}
	raw := batch[record.HeaderSize:]
	if h.Codec() != record.CodecNone {
		var err error
		if raw, err = l.recordCodecs().Decompress(h.Codec(), raw, maxDecompressedBatch); err != nil {
			return nil, fmt.Errorf("control batch at offset %d: %w", h.BaseOffset, err)
		}
	}
	var (
		m     *markerInfo
		first = true
	)
	err := record.IterRecords(raw, h.RecordCount, func(r record.Record) error {
		if !first {
			return nil
		}
		first = false
		ct, err := record.ParseControlKey(r.Key)
		if err != nil {
			return err
		}
		if ct != record.ControlAbort && ct != record.ControlCommit {
			return nil
		}
		// The value is Kafka's EndTxnMarker: version int16, coordinator
		// epoch int32.
		if len(r.Value) < 6 {
			return fmt.Errorf("%w: transaction marker value of %d bytes", record.ErrCorrupt, len(r.Value))
		}
		m = &markerInfo{commit: ct == record.ControlCommit, coordinatorEpoch: int32(binary.BigEndian.Uint32(r.Value[2:]))}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("control batch at offset %d: %w", h.BaseOffset, err)
	}
	return m, nil
}

// applyBatch updates producer state for a batch just written to seg (with
// its assigned offsets) and, when it is an ABORT marker that closed a
// transaction, records the transaction in seg's aborted-transaction index.
// The caller holds mu and moves the log end offset only after, so that a
// reader never sees a newly opened transaction's records as stable, nor an
// aborted transaction's records stable without its index entry.
func (l *Log) applyBatch(seg *segment, h *record.Header, m *markerInfo) error {
	had := len(l.producers.byID)
	done, ok := l.producers.apply(h, m)
	if had == 0 && len(l.producers.byID) > 0 {
		l.retentionDue() // a producer ID that will expire
	}
	if ok {
		l.closedTxn(done)
	}
	if ok && done.aborted {
		if err := l.indexAbort(seg, done); err != nil {
			return l.fail("write aborted-transaction index", err)
		}
	}
	l.publishUnstable()
	return nil
}

// indexAbort appends an aborted transaction to seg's .txnindex, with the
// last stable offset right after the abort: the oldest transaction still
// open, or the offset after the marker. The caller holds mu.
func (l *Log) indexAbort(seg *segment, done completedTxn) error {
	lso := l.producers.firstOpen()
	if lso < 0 {
		lso = done.lastOffset + 1
	}
	created, err := seg.txn.append(l.fs, abortedEntry{
		producerID: done.producerID, firstOffset: done.firstOffset, lastOffset: done.lastOffset, lso: lso,
	})
	if created {
		l.dirDirty = true // the next fsync makes the new file's name durable
	}
	return err
}

// publishUnstable publishes the first unstable offset after the producer
// state changed. The caller holds mu.
func (l *Log) publishUnstable() {
	l.txnMu.Lock()
	defer l.txnMu.Unlock()
	l.openFirst = l.producers.firstOpen()
	l.storeUnstableLocked()
}

// storeUnstableLocked publishes the first unstable offset from the oldest
// open transaction (openFirst) and the unreplicated closed ones. The
// caller holds txnMu.
func (l *Log) storeUnstableLocked() {
	u := l.openFirst
	if f := l.unreplicated.first(); f >= 0 && (u < 0 || f < u) {
		u = f
	}
	l.unstable.Store(u)
	l.oldestMarker.Store(l.unreplicated.oldestMarker())
}

// closedTxn records a transaction its marker just closed as unreplicated.
// The caller holds mu.
func (l *Log) closedTxn(done completedTxn) {
	l.txnMu.Lock()
	defer l.txnMu.Unlock()
	l.unreplicated.push(unreplicatedTxn{first: done.firstOffset, marker: done.lastOffset})
}

// resetUnreplicated forgets the unreplicated transactions: the producer
// state is rebuilt, and its replay records them again. The caller holds
// mu.
func (l *Log) resetUnreplicated() {
	l.txnMu.Lock()
	defer l.txnMu.Unlock()
	l.unreplicated = unreplicatedTxns{}
}

// highWatermarkMoved tells the log its partition's high watermark: the
// transactions whose marker is below it stop holding the first unstable
// offset back (Kafka's onHighWatermarkUpdated), and retention deletes no
// segment reaching past it. Without such a transaction it takes no lock,
// and with one only txnMu, a leaf: the partition calls it holding its own
// locks, which must not wait for a roll's fsyncs.
func (l *Log) highWatermarkMoved(hw int64) {
	l.hw.Store(hw)
	if m := l.oldestMarker.Load(); m < 0 || m >= hw {
		return
	}
	l.txnMu.Lock()
	defer l.txnMu.Unlock()
	l.unreplicated.dropBelow(hw)
	l.storeUnstableLocked()
}

// unreplicatedTxns are the transactions closed by a marker the high
// watermark has not passed yet, in marker order, with the oldest first
// offset among them at hand: mins holds, in marker order, each entry no
// later entry has a lower first offset than, so mins[0] has the lowest.
type unreplicatedTxns struct {
	byMarker []unreplicatedTxn
	mins     []unreplicatedTxn
}

// unreplicatedTxn is a closed transaction: its first offset and its
// marker's offset.
type unreplicatedTxn struct{ first, marker int64 }

func (u *unreplicatedTxns) push(t unreplicatedTxn) {
	u.byMarker = append(u.byMarker, t)
	for len(u.mins) > 0 && u.mins[len(u.mins)-1].first >= t.first {
		u.mins = u.mins[:len(u.mins)-1]
	}
	u.mins = append(u.mins, t)
}

// dropBelow forgets the transactions whose marker is below hw.
func (u *unreplicatedTxns) dropBelow(hw int64) {
	n := 0
	for ; n < len(u.byMarker) && u.byMarker[n].marker < hw; n++ {
		if len(u.mins) > 0 && u.mins[0] == u.byMarker[n] {
			u.mins = u.mins[1:]
		}
	}
	u.byMarker = u.byMarker[n:]
	if len(u.byMarker) == 0 {
		*u = unreplicatedTxns{} // let the old backing arrays go
	}
}

// first is the lowest first offset of the transactions, -1 for none.
func (u *unreplicatedTxns) first() int64 {
	if len(u.mins) == 0 {
		return -1
	}
	return u.mins[0].first
}

// oldestMarker is the lowest marker offset of the transactions, -1 for
// none.
func (u *unreplicatedTxns) oldestMarker() int64 {
	if len(u.byMarker) == 0 {
		return -1
	}
	return u.byMarker[0].marker
}

func (l *Log) appendMarker(m Marker, leaderEpoch int32) (AppendInfo, error) {
	if m.ProducerID < 0 {
		return AppendInfo{}, fmt.Errorf("log: append marker to %s: producer ID %d", l.Dir(), m.ProducerID)
	}
	ct := record.ControlAbort
	if m.Commit {
		ct = record.ControlCommit
	}
	value := make([]byte, 6) // EndTxnMarker version 0, then the coordinator epoch
	binary.BigEndian.PutUint32(value[2:], uint32(m.CoordinatorEpoch))
	batch, err := record.Build(record.BuildOptions{
		BaseTimestamp: m.Timestamp,
		Codecs:        l.recordCodecs(),
		Transactional: true,
		Control:       true,
		Producer:      &record.Producer{ID: m.ProducerID, Epoch: m.ProducerEpoch, BaseSequence: -1},
	}, []record.Record{{Key: record.ControlKey(ct), Value: value}})
	if err != nil {
		return AppendInfo{}, fmt.Errorf("log: append marker to %s: %w", l.Dir(), err)
	}
	h, err := record.ParseHeader(batch)
	if err != nil {
		return AppendInfo{}, fmt.Errorf("log: append marker to %s: %w", l.Dir(), err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(batch, h, leaderEpoch, &markerInfo{commit: m.Commit, coordinatorEpoch: m.CoordinatorEpoch}, nil)
}

func (l *Log) firstUnstableOffset() int64 {
	// The log end offset first: a transaction is published as open before
	// the log end offset passes its first batch.
	leo := l.leo.Load()
	if u := l.unstable.Load(); u >= 0 && u < leo {
		// A transaction whose start retention or DeleteRecords removed
		// holds the log at its start offset, as in Kafka.
		return max(u, l.logStart.Load())
	}
	return leo
}

// abortedTransactions looks at the segments from the one holding from
// onwards: an entry sits in the segment of its marker, and a marker at or
// after from is in that segment or a later one. It stops at the first
// entry whose last stable offset is at or past upTo: every transaction
// aborted after it began at or after that offset (Kafka's
// collectAbortedTransactions).
func (l *Log) abortedTransactions(from, upTo int64) ([]AbortedTxn, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.filesClosed {
		return nil, ErrClosed
	}
	if err := l.offlineErr(); err != nil {
		return nil, err
	}
	var out []AbortedTxn
	for i := segmentFor(l.segs, from); i < len(l.segs); i++ {
		var complete bool
		out, complete = l.segs[i].txn.collect(from, upTo, out)
		if complete {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FirstOffset < out[j].FirstOffset })
	return out, nil
}

func (l *Log) producerInfos() []ProducerInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ProducerInfo, 0, len(l.producers.byID))
	for id, e := range l.producers.byID {
		out = append(out, ProducerInfo{
			ProducerID:       id,
			Epoch:            e.epoch,
			LastSequence:     e.lastSeq(),
			LastTimestamp:    e.lastTimestamp,
			CoordinatorEpoch: e.coordinatorEpoch,
			TxnStartOffset:   e.txnFirst,
		})
	}
	slices.SortFunc(out, func(a, b ProducerInfo) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}

// expireProducers follows Kafka's rule: a producer expires when it has no
// open transaction and now - lastTimestamp >= maxAge. The snapshot written
// at the next roll or Close no longer holds it.
func (l *Log) expireProducers(now time.Time, maxAge time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	cutoff := now.UnixMilli() - maxAge.Milliseconds()
	l.expireVerifications(now.Add(-maxAge))
	n := 0
	for id, e := range l.producers.byID {
		if e.txnFirst < 0 && e.lastTimestamp <= cutoff {
			l.producers.remove(id)
			n++
		}
	}
	return n
}
