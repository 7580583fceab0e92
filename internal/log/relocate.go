package log

// Relocation moves a live log to another directory, usually on another
// disk (Kafka's AlterReplicaLogDirs, KIP-113). Kafka creates a "future"
// replica that fetches from the current one; here the log copies itself, so
// the *Log its owner holds stays the same object:
//
//  1. The files are copied into <parent of the new dir>/<name>.<id>-future
//     while appends, reads and fsyncs go on: sealed segments with their
//     indexes (fsynced one by one), and the active segment as far as it is
//     written, round after round until what is left is small. A Pacer
//     (Relocate's pace) may slow these rounds down to a bound on the bytes
//     copied a second; the rest of the steps are never paced.
//  2. Holding the writer lock (and the fsync lock, so no fsync runs), the
//     rest is copied: the tail of the active segment, segments rolled
//     since, and the small files (checkpoints, producer snapshots, leader
//     epochs, partition.metadata). The copy is fsynced with its directory,
//     and a marker file naming the old directory is written into it.
//  3. The future directory is renamed to the new directory and the parent
//     is fsynced: this is the commit point. Until then the old directory is
//     the log; a failure before it (a full target disk) removes the copy
//     and changes nothing.
//  4. The open files are switched to the copies, the lock is released, and
//     the old directory and then the marker are removed.
//
// After a crash, SettleRelocations (run before any log is opened) removes
// every -future directory, and when a partition's directory exists in two
// log directories keeps the one with the marker: a crash between steps 3
// and 4 left two complete copies, and the marked one is the newer. The
// marker stays until the directory it names is seen gone, and two copies
// that no single marker tells apart stop the start-up, as in Kafka.
//
// A truncation while the copy runs makes it start over; a log that keeps
// being truncated fails the move after a few tries.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
)

const (
	// futureSuffix ends the name of a relocation's copy in progress.
	futureSuffix = "-future"
	// relocatedMarker is written into a finished copy before it is renamed
	// into place and removed once the old directory is gone.
	relocatedMarker = "relocated-from"
	// relocateChunk is how much is copied per read.
	relocateChunk = 1 << 20
	// relocateTail is how much of the active segment may be left to copy
	// under the writer lock; the background rounds copy until less is.
	relocateTail = 4 << 20
	// relocateRounds bounds the background rounds when appends outpace the
	// copy; the rest is then copied under the lock. Rounds a Pacer held
	// back do not count: under a bound below the append rate the copy goes
	// on until the bound is raised or the relocation is cancelled, as
	// Kafka's throttled future replica does, rather than copying an
	// unbounded tail under the writer lock.
	relocateRounds = 50
	// relocateAttempts bounds how often a truncation restarts the copy.
	relocateAttempts = 3
)

// ErrRelocating is returned by Relocate while another one runs.
var ErrRelocating = errors.New("log: already being relocated")

// Pacer paces the background rounds of a relocation's copy (Kafka's
// replica.alter.log.dirs.io.max.bytes.per.second). It is called with the
// bytes of each chunk the rounds copied (segment data and sealed indexes),
// holding no lock of the log, and returns once more may be copied, or with
// ctx's error to stop the relocation. held reports whether it made the
// copy wait. It is never called for the final copy under the writer lock,
// which must not stall producers.
type Pacer func(ctx context.Context, n int) (held bool, err error)

// relocation is the state of a Relocate in progress.
type relocation struct {
	target string // the new directory
	future string // where the copy is built
	// pace paces the background rounds (Relocate's pace); nil: none. held
	// is set when it made a round wait.
	pace func(n int) error
	held bool
	// copiedEnd is the log end offset of the copy: every batch below it
	// has been copied; it moves at the end of each round. copiedBytes is
	// the size of the copied segments, which grows with each chunk.
	copiedEnd   atomic.Int64
	copiedBytes atomic.Int64
}

// RelocationStatus describes a Relocate in progress.
type RelocationStatus struct {
	// Dir is the directory the log moves to.
	Dir string
	// LogEndOffset is the end offset of the copy so far: the offset lag of
	// the "future" log is the log's end offset minus this.
	LogEndOffset int64
	// Size is the bytes of segments copied so far.
	Size int64
}

// Relocating reports the Relocate in progress, if any.
func (l *Log) Relocating() (RelocationStatus, bool) {
	r := l.reloc.Load()
	if r == nil {
		return RelocationStatus{}, false
	}
	return RelocationStatus{Dir: r.target, LogEndOffset: r.copiedEnd.Load(), Size: r.copiedBytes.Load()}, true
}

// Relocate moves the log to newDir (which must not exist; its parent must)
// while it keeps serving, as described above. The log is unchanged when
// Relocate returns an error, except that ErrOffline means the new
// directory's disk failed after the commit point could not be made
// durable. Cancelling ctx stops the copy before the commit point. Only one
// Relocate runs at a time (ErrRelocating). pace, if not nil, paces the
// background copy rounds.
func (l *Log) Relocate(ctx context.Context, newDir string, pace Pacer) error {
	newDir = filepath.Clean(newDir)
	oldDir := l.Dir()
	if newDir == oldDir {
		return nil
	}
	if _, err := l.fs.Stat(newDir); err == nil {
		return fmt.Errorf("log: relocate %s: %s already exists", oldDir, newDir)
	} else if !isNotExist(err) {
		return fmt.Errorf("log: relocate %s: %w", oldDir, err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	r := &relocation{
		target: newDir,
		future: newDir + "." + hex.EncodeToString(id) + futureSuffix,
	}
	if pace != nil {
		r.pace = func(n int) error {
			held, err := pace(ctx, n)
			r.held = r.held || held
			return err
		}
	}
	if err := l.offlineErr(); err != nil {
		return err
	}
	if err := l.dirForWrite(); err != nil { // a new log's directory is made by its first write
		return fmt.Errorf("log: relocate %s: %w", oldDir, err)
	}
	if !l.reloc.CompareAndSwap(nil, r) {
		return fmt.Errorf("%w: %s", ErrRelocating, oldDir)
	}
	defer l.reloc.Store(nil)
	l.logger.Info("relocating log", "to", newDir)
	var err error
	for attempt := 1; ; attempt++ {
		var restart bool
		restart, err = l.relocateOnce(ctx, r)
		if err != nil || !restart {
			break
		}
		if attempt == relocateAttempts {
			err = fmt.Errorf("log: relocate %s: truncated during the copy %d times", oldDir, attempt)
			break
		}
		l.logger.Info("log truncated while it was being copied; copying again", "to", newDir)
	}
	if err != nil {
		l.logger.Warn("relocation failed; the log stays where it is", "to", newDir, "err", err)
		return err
	}
	l.logger.Info("relocated log", "from", oldDir, "to", newDir, "log_end_offset", l.leo.Load())
	return nil
}

// copiedSegment is one segment's copy in the future directory.
type copiedSegment struct {
	dst     File  // the .log copy, open until the switch or abort
	n       int64 // bytes of the .log copied
	synced  int64 // bytes of the .log fsynced
	indexes bool  // the (sealed) indexes are copied and fsynced
}

// relocateOnce makes one attempt. restart is true when a truncation
// invalidated the copy, which is then removed.
func (l *Log) relocateOnce(ctx context.Context, r *relocation) (restart bool, err error) {
	copied := map[*segment]*copiedSegment{}
	committed := false
	defer func() {
		for _, c := range copied {
			if c.dst != nil {
				c.dst.Close()
			}
		}
		if !committed {
			if rerr := l.fs.RemoveAll(r.future); rerr != nil {
				l.logger.Warn("remove unfinished relocation copy", "dir", r.future, "err", rerr)
			}
		}
	}()
	if err := l.fs.MkdirAll(r.future, 0o755); err != nil {
		return false, fmt.Errorf("log: relocate: create %s: %w", r.future, err)
	}
	gen := l.truncations()
	buf := make([]byte, relocateChunk)
	r.copiedEnd.Store(0)
	r.copiedBytes.Store(0)

	for rounds := 0; rounds < relocateRounds; {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		r.held = false
		// The log end offset is read before the sizes: the bytes below
		// the sizes hold every batch below it.
		leo := l.leo.Load()
		l.segMu.RLock()
		segs, closed := slices.Clone(l.segs), l.filesClosed
		l.segMu.RUnlock()
		if closed {
			return false, ErrClosed
		}
		if l.truncations() != gen {
			return true, nil
		}
		var moved int64
		for i, s := range segs {
			sealed := i < len(segs)-1
			n, err := l.copySegment(r, copied, s, sealed, buf, true)
			if err != nil {
				return false, err
			}
			moved += n
		}
		if err := l.forgetDropped(copied, segs); err != nil {
			return false, err
		}
		l.noteProgress(r, copied, leo)
		if moved < relocateTail {
			break
		}
		if !r.held {
			rounds++
		}
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return l.finishRelocation(r, copied, gen, buf, &committed)
}

// truncations is the truncation generation (truncGen): a change means
// bytes already copied may be gone.
func (l *Log) truncations() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.truncGen
}

// noteProgress publishes how far the copy has got.
func (l *Log) noteProgress(r *relocation, copied map[*segment]*copiedSegment, leo int64) {
	var size int64
	for _, c := range copied {
		size += c.n
	}
	r.copiedBytes.Store(size)
	r.copiedEnd.Store(leo)
}

// copySegment brings the copy of s up to date: the .log bytes not copied
// yet and, once s is sealed, its indexes. With background set it reads
// under segMu, checking that s is still in the log; otherwise the caller
// holds mu and syncIOMu, so nothing changes under it. It returns how many
// bytes it copied.
func (l *Log) copySegment(r *relocation, copied map[*segment]*copiedSegment, s *segment, sealed bool, buf []byte, background bool) (int64, error) {
	c := copied[s]
	if c == nil {
		f, err := l.fs.OpenFile(filepath.Join(r.future, fileName(s.base, logSuffix)), osCreateTrunc, 0o644)
		if err != nil {
			return 0, fmt.Errorf("log: relocate: %w", err)
		}
		c = &copiedSegment{dst: f}
		copied[s] = c
	}
	var total int64
	for {
		src, ok, err := l.readForCopy(s, buf, c.n, background)
		if err != nil {
			return total, fmt.Errorf("log: relocate: read %s at %d: %w", s.path, c.n, err)
		}
		if !ok {
			return total, nil // gone: forgetDropped removes the copy
		}
		if src == 0 {
			break
		}
		if _, err := c.dst.WriteAt(buf[:src], c.n); err != nil {
			return total, fmt.Errorf("log: relocate: write %s: %w", c.dst.Name(), err)
		}
		c.n += int64(src)
		total += int64(src)
		if background {
			// DescribeLogDirs shows the copy growing while the pacer
			// holds it back, not only at the end of each round.
			r.copiedBytes.Add(int64(src))
		}
		if err := r.paceBackground(src, background); err != nil {
			return total, err
		}
	}
	if c.synced < c.n {
		if err := c.dst.Sync(); err != nil {
			return total, fmt.Errorf("log: relocate: fsync %s: %w", c.dst.Name(), err)
		}
		c.synced = c.n
	}
	if sealed && !c.indexes {
		if err := s.ensureIndexes(); err != nil {
			return total, fmt.Errorf("log: relocate: %w", err)
		}
		for _, ix := range []struct {
			suffix string
			file   func() fileReader
		}{
			{indexSuffix, func() fileReader { return s.index.file }},
			{timeIndexSuffix, func() fileReader { return s.tindex.file }},
		} {
			n, err := l.copyWholeFile(r, s, ix.file, filepath.Join(r.future, fileName(s.base, ix.suffix)), buf, background)
			if err != nil {
				return total, err
			}
			total += n
		}
		c.indexes = true
	}
	return total, nil
}

// paceBackground paces n bytes just copied by a background round; the
// final copy under the writer lock (background false) is never paced.
func (r *relocation) paceBackground(n int, background bool) error {
	if !background || r.pace == nil || n <= 0 {
		return nil
	}
	return r.pace(n)
}

// readForCopy reads the .log bytes of s from pos into buf, at most up to
// its published size. n is 0 at the end; ok is false when s is no longer
// in the log.
func (l *Log) readForCopy(s *segment, buf []byte, pos int64, background bool) (n int, ok bool, err error) {
	if background {
		l.segMu.RLock()
		defer l.segMu.RUnlock()
		if l.filesClosed || !l.holds(s) {
			return 0, false, nil
		}
	}
	end := s.size.Load()
	if pos >= end {
		return 0, true, nil
	}
	want := min(int64(len(buf)), end-pos)
	m, err := s.log.ReadAt(buf[:want], pos)
	if int64(m) < want {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, true, err
	}
	return m, true, nil
}

// holds reports whether s is one of the log's segments. The caller holds
// segMu or mu.
func (l *Log) holds(s *segment) bool {
	i := segmentFor(l.segs, s.base)
	return i < len(l.segs) && l.segs[i] == s
}

// copyWholeFile copies a sealed index file of s to dst and fsyncs it.
func (l *Log) copyWholeFile(r *relocation, s *segment, file func() fileReader, dst string, buf []byte, background bool) (int64, error) {
	out, err := l.fs.OpenFile(dst, osCreateTrunc, 0o644)
	if err != nil {
		return 0, fmt.Errorf("log: relocate: %w", err)
	}
	defer out.Close()
	var pos int64
	for {
		n, gone, err := l.readIndexChunk(s, file, buf, pos, background)
		if err != nil {
			return pos, fmt.Errorf("log: relocate: read %s: %w", dst, err)
		}
		if gone || n == 0 {
			break
		}
		if _, err := out.WriteAt(buf[:n], pos); err != nil {
			return pos, fmt.Errorf("log: relocate: write %s: %w", dst, err)
		}
		pos += int64(n)
		if err := r.paceBackground(n, background); err != nil {
			return pos, err
		}
	}
	if err := out.Sync(); err != nil {
		return pos, fmt.Errorf("log: relocate: fsync %s: %w", dst, err)
	}
	return pos, nil
}

func (l *Log) readIndexChunk(s *segment, file func() fileReader, buf []byte, pos int64, background bool) (n int, gone bool, err error) {
	if background {
		l.segMu.RLock()
		defer l.segMu.RUnlock()
		if l.filesClosed || !l.holds(s) {
			return 0, true, nil
		}
	}
	n, err = file().ReadAt(buf, pos)
	if err == io.EOF {
		err = nil
	}
	return n, false, err
}

// forgetDropped removes the copies of segments that left the log
// (retention, DeleteRecords, a cleaner swap). A segment the cleaner
// replaced has a successor with the same base offset whose copy uses the
// same file names: those files stay.
func (l *Log) forgetDropped(copied map[*segment]*copiedSegment, segs []*segment) error {
	for s, c := range copied {
		if slices.Contains(segs, s) {
			continue
		}
		c.dst.Close()
		delete(copied, s)
		if slices.ContainsFunc(segs, func(t *segment) bool { return t.base == s.base }) {
			continue
		}
		dir := filepath.Dir(c.dst.Name())
		for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := l.fs.Remove(filepath.Join(dir, fileName(s.base, suffix))); err != nil && !isNotExist(err) {
				return fmt.Errorf("log: relocate: %w", err)
			}
		}
	}
	return nil
}

// finishRelocation copies the rest under the writer lock, commits by
// renaming the copy into place and switches the log to it.
func (l *Log) finishRelocation(r *relocation, copied map[*segment]*copiedSegment, gen int64, buf []byte, committed *bool) (restart bool, err error) {
	// No cleaning pass runs across the switch: a pass writes its files and
	// checkpoint into the log's directory.
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.syncIOMu.Lock()
	defer l.syncIOMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return false, err
	}
	if l.truncGen != gen {
		return true, nil
	}
	oldDir := l.dir
	segs := l.segs // mu keeps it from changing
	for i, s := range segs {
		if c := copied[s]; c != nil && c.n > s.size.Load() {
			return true, nil // cut shorter without a truncation: be safe
		}
		if _, err := l.copySegment(r, copied, s, i < len(segs)-1, buf, false); err != nil {
			return false, err
		}
	}
	if err := l.forgetDropped(copied, segs); err != nil {
		return false, err
	}
	if err := l.copySmallFiles(oldDir, r.future); err != nil {
		return false, err
	}

	// Open the copies of the indexes now, so nothing can fail after the
	// commit point. The active segment's indexes live in memory; their
	// files are written when it is sealed, as after a roll.
	type handles struct{ log, index, tindex File }
	open := make([]handles, len(segs))
	closeOpened := func() {
		for _, h := range open {
			for _, f := range []File{h.index, h.tindex} {
				if f != nil {
					f.Close()
				}
			}
		}
	}
	for i, s := range segs {
		open[i].log = copied[s].dst
		if i == len(segs)-1 {
			continue
		}
		flag := os.O_RDWR
		if open[i].index, err = l.fs.OpenFile(filepath.Join(r.future, fileName(s.base, indexSuffix)), flag, 0o644); err == nil {
			open[i].tindex, err = l.fs.OpenFile(filepath.Join(r.future, fileName(s.base, timeIndexSuffix)), flag, 0o644)
		}
		if err != nil {
			closeOpened()
			return false, fmt.Errorf("log: relocate: %w", err)
		}
	}
	marker := []byte(oldDir + "\n")
	if err := writeFileAtomic(l.fs, r.future, relocatedMarker, marker); err != nil {
		closeOpened()
		return false, fmt.Errorf("log: relocate: %w", err)
	}
	if err := l.fs.SyncDir(r.future); err != nil {
		closeOpened()
		return false, fmt.Errorf("log: relocate: fsync %s: %w", r.future, err)
	}
	if err := l.fs.Rename(r.future, r.target); err != nil {
		closeOpened()
		return false, fmt.Errorf("log: relocate: rename %s: %w", r.future, err)
	}
	parent := filepath.Dir(r.target)
	if err := l.fs.SyncDir(parent); err != nil {
		// The rename may not survive a crash. Undo it, so that a restart
		// never prefers the copy to the old directory the log keeps
		// using; when even that fails, the log cannot promise anything.
		closeOpened()
		if rerr := l.fs.RemoveAll(r.target); rerr != nil {
			return false, l.fail("relocate: undo "+r.target, errors.Join(err, rerr))
		}
		if serr := l.fs.SyncDir(parent); serr != nil {
			return false, l.fail("relocate: undo "+r.target, errors.Join(err, serr))
		}
		return false, fmt.Errorf("log: relocate: fsync %s: %w", parent, err)
	}
	*committed = true

	// The switch: readers hold segMu, fsyncs hold syncIOMu.
	var old []File
	l.segMu.Lock()
	for i, s := range segs {
		h := open[i]
		s.path = filepath.Join(r.target, fileName(s.base, logSuffix))
		s.unborn = false // the copy made its file
		old = append(old,
			s.log.retarget(s.path, h.log),
			s.index.file.retarget(filepath.Join(r.target, fileName(s.base, indexSuffix)), h.index),
			s.tindex.file.retarget(filepath.Join(r.target, fileName(s.base, timeIndexSuffix)), h.tindex))
		// The .txnindex was copied with the small files; the next abort
		// reopens it at its new name.
		if err := s.txn.close(); err != nil {
			l.logger.Warn("close the old aborted-transaction index", "file", s.txn.filePath(), "err", err)
		}
		s.txn.setPath(filepath.Join(r.target, fileName(s.base, txnIndexSuffix)))
		copied[s].dst = nil // now the segment's
	}
	l.forgetZeroAhead(l.active) // the copy holds none
	l.dir = r.target
	target := r.target
	l.dirName.Store(&target)
	l.segMu.Unlock()
	for _, f := range old {
		if f != nil {
			f.Close()
		}
	}

	// The old directory and then the marker go. If a crash interrupts
	// this, SettleRelocations finishes it.
	if err := l.fs.RemoveAll(oldDir); err != nil {
		l.logger.Warn("remove the old directory of a relocated log", "dir", oldDir, "err", err)
		return false, nil
	}
	if err := l.fs.SyncDir(filepath.Dir(oldDir)); err != nil {
		l.logger.Warn("fsync after removing the old directory of a relocated log", "dir", oldDir, "err", err)
		return false, nil
	}
	if err := l.fs.Remove(filepath.Join(r.target, relocatedMarker)); err != nil {
		l.logger.Warn("remove relocation marker", "dir", r.target, "err", err)
	} else if err := l.fs.SyncDir(r.target); err != nil {
		return false, l.fail("fsync directory", err)
	}
	return false, nil
}

// copySmallFiles copies every file of dir that is not a segment or one of
// its offset and time indexes, or a leftover (checkpoints, producer
// snapshots, aborted-transaction indexes, the owner's files such as
// partition.metadata) to future, fsyncing each. The caller holds mu and
// syncIOMu, under which the log writes them.
func (l *Log) copySmallFiles(dir, future string) error {
	entries, err := l.fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("log: relocate: list %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == relocatedMarker || strings.HasSuffix(name, tmpSuffix) ||
			strings.HasSuffix(name, deletedSuffix) || strings.HasSuffix(name, cleanedSuffix) ||
			strings.HasSuffix(name, swapSuffix) {
			continue
		}
		if _, suffix, ok := parseFileName(name); ok && (suffix == logSuffix || suffix == indexSuffix || suffix == timeIndexSuffix) {
			continue
		}
		data, err := ReadSmallFile(l.fs, filepath.Join(dir, name), maxSnapshotBytes)
		if err != nil {
			return fmt.Errorf("log: relocate: read %s: %w", name, err)
		}
		if err := writeFileNoRename(l.fs, filepath.Join(future, name), data); err != nil {
			return fmt.Errorf("log: relocate: %w", err)
		}
	}
	return nil
}

// writeFileNoRename writes and fsyncs a new file (the directory is fsynced
// later, with the rest of the copy).
func writeFileNoRename(fsys FS, path string, data []byte) error {
	f, err := fsys.OpenFile(path, osCreateTrunc, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return f.Close()
}

// IsRelocationLeftover reports whether name, an entry of a log directory,
// is the copy of an unfinished relocation.
func IsRelocationLeftover(name string) bool {
	return strings.HasSuffix(name, futureSuffix)
}

// ErrDuplicatePartitionDir is returned by SettleRelocations when a
// partition's directory is in several log directories and no single
// relocation marker says which copy is the log.
var ErrDuplicatePartitionDir = errors.New("log: partition directory in several log directories")

// SettleRelocations finishes what relocations interrupted by a crash left
// in the log directories roots. It must run before any log in them is
// opened: every <name>.<id>-future copy is removed (the old directory was
// still the log), and a partition directory found in more than one root is
// kept where the relocation marker is (the relocation had committed) and
// removed elsewhere. A marker is removed only once the directory it names
// is known to be gone: its root was listed here and holds no copy.
//
// A partition directory in several roots that no single marker resolves is
// left alone, reported in dup (wrapping ErrDuplicatePartitionDir) and
// listed in dupNames. Kafka refuses to start then (LogManager.loadLog), and
// so should the caller: either copy may be the log, and opening the wrong
// one would serve a stale log and write over what was acknowledged after
// it. That is also why a marker whose root could not be read is kept: when
// a disk missing at one start comes back with the old copy, the marker
// still says which copy is the log. Roots that cannot be read are returned
// in failed with their errors and left alone.
func SettleRelocations(fsys FS, roots []string, logger *slog.Logger) (failed map[string]error, dupNames []string, dup error) {
	if fsys == nil {
		fsys = OSFS{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	failed = map[string]error{}
	listed := map[string]bool{}    // roots read in full
	where := map[string][]string{} // partition directory name -> roots holding it
	var names []string
	for _, root := range roots {
		entries, err := fsys.ReadDir(root)
		if err != nil {
			if !isNotExist(err) {
				failed[root] = err
			}
			continue
		}
		listed[filepath.Clean(root)] = true
		removed := false
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			name := e.Name()
			if IsRelocationLeftover(name) {
				path := filepath.Join(root, name)
				if err := fsys.RemoveAll(path); err != nil {
					failed[root] = err
					continue
				}
				logger.Info("removed the copy of an unfinished relocation", "dir", path)
				removed = true
				continue
			}
			if len(where[name]) == 0 {
				names = append(names, name)
			}
			where[name] = append(where[name], root)
		}
		if removed {
			if err := fsys.SyncDir(root); err != nil {
				failed[root] = err
			}
		}
	}
	// from reads a marker: the root of the directory it names. ok is
	// false when there is no marker.
	from := func(root, name string) (oldRoot string, ok bool) {
		b, err := ReadSmallFile(fsys, filepath.Join(root, name, relocatedMarker), 4096)
		if err != nil {
			if isNotExist(err) {
				return "", false
			}
			return "", true // a marker that cannot be read names nothing known
		}
		old := strings.TrimSpace(string(b))
		if old == "" {
			return "", true
		}
		return filepath.Dir(filepath.Clean(old)), true
	}
	var dups []string
	for _, name := range names {
		found := where[name]
		var winners, oldRoots []string
		for _, root := range found {
			if oldRoot, ok := from(root, name); ok {
				winners = append(winners, root)
				oldRoots = append(oldRoots, oldRoot)
			}
		}
		if len(winners) > 1 {
			// Several marked copies: moves in a row (c to b, then b to
			// a) whose earlier markers stayed. Each marker names the
			// directory its copy came from, so the log is the one copy
			// no other marker names.
			var newest []int
			for i, root := range winners {
				if !slices.Contains(oldRoots, filepath.Clean(root)) {
					newest = append(newest, i)
				}
			}
			if len(newest) == 1 {
				i := newest[0]
				winners, oldRoots = winners[i:i+1], oldRoots[i:i+1]
			}
		}
		if len(found) > 1 {
			if len(winners) != 1 {
				logger.Error("a partition directory is in several log directories and no relocation marker says which is the log; remove the stale copies by hand",
					"name", name, "log_dirs", found, "marked", winners)
				dupNames = append(dupNames, name)
				dups = append(dups, fmt.Sprintf("%s in %s", name, strings.Join(found, ", ")))
				continue
			}
			settled := true
			for _, root := range found {
				if root == winners[0] {
					continue
				}
				path := filepath.Join(root, name)
				err := fsys.RemoveAll(path)
				if err == nil {
					err = fsys.SyncDir(root)
				}
				if err != nil {
					failed[root] = err
					settled = false
					continue
				}
				logger.Info("removed the old copy of a relocated partition", "dir", path, "kept", filepath.Join(winners[0], name))
			}
			if !settled {
				continue // keep the marker: the next start tries again
			}
		}
		for i, root := range winners {
			dir := filepath.Join(root, name)
			if !listed[oldRoots[i]] {
				logger.Warn("kept the relocation marker of a partition: the log directory it was moved from could not be read",
					"dir", dir, "from", oldRoots[i])
				continue
			}
			if err := fsys.Remove(filepath.Join(dir, relocatedMarker)); err != nil && !isNotExist(err) {
				failed[root] = err
				continue
			}
			if err := fsys.SyncDir(dir); err != nil {
				failed[root] = err
			}
		}
	}
	if len(dups) > 0 {
		dup = fmt.Errorf("%w: %s", ErrDuplicatePartitionDir, strings.Join(dups, "; "))
	}
	return failed, dupNames, dup
}
