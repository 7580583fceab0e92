package log

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Retention deletes whole segments from the front of the log in Kafka's
// order (the first two only when cleanup.policy includes delete): segments
// whose largest timestamp is older than retention.ms, then the oldest while
// the log stays at or above retention.bytes without them, then segments
// wholly below the log start offset (after DeleteRecords). As Kafka's
// deletableSegments, it stops at the first segment with records at or above
// the high watermark (HighWatermarkMoved), so the log start offset never
// passes it, and the active segment counts too once it holds records: it
// is rolled first, so the log keeps a segment at its end offset and the
// log start offset moves there. The log start offset is checkpointed before
// the files go, and the directory is fsynced after. Files are deleted right
// away: file.delete.delay.ms exists in Kafka for readers of memory-mapped
// segments, and readers here hold the segment list while they read.

func (l *Log) applyRetention() (int, error) {
	l.swapMu.Lock() // not while a cleaning pass swaps segments (cleaner.go)
	defer l.swapMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	if err := l.offlineErr(); err != nil {
		l.mu.Unlock()
		return 0, err
	}
	segs := l.segs
	n := l.retainedFrom(segs)
	if n == 0 {
		l.mu.Unlock()
		return 0, nil
	}
	if n == len(segs) {
		if err := l.roll(); err != nil {
			l.mu.Unlock()
			return 0, err
		}
	}
	doomed, err := l.dropSegments(n, l.segs[n].base)
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return len(doomed), l.removeSegmentFiles(doomed, "retention")
}

// retainedFrom is the index of the first segment of segs retention keeps:
// the ones before it go, every one of them when the active one goes too.
// The caller holds mu.
func (l *Log) retainedFrom(segs []*segment) int {
	cfg, now := l.cfg, l.now().UnixMilli()
	hw := l.hw.Load()
	if hw < 0 {
		hw = math.MaxInt64 // a log outside a partition: nothing to wait for
	}
	// deletable: segment i holds records and all of them are below the
	// high watermark.
	deletable := func(i int) bool {
		if i == len(segs)-1 {
			return segs[i].size.Load() > 0 && l.leo.Load() <= hw
		}
		return segs[i+1].base <= hw
	}
	n := 0
	// Kafka applies time and size retention only when cleanup.policy
	// includes delete; a compact-only log keeps every segment the cleaner
	// leaves, and loses only what lies below the log start offset.
	deletes := cfg.CleanupPolicy.Deletes()
	if deletes && cfg.RetentionMs >= 0 {
		for n < len(segs) && deletable(n) && now-l.largestTimestamp(segs[n]) > cfg.RetentionMs {
			n++
		}
	}
	if deletes && cfg.RetentionBytes >= 0 {
		var diff int64
		for _, s := range segs[n:] {
			diff += s.size.Load()
		}
		diff -= cfg.RetentionBytes
		for n < len(segs) && deletable(n) && diff-segs[n].size.Load() >= 0 {
			diff -= segs[n].size.Load()
			n++
		}
	}
	start := l.logStart.Load()
	for n < len(segs)-1 && deletable(n) && segs[n+1].base <= start {
		n++
	}
	return n
}

func (l *Log) nextRetention(now time.Time, producerExpiry time.Duration) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.offlineErr() != nil {
		return time.Time{}, false
	}
	var due time.Time
	earlier := func(t time.Time) {
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	segs, cfg := l.segs, l.cfg
	// A log with records may have a segment to delete: a sealed one, or
	// the active one holding records.
	if len(segs) >= 2 || segs[0].size.Load() > 0 {
		deletes := cfg.CleanupPolicy.Deletes()
		if (deletes && cfg.RetentionBytes >= 0) || (len(segs) >= 2 && segs[1].base <= l.logStart.Load()) {
			earlier(now)
		}
		if deletes && cfg.RetentionMs >= 0 {
			// Segments go in order: the first one decides when the next
			// deletion can happen.
			earlier(time.UnixMilli(l.largestTimestamp(segs[0]) + cfg.RetentionMs + 1))
		}
	}
	for _, e := range l.producers.byID {
		if e.txnFirst >= 0 {
			earlier(now.Add(producerExpiry)) // not before its transaction ends
			continue
		}
		earlier(time.UnixMilli(e.lastTimestamp + producerExpiry.Milliseconds() + 1))
	}
	return due, !due.IsZero()
}

// retentionDue tells the owner that retention or producer expiry may
// have work (Options.OnRetentionDue). The caller holds mu.
func (l *Log) retentionDue() {
	if l.onRetentionDue != nil {
		l.onRetentionDue()
	}
}

// firstInLoneSegment tells the owner that a log of one segment gains its
// first records: retention may delete that segment once they expire. A
// later segment's roll tells it already. The caller holds mu.
func (l *Log) firstInLoneSegment() {
	if len(l.segs) == 1 {
		l.retentionDue()
	}
}

// largestTimestamp is the segment's largest record timestamp, or its
// modification time when no record has one (as Kafka does).
func (l *Log) largestTimestamp(s *segment) int64 {
	if err := s.ensureIndexes(); err != nil {
		return l.now().UnixMilli() // keep it: the read that needs it reports the error
	}
	if ts, _ := s.maxTimestamp(); ts >= 0 {
		return ts
	}
	st, err := s.log.Stat()
	if err != nil {
		return l.now().UnixMilli() // keep it: retention must not guess
	}
	return st.ModTime().UnixMilli()
}

func (l *Log) deleteRecordsBefore(offset int64) error {
	l.swapMu.Lock() // not while a cleaning pass swaps segments (cleaner.go)
	defer l.swapMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if err := l.offlineErr(); err != nil {
		l.mu.Unlock()
		return err
	}
	if end := l.leo.Load(); offset > end {
		l.mu.Unlock()
		return fmt.Errorf("%w: delete records before %d, log end offset is %d", ErrOffsetOutOfRange, offset, end)
	}
	if offset <= l.logStart.Load() {
		l.mu.Unlock()
		return nil
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n+1].base <= offset {
		n++
	}
	doomed, err := l.dropSegments(n, offset)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.removeSegmentFiles(doomed, "delete records")
}

// dropSegments advances the log start offset to newStart (persisting it
// first) and takes the first n segments out of the log. It returns them
// for removeSegmentFiles. The caller holds mu.
func (l *Log) dropSegments(n int, newStart int64) ([]*segment, error) {
	if newStart > l.logStart.Load() {
		if err := l.writeLogStart(newStart); err != nil {
			return nil, l.fail("write log start offset", err)
		}
		l.logStart.Store(newStart)
	}
	doomed := slices.Clone(l.segs[:n])
	l.segMu.Lock()
	l.segs = slices.Clone(l.segs[n:])
	l.segMu.Unlock()
	l.pendingRolled = slices.DeleteFunc(l.pendingRolled, func(s *segment) bool { return slices.Contains(doomed, s) })
	if l.epochs.truncateFromStart(l.logStart.Load()) {
		if err := l.writeEpochCheckpoint(); err != nil {
			return doomed, l.fail("write leader epoch checkpoint", err)
		}
	}
	return doomed, nil
}

// removeSegmentFiles closes and deletes segments already taken out of the
// log, then fsyncs the directory. It takes syncIOMu, so the caller must not
// hold mu.
func (l *Log) removeSegmentFiles(doomed []*segment, why string) error {
	if len(doomed) == 0 {
		return nil
	}
	l.syncIOMu.Lock()
	for _, s := range doomed {
		s.closeFiles()
		s.closed = true
	}
	dir := l.dir // Relocate may change it once syncIOMu is released
	l.syncIOMu.Unlock()
	for _, s := range doomed {
		if err := l.deleteSegmentFiles(s); err != nil {
			return l.fail("delete segment", err)
		}
		l.logger.Info("deleted segment", "file", s.path, "reason", why, "bytes", s.size.Load())
	}
	// A relocation may have committed while the files were removed. Its
	// copy never held the dropped segments, and the old directory is no
	// longer the log: the relocation removes it (or SettleRelocations does,
	// after a crash), so it needs no fsync, and it may be gone already,
	// which must not take a healthy log offline. syncIOMu keeps a
	// relocation from committing while the directory is fsynced.
	l.syncIOMu.RLock()
	defer l.syncIOMu.RUnlock()
	if l.dir != dir {
		return nil
	}
	if err := l.fs.SyncDir(dir); err != nil {
		return l.fail("fsync directory", err)
	}
	return nil
}
