package log

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// Durability is group commit: a caller of WaitDurable whose offset is not
// durable yet waits for the sync that covers it, and every waiter of that
// sync shares it. The syncs are done by the log's SyncGroup (group_sync.go):
// the group of its log directory (Options.Group), or one of its own. A sync
// notes the log end offset, fsyncs the active segment (and any rolled
// segment not fsynced yet, with its indexes, and the directory when entries
// changed), then advances the durable offset to what it noted and wakes its
// waiters. Appends continue meanwhile: they need only Log.mu, which the
// sync holds just long enough to note the offset.
//
// Two syncs of one log may run side by side (a group runs up to
// maxSyncRounds rounds at once): each holds syncIOMu read-locked, and
// their fdatasyncs of the active segment overlap. A sync that begins
// after another covers what that one noted too, since fdatasync(2) waits
// for the writeback the other started, but a rolled segment or directory
// the earlier one took is fsynced by that one only. So they finish in the
// order they began: a sync waits for the one before it (syncPlan.prev)
// before it fsyncs what else it took, writes the recovery point and
// advances the durable offset.
//
// An fsync error takes the log offline (Kafka marks the log directory
// offline): the data it covered may or may not be on disk, so nothing more
// is acknowledged or appended.

func (l *Log) waitDurable(ctx context.Context, offset int64) error {
	return l.group.waitDurable(ctx, l, offset)
}

// syncOnce is a sync of the log alone: fsync everything appended so far
// and advance the durable offset. The caller is its group's sync loop.
func (l *Log) syncOnce() error {
	l.syncIOMu.RLock()
	defer l.syncIOMu.RUnlock()
	var p syncPlan
	if err := l.beginSync(&p); err != nil {
		return err
	}
	return l.finishSync(&p, false)
}

// syncPlan is what one sync of a log makes durable, noted by beginSync.
type syncPlan struct {
	target      int64
	active      *segment
	activeGen   uint64 // the active segment's .log writes up to target
	rolled      []*segment
	dirDirty    bool
	parentDirty bool
	err         error // beginSync's, for a SyncGroup
	inDir       bool  // the log is in its SyncGroup's directory
	bySyncFS    bool  // set before beginSync: a syncfs, not the log's own fdatasync, makes it durable
	// prev is closed when the sync of the log that began before this one
	// has finished (nil if none runs); done, when this one has.
	prev, done chan struct{}
}

// beginSync notes the log end offset and what must be fsynced for it. The
// caller holds syncIOMu read-locked until finishSync, which it must call
// when beginSync succeeds.
func (l *Log) beginSync(p *syncPlan) error {
	l.mu.Lock()
	if err := l.saveEpochCheckpoint(); err != nil {
		l.mu.Unlock()
		return err
	}
	p.target = l.leo.Load()
	p.active = l.active
	p.activeGen = p.active.log.writeGen()
	p.rolled = l.pendingRolled
	l.pendingRolled = nil
	p.dirDirty, p.parentDirty = l.dirDirty, l.parentDirty
	l.dirDirty, l.parentDirty = false, false
	l.flushStarted = p.target
	l.unflushedSince = time.Time{}
	if !p.bySyncFS {
		l.noteSync()
	}
	p.prev, p.done = l.syncTail, make(chan struct{})
	l.syncTail = p.done
	l.mu.Unlock()

	l.segMu.RLock()
	closed := l.filesClosed
	l.segMu.RUnlock()
	if closed {
		l.endSync(p)
		return ErrClosed
	}
	return nil
}

// endSync lets the next sync of the log finish.
func (l *Log) endSync(p *syncPlan) {
	close(p.done)
	l.mu.Lock()
	if l.syncTail == p.done {
		l.syncTail = nil
	}
	l.mu.Unlock()
}

// finishSync fsyncs what beginSync noted and advances the durable offset.
// With fsSynced, a sync of the whole filesystem that began after beginSync
// has made the active segment's appends durable (SyncGroup); whatever else
// is pending (rolled segments, directories: rare) is still fsynced here.
func (l *Log) finishSync(p *syncPlan, fsSynced bool) error {
	defer l.endSync(p)
	// syncIOMu keeps retention and truncation from closing these files
	// under the fsync; a segment they already dropped is skipped.
	if !p.active.closed {
		if fsSynced {
			p.active.log.markSynced(p.activeGen)
		} else if err := p.active.log.Sync(); err != nil {
			return l.fail("fsync active segment", fmt.Errorf("fsync %s: %w", p.active.path, err))
		}
	}
	// The rest is the turn of one sync at a time, in the order they began.
	if p.prev != nil {
		<-p.prev
	}
	if err := l.offlineErr(); err != nil {
		return err // a sync before this one failed: nothing more is durable
	}
	if !p.active.closed {
		if err := p.active.txn.sync(); err != nil {
			return l.fail("fsync active segment", err)
		}
	}
	for _, s := range p.rolled {
		if s.closed {
			continue
		}
		if err := s.syncAll(); err != nil {
			return l.fail("fsync rolled segment", err)
		}
	}
	if p.parentDirty {
		// The log's directory was created by Open: its name first.
		if err := l.fs.SyncDir(filepath.Dir(l.dir)); err != nil {
			return l.fail("fsync directory", err)
		}
	}
	if len(p.rolled) > 0 && p.target > l.recoveryPoint {
		// Whole segments became durable: move the recovery point, so a
		// restart scans only what follows. Writing it fsyncs the
		// directory, which also makes the new segment's name durable.
		if err := l.writeRecoveryPoint(p.target); err != nil {
			return l.fail("write recovery point", err)
		}
	} else if p.dirDirty {
		if err := l.fs.SyncDir(l.dir); err != nil {
			return l.fail("fsync directory", err)
		}
	}
	l.syncMu.Lock()
	l.durable = max(l.durable, p.target)
	l.syncMu.Unlock()
	return nil
}

// writeRecoveryPoint persists the recovery point. The caller holds
// syncIOMu, and every offset below off is fsynced.
func (l *Log) writeRecoveryPoint(off int64) error {
	if off == l.recoveryPoint {
		return nil
	}
	if err := l.dirForWrite(); err != nil {
		return err
	}
	if err := writeFileAtomic(l.fs, l.dir, recoveryPointFile, formatOffsetCheckpoint(off)); err != nil {
		return err
	}
	l.recoveryPoint = off
	return nil
}

// syncNow makes everything appended so far durable.
func (l *Log) syncNow() error {
	return l.waitDurable(context.Background(), l.leo.Load())
}

func (l *Log) maybeFlush() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	end := l.leo.Load()
	unflushed := end - l.flushStarted
	since := l.unflushedSince
	cfg := l.cfg
	l.mu.Unlock()
	if err := l.offlineErr(); err != nil {
		return err
	}
	if unflushed <= 0 {
		return nil
	}
	due := unflushed >= max(cfg.FlushMessages, 1) ||
		(cfg.FlushMs >= 0 && !since.IsZero() && l.mono().Sub(since) >= time.Duration(cfg.FlushMs)*time.Millisecond)
	if !due {
		return nil
	}
	return l.waitDurable(context.Background(), end)
}

// startRollFlush asks the background flush to fsync up to offset, the base
// of a segment just rolled, starting it if it is not running. Kafka also
// flushes a rolled segment asynchronously. The caller holds mu.
func (l *Log) startRollFlush(offset int64) {
	l.rollFlushTo = max(l.rollFlushTo, offset)
	if l.rollFlushing {
		return
	}
	l.rollFlushing = true
	l.bg.Add(1)
	go l.rollFlushLoop()
}

// rollFlushLoop fsyncs up to the latest rolled segment, then exits. Close
// waits for it.
func (l *Log) rollFlushLoop() {
	defer l.bg.Done()
	for {
		l.mu.Lock()
		target := l.rollFlushTo
		l.mu.Unlock()
		err := l.waitDurable(context.Background(), target)
		l.mu.Lock()
		if err != nil || l.rollFlushTo == target {
			l.rollFlushing = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
	}
}
