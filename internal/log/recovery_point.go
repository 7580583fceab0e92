package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/internal/ctxtime"
	"github.com/sluice-io/sluice/internal/record"
)

// CheckpointRecoveryPoint moves the recovery point up to the durable
// offset when it lags behind it (Kafka's recovery-point checkpoint, every
// log.flush.offset.checkpoint.interval.ms): an fsync of the active
// segment alone makes its batches durable but leaves the recovery point
// where the last roll put it. After a crash, a restart then checks only
// the batches from the recovery point on with their CRC.
//
// With it goes where in the active segment a restart may start reading
// (a scanStart, with a producer snapshot at its offset): Open then reads
// only the batches after it, and the in-memory indexes of the part before
// it are rebuilt on their first use. The scan start is the log end offset
// when nothing was appended since the last fsync; else the log end offset
// of the previous call, once that is durable (the producer state is taken
// when the scan start is, and written only when every batch below it is
// fsynced). It writes the checkpoint file (two fsyncs) only when the
// point or the scan start moves, and the snapshot (one more) only when the
// scan start moves; the checkpoint's directory fsync makes the snapshot's
// name durable. A snapshot that is missing or fails its CRC all the same
// only costs Open a read of the segment from its start.
//
// The first call after Open fsyncs what Open found past the recovery
// point and checked (a log written to again is fsynced by its writes, but
// an idle one would otherwise have the same tail checked at every
// restart); ctx bounds that wait, and the tail is then left to a later
// call.
func (l *Log) CheckpointRecoveryPoint(ctx context.Context) error {
	if l.recoveredTail.Swap(false) {
		if err := l.waitDurable(ctx, l.leo.Load()); err != nil {
			l.recoveredTail.Store(true)
			return err
		}
	}
	l.syncIOMu.Lock()
	defer l.syncIOMu.Unlock()
	if l.scanStart != nil && l.scanStartRP != l.recoveryPoint {
		l.scanStart = nil // the checkpoint was written since without it (a roll, a truncation)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.syncMu.Lock()
	durable := l.durable
	l.syncMu.Unlock()
	base := l.active.base
	// The recovery point may pass a segment only once its files are
	// durable: a segment rolled since the last sync has its sealed
	// indexes (and a roll's cut of zeros) only in the page cache, and
	// Open trusts what it finds below the recovery point.
	rolled := l.pendingRolled
	l.pendingRolled = nil
	var cand *pendingStart
	if leo := l.leo.Load(); (l.scanStart == nil || l.scanStart.offset != leo) &&
		(l.pendingStart == nil || l.pendingStart.at.offset != leo) {
		cand = l.captureScanStart()
	}
	l.mu.Unlock()
	if err := l.offlineErr(); err != nil {
		return err
	}
	for _, s := range rolled {
		if s.closed {
			continue
		}
		if err := s.syncAll(); err != nil {
			return l.fail("fsync rolled segment", err)
		}
	}

	var use *pendingStart
	if p := l.pendingStart; p != nil && (p.at.seg != base || p.at.offset <= durable) {
		l.pendingStart = nil
		if p.at.seg == base {
			use = p
		}
	}
	if cand != nil && cand.at.offset <= durable {
		use = cand
	} else if cand != nil {
		l.pendingStart = cand
	}
	at := l.scanStart
	if use != nil && (at == nil || use.at.seg != at.seg || use.at.offset > at.offset) {
		if err := l.writeStartSnapshot(use.at.offset, use.snapshot); errors.Is(err, ErrClosed) || errors.Is(err, ErrOffline) {
			return err
		} else if err != nil {
			return l.fail("write producer snapshot", err)
		}
		at = &use.at
	}
	if at != nil && at.seg != base {
		at = nil
	}
	if durable <= l.recoveryPoint && at == l.scanStart {
		return nil
	}
	if err := l.writeRecoveryPointAt(max(durable, l.recoveryPoint), at); err != nil {
		return l.fail("write recovery point", err)
	}
	return nil
}

// scanStart is where a restart may start reading the active segment: the
// batch at byte pos of the segment based at seg starts at offset (pos is
// the segment's size when no batch followed yet), and the batch before it
// starts at prevPos (-1 when pos is 0). maxTs and maxTsOffset are the
// segment's largest timestamp below pos and the offset that carried it,
// firstTs when its first batch was appended (milliseconds; -1 if unknown),
// for segment.ms; sinceIndex lets the index entries after pos fall where
// a scan from the segment's start puts them. A producer snapshot at
// offset goes with it.
type scanStart struct {
	seg, pos, offset, prevPos int64
	maxTs, maxTsOffset        int64
	firstTs                   int64
	sinceIndex                int64 // bytes of batches after the last index entry before pos
}

// pendingStart is a scanStart taken with the producer state at its offset.
type pendingStart struct {
	at       scanStart
	snapshot []byte
}

// captureScanStart notes the log end of the active segment and the
// producer state there; nil for an empty segment. The caller holds mu.
func (l *Log) captureScanStart() *pendingStart {
	s := l.active
	size := s.size.Load()
	if s.unborn || size == 0 {
		return nil
	}
	ts, tsOff := s.maxTimestamp()
	first := int64(-1)
	if !s.firstAppend.IsZero() {
		first = s.firstAppend.UnixMilli()
	}
	return &pendingStart{
		at: scanStart{seg: s.base, pos: size, offset: l.leo.Load(), prevPos: s.lastBatchAt,
			maxTs: ts, maxTsOffset: tsOff, firstTs: first, sinceIndex: s.bytesSinceIndex},
		snapshot: l.producers.encodeSnapshot(),
	}
}

// writeStartSnapshot writes the producer snapshot of a scan start, its
// bytes fsynced (its name is left to the directory fsync of the
// checkpoint that names it). It is written and fsynced without mu, so
// appends do not wait for the fsync; the caller holds syncIOMu, which keeps
// the directory in place and truncations (which remove snapshots) out.
// Its temporary file has a name of its own: a roll or Close may write the
// snapshot at the same offset under mu meanwhile.
func (l *Log) writeStartSnapshot(offset int64, data []byte) error {
	if err := l.dirForWrite(); err != nil {
		return err
	}
	path := filepath.Join(l.dir, fileName(offset, snapshotSuffix))
	if err := writeFileRenamed(l.fs, path, startTmpSuffix, data, true); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	l.dirDirty = true
	if err := l.keepSnapshots(offset); err != nil {
		return l.fail("write producer snapshot", err)
	}
	return nil
}

// startTmpSuffix names the temporary file of a scan start's snapshot; Open
// removes a leftover one as any other temporary file (it ends in
// tmpSuffix).
const startTmpSuffix = ".start" + tmpSuffix

// writeRecoveryPointAt persists the recovery point with the scan start at
// (none when nil). The caller holds syncIOMu, and every offset below off
// is fsynced.
//
// The recovery-point file keeps Kafka's one-offset format, which every
// version of the broker reads; the scan start goes to a file of its own
// beside it (scanStartFile), which names the recovery point it goes with
// and is read only with that one (readRecoveryPoint), so that an older
// binary, which does not know it, still opens the log. It is renamed into
// place before the recovery point, and the recovery point's directory
// fsync makes both names durable: after a crash either pair is whole, or
// their offsets differ and the scan start is left out.
func (l *Log) writeRecoveryPointAt(off int64, at *scanStart) error {
	if err := l.dirForWrite(); err != nil {
		return err
	}
	startPath := filepath.Join(l.dir, scanStartFile)
	if at != nil {
		if err := writeFileRenamed(l.fs, startPath, tmpSuffix, formatRecoveryPoint(off, at), true); err != nil {
			return err
		}
	} else if err := l.fs.Remove(startPath); err != nil && !isNotExist(err) {
		return fmt.Errorf("remove %s: %w", startPath, err)
	}
	if err := writeFileAtomic(l.fs, l.dir, recoveryPointFile, formatOffsetCheckpoint(off)); err != nil {
		return err
	}
	l.recoveryPoint, l.scanStart, l.scanStartRP = off, at, off
	return nil
}

// dropScanStartFile removes the scan start's file before the recovery
// point is lowered (a truncation, a repair at Open): the recovery point
// could otherwise come back up to the offset it names, with the batches
// below it no longer those it describes. The directory fsync that writes
// the lowered recovery point makes the removal durable. The caller holds
// syncIOMu (or is Open).
func (l *Log) dropScanStartFile() error {
	path := filepath.Join(l.dir, scanStartFile)
	if err := l.fs.Remove(path); err != nil && !isNotExist(err) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	l.scanStart = nil
	return nil
}

// scanStartFile holds the scan start of the recovery point: "1", the
// recovery point's offset, then the scan start's fields in scanStart's
// order (formatRecoveryPoint).
const scanStartFile = "recovery-point-scan-start"

// formatRecoveryPoint is the content of the scan start's file: version 1,
// the recovery point's offset, then a line of the scan start's fields in
// scanStart's order. A recovery-point file of that form (written by
// versions that kept the scan start in it) is read too.
func formatRecoveryPoint(off int64, at *scanStart) []byte {
	if at == nil {
		return formatOffsetCheckpoint(off)
	}
	return fmt.Appendf(nil, "1\n%d\n%d %d %d %d %d %d %d %d\n", off,
		at.seg, at.pos, at.offset, at.prevPos, at.maxTs, at.maxTsOffset, at.firstTs, at.sinceIndex)
}

// readRecoveryPoint reads the recovery-point file and the scan start that
// goes with it. A missing file is errNoCheckpoint; one whose offset does
// not parse is ErrCorruption. The scan start comes from the recovery-point
// file when it is of version 1, else from scanStartFile when that names the
// same offset; one that does not parse is left out, and why says why (a
// missing or stale scan-start file is left out without a why).
func readRecoveryPoint(fsys FS, dir string) (off int64, at *scanStart, why string, err error) {
	path := filepath.Join(dir, recoveryPointFile)
	b, err := ReadSmallFile(fsys, path, 1<<10)
	if err != nil {
		return 0, nil, "", err
	}
	off, at, why, err = parseRecoveryPoint(b)
	if err != nil {
		return 0, nil, "", fmt.Errorf("%w: %s: %v", ErrCorruption, path, err)
	}
	if bytes.HasPrefix(b, []byte("1\n")) {
		return off, at, why, nil
	}
	startPath := filepath.Join(dir, scanStartFile)
	b, err = ReadSmallFile(fsys, startPath, 1<<10)
	if err != nil {
		if errors.Is(err, errNoCheckpoint) {
			return off, nil, "", nil
		}
		return off, nil, fmt.Sprintf("%s: %v", startPath, err), nil
	}
	if !bytes.HasPrefix(b, []byte("1\n")) {
		return off, nil, fmt.Sprintf("%s: not of version 1", startPath), nil
	}
	startOff, at, why, err := parseRecoveryPoint(b)
	switch {
	case err != nil:
		return off, nil, fmt.Sprintf("%s: %v", startPath, err), nil
	case why != "":
		return off, nil, fmt.Sprintf("%s: %s", startPath, why), nil
	case startOff != off:
		return off, nil, "", nil // written with another recovery point
	}
	return off, at, "", nil
}

// parseRecoveryPoint parses what formatRecoveryPoint writes. A version 1
// file whose offset parses but whose scan start does not still gives the
// offset (the scan start only saves reading), with why it was left out.
func parseRecoveryPoint(b []byte) (off int64, at *scanStart, why string, err error) {
	if !bytes.HasPrefix(b, []byte("1\n")) {
		off, err := parseOffsetCheckpoint(b)
		return off, nil, "", err
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		return 0, nil, "", fmt.Errorf("checkpoint does not end with a newline")
	}
	lines := strings.Split(string(b[:len(b)-1]), "\n")
	if len(lines) < 2 {
		return 0, nil, "", fmt.Errorf("version 1 checkpoint without an offset")
	}
	if off, err = strconv.ParseInt(lines[1], 10, 64); err != nil || off < 0 {
		return 0, nil, "", fmt.Errorf("bad offset %q", lines[1])
	}
	if len(lines) != 3 {
		return off, nil, fmt.Sprintf("%d lines, want 3", len(lines)), nil
	}
	at = &scanStart{}
	fields := []*int64{&at.seg, &at.pos, &at.offset, &at.prevPos, &at.maxTs, &at.maxTsOffset, &at.firstTs, &at.sinceIndex}
	words := strings.Fields(lines[2])
	if len(words) != len(fields) {
		return off, nil, fmt.Sprintf("scan start %q has %d fields, want %d", lines[2], len(words), len(fields)), nil
	}
	for i, w := range words {
		if *fields[i], err = strconv.ParseInt(w, 10, 64); err != nil {
			return off, nil, fmt.Sprintf("scan start %q: %v", lines[2], err), nil
		}
	}
	if at.seg < 0 || at.pos < 0 || at.sinceIndex < 0 || at.offset < at.seg || at.offset > off || at.prevPos >= at.pos || (at.pos > 0) != (at.prevPos >= 0) {
		return off, nil, fmt.Sprintf("scan start %q does not hold together", lines[2]), nil
	}
	return off, at, "", nil
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
		if err := ctxtime.Sleep(ctx, time.Duration(float64(time.Since(began))*rest)); err != nil {
			return err
		}
	}
	return nil
}

// segmentStart is the scan start of a segment read from its first byte.
func segmentStart(s *segment) scanStart {
	return scanStart{seg: s.base, offset: s.base, prevPos: -1, maxTs: -1, maxTsOffset: -1, firstTs: -1}
}

// usableScanStart returns the checkpoint's scan start when it lies in the
// last segment s and checks out against the file: its position is inside
// the file, the batch before it ends exactly there with the offset before
// the scan start's, and the batch at it (if any) starts at that offset.
// Otherwise Open reads the segment from its start, as without one; a scan
// start of this segment that does not check out is logged.
func (l *Log) usableScanStart(s *segment, rp int64) *scanStart {
	at := l.scanStart
	if at == nil || at.seg != s.base || at.offset > rp {
		return nil
	}
	if at.pos == 0 {
		return nil // nothing to skip
	}
	why := checkScanStart(s, at)
	if why == "" {
		return at
	}
	l.logger.Warn("recovery point's scan start does not match the segment; reading it from its start",
		"file", s.path, "position", at.pos, "offset", at.offset, "reason", why)
	return nil
}

// checkScanStart says why at does not fit segment s, or "" when it does.
func checkScanStart(s *segment, at *scanStart) string {
	size := s.size.Load()
	if at.pos > size {
		return fmt.Sprintf("position past the end of the file (%d bytes)", size)
	}
	buf := make([]byte, record.HeaderSize)
	prev, err := s.readHeaderAt(buf, at.prevPos, size)
	if err != nil {
		return fmt.Sprintf("no batch at the position before it: %v", err)
	}
	if at.prevPos+int64(prev.Size()) != at.pos || prev.LastOffset()+1 != at.offset {
		return fmt.Sprintf("the batch before it ends at position %d, offset %d", at.prevPos+int64(prev.Size()), prev.LastOffset()+1)
	}
	if at.pos < size {
		h, err := s.readHeaderAt(buf, at.pos, size)
		if err != nil {
			return fmt.Sprintf("no batch at the position: %v", err)
		}
		// A later batch may start past it: a follower copies the gaps
		// compaction left on its leader.
		if h.BaseOffset < at.offset {
			return fmt.Sprintf("the batch there starts at offset %d", h.BaseOffset)
		}
	}
	return ""
}

// indexHead rebuilds the in-memory indexes of the active segment's part
// that Open did not read (before the scan start at), on their first use:
// it reads the batch headers there and puts their entries before the ones
// appends and Open's scan added since. Those batches were fsynced below
// the recovery point, so a bad one is corruption. The caller holds
// s.loadMu.
func (l *Log) indexHead(s *segment, at scanStart) error {
	interval := l.indexInterval.Load()
	var (
		offs     []offsetEntry
		times    []timeEntry
		since    int64
		maxTs    int64 = -1
		maxTsOff int64 = -1
	)
	next := s.base
	sc := newBatchScanner(s.log, 0, at.pos, false)
	for sc.next() {
		h := &sc.h
		// A batch out of place (a damaged base offset, outside the CRC)
		// gets no entry: reads meet it and report it (Log.read).
		inPlace := h.BaseOffset >= next && h.LastOffset() < at.offset
		if inPlace {
			next = h.LastOffset() + 1
		}
		if inPlace && h.MaxTimestamp > maxTs {
			maxTs, maxTsOff = h.MaxTimestamp, h.LastOffset()
		}
		if since > interval && inPlace {
			offs = append(offs, offsetEntry{rel: uint32(h.LastOffset() - s.base), pos: uint32(sc.at)})
			if n := len(times); maxTs >= 0 && (n == 0 || maxTs > times[n-1].ts) {
				times = append(times, timeEntry{ts: maxTs, rel: uint32(maxTsOff - s.base)})
			}
			since = 0
		}
		since += int64(h.Size())
	}
	if sc.err != nil {
		return sc.err
	}
	if sc.bad != nil {
		return s.corruptAt(sc.pos, sc.bad)
	}
	if sc.pos != at.pos {
		return s.corruptAt(sc.pos, fmt.Errorf("batches end at %d, not at the scan start %d", sc.pos, at.pos))
	}
	s.index.prepend(offs, func(e offsetEntry) bool { return int64(e.pos) >= at.pos })
	var lastTs int64 = -1
	if n := len(times); n > 0 {
		lastTs = times[n-1].ts
	}
	s.tindex.prepend(times, func(e timeEntry) bool { return e.ts > lastTs })
	return nil
}
