package log

import (
	"bufio"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// Compaction is Kafka's log cleaner, for topics whose cleanup.policy
// includes compact. A pass:
//
//  1. Picks the cleanable range: closed segments wholly below the upper
//     bound the caller gives (the last stable offset, so nothing
//     uncommitted and no open transaction is touched) and below the
//     durable offset,
//     stopping at the first dirty segment younger than
//     min.compaction.lag.ms. The active segment is never cleaned. Bytes
//     after the last cleaned offset (cleaner-offset-checkpoint) are dirty;
//     the log is worth cleaning when dirty / (clean + dirty) exceeds
//     min.cleanable.dirty.ratio, when its oldest dirty record is older
//     than max.compaction.lag.ms (KIP-354), or when a delete horizon has
//     passed.
//  2. Builds the offset map: key -> last offset, over the dirty section
//     a batch at a time, stopping before the batch that finds MaxKeys
//     keys in it, even mid-segment; the cleaned-up-to offset is then that
//     batch's. Keys are hashed to 128 bits, as Kafka's map keeps MD5
//     hashes.
//  3. Rewrites the whole cleanable range, in groups of consecutive segments
//     that fit segment.bytes, the index size and 32-bit relative offsets.
//     A record stays if no later record has its key; a tombstone (null
//     value) also goes once its batch's delete horizon has passed. The
//     horizon is set, KIP-534 style, the first time a batch holding a
//     tombstone (or a transaction marker whose transaction is gone) is
//     cleaned: base timestamp = now + delete.retention.ms, with attribute
//     bit 6; record timestamp deltas are rebased, so record timestamps are
//     unchanged. Records without a key go, as in Kafka.
//     Rewritten batches keep their base offset, last offset delta, leader
//     epoch, producer fields and codec (records are recompressed with it);
//     records keep their offset deltas. A batch left with no records goes,
//     and so does one an earlier pass left empty, except the last batch of
//     each producer ID, kept empty so the producer's sequence and epoch
//     survive (Kafka's RETAIN_EMPTY). Aborted transactional data
//     goes; a transaction marker stays until no data of its transaction is
//     left and its delete horizon has passed. Aborted transactions are
//     read from the .txnindex files (a marker past the cleaned range
//     counts); a cleaned segment's .txnindex keeps the entries of the
//     ABORT markers it keeps while their data was still there to remove.
//     Each cleaned group ends at
//     the same offset as the original group (an empty batch of no
//     producer marks the end when the group's last batch went), so a swap
//     file always says which segments it replaces. Such a batch stays
//     while it ends its group and goes once the group merges with the
//     next, so they do not pile up.
//  4. Commits each group crash-safely: the output is written as
//     <base>.log.cleaned (+ .index.cleaned, .timeindex.cleaned,
//     .txnindex.cleaned) and
//     fsynced; the files are renamed to .swap and the directory fsynced
//     (the commit point); the old segments are deleted and the directory
//     fsynced; the .swap files are renamed to their final names and the
//     directory fsynced. Recovery deletes .cleaned files and completes
//     .swap files (see cleanDirectory).
//  5. Writes the cleaned-up-to offset and the earliest pending delete
//     horizon to cleaner-offset-checkpoint.

// ErrCleanAborted reports a cleaning pass given up because the log changed
// under it (truncated, segments deleted, closed). Nothing was lost; the next
// pass starts again.
var ErrCleanAborted = errors.New("log: cleaning aborted, the log changed")

const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// CleanOptions are the inputs of one cleaning pass.
type CleanOptions struct {
	// UpperBound: no record at or above it is cleaned, nor any segment
	// holding one. Pass the last stable offset, min(high watermark,
	// FirstUnstableOffset), so no uncommitted record and no open
	// transaction is touched.
	UpperBound int64
	// MaxKeys caps the offset map (log.cleaner.dedupe.buffer.size / 24, as
	// Kafka sizes its entries); 0 is no cap. The map takes whole batches:
	// it stops before the batch that finds it full, even mid-segment, and
	// holds at most MaxKeys keys plus those of one batch. A pass that
	// fills it cleans up to that batch, and the next pass goes on.
	MaxKeys int
	// Force cleans even when the log is not dirty enough.
	Force bool
}

// CleanStats describes a cleaning pass.
type CleanStats struct {
	Cleaned          bool  // something was cleaned
	FirstDirtyOffset int64 // where the dirty section began
	EndOffset        int64 // cleaned up to here (the new checkpoint)
	SegmentsBefore   int   // segments in the cleaned range before
	SegmentsAfter    int   // and after
	BytesBefore      int64
	BytesAfter       int64
	RecordsRead      int64
	RecordsKept      int64
	Took             time.Duration
}

// Cleanable says how dirty a compacted log is.
type Cleanable struct {
	Compacted              bool
	FirstDirtyOffset       int64
	FirstUncleanableOffset int64
	CleanBytes             int64
	DirtyBytes             int64
	Ratio                  float64 // dirty / (clean + dirty)
	ForcedByLag            bool    // max.compaction.lag.ms is exceeded
	HorizonDue             bool    // a delete horizon has passed
	// Eligible: the cleaner should clean the log now.
	Eligible bool
}

// cleanerState is guarded by Log.cleanMu.
type cleanerState struct {
	loaded      bool
	cleanedTo   int64 // first dirty offset
	nextHorizon int64 // earliest delete horizon still pending, -1 for none
	// openedEnd is the log end offset Open found. Every offset from it on
	// was appended since, so none of it is clean: a checkpoint above it (a
	// truncation into a gap left by cleaning, then a restart, which ends
	// the log at its last batch) comes down to it.
	openedEnd int64
}

// cleanRange is the cleanable part of the segment list.
type cleanRange struct {
	segs     []*segment // a copy of the segment list
	k        int        // segs[:k] can be cleaned
	dirtyIdx int        // segs[dirtyIdx:k] are dirty
}

func (l *Log) loadCleanerState() {
	if l.cleaner.loaded {
		return
	}
	l.cleaner = cleanerState{loaded: true, nextHorizon: -1, openedEnd: l.cleaner.openedEnd}
	b, err := ReadSmallFile(l.fs, filepath.Join(l.dir, cleanerCheckpointFile), 1<<10)
	if err != nil {
		if !errors.Is(err, errNoCheckpoint) {
			l.logger.Warn("ignoring cleaner checkpoint", "err", err)
		}
		return
	}
	to, horizon, err := parseCleanerCheckpoint(b)
	if err != nil {
		l.logger.Warn("ignoring cleaner checkpoint", "err", err)
		return
	}
	l.cleaner.cleanedTo, l.cleaner.nextHorizon = min(to, l.cleaner.openedEnd), horizon
}

// formatCleanerCheckpoint renders the per-partition cleaner checkpoint:
// version 0, the cleaned-up-to offset, the earliest pending delete horizon
// (-1 for none).
func formatCleanerCheckpoint(to, horizon int64) []byte {
	return []byte("0\n" + strconv.FormatInt(to, 10) + "\n" + strconv.FormatInt(horizon, 10) + "\n")
}

func parseCleanerCheckpoint(b []byte) (to, horizon int64, err error) {
	lines, err := checkpointLines(b, 3)
	if err != nil {
		return 0, 0, err
	}
	to, err1 := strconv.ParseInt(lines[1], 10, 64)
	horizon, err2 := strconv.ParseInt(lines[2], 10, 64)
	if err1 != nil || err2 != nil || to < 0 || horizon < -1 {
		return 0, 0, fmt.Errorf("bad cleaner checkpoint %q", b)
	}
	return to, horizon, nil
}

func (l *Log) cleanability(upper int64) Cleanable {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.mu.Lock()
	cfg, closed := l.cfg, l.closed
	l.mu.Unlock()
	if closed {
		return Cleanable{}
	}
	c, _ := l.cleanableLocked(cfg, upper, l.now().UnixMilli())
	return c
}

// cleanableLocked computes the cleanable range. The caller holds cleanMu.
func (l *Log) cleanableLocked(cfg Config, upper, now int64) (Cleanable, cleanRange) {
	l.loadCleanerState()
	l.segMu.RLock()
	segs := slices.Clone(l.segs)
	closed := l.filesClosed
	l.segMu.RUnlock()
	c := Cleanable{Compacted: cfg.CleanupPolicy.Compacts()}
	if closed || len(segs) == 0 {
		return c, cleanRange{}
	}
	l.mu.Lock()
	if l.truncGen != l.truncatedSeenAt {
		l.cleaner.cleanedTo = min(l.cleaner.cleanedTo, l.truncatedTo)
		l.truncatedSeenAt = l.truncGen
	}
	l.mu.Unlock()
	bound := min(upper, l.DurableOffset(), l.leo.Load())
	start := max(l.logStart.Load(), segs[0].base)
	firstDirty := max(l.cleaner.cleanedTo, start)
	if firstDirty > l.leo.Load() {
		firstDirty = start // truncated below the checkpoint
	}
	r := cleanRange{segs: segs, dirtyIdx: segmentFor(segs, firstDirty)}
	if segs[r.dirtyIdx].base < firstDirty && r.dirtyIdx+1 < len(segs) && segs[r.dirtyIdx+1].base <= firstDirty {
		r.dirtyIdx++
	}
	for r.k < len(segs)-1 && segs[r.k+1].base <= bound {
		if cfg.MinCompactionLagMs > 0 && r.k >= r.dirtyIdx && l.largestTimestamp(segs[r.k]) > now-cfg.MinCompactionLagMs {
			break
		}
		r.k++
	}
	r.dirtyIdx = min(r.dirtyIdx, r.k)
	for _, s := range segs[:r.dirtyIdx] {
		c.CleanBytes += s.size.Load()
	}
	for _, s := range segs[r.dirtyIdx:r.k] {
		c.DirtyBytes += s.size.Load()
	}
	c.FirstDirtyOffset = max(firstDirty, segs[r.dirtyIdx].base)
	c.FirstUncleanableOffset = segs[r.k].base
	if total := c.CleanBytes + c.DirtyBytes; total > 0 {
		c.Ratio = float64(c.DirtyBytes) / float64(total)
	}
	if cfg.MaxCompactionLagMs > 0 && c.DirtyBytes > 0 {
		if ts := l.firstBatchTimestamp(segs[r.dirtyIdx]); ts <= now-cfg.MaxCompactionLagMs {
			c.ForcedByLag = true
		}
	}
	c.HorizonDue = r.k > 0 && l.cleaner.nextHorizon >= 0 && l.cleaner.nextHorizon <= now
	c.Eligible = c.Compacted && ((c.DirtyBytes > 0 && (c.Ratio > cfg.MinCleanableDirtyRatio || c.ForcedByLag)) || c.HorizonDue)
	return c, r
}

// firstBatchTimestamp is the max timestamp of a segment's first batch (the
// earliest a segment's dirtiness can date from), or its largest timestamp
// when the first batch has none.
func (l *Log) firstBatchTimestamp(s *segment) int64 {
	buf := make([]byte, record.HeaderSize)
	if h, err := s.readHeaderAt(buf, 0, s.size.Load()); err == nil && h.MaxTimestamp >= 0 {
		return h.MaxTimestamp
	}
	return l.largestTimestamp(s)
}

// producerLast is what the cleaner needs of a producer's state: its epoch
// and the last offset of its last data batch (-1 when none).
type producerLast struct {
	epoch      int16
	lastOffset int64
}

// cleanPass is the state of one pass, carried across groups in offset order.
type cleanPass struct {
	l         *Log
	cfg       Config
	now       int64
	keys      *offsetMap
	mapped    bool  // a batch of the dirty section is in keys
	end       int64 // the first offset not mapped: batches from it stay as they are
	producers map[int64]producerLast
	txns      *txnTracker

	nextHorizon int64
	stats       CleanStats
}

func (l *Log) clean(opts CleanOptions) (CleanStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if l.cleanAbort.Load() {
		return CleanStats{}, ErrClosed
	}
	if err := l.offlineErr(); err != nil {
		return CleanStats{}, err
	}
	began := time.Now()
	l.mu.Lock()
	cfg, gen := l.cfg, l.truncGen
	producers := make(map[int64]producerLast, len(l.producers.byID))
	for id, e := range l.producers.byID {
		producers[id] = producerLast{epoch: e.epoch, lastOffset: e.public().LastOffset}
	}
	l.mu.Unlock()
	if !cfg.CleanupPolicy.Compacts() {
		return CleanStats{}, nil
	}
	now := l.now().UnixMilli()
	c, r := l.cleanableLocked(cfg, opts.UpperBound, now)
	if r.k == 0 || (!c.Eligible && !opts.Force) {
		return CleanStats{}, nil
	}
	p := &cleanPass{
		l: l, cfg: cfg, now: now, keys: newOffsetMap(), producers: producers, nextHorizon: -1,
		stats: CleanStats{FirstDirtyOffset: c.FirstDirtyOffset},
	}
	p.txns = newTxnTracker(r.segs, r.segs[0].base, r.segs[r.k].base)
	// The offset map over the dirty section. Once it holds MaxKeys keys it
	// takes no further batch, even mid-segment: the pass cleans the
	// segments up to the one where it stopped and moves the checkpoint to
	// the first offset not mapped. Records past it in that segment have
	// no later record in the map, so they all stay.
	end := r.segs[r.k].base
	for i := r.dirtyIdx; i < r.k; i++ {
		if l.cleanAbort.Load() {
			return CleanStats{}, ErrClosed
		}
		stop, err := p.addToMap(r.segs[i], c.FirstDirtyOffset, opts.MaxKeys)
		if err != nil {
			return CleanStats{}, err
		}
		if stop >= 0 {
			l.logger.Info("cleaner offset map full; cleaning part of the dirty section",
				"keys", p.keys.len(), "up_to", stop)
			end = stop
			if stop > r.segs[i].base {
				r.k = i + 1
			} else {
				r.k = i
			}
			break
		}
	}
	p.end = end
	for _, s := range r.segs[:r.k] {
		if err := s.ensureIndexes(); err != nil { // groupSegments counts entries
			return CleanStats{}, err
		}
	}
	next := 0 // index in r.segs of the segment after the group
	for _, g := range groupSegments(r.segs, r.k, cfg) {
		if l.cleanAbort.Load() {
			return CleanStats{}, ErrClosed
		}
		next += len(g)
		if err := p.cleanGroup(g, r.segs[next].base, gen); err != nil {
			return CleanStats{}, err
		}
	}
	// The checkpoint is written under swapMu, which every truncation
	// takes, so a truncation (which lowers it) cannot interleave; after
	// one during this pass the pass's end means nothing and the lowered
	// checkpoint stays. Appends do not wait for its fsyncs.
	l.swapMu.Lock()
	l.mu.Lock()
	truncated := l.truncGen != gen
	l.mu.Unlock()
	if truncated {
		l.swapMu.Unlock()
		return CleanStats{}, ErrCleanAborted
	}
	err := writeFileAtomic(l.fs, l.dir, cleanerCheckpointFile, formatCleanerCheckpoint(end, p.nextHorizon))
	l.swapMu.Unlock()
	if err != nil {
		return CleanStats{}, l.fail("write cleaner checkpoint", err)
	}
	l.cleaner.cleanedTo, l.cleaner.nextHorizon = end, p.nextHorizon
	p.stats.Cleaned, p.stats.EndOffset, p.stats.Took = true, end, time.Since(began)
	l.logger.Info("cleaned log", "first_dirty_offset", p.stats.FirstDirtyOffset, "end_offset", end,
		"segments_before", p.stats.SegmentsBefore, "segments_after", p.stats.SegmentsAfter,
		"bytes_before", p.stats.BytesBefore, "bytes_after", p.stats.BytesAfter,
		"records_read", p.stats.RecordsRead, "records_kept", p.stats.RecordsKept,
		"dirty_ratio", c.Ratio, "took", p.stats.Took)
	return p.stats, nil
}

// groupSegments splits segs[:k] into runs of consecutive segments that fit
// one segment: segment.bytes (and 2 GiB), segment.index.bytes for both
// indexes, and offsets within 32 bits of the run's base.
func groupSegments(segs []*segment, k int, cfg Config) [][]*segment {
	maxSize := min(cfg.SegmentBytes, math.MaxInt32)
	maxIndex := cfg.SegmentIndexBytes
	if maxIndex <= 0 {
		maxIndex = math.MaxInt32
	}
	var groups [][]*segment
	for i := 0; i < k; {
		j := i + 1
		size := segs[i].size.Load()
		offs := int64(segs[i].index.len()) * offsetEntrySize
		times := int64(segs[i].tindex.len()) * timeEntrySize
		for j < k {
			s := segs[j]
			if size+s.size.Load() > maxSize ||
				offs+int64(s.index.len())*offsetEntrySize > maxIndex ||
				times+int64(s.tindex.len())*timeEntrySize > maxIndex ||
				segs[j+1].base-1-segs[i].base > math.MaxInt32 {
				break
			}
			size += s.size.Load()
			offs += int64(s.index.len()) * offsetEntrySize
			times += int64(s.tindex.len()) * timeEntrySize
			j++
		}
		groups = append(groups, segs[i:j])
		i = j
	}
	return groups
}

// offsetMap maps record keys, hashed to 128 bits, to the last offset that
// carried them.
type offsetMap struct {
	seed1, seed2 maphash.Seed
	m            map[[2]uint64]int64
}

func newOffsetMap() *offsetMap {
	return &offsetMap{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(), m: map[[2]uint64]int64{}}
}

func (m *offsetMap) hash(key []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(m.seed1, key), maphash.Bytes(m.seed2, key)}
}

func (m *offsetMap) put(key []byte, offset int64) { m.m[m.hash(key)] = offset }

func (m *offsetMap) get(key []byte) (int64, bool) {
	off, ok := m.m[m.hash(key)]
	return off, ok
}

func (m *offsetMap) len() int { return len(m.m) }

// records decodes a batch's records, decompressing them first if needed.
func (l *Log) records(s *segment, pos int64, h *record.Header, batch []byte, fn func(record.Record) error) error {
	raw := batch[record.HeaderSize:]
	if h.Codec() != record.CodecNone {
		var err error
		if raw, err = l.recordCodecs().Decompress(h.Codec(), raw, maxDecompressedBatch); err != nil {
			return s.corruptAt(pos, err)
		}
	}
	if err := record.IterRecords(raw, h.RecordCount, fn); err != nil {
		if errors.Is(err, record.ErrCorrupt) {
			return s.corruptAt(pos, err)
		}
		return err
	}
	return nil
}

// scanSegmentBatches calls fn with every whole batch of a segment, checked
// (CRC and all) as recovery checks it.
func scanSegmentBatches(s *segment, fn func(pos int64, h record.Header, batch []byte) error) error {
	sc := newBatchScanner(s.log, 0, s.size.Load(), true)
	for sc.next() {
		if err := fn(sc.at, sc.h, sc.batch); err != nil {
			return err
		}
	}
	if sc.err != nil {
		return sc.err
	}
	if sc.bad != nil {
		return s.corruptAt(sc.pos, sc.bad)
	}
	return nil
}

// errMapFull stops addToMap's scan.
var errMapFull = errors.New("offset map full")

// addToMap maps the keys of s's records from offset from on, a batch at a
// time. With maxKeys > 0 it stops before a batch once the map holds
// maxKeys keys (a batch at or past from is always mapped first, so a
// pass always gets somewhere) and returns that batch's base offset, the
// first offset not mapped; otherwise it returns -1.
func (p *cleanPass) addToMap(s *segment, from int64, maxKeys int) (int64, error) {
	stop := int64(-1)
	err := scanSegmentBatches(s, func(pos int64, h record.Header, batch []byte) error {
		if h.LastOffset() < from {
			return nil
		}
		if maxKeys > 0 && p.keys.len() >= maxKeys && p.mapped {
			stop = max(h.BaseOffset, from)
			return errMapFull
		}
		p.mapped = true
		if h.IsControl() || (h.IsTransactional() && p.txns.isAborted(&h)) {
			return nil
		}
		return p.l.records(s, pos, &h, batch, func(r record.Record) error {
			if off := h.BaseOffset + int64(r.OffsetDelta); r.Key != nil && off >= from {
				p.keys.put(r.Key, off)
			}
			return nil
		})
	})
	if errors.Is(err, errMapFull) {
		return stop, nil
	}
	return -1, err
}

// txnTracker follows transactions through a pass in offset order, as
// Kafka's CleanedTransactionMetadata does: aborted transactional data goes,
// and a marker may go once no batch of its transaction is left. Which
// transactions were aborted comes from the aborted-transaction indexes, as
// in Kafka, so a transaction whose data is in the cleaned range and whose
// ABORT marker is past it is known too.
type txnTracker struct {
	aborted  map[int64][]abortedEntry // producer ID -> its aborted transactions, by marker offset
	byMarker map[int64]abortedEntry   // marker offset -> its aborted transaction

	seenAborted map[int64]bool // marker offsets of aborted transactions with data read in this pass
	ongoing     map[int64]bool // producers with committed-or-open data read since their last marker
}

// newTxnTracker collects from the indexes of segs the aborted transactions
// that may have data in [from, upTo).
func newTxnTracker(segs []*segment, from, upTo int64) *txnTracker {
	t := &txnTracker{
		aborted: map[int64][]abortedEntry{}, byMarker: map[int64]abortedEntry{},
		seenAborted: map[int64]bool{}, ongoing: map[int64]bool{},
	}
	for i := segmentFor(segs, from); i < len(segs); i++ {
		for _, e := range segs[i].txn.snapshot() {
			if e.lastOffset >= from && e.firstOffset < upTo {
				t.aborted[e.producerID] = append(t.aborted[e.producerID], e)
				t.byMarker[e.lastOffset] = e
			}
			if e.lso >= upTo {
				return t
			}
		}
	}
	return t
}

// abortedTxn returns the aborted transaction holding a data batch.
func (t *txnTracker) abortedTxn(h *record.Header) (abortedEntry, bool) {
	for _, e := range t.aborted[h.ProducerID] {
		if h.BaseOffset >= e.firstOffset && h.BaseOffset < e.lastOffset {
			return e, true
		}
	}
	return abortedEntry{}, false
}

func (t *txnTracker) isAborted(h *record.Header) bool {
	_, ok := t.abortedTxn(h)
	return ok
}

// onData notes a transactional data batch and reports whether it was
// aborted.
func (t *txnTracker) onData(h *record.Header) bool {
	if e, ok := t.abortedTxn(h); ok {
		t.seenAborted[e.lastOffset] = true
		return true
	}
	t.ongoing[h.ProducerID] = true
	return false
}

// onControl notes a marker and reports whether its transaction has no data
// left in the log (Kafka's canDiscardBatch for a control batch). Control
// records other than markers are never discardable.
func (t *txnTracker) onControl(h *record.Header, m *markerInfo) bool {
	if m == nil {
		return false
	}
	if !m.commit {
		if _, ok := t.byMarker[h.BaseOffset]; ok {
			return !t.seenAborted[h.BaseOffset]
		}
		return true // an ABORT of a transaction with no data
	}
	had := t.ongoing[h.ProducerID]
	delete(t.ongoing, h.ProducerID)
	return !had
}

// lastOfProducer reports whether a batch must stay, possibly empty, to keep
// its producer's state: it holds the producer's last data, or it is the
// last marker of a producer with no data in its current epoch.
func (p *cleanPass) lastOfProducer(h *record.Header) bool {
	st, ok := p.producers[h.ProducerID]
	if !ok || !h.HasProducerID() {
		return false
	}
	if st.lastOffset >= 0 {
		return h.LastOffset() == st.lastOffset
	}
	return h.IsControl() && h.ProducerEpoch == st.epoch
}

// filterBatch decides what becomes of one batch: the bytes to write (nil
// to drop it) and whether they differ from the original.
func (p *cleanPass) filterBatch(s *segment, pos int64, h record.Header, batch []byte) ([]byte, bool, error) {
	discardable, aborted := false, false
	switch {
	case h.IsControl():
		m, err := p.l.markerOf(batch, &h)
		if err != nil {
			return nil, false, s.corruptAt(pos, err)
		}
		discardable = p.txns.onControl(&h, m)
	case h.IsTransactional() && h.HasProducerID():
		aborted = p.txns.onData(&h)
	}
	horizonPassed := h.HasDeleteHorizon() && h.DeleteHorizon() <= p.now
	discardRecords := aborted || (h.IsControl() && discardable && horizonPassed)

	var kept []record.Record
	total, tombstones := 0, false
	err := p.l.records(s, pos, &h, batch, func(r record.Record) error {
		total++
		off := h.BaseOffset + int64(r.OffsetDelta)
		keep := !discardRecords
		if keep && !h.IsControl() {
			latest, found := int64(-1), false
			if r.Key != nil {
				latest, found = p.keys.get(r.Key)
			}
			keep = r.Key != nil && (!found || off >= latest) && (r.Value != nil || !horizonPassed)
		}
		if keep {
			if r.Value == nil && !h.IsControl() {
				tombstones = true
			}
			r.Headers = slices.Clone(r.Headers)
			kept = append(kept, r)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	p.stats.RecordsRead += int64(total)
	p.stats.RecordsKept += int64(len(kept))
	needHorizon := !h.HasDeleteHorizon() && (tombstones || (h.IsControl() && discardable && len(kept) > 0))
	if h.HasDeleteHorizon() && len(kept) > 0 && (tombstones || h.IsControl()) {
		p.noteHorizon(h.DeleteHorizon())
	}
	// As Kafka's RETAIN_EMPTY and DELETE_EMPTY: a batch with no records
	// (an earlier pass emptied it) stays only while it holds its
	// producer's last sequence.
	if len(kept) == total && !needHorizon && (total > 0 || p.lastOfProducer(&h)) {
		return batch, false, nil
	}
	o := record.BuildOptions{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		BaseTimestamp:        h.BaseTimestamp,
		Codec:                h.Codec(),
		Codecs:               p.l.recordCodecs(),
		Transactional:        h.IsTransactional(),
		Control:              h.IsControl(),
		Producer:             &record.Producer{ID: h.ProducerID, Epoch: h.ProducerEpoch, BaseSequence: h.BaseSequence},
		LastOffsetDelta:      h.LastOffsetDelta,
		LogAppendTime:        h.LogAppendTime(),
		MaxTimestamp:         h.MaxTimestamp,
		DeleteHorizon:        h.HasDeleteHorizon(),
	}
	if len(kept) == 0 {
		if !p.lastOfProducer(&h) {
			return nil, true, nil
		}
		// Kafka's empty batch: no records, no base timestamp.
		o.AllowEmpty, o.BaseTimestamp, o.DeleteHorizon = true, -1, false
		b, err := record.Build(o, nil)
		return b, true, err
	}
	if needHorizon {
		horizon := p.now + p.cfg.DeleteRetentionMs
		o.BaseTimestamp, o.DeleteHorizon = horizon, true
		for i := range kept {
			kept[i].TimestampDelta += h.BaseTimestamp - horizon
		}
		p.noteHorizon(horizon)
	}
	b, err := record.Build(o, kept)
	return b, true, err
}

func (p *cleanPass) noteHorizon(h int64) {
	if p.nextHorizon < 0 || h < p.nextHorizon {
		p.nextHorizon = h
	}
}

// cleanGroup rewrites one group of segments into one and swaps it in. end
// is the base offset of the segment after the group.
func (p *cleanPass) cleanGroup(g []*segment, end, gen int64) error {
	l := p.l
	base := g[0].base
	sizes := make([]int64, len(g))
	var before int64
	for i, s := range g {
		sizes[i] = s.size.Load()
		before += sizes[i]
	}
	out, err := createSegment(l.files, l.fs, l.dir, base, cleanedSuffix)
	if err != nil {
		return fmt.Errorf("create cleaned segment: %w", err)
	}
	discard := func(err error) error {
		out.closeFiles()
		for _, path := range []string{out.path, out.index.path(), out.tindex.path(), out.txn.filePath()} {
			if rerr := l.fs.Remove(path); rerr != nil && !isNotExist(rerr) && err == nil {
				err = rerr
			}
		}
		return err
	}
	w := bufio.NewWriterSize(io.NewOffsetWriter(out.log, 0), 1<<20)
	var (
		pos       int64
		changed   bool
		aborted   []abortedEntry // index entries of the ABORT markers kept
		next      = int64(-1)    // the original group's next offset
		written   = int64(-1)    // the cleaned group's next offset
		lastEpoch int32
		lastTs    = int64(-1)
	)
	emit := func(b []byte) error {
		h, err := record.ParseHeader(b)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write %s: %w", out.path, err)
		}
		out.observe(&h, pos, p.cfg.IndexIntervalBytes)
		pos += int64(len(b))
		written = h.LastOffset() + 1
		return nil
	}
	for _, s := range g {
		err := scanSegmentBatches(s, func(at int64, h record.Header, batch []byte) error {
			next, lastEpoch, lastTs = h.LastOffset()+1, h.PartitionLeaderEpoch, h.MaxTimestamp
			if h.BaseOffset >= p.end {
				// Past the last mapped offset, as Kafka's pastLatestOffset:
				// the map knows nothing later, so no record goes, not even
				// a tombstone past its horizon, and an ABORT marker keeps
				// its index entry.
				if h.HasDeleteHorizon() {
					p.noteHorizon(h.DeleteHorizon())
				}
				if e, ok := p.txns.byMarker[h.BaseOffset]; ok && h.IsControl() {
					aborted = append(aborted, e)
				}
				return emit(batch)
			}
			if isEndOfGroup(&h) && next == end {
				// The end-of-group batch of an earlier pass still ends
				// the group: it stays as it is. Anywhere else (its group
				// merged with the next) it goes, as any empty batch of no
				// producer.
				return emit(batch)
			}
			b, ch, err := p.filterBatch(s, at, h, batch)
			if err != nil {
				return err
			}
			changed = changed || ch
			if b == nil {
				return nil
			}
			// As Kafka: a kept ABORT marker keeps its index entry while
			// data of its transaction was still there to remove in this
			// pass; once none is left, consumers need no entry.
			if e, ok := p.txns.byMarker[h.BaseOffset]; ok && h.IsControl() && p.txns.seenAborted[h.BaseOffset] {
				aborted = append(aborted, e)
			}
			return emit(b)
		})
		if err != nil {
			return discard(err)
		}
	}
	if next > written && next > base {
		// The group's last batch went: an empty batch keeps its last
		// offset, so the cleaned segment ends where the group did and a
		// swap left by a crash names exactly the segments it replaces.
		b, err := record.Build(record.BuildOptions{
			BaseOffset: next - 1, PartitionLeaderEpoch: lastEpoch, BaseTimestamp: -1,
			MaxTimestamp: lastTs, AllowEmpty: true, Producer: &record.Producer{ID: -1, Epoch: -1, BaseSequence: -1},
		}, nil)
		if err == nil {
			err = emit(b)
		}
		if err != nil {
			return discard(err)
		}
	}
	if !changed && len(g) == 1 {
		p.stats.BytesBefore += before
		p.stats.BytesAfter += before
		p.stats.SegmentsBefore++
		p.stats.SegmentsAfter++
		return discard(nil)
	}
	if err := w.Flush(); err != nil {
		return discard(fmt.Errorf("write %s: %w", out.path, err))
	}
	out.size.Store(pos)
	if err := out.seal(); err != nil {
		return discard(err)
	}
	// Always written, even empty: after a crash, a .log.swap without a
	// .txnindex.swap means the index was already renamed into place.
	if err := out.txn.writeAll(l.fs, aborted); err != nil {
		return discard(err)
	}
	if err := out.syncAll(); err != nil {
		return discard(err)
	}
	if err := l.swapIn(g, sizes, out, gen); err != nil {
		if errors.Is(err, ErrCleanAborted) {
			return discard(err)
		}
		return err
	}
	p.stats.BytesBefore += before
	p.stats.BytesAfter += pos
	p.stats.SegmentsBefore += len(g)
	p.stats.SegmentsAfter++
	return nil
}

// isEndOfGroup reports whether a batch is one cleanGroup writes to end a
// group whose last batch went: no records, no producer, not a marker.
func isEndOfGroup(h *record.Header) bool {
	return h.RecordCount == 0 && !h.HasProducerID() && !h.IsControl()
}

// swapIn replaces the segments of g with out, crash-safely. Until the
// .swap files are durable the old segments stand; after, recovery
// completes the swap.
//
// It holds swapMu throughout, so no truncation or retention changes the
// segments of g meanwhile (relocation and Close wait for cleanMu, which
// the pass holds), but mu and syncIOMu only for the moments it checks and
// changes the segment list: appends, rolls and fsyncs go on across its
// three directory fsyncs, which a slow disk can stretch to seconds. l.dir
// is stable while cleanMu is held.
func (l *Log) swapIn(g []*segment, sizes []int64, out *segment, gen int64) error {
	l.swapMu.Lock()
	defer l.swapMu.Unlock()
	end, err := l.swappable(g, sizes, gen)
	if err != nil {
		return err
	}
	if err := l.dropSnapshotsBelow(end); err != nil {
		return fmt.Errorf("%w: %v", ErrCleanAborted, err)
	}
	base := out.base
	// The .log is renamed last: a .log.swap commits the rest (see
	// completeSwaps). The directory is fsynced before it, so that no
	// filesystem makes the .log's new name durable without the index
	// files' (a .txnindex left behind would lose aborted transactions).
	cleaned := []string{out.index.path(), out.tindex.path(), out.txn.filePath(), out.path}
	swapped := []string{
		filepath.Join(l.dir, fileName(base, indexSuffix+swapSuffix)),
		filepath.Join(l.dir, fileName(base, timeIndexSuffix+swapSuffix)),
		filepath.Join(l.dir, fileName(base, txnIndexSuffix+swapSuffix)),
		filepath.Join(l.dir, fileName(base, logSuffix+swapSuffix)),
	}
	handles := []func(string){out.index.file.setPath, out.tindex.file.setPath, out.txn.setPath, out.log.setPath}
	for i := range cleaned {
		if i == len(cleaned)-1 {
			if err := l.fs.SyncDir(l.dir); err != nil {
				out.closeFiles()
				return l.fail("fsync directory", err)
			}
		}
		if err := l.fs.Rename(cleaned[i], swapped[i]); err != nil {
			// Nothing is committed yet: the .cleaned and .swap index files
			// are leftovers recovery removes.
			return fmt.Errorf("%w: rename %s: %v", ErrCleanAborted, cleaned[i], err)
		}
		handles[i](swapped[i]) // out's files may be reopened by name
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		// The log goes offline; out never joined it, so its files are
		// closed here (recovery settles the .swap files).
		out.closeFiles()
		return l.fail("fsync directory", err)
	}
	// Committed: from here on a crash completes the swap.
	l.installCleaned(g, out)
	for _, s := range g {
		for _, path := range []string{s.path, s.index.path(), s.tindex.path(), s.txn.filePath()} {
			if err := l.fs.Remove(path); err != nil && !isNotExist(err) {
				return l.fail("delete cleaned-away segment", err)
			}
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail("fsync directory", err)
	}
	final := []string{
		filepath.Join(l.dir, fileName(base, indexSuffix)),
		filepath.Join(l.dir, fileName(base, timeIndexSuffix)),
		filepath.Join(l.dir, fileName(base, txnIndexSuffix)),
		filepath.Join(l.dir, fileName(base, logSuffix)),
	}
	// Readers wait while a name changes: a file of out that the cache
	// closed is reopened by name. As above, the .log goes last, after a
	// directory fsync (with segMu free: appends go on meanwhile).
	rename := func(from, to int) error {
		l.segMu.Lock()
		defer l.segMu.Unlock()
		for i := from; i < to; i++ {
			if err := l.fs.Rename(swapped[i], final[i]); err != nil {
				return err
			}
			handles[i](final[i])
			if i == len(final)-1 {
				out.path = final[i]
			}
		}
		return nil
	}
	if err := rename(0, len(final)-1); err != nil {
		return l.fail("complete segment swap", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail("fsync directory", err)
	}
	if err := rename(len(final)-1, len(final)); err != nil {
		return l.fail("complete segment swap", err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail("fsync directory", err)
	}
	return nil
}

// swappable checks that g still stands in the log as the pass read it: no
// truncation since, the same segments with the same sizes, none of them
// active. It returns the offset where g ends (the next segment's base).
// The caller holds swapMu.
func (l *Log) swappable(g []*segment, sizes []int64, gen int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCleanAborted, err)
	}
	idx := slices.Index(l.segs, g[0])
	if l.truncGen != gen || idx < 0 || idx+len(g) >= len(l.segs) {
		return 0, ErrCleanAborted
	}
	for i, s := range g {
		if l.segs[idx+i] != s || s.size.Load() != sizes[i] || s == l.active {
			return 0, ErrCleanAborted
		}
	}
	return l.segs[idx+len(g)].base, nil
}

// dropSnapshotsBelow removes the producer snapshots below end, where a
// group of segments being cleaned ends, that name a transaction open. The
// cleaner may remove such a transaction's data and marker (a marker goes
// once none of its transaction's data is left, delete.retention.ms after):
// a producer state rebuilt from the snapshot (recovery, truncation) would
// replay no marker and keep the transaction open for good, holding the
// last stable offset there. Kafka's cleaner deletes the snapshots of the
// segments it replaces; snapshots with no open transaction stay here, for
// the truncations that replay from them, as the cleaned log has every
// producer's last batch. One that does not decode goes too. The removals become durable
// with swapIn's directory fsync before the swap commits (not the log's
// next sync: an append would wait for it). The caller holds swapMu.
func (l *Log) dropSnapshotsBelow(end int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.snapshots[:0]
	for i, off := range l.snapshots {
		if off >= end {
			kept = append(kept, l.snapshots[i:]...)
			break
		}
		path := filepath.Join(l.dir, fileName(off, snapshotSuffix))
		if b, err := ReadSmallFile(l.fs, path, maxSnapshotBytes); err == nil {
			if ps, err := decodeSnapshot(b); err == nil && !ps.anyOpen() {
				kept = append(kept, off)
				continue
			}
		}
		if err := l.fs.Remove(path); err != nil && !isNotExist(err) {
			kept = append(kept, l.snapshots[i:]...)
			l.snapshots = kept
			return fmt.Errorf("remove %s: %w", path, err)
		}
	}
	l.snapshots = kept
	return nil
}

// installCleaned puts out in the place of g in the segment list and closes
// the files of g (syncIOMu: no fsync runs on them). The caller holds
// swapMu, so g is where swappable found it.
func (l *Log) installCleaned(g []*segment, out *segment) {
	l.syncIOMu.Lock()
	defer l.syncIOMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := slices.Index(l.segs, g[0])
	l.segMu.Lock()
	segs := make([]*segment, 0, len(l.segs)-len(g)+1)
	segs = append(segs, l.segs[:idx]...)
	segs = append(segs, out)
	segs = append(segs, l.segs[idx+len(g):]...)
	l.segs = segs
	l.segMu.Unlock()
	l.pendingRolled = slices.DeleteFunc(l.pendingRolled, func(s *segment) bool { return slices.Contains(g, s) })
	for _, s := range g {
		s.closeFiles()
		s.closed = true
	}
}
