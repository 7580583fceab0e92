package log

import (
	"bytes"
	"fmt"
	"time"
)

// Zero-ahead: a log whose syncs are frequent and small keeps zeros written
// past the end of its active segment, so that its appends overwrite
// allocated blocks instead of growing the file.
//
// fdatasync(2) of an append must also commit the file's new size and block
// allocation: on ext4 that is a journal commit, one after another for the
// whole filesystem. fdatasync of an overwrite inside the file writes the
// data and flushes the disk's cache, and nothing else. On the development
// machine's disk a 5 KB append plus fdatasync took 0.25 ms at the median;
// the same write into zeros written ahead 0.16 ms, the zeros included.
// That is most of what an acks=all answer waits for at moderate load.
//
// The zeros cost a second write of every byte (zeros first, data later),
// so only a log whose fdatasyncs each covered less than zeroAheadSyncBytes
// on average, one of them within zeroAheadHot, writes them: a
// latency-bound log. A log whose syncs cover much more amortizes the
// journal commit anyway, and so do logs made durable together by one
// syncfs(2) (a SyncGroup round of several logs): their syncs do not count. The zeros are written in chunks, from zeroAheadMinChunk doubling
// to zeroAheadMaxChunk per segment, each once the appends come within half
// a chunk of the end of the last, and their writeback starts at once
// (sync_file_range(2)) so that a sync of the data after them waits for
// little. The appender that writes a chunk holds the log's writer lock
// meanwhile: chunks of 1 MiB gave the latency benchmark an end-to-end p99
// of 3.3-7.1 ms, chunks of 256 KiB 2.4-2.9 ms, with the same median. A log
// directory holds at most zeroAheadBudget of them.
//
// The zeros are never data: segment.size is the log's end, readers never
// read past it, and a roll, a truncation and Close cut them off. After a
// crash the scan of the last segment stops at them and cuts the file there
// (recovery.go). Failing to write them (a full disk) costs nothing but the
// speed-up: the file is cut back to its end.
const (
	zeroAheadMinChunk  = 64 << 10
	zeroAheadMaxChunk  = 256 << 10
	zeroAheadSyncBytes = 64 << 10
	zeroAheadHot       = time.Second
	zeroAheadBudget    = 64 << 20
)

// zeroAheadState is a log's record of its syncs, which decides whether it
// writes zeros ahead. Guarded by Log.mu.
type zeroAheadState struct {
	appended     int64         // bytes appended since Open
	syncedAt     int64         // appended when the last sync began
	lastSync     time.Time     // mono time the last sync began
	avgSyncBytes time.Duration // moving average of bytes per sync (average() works on Durations)
}

// noteSync records that a sync began. The caller holds mu.
func (l *Log) noteSync() {
	z := &l.zeroAhead
	n := z.appended - z.syncedAt
	if n == 0 {
		return
	}
	z.syncedAt = z.appended
	z.lastSync = l.mono()
	z.avgSyncBytes = average(z.avgSyncBytes, time.Duration(n))
}

// wantsZeroAhead reports whether the log's syncs are small and recent.
// The caller holds mu.
func (l *Log) wantsZeroAhead() bool {
	z := &l.zeroAhead
	return !z.lastSync.IsZero() && z.avgSyncBytes <= zeroAheadSyncBytes &&
		l.mono().Sub(z.lastSync) <= zeroAheadHot
}

// wrote accounts for n bytes just written at pos of the active segment s,
// and writes zeros ahead of them when the log wants them and they run
// short. The caller holds mu.
func (l *Log) wrote(s *segment, pos int64, n int) {
	end := pos + int64(n)
	l.zeroAhead.appended += int64(n)
	if s.zeroEnd > pos {
		l.group.zeroBytes.Add(max(s.zeroEnd-end, 0) - (s.zeroEnd - pos))
	}
	if s.zeroTorn || s.zeroEnd-end > s.zeroChunk/2 || !l.wantsZeroAhead() {
		return
	}
	chunk := min(max(2*s.zeroChunk, zeroAheadMinChunk), zeroAheadMaxChunk)
	from := max(s.zeroEnd, end)
	// No zeros past segment.bytes: the segment rolls there.
	if chunk = min(chunk, l.cfg.SegmentBytes-from); chunk < 4<<10 {
		return
	}
	if l.group.zeroBytes.Add(chunk) > zeroAheadBudget {
		l.group.zeroBytes.Add(-chunk)
		return
	}
	if err := s.log.writeZeros(l.group.zeroBuf(chunk), from); err != nil {
		l.group.zeroBytes.Add(-chunk)
		l.logger.Debug("writing zeros ahead of the log end failed; appends grow the file", "file", s.path, "err", err)
		// Part of them may be on file: the roll or Close cuts the file
		// back to its end. No more zeros in this segment.
		s.zeroTorn = true
		return
	}
	s.zeroEnd, s.zeroChunk = from+chunk, chunk
}

// dropZeroAhead cuts the segment's file back to its end if zeros were
// written past it (a roll, Close). With sync the cut is durable when it
// returns: Open takes the size of a segment below the recovery point from
// its file, and the recovery point may already be at the segment's end
// when it is sealed. The caller holds mu.
func (l *Log) dropZeroAhead(s *segment, sync bool) error {
	if s.zeroEnd == 0 && !s.zeroTorn && !s.zeroCut {
		return nil
	}
	l.forgetZeroAhead(s)
	if err := s.log.Truncate(s.size.Load()); err != nil {
		return fmt.Errorf("cut the zeros past the end of %s: %w", s.path, err)
	}
	s.zeroTorn = false
	if !sync {
		s.zeroCut = true // not durable yet
		return nil
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", s.path, err)
	}
	s.zeroCut = false
	return nil
}

// forgetZeroAhead drops the record of zeros past the segment's end whose
// file is cut or removed by its caller. The caller holds mu.
func (l *Log) forgetZeroAhead(s *segment) {
	if s.zeroEnd == 0 {
		return
	}
	l.group.zeroBytes.Add(-max(s.zeroEnd-s.size.Load(), 0))
	s.zeroEnd = 0
}

// zeroBuf returns n zero bytes, shared by the group's logs: nothing
// writes into it.
func (g *SyncGroup) zeroBuf(n int64) []byte {
	g.zeroMu.Lock()
	defer g.zeroMu.Unlock()
	if int64(len(g.zeros)) < n {
		g.zeros = make([]byte, n)
	}
	return g.zeros[:n]
}

// writeZeros writes p (zeros) at off without marking the file dirty: they
// need no fsync, so the cache may close the file before one. Their
// writeback starts at once where the FS can.
func (h *cachedFile) writeZeros(p []byte, off int64) error {
	f, err := h.acquire("write", false)
	if err != nil {
		return err
	}
	defer h.release()
	if _, err := f.WriteAt(p, off); err != nil {
		return err
	}
	if w, ok := f.(writebackStarter); ok {
		w.StartWriteback(off, int64(len(p)))
	}
	return nil
}

// writebackStarter is a File that can start writing a range to disk
// without waiting for it: sync_file_range(2) on Linux.
type writebackStarter interface {
	StartWriteback(off, n int64) error
}

// allZeros reports whether the file holds only zeros from pos to end, for
// at most limit bytes: the zeros a crash left past a log's end.
func allZeros(f *cachedFile, pos, end, limit int64) bool {
	if end-pos > limit {
		return false
	}
	buf := make([]byte, end-pos)
	if _, err := f.ReadAt(buf, pos); err != nil {
		return false
	}
	return len(bytes.TrimLeft(buf, "\x00")) == 0
}
