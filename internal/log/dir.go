package log

import (
	"fmt"
	"path/filepath"
)

// A new log's directory is made by the log's first write into it (its
// first segment file, a checkpoint, a producer snapshot, a relocation),
// not by Open: making a directory is most of what opening a new, empty
// log costs, and a broker that creates 10,000 partitions at once leaves
// most of them empty for a while. Until then the log is empty at offset
// 0, which is exactly what Open makes of a missing directory, so a crash
// at any point loses nothing. A directory made for an append is fsynced,
// with its parent's entry for it, by the log's next fsync, before the
// append is acknowledged; one made for a checkpoint has its parent's
// entry fsynced at once, as the checkpoint itself is.

// ensureDir makes the log's directory if Open left it to the first write.
// created reports whether this call made it: the caller then owes the
// directory and its parent an fsync.
func (l *Log) ensureDir() (created bool, err error) {
	if !l.dirPending.Load() {
		return false, nil
	}
	l.dirMu.Lock()
	defer l.dirMu.Unlock()
	if !l.dirPending.Load() {
		return false, nil
	}
	if err := l.fs.MkdirAll(l.dir, 0o755); err != nil {
		return false, fmt.Errorf("create %s: %w", l.dir, err)
	}
	l.dirPending.Store(false)
	return true, nil
}

// dirForWrite is ensureDir for a write that is durable when it returns (a
// checkpoint, a snapshot, a relocation): the parent's entry for a
// directory it makes is fsynced before it returns.
func (l *Log) dirForWrite() error {
	created, err := l.ensureDir()
	if err != nil || !created {
		return err
	}
	if err := l.fs.SyncDir(filepath.Dir(l.dir)); err != nil {
		return fmt.Errorf("fsync directory %s: %w", filepath.Dir(l.dir), err)
	}
	return nil
}

// bearDir is ensureDir for the first segment file (bear): the next fsync
// makes the directory and its parent's entry durable. The caller holds
// mu.
func (l *Log) bearDir() error {
	created, err := l.ensureDir()
	if err != nil {
		return l.fail("create log directory", err)
	}
	if created {
		l.dirDirty, l.parentDirty = true, true
	}
	return nil
}

// EnsureDir makes the log's directory now if it does not exist yet (Open
// of a new log leaves it to the first write), for a file its owner keeps
// beside the log's (partition.metadata). The log's next fsync makes the
// directory durable, before any append is acknowledged.
func (l *Log) EnsureDir() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	return l.bearDir()
}
