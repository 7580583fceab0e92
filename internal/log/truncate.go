package log

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// Truncation removes the end of the log, for a follower whose log diverged
// from the leader's (KIP-101: it truncates to the end offset of the last
// common epoch). The recovery point is lowered before any byte goes, so a
// crash in between never finds fsynced-looking data missing.

// Truncate removes every record at or after offset, like Kafka's
// truncateTo: segments based above offset are deleted, and the segment
// holding offset is cut before the batch that contains it. A batch is never
// split, so the log end offset becomes the end of the last batch kept (the
// kept segment's base offset when none is left in it): offset itself, unless
// offset falls inside a batch or a gap. When that end would fall below the
// log start offset, the log is emptied and restarted at the log start
// offset; an offset below the log start offset empties the log and restarts
// it at offset (TruncateFullyAndStartAt). Producer state is rebuilt for the shorter log
// and leader epochs starting at or after the new end are forgotten.
func (l *Log) Truncate(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: truncate to %d", ErrOffsetOutOfRange, offset)
	}
	l.swapMu.Lock()
	defer l.swapMu.Unlock()
	l.syncIOMu.Lock()
	defer l.syncIOMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	// A truncation follows a change of leader: guards taken before it
	// verified against a history that may be gone (verification.go).
	clear(l.verifying)
	if leo := l.leo.Load(); offset >= leo {
		// Nothing to cut, but an epoch entry at the end with no records
		// (a leader that lost its leadership before appending) may clash
		// with the new leader's history: drop it, as Kafka does, or the
		// follower would ask about that epoch again and again.
		if l.epochs.truncateFromEnd(leo) {
			if err := l.writeEpochCheckpoint(); err != nil {
				return l.fail("write leader epoch checkpoint", err)
			}
		}
		return nil
	}
	if err := l.noteTruncation(offset); err != nil {
		return err
	}
	l.pendingStart = nil // it may describe batches about to go
	if offset < l.logStart.Load() {
		return l.truncateFullyLocked(offset)
	}
	k := segmentFor(l.segs, offset)
	keep := l.segs[k]
	pos, end, err := keep.cutPoint(offset)
	if err != nil {
		return err
	}
	if start := l.logStart.Load(); end < start {
		return l.truncateFullyLocked(start)
	}
	if err := l.lowerDurable(end); err != nil {
		return err
	}
	doomed := slices.Clone(l.segs[k+1:])

	l.segMu.Lock()
	l.segs = l.segs[:k+1]
	if err := keep.log.Truncate(pos); err != nil {
		l.segMu.Unlock()
		return l.fail("truncate "+keep.path, err)
	}
	l.forgetZeroAhead(l.active) // cut with the file, or removed with it below
	keep.size.Store(pos)
	l.leo.Store(end)
	l.segMu.Unlock()

	for _, s := range doomed {
		s.closeFiles()
		s.closed = true
	}
	for _, s := range doomed {
		if err := l.removeSegment(s); err != nil {
			return l.fail("truncate", err)
		}
	}

	// The kept segment is the active one again: rebuild its in-memory
	// indexes from what is left of it.
	var none []epochEntry
	keep.loadMu.Lock() // a first use rebuilding part of its index (indexHead) finishes first
	res, err := l.scanSegment(keep, 0, segmentStart(keep), &none)
	keep.loadMu.Unlock()
	if err != nil {
		return l.fail("truncate", err)
	}
	if res.bad != nil {
		return keep.corruptAt(res.badPos, res.bad)
	}
	if keep.firstAppend.IsZero() || keep.size.Load() == 0 {
		keep.firstAppend = l.now()
	}
	l.active = keep

	if err := l.rebuildProducerState(end); err != nil {
		return l.fail("truncate", err)
	}
	// Make the cut and everything before it durable, as a sync would: a
	// crash must neither bring removed batches back past the lowered
	// recovery point nor keep the cut segment while losing an unsynced
	// one before it. Deleted segments and snapshots must stay deleted: a
	// snapshot past the new end coming back would describe batches that
	// are gone.
	for _, s := range l.pendingRolled {
		if s.closed || s == keep {
			continue
		}
		if err := s.syncAll(); err != nil {
			return l.fail("fsync rolled segment", err)
		}
	}
	if err := keep.syncLog(); err != nil {
		return l.fail("fsync truncated segment", err)
	}
	keep.zeroTorn, keep.zeroCut = false, false // cut durably with the file
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail("fsync directory", err)
	}
	if l.parentDirty {
		if err := l.fs.SyncDir(filepath.Dir(l.dir)); err != nil {
			return l.fail("fsync directory", err)
		}
	}
	l.pendingRolled, l.dirDirty, l.parentDirty = nil, false, false
	l.syncMu.Lock()
	l.durable = end
	l.syncMu.Unlock()
	l.flushStarted, l.unflushedSince = end, time.Time{}
	if l.epochs.truncateFromEnd(end) {
		if err := l.writeEpochCheckpoint(); err != nil {
			return l.fail("write leader epoch checkpoint", err)
		}
	}
	l.logger.Info("truncated log", "log_end_offset", end, "deleted_segments", len(doomed))
	return nil
}

// cutPoint finds where to cut a segment so that no record at or after
// offset remains: the position of the first batch whose last offset is at
// or past it, and the offset after the batches before that position.
func (s *segment) cutPoint(offset int64) (pos, end int64, err error) {
	end = s.base
	sc := newBatchScanner(s.log, 0, s.size.Load(), false)
	for sc.next() {
		if sc.h.LastOffset() >= offset {
			return sc.at, end, nil
		}
		end = sc.h.LastOffset() + 1
	}
	if sc.err != nil {
		return 0, 0, sc.err
	}
	if sc.bad != nil {
		return 0, 0, s.corruptAt(sc.pos, sc.bad)
	}
	return sc.pos, end, nil
}

// TruncateFullyAndStartAt deletes every segment and restarts the log empty
// at offset, which becomes both the log start and the log end offset. A
// follower does this when the leader's log starts past the follower's end.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: start at %d", ErrOffsetOutOfRange, offset)
	}
	l.swapMu.Lock()
	defer l.swapMu.Unlock()
	l.syncIOMu.Lock()
	defer l.syncIOMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	return l.truncateFullyLocked(offset)
}

// truncateFullyLocked: the caller holds syncIOMu and mu.
func (l *Log) truncateFullyLocked(offset int64) error {
	if err := l.noteTruncation(offset); err != nil {
		return err
	}
	l.pendingStart = nil
	if err := l.lowerDurable(offset); err != nil {
		return err
	}
	if err := l.writeLogStart(offset); err != nil {
		return l.fail("write log start offset", err)
	}
	l.segMu.Lock()
	defer l.segMu.Unlock()
	doomed := l.segs
	l.forgetZeroAhead(l.active) // removed with its file; a failure takes the log offline
	for _, s := range doomed {
		if err := l.removeSegment(s); err != nil {
			return l.fail("truncate fully", err)
		}
	}
	seg, err := createSegment(l.files, l.fs, l.dir, offset, "")
	if err != nil {
		return l.fail("truncate fully", err)
	}
	l.segs = []*segment{seg}
	l.leo.Store(offset)
	l.logStart.Store(offset)
	l.active = seg
	l.pendingRolled = nil
	for _, off := range l.snapshots {
		if err := l.removeSnapshot(off); err != nil {
			return l.fail("truncate fully", err)
		}
	}
	l.snapshots = nil
	l.producers = newProducerStates()
	l.resetUnreplicated()
	l.publishUnstable()
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.fail("fsync directory", err)
	}
	if l.epochs.clear() {
		if err := l.writeEpochCheckpoint(); err != nil {
			return l.fail("write leader epoch checkpoint", err)
		}
	}
	l.logger.Info("truncated log fully", "start_offset", offset, "deleted_segments", len(doomed))
	return nil
}

// lowerDurable moves the recovery point and the durable offset down to
// offset before data below them is removed. The caller holds syncIOMu and
// mu.
func (l *Log) lowerDurable(offset int64) error {
	if l.recoveryPoint > offset {
		if err := l.dropScanStartFile(); err != nil {
			return l.fail("write recovery point", err)
		}
		if err := l.writeRecoveryPoint(offset); err != nil {
			return l.fail("write recovery point", err)
		}
	}
	l.syncMu.Lock()
	l.durable = min(l.durable, offset)
	l.syncMu.Unlock()
	l.flushStarted = min(l.flushStarted, offset)
	return nil
}

// writable reports why the log cannot change, if it cannot. The caller
// holds mu.
func (l *Log) writable() error {
	if l.closed {
		return ErrClosed
	}
	return l.offlineErr()
}

// noteTruncation records a truncation to end for the cleaner and the log
// relocation: truncGen moves, and the cleaner's checkpoint, on disk and (at
// the next look) in memory, comes down to end if it was above, since what
// follows end is new, uncleaned data (Kafka's maybeTruncateCheckpoint).
// The caller holds syncIOMu and mu.
func (l *Log) noteTruncation(end int64) error {
	if l.truncGen == l.truncatedSeenAt || end < l.truncatedTo {
		l.truncatedTo = end
	}
	l.truncGen++
	b, err := ReadSmallFile(l.fs, filepath.Join(l.dir, cleanerCheckpointFile), 1<<10)
	if err != nil {
		return nil // no checkpoint (or an unreadable one, ignored at load)
	}
	to, horizon, err := parseCleanerCheckpoint(b)
	if err != nil || to <= end {
		return nil
	}
	if err := writeFileAtomic(l.fs, l.dir, cleanerCheckpointFile, formatCleanerCheckpoint(end, horizon)); err != nil {
		return l.fail("lower cleaner checkpoint", err)
	}
	return nil
}
