package log

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// maxSnapshotBytes bounds what is read of a producer snapshot.
const maxSnapshotBytes = 256 << 20

func open(dir string, cfg Config, opts Options) (*Log, error) {
	l := newLog(dir, cfg, opts)
	fresh := false
	if _, err := l.fs.Stat(dir); isNotExist(err) {
		// An empty log has nothing to make durable: its first write
		// makes the directory (dir.go).
		fresh = true
		l.dirPending.Store(true)
	}
	if err := l.recover(fresh); err != nil {
		for _, s := range l.segs {
			s.closeFiles()
		}
		return nil, fmt.Errorf("log: open %s: %w", dir, err)
	}
	l.cleaner.openedEnd = l.leo.Load()
	return l, nil
}

// scanResult is what scanning a segment found.
type scanResult struct {
	next    int64 // the offset after the last good batch
	firstTs int64 // max timestamp of the first batch, -1 if none
	badPos  int64 // where the first bad or partial batch starts
	bad     error // why it is bad; nil when the whole segment is good
}

// recover brings the directory to a consistent state and loads it:
//
//  1. Leftovers of interrupted operations go: temp files, .deleted and
//     .cleaned files, index files without a segment; a .log.swap file
//     replaces the segments whose base offsets lie in its offset range.
//  2. Segments from the one holding the recovery point on (always at
//     least the last) are scanned batch by batch with every length
//     bounded by the file and every CRC checked, and their indexes are
//     rebuilt. The first bad or partial batch is a torn write: the segment
//     is cut there and later segments are deleted. Below the recovery
//     point everything was fsynced, so a bad batch there is corruption
//     and Open fails.
//  3. Older segments keep their indexes when these check out; a missing or
//     inconsistent one is rebuilt from the segment.
//  4. The leader-epoch cache loses entries at or past the log end offset
//     and learns epochs seen in the scanned batches; producer state is
//     loaded from the newest good snapshot at or below the log end offset
//     and the batch headers after it.
//  5. When recovery repaired anything (cut a tail, removed files), what it
//     touched is fsynced and the recovery point is moved to the log end
//     offset. Otherwise nothing is fsynced: the scanned tail (often still
//     in the page cache after a process crash) and the segments whose
//     indexes were rebuilt are fsynced by the log's first fsync, which
//     then moves the recovery point, and until then the durable offset
//     stays at the recovery point.
//
// Open reads no index of a segment below the recovery point whose index
// files are there: the first use checks them (ensureIndexes).
func (l *Log) recover(fresh bool) error {
	began := time.Now()
	var (
		bases, snapshots []int64
		indexed          map[int64]bool
		rp               int64
		ckStart          int64 = -1
		err              error
	)
	if !fresh { // a new directory has no files to read
		if bases, snapshots, indexed, err = l.cleanDirectory(); err != nil {
			return err
		}
		if rp, ckStart, err = l.readCheckpoints(); err != nil {
			return err
		}
	}
	l.snapshots = snapshots
	for _, base := range bases {
		s, err := openSegment(l.files, l.fs, l.dir, base)
		if err != nil {
			return err
		}
		if s.txnDropped > 0 {
			l.logger.Warn("truncated a torn aborted-transaction index",
				"file", s.txn.filePath(), "dropped_bytes", s.txnDropped)
		}
		l.segs = append(l.segs, s)
	}
	rec, err := l.recoverSegments(rp, indexed)
	if err != nil {
		return err
	}

	var leo int64
	if len(l.segs) == 0 {
		base := max(ckStart, 0)
		if err := l.startEmptyAt(base, &rec); err != nil {
			return err
		}
		leo = base
	} else {
		leo = rec.last.next
	}
	logStart := max(l.segs[0].base, ckStart)
	if logStart > leo {
		// DeleteRecords moved the start past data that a crash then lost.
		l.logger.Warn("log start offset is past the recovered log end; starting empty there",
			"log_start_offset", logStart, "log_end_offset", leo)
		for _, s := range l.segs {
			if err := l.removeSegment(s); err != nil {
				return err
			}
		}
		if err := l.startEmptyAt(logStart, &rec); err != nil {
			return err
		}
		leo = logStart
	}
	if leo < rp {
		l.logger.Warn("log ends below the recovery point: fsynced data is missing",
			"log_end_offset", leo, "recovery_point", rp)
		l.repaired = true
	}
	l.leo.Store(leo)
	l.logStart.Store(logStart)

	if err := l.settleEpochCache(leo, logStart, rec.transitions); err != nil {
		return err
	}
	// Aborted-transaction index entries below the recovery point were
	// fsynced with their segments; later ones are rebuilt.
	err = l.rebuildProducerState(rp)
	l.scanned = nil
	if err != nil {
		return err
	}
	l.active = l.segs[len(l.segs)-1]
	if l.active.size.Load() > 0 {
		// segment.ms counts from the first batch's timestamp when it is
		// plausible, else from now.
		l.active.firstAppend = l.now()
		if ts := rec.last.firstTs; ts >= 0 && ts <= l.active.firstAppend.UnixMilli() {
			l.active.firstAppend = time.UnixMilli(ts)
		}
	}

	durable := min(rp, leo)
	if l.active.unborn {
		durable = leo // no segment file: no byte to make durable
	}
	if l.repaired {
		if err := l.syncRecovered(rec.rebuilt); err != nil {
			return err
		}
		if leo < l.recoveryPoint {
			if err := l.dropScanStartFile(); err != nil {
				return err
			}
		}
		if err := l.writeRecoveryPoint(leo); err != nil {
			return err
		}
		durable = leo
	} else {
		for _, s := range rec.rebuilt {
			if s == l.active {
				continue
			}
			// Its rebuilt indexes are written now and fsynced, with the
			// segment, by the first fsync, as after a roll.
			if err := s.seal(); err != nil {
				return err
			}
			l.pendingRolled = append(l.pendingRolled, s)
		}
	}
	if ckStart >= 0 && ckStart != logStart {
		if err := l.writeLogStart(logStart); err != nil {
			return err
		}
	}
	l.durable, l.flushStarted = durable, durable
	if leo > durable {
		l.unflushedSince = l.mono()
		l.recoveredTail.Store(true)
	}
	// A new log (no directory yet) read nothing: a broker creating or
	// restarting with thousands of empty partitions logs a line for each
	// only at debug.
	level := slog.LevelInfo
	if fresh {
		level = slog.LevelDebug
	}
	l.logger.Log(context.Background(), level, "opened log", "segments", len(l.segs), "log_start_offset", logStart,
		"log_end_offset", leo, "recovery_point", rp, "scanned_segments", len(rec.rebuilt),
		"took", time.Since(began))
	return nil
}

// readCheckpoints reads the recovery point (0 when missing: scan
// everything), the log start offset (-1 when missing) and the leader-epoch
// cache.
func (l *Log) readCheckpoints() (rp, logStart int64, err error) {
	rp, at, why, err := readRecoveryPoint(l.fs, l.dir)
	if errors.Is(err, errNoCheckpoint) {
		rp = 0
	} else if err != nil {
		return 0, 0, err
	}
	if why != "" {
		l.logger.Warn("recovery point's scan start does not parse; reading the active segment from its start",
			"file", filepath.Join(l.dir, recoveryPointFile), "reason", why)
	}
	l.recoveryPoint, l.scanStart, l.scanStartRP = rp, at, rp
	if at == nil {
		// A scan start written with another recovery point (a crash
		// between the two renames) goes; the next checkpoint writes a
		// new one.
		if err := l.dropScanStartFile(); err != nil {
			return 0, 0, err
		}
	}
	logStart, err = readOffsetCheckpoint(l.fs, l.dir, logStartOffsetFile)
	if errors.Is(err, errNoCheckpoint) {
		logStart = -1
	} else if err != nil {
		return 0, 0, err
	}
	return rp, logStart, l.loadEpochCheckpoint()
}

// recovered is what recoverSegments found.
type recovered struct {
	last        scanResult   // of the last segment
	rebuilt     []*segment   // segments scanned, with rebuilt indexes
	transitions []epochEntry // leader epoch changes seen in scanned batches
}

// recoverSegments checks the segments opened into l.segs against the
// recovery point rp: it scans (and cuts) the tail, rebuilds indexes that
// need it and drops segments that cannot hold data.
func (l *Log) recoverSegments(rp int64, indexed map[int64]bool) (recovered, error) {
	var rec recovered
	scanned := map[*segment]scanResult{}
	for i := 0; i < len(l.segs); i++ {
		s := l.segs[i]
		mustScan := i == len(l.segs)-1 || l.segs[i+1].base > rp
		if !mustScan {
			if indexed[s.base] {
				s.check = func() error { return l.checkIndexes(s) }
				s.unchecked.Store(true)
				continue
			}
			l.logger.Warn("rebuilding index", "file", s.path, "reason", "index file missing")
		}
		// Only the active segment is scanned header-only below the
		// recovery point (its indexes live in memory and must be rebuilt
		// at every start), and only from its scan start on when the
		// checkpoint gave one (the indexes of the part before it are
		// rebuilt on first use); its CRCs are checked after Open
		// (VerifyUnchecked). An older segment scanned for a missing index
		// is checked whole.
		from := int64(0)
		start := segmentStart(s)
		if i == len(l.segs)-1 {
			from = rp
			if at := l.usableScanStart(s, rp); at != nil {
				start = *at
			}
			l.scanned = &scannedHeaders{seg: s, from: start.offset, fromPos: start.pos}
		}
		res, err := l.scanSegment(s, from, start, &rec.transitions)
		if err != nil {
			return rec, err
		}
		if start.pos > 0 && res.next >= start.offset {
			s.check = func() error { return l.indexHead(s, start) }
			s.unchecked.Store(true)
		}
		if from > s.base {
			l.uncheckedFrom, l.uncheckedTo = s.base, min(from, res.next)
		}
		rec.rebuilt = append(rec.rebuilt, s)
		rec.last = res
		scanned[s] = res
		if res.bad == nil {
			continue
		}
		if !mustScan || res.next < rp {
			cerr := fmt.Errorf("%w: %s at position %d, below the recovery point %d: %v",
				ErrCorruption, s.path, res.badPos, rp, res.bad)
			if !l.repairCorruption {
				return rec, cerr
			}
			// Another replica has what is cut (RepairCorruption).
			l.logger.Error("cutting the log at a corrupt batch below the recovery point; it is fetched again from another replica",
				"offset", res.next, "err", cerr)
			l.corruptionRepaired = res.next
		}
		dropped := s.size.Load() - res.badPos
		// Zeros written ahead of the log end (zero_ahead.go) are no
		// damage: a crash leaves them past the last batch.
		zeros := i == len(l.segs)-1 && allZeros(s.log, res.badPos, s.size.Load(), 2*zeroAheadMaxChunk)
		// Cutting them needs no fsync while the segment is the last: a
		// crash before the cut is durable leaves them to be cut again.
		// Once a roll seals it, Open no longer scans it and takes its
		// size from the file: the roll makes the cut durable (zeroCut).
		if !zeros {
			l.repaired = true
		}
		if err := s.log.Truncate(res.badPos); err != nil {
			return rec, fmt.Errorf("truncate %s: %w", s.path, err)
		}
		s.size.Store(res.badPos)
		s.zeroCut = zeros
		if zeros {
			l.logger.Debug("cut the zeros written ahead of the log end", "file", s.path, "position", res.badPos, "bytes", dropped)
		} else {
			l.logger.Warn("truncated torn or corrupt log tail",
				"file", s.path, "position", res.badPos, "dropped_bytes", dropped, "reason", res.bad)
		}
		for _, later := range l.segs[i+1:] {
			l.logger.Warn("deleted segment after a truncated tail", "file", later.path, "bytes", later.size.Load())
			if err := l.removeSegment(later); err != nil {
				return rec, err
			}
		}
		l.segs = l.segs[:i+1]
		break
	}

	// A roll makes a new, empty segment file; a crash can keep it while
	// losing the unsynced tail of the segment before. Its base offset is
	// then past the data, so drop it: the log ends where the data does.
	for n := len(l.segs); n >= 2 && l.segs[n-1].size.Load() == 0; n-- {
		empty, prev := l.segs[n-1], l.segs[n-2]
		res, ok := scanned[prev]
		if !ok || res.next >= empty.base {
			break
		}
		l.logger.Warn("deleted empty segment after a short one",
			"file", empty.path, "previous_ends_at", res.next)
		if err := l.removeSegment(empty); err != nil {
			return rec, err
		}
		l.segs = l.segs[:n-1]
		rec.rebuilt = slices.DeleteFunc(rec.rebuilt, func(s *segment) bool { return s == empty })
		rec.last = res
	}
	return rec, nil
}

// startEmptyAt makes the log a single empty segment at base (the segments
// are already gone). The segment's file is created by the first append: a
// new partition costs its directory alone, and a directory without
// segments opens again as an empty log at its log start offset.
func (l *Log) startEmptyAt(base int64, rec *recovered) error {
	l.segs = []*segment{unbornSegment(l.files, l.fs, l.dir, base)}
	*rec = recovered{last: scanResult{next: base, firstTs: -1}}
	return nil
}

// settleEpochCache fits the leader-epoch cache to the recovered log: no
// entry at or past its end, none before its start, and the epochs seen in
// the scanned batches learned again (in case the checkpoint lagged).
func (l *Log) settleEpochCache(leo, logStart int64, transitions []epochEntry) error {
	changed := l.epochs.truncateFromEnd(leo)
	for _, t := range transitions {
		if t.startOffset < leo && l.epochs.assign(t.epoch, t.startOffset) {
			changed = true
		}
	}
	if l.epochs.truncateFromStart(logStart) {
		changed = true
	}
	if !changed {
		return nil
	}
	return l.writeEpochCheckpoint()
}

// syncRecovered makes what recovery wrote or kept durable before the
// recovery point moves past it (the scanned bytes may be only in the page
// cache): scanned segments and their rebuilt indexes, then the directory,
// so removals (leftovers, stale snapshots, segments) stay removed.
func (l *Log) syncRecovered(rebuilt []*segment) error {
	for _, s := range rebuilt {
		if s == l.active {
			if err := s.syncLog(); err != nil {
				return err
			}
			continue
		}
		if err := s.seal(); err != nil {
			return err
		}
		if err := s.syncAll(); err != nil {
			return err
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}

// cleanDirectory removes or completes what interrupted operations left and
// returns the base offsets of the segments and the offsets of the
// producer snapshots, ascending, and the base offsets of the segments
// that have both their offset and time index files.
func (l *Log) cleanDirectory() (bases, snapshots []int64, indexed map[int64]bool, err error) {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list %s: %w", l.dir, err)
	}
	dirty := false
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		path := filepath.Join(l.dir, name)
		switch {
		case strings.HasSuffix(name, tmpSuffix), strings.HasSuffix(name, deletedSuffix), strings.HasSuffix(name, cleanedSuffix):
			if err := l.fs.Remove(path); err != nil {
				return nil, nil, nil, fmt.Errorf("remove %s: %w", path, err)
			}
			l.logger.Info("removed leftover file", "file", name)
			dirty = true
		}
	}
	if done, err := l.completeSwaps(entries); err != nil {
		return nil, nil, nil, err
	} else if done {
		dirty = true
	}
	if dirty {
		if entries, err = l.fs.ReadDir(l.dir); err != nil {
			return nil, nil, nil, fmt.Errorf("list %s: %w", l.dir, err)
		}
		l.repaired = true
	}
	logs := map[int64]bool{}
	indexes := map[int64]int{}
	for _, e := range entries {
		base, suffix, ok := parseFileName(e.Name())
		switch {
		case !ok || e.IsDir():
		case suffix == logSuffix:
			logs[base] = true
			bases = append(bases, base)
		case suffix == snapshotSuffix:
			snapshots = append(snapshots, base)
		case suffix == indexSuffix, suffix == timeIndexSuffix:
			indexes[base]++
		}
	}
	indexed = map[int64]bool{}
	for base, n := range indexes {
		if n == 2 {
			indexed[base] = true
		}
	}
	for _, e := range entries {
		base, suffix, ok := parseFileName(e.Name())
		if ok && (suffix == indexSuffix || suffix == timeIndexSuffix || suffix == txnIndexSuffix) && !logs[base] {
			if err := l.fs.Remove(filepath.Join(l.dir, e.Name())); err != nil {
				return nil, nil, nil, fmt.Errorf("remove %s: %w", e.Name(), err)
			}
			l.logger.Info("removed index without a segment", "file", e.Name())
			l.repaired = true
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	sort.Slice(snapshots, func(i, j int) bool { return snapshots[i] < snapshots[j] })
	return bases, snapshots, indexed, nil
}

func (l *Log) loadEpochCheckpoint() error {
	path := filepath.Join(l.dir, epochCheckpoint)
	b, err := ReadSmallFile(l.fs, path, maxCheckpointBytes)
	if errors.Is(err, errNoCheckpoint) {
		return nil
	}
	if err != nil {
		return err
	}
	entries, err := parseEpochCheckpoint(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorruption, path, err)
	}
	l.epochs.set(entries)
	return nil
}

// checkIndexes loads the indexes of a segment found below the recovery
// point at Open, on their first use, and rebuilds them from the segment
// when they do not check out. The segment was fsynced, so a bad batch in
// it is corruption. The caller holds s.loadMu.
func (l *Log) checkIndexes(s *segment) error {
	ok, why, err := loadIndexes(s)
	if err != nil || ok {
		return err
	}
	l.logger.Warn("rebuilding index", "file", s.path, "reason", why)
	var none []epochEntry
	res, err := l.scanSegment(s, 0, segmentStart(s), &none)
	if err != nil {
		return err
	}
	if res.bad != nil {
		return s.corruptAt(res.badPos, res.bad)
	}
	if err := s.seal(); err != nil {
		return err
	}
	for _, f := range []*cachedFile{s.index.file, s.tindex.file} {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", f.Name(), err)
		}
	}
	return nil
}

// loadIndexes opens the indexes of a sealed segment and checks them: whole
// entries, offsets and positions increasing, positions inside the segment,
// timestamps increasing. ok is false (with the reason) when they must be
// rebuilt.
func loadIndexes(s *segment) (ok bool, why string, err error) {
	if ok, err := s.index.loadSealed(); err != nil || !ok {
		return false, "offset index is missing or not a whole number of entries", err
	}
	if ok, err := s.tindex.loadSealed(); err != nil || !ok {
		return false, "time index is missing or not a whole number of entries", err
	}
	size := s.size.Load()
	offs, err := s.index.fileEntries()
	if err != nil {
		return false, "", err
	}
	for i, e := range offs {
		if int64(e.pos) >= size || (i > 0 && (e.rel <= offs[i-1].rel || e.pos <= offs[i-1].pos)) {
			return false, fmt.Sprintf("offset index entry %d (%d, %d) out of order", i, e.rel, e.pos), nil
		}
	}
	times, err := s.tindex.fileEntries()
	if err != nil {
		return false, "", err
	}
	for i, e := range times {
		if e.ts < 0 || (i > 0 && (e.ts <= times[i-1].ts || e.rel < times[i-1].rel)) {
			return false, fmt.Sprintf("time index entry %d (%d, %d) out of order", i, e.ts, e.rel), nil
		}
	}
	if n := len(times); n > 0 {
		s.tsMu.Lock()
		s.maxTs, s.maxTsOffset = times[n-1].ts, s.base+int64(times[n-1].rel)
		s.tsMu.Unlock()
	}
	return true, "", nil
}

// scanSegment reads a segment from its start and rebuilds its indexes in
// memory. Batches wholly below the recovery point rp were fsynced: their
// headers are read (lengths bounded, offsets in order), not their
// payload, so a restart after a crash reads little more than the
// unsynced tail (a flipped bit there is caught when the batch is read:
// Log.verifyRead). Every batch from rp on is read whole and checked with
// its CRC32C. It stops at the first bad or partial batch. Leader epoch
// changes seen in the batches are appended to transitions.
//
// A base offset lies outside the CRC32C: a bit flipped in it shows as a
// batch out of place. A batch is taken in (indexed, its offsets counted)
// only once the batch after it, or the segment's end, is read. When that
// next batch starts below the end of the one before it but in place after
// the ones before that, the one before it jumped ahead: it is the bad
// one, not the next (else the log end offset would follow the damaged
// base offset past every offset ever written, and the batches after it
// would be cut as a torn tail). A damaged base offset of the segment's
// last batch cannot be told from a good one here; a read of it can
// (Log.read).
func (l *Log) scanSegment(s *segment, rp int64, start scanStart, transitions *[]epochEntry) (scanResult, error) {
	s.index.reset()
	s.tindex.reset()
	s.unchecked.Store(false) // rebuilt here
	s.bytesSinceIndex = start.sinceIndex
	s.lastBatchAt = start.prevPos
	s.tsMu.Lock()
	s.maxTs, s.maxTsOffset = start.maxTs, start.maxTsOffset
	s.tsMu.Unlock()
	res := scanResult{next: start.offset, firstTs: start.firstTs}
	var (
		pend    record.Header // the last batch read, not yet taken in
		pendAt  int64
		pending bool
	)
	take := func() {
		if !pending {
			return
		}
		if res.firstTs < 0 && pendAt == 0 {
			res.firstTs = pend.MaxTimestamp
		}
		s.observe(&pend, pendAt, l.indexInterval.Load())
		l.scanned.add(s, pend, pendAt)
		if e := pend.PartitionLeaderEpoch; e >= 0 {
			if n := len(*transitions); n == 0 || e > (*transitions)[n-1].epoch {
				*transitions = append(*transitions, epochEntry{epoch: e, startOffset: pend.BaseOffset})
			}
		}
		res.next = pend.LastOffset() + 1
		pending = false
	}
	sc := newBatchScanner(s.log, start.pos, s.size.Load(), rp <= start.offset)
	for sc.next() {
		h := sc.h
		if !sc.verify && h.LastOffset() >= rp {
			// The first batch reaching the recovery point: checked whole,
			// and every one after it.
			if err := sc.validateCurrent(); err != nil {
				take()
				res.badPos, res.bad = sc.at, err
				return res, nil
			}
			sc.verifyFromHere()
		}
		if pending && h.BaseOffset <= pend.LastOffset() && h.BaseOffset >= res.next && pend.BaseOffset > res.next {
			res.badPos = pendAt
			res.bad = fmt.Errorf("batch offsets [%d, %d] out of place: the batch after it starts at %d, the one before it ends at %d",
				pend.BaseOffset, pend.LastOffset(), h.BaseOffset, res.next-1)
			return res, nil
		}
		take()
		if h.BaseOffset < res.next || h.LastOffset()-s.base > math.MaxUint32 || sc.at > math.MaxUint32 {
			res.badPos = sc.at
			res.bad = fmt.Errorf("batch offsets [%d, %d] out of place after offset %d", h.BaseOffset, h.LastOffset(), res.next-1)
			return res, nil
		}
		pend, pendAt, pending = h, sc.at, true
	}
	take()
	if sc.err != nil {
		return res, sc.err
	}
	res.badPos, res.bad = sc.pos, sc.bad
	return res, nil
}

// removeSegment closes a segment's files and removes them, the .log first
// (indexes left by a crash are removed as orphans by the next Open), and
// marks the directory for the next fsync. The caller holds mu (or is
// Open).
func (l *Log) removeSegment(s *segment) error {
	if err := l.deleteSegmentFiles(s); err != nil {
		return err
	}
	l.repaired, l.dirDirty = true, true
	return nil
}

// deleteSegmentFiles closes a segment's files and removes them, the .log
// first. It touches
// no state guarded by mu: retention calls it without mu and fsyncs the
// directory itself.
func (l *Log) deleteSegmentFiles(s *segment) error {
	if !s.closed {
		s.closeFiles()
		s.closed = true
	}
	for _, p := range []string{s.path, s.index.path(), s.tindex.path(), s.txn.filePath()} {
		if err := l.fs.Remove(p); err != nil && !isNotExist(err) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// rebuildProducerState rebuilds producer state, open transactions and the
// aborted-transaction index entries from keepBelow on: it loads the newest
// good snapshot at or below keepBelow (and the log end offset) and replays
// the batches after it. Index entries whose marker is at or after
// keepBelow are dropped first and written again by the replay; those
// before it are kept as they are. Recovery passes the recovery point
// (entries below it were fsynced with their segments), truncation the new
// log end offset. Snapshots past the log end describe batches that are
// gone and are removed; so are ones that fail their CRC. The caller holds
// mu (or is Open).
func (l *Log) rebuildProducerState(keepBelow int64) error {
	leo := l.leo.Load()
	keepBelow = min(keepBelow, leo)
	kept := l.snapshots[:0]
	for _, off := range l.snapshots {
		if off > leo {
			if err := l.removeSnapshot(off); err != nil {
				return err
			}
			continue
		}
		kept = append(kept, off)
	}
	l.snapshots = kept
	for i := segmentFor(l.segs, keepBelow); i < len(l.segs); i++ {
		if err := l.segs[i].txn.truncateFrom(keepBelow); err != nil {
			return err
		}
	}
	l.producers = newProducerStates()
	l.resetUnreplicated()
	from := int64(0)
	for i := len(l.snapshots) - 1; i >= 0; i-- {
		off := l.snapshots[i]
		if off > keepBelow {
			continue
		}
		path := filepath.Join(l.dir, fileName(off, snapshotSuffix))
		b, err := ReadSmallFile(l.fs, path, maxSnapshotBytes)
		var ps producerStates
		if err == nil {
			ps, err = decodeSnapshot(b)
		}
		if err != nil {
			l.logger.Warn("skipping producer snapshot", "file", path, "err", err)
			if err := l.removeSnapshot(off); err != nil {
				return err
			}
			l.snapshots = append(l.snapshots[:i], l.snapshots[i+1:]...)
			continue
		}
		l.producers, from = ps, off
		break
	}
	err := l.replayProducers(from, leo, keepBelow)
	l.publishUnstable()
	return err
}

func (l *Log) removeSnapshot(off int64) error {
	path := filepath.Join(l.dir, fileName(off, snapshotSuffix))
	if err := l.fs.Remove(path); err != nil && !isNotExist(err) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	l.repaired, l.dirDirty = true, true
	return nil
}

// replayProducers applies the batches in [from, to) to the producer
// state, reading the records of control batches only, and writes the
// aborted-transaction index entries of ABORT markers at or after
// indexFrom. In the segment Open just scanned it takes the headers the
// scan read instead of reading them again.
func (l *Log) replayProducers(from, to, indexFrom int64) error {
	var buf []byte
	// apply takes one batch; done once past to.
	apply := func(s *segment, h record.Header, at int64) (done bool, err error) {
		if h.BaseOffset >= to {
			return true, nil
		}
		if h.BaseOffset < from {
			return false, nil
		}
		var m *markerInfo
		if h.IsControl() && h.HasProducerID() {
			if cap(buf) < h.Size() {
				buf = make([]byte, h.Size())
			}
			batch := buf[:h.Size()]
			if _, err := s.log.ReadAt(batch, at); err != nil {
				return false, fmt.Errorf("read %s at %d: %w", s.path, at, err)
			}
			if m, err = l.markerOf(batch, &h); err != nil {
				l.logger.Warn("ignoring an unreadable transaction marker", "file", s.path, "position", at, "err", err)
				return false, nil
			}
		}
		txn, ok := l.producers.apply(&h, m)
		if ok {
			l.closedTxn(txn)
		}
		if ok && txn.aborted && txn.lastOffset >= indexFrom {
			return false, l.indexAbort(s, txn)
		}
		return false, nil
	}
	for i := segmentFor(l.segs, from); i < len(l.segs); i++ {
		s := l.segs[i]
		if hs, ok := l.scanned.of(s, from); ok {
			for _, b := range hs {
				if done, err := apply(s, b.h, b.at); done || err != nil {
					return err
				}
			}
			continue
		}
		pos := int64(0)
		if rel := from - s.base; rel > 0 && rel <= math.MaxUint32 {
			if err := s.ensureIndexes(); err != nil {
				return err
			}
			p, err := lookupOffset(s.index, uint32(rel))
			if err != nil {
				return err
			}
			pos = p
		}
		sc := newBatchScanner(s.log, pos, s.size.Load(), false)
		for sc.next() {
			if done, err := apply(s, sc.h, sc.at); done || err != nil {
				return err
			}
		}
		if sc.err != nil {
			return sc.err
		}
		if sc.bad != nil {
			return s.corruptAt(sc.pos, sc.bad)
		}
	}
	return nil
}

// scannedHeaders are the headers of the batches Open's scan took in one
// segment, in order, for the producer-state replay after it. At most
// maxScannedHeaders are kept: past that (a big segment of small batches)
// the replay reads them again.
type scannedHeaders struct {
	seg *segment
	// from, fromPos: the offset and position the scan started at (the
	// segment's start, or the recovery point's scan start).
	from, fromPos int64
	hs            []headerAt
	// dropped: more were scanned than kept.
	dropped bool
}

type headerAt struct {
	h  record.Header
	at int64
}

const maxScannedHeaders = 1 << 16

// add notes a header of segment s the scan took.
func (sh *scannedHeaders) add(s *segment, h record.Header, at int64) {
	if sh == nil || sh.seg != s || sh.dropped {
		return
	}
	if len(sh.hs) == maxScannedHeaders {
		sh.hs, sh.dropped = nil, true
		return
	}
	sh.hs = append(sh.hs, headerAt{h, at})
}

// of returns the headers of segment s when they cover it from the batch
// holding offset from (or its start) to its end; ok is false otherwise.
func (sh *scannedHeaders) of(s *segment, from int64) (hs []headerAt, ok bool) {
	if sh == nil || sh.seg != s || sh.dropped || (sh.fromPos > 0 && from < sh.from) {
		return nil, false
	}
	end := sh.fromPos
	if n := len(sh.hs); n > 0 {
		if sh.hs[0].at != sh.fromPos {
			return nil, false
		}
		end = sh.hs[n-1].at + int64(sh.hs[n-1].h.Size())
	}
	if end != s.size.Load() {
		return nil, false
	}
	return sh.hs, true
}
