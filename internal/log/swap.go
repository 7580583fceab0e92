package log

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// completeSwaps finishes the segment swaps a crash interrupted (see
// cleaner.go). A <base>.log.swap file is a cleaned segment whose swap was
// committed (the cleaner fsyncs the directory after renaming .cleaned to
// .swap): the segments it replaces, those whose base offset lies in
// [base, the swap's next offset), are deleted, and the swap takes its
// final name, with its indexes when their .swap files are there (else the
// offset and time indexes are rebuilt; a missing .txnindex.swap means the
// cleaned .txnindex was renamed already, as the cleaner always writes one). A cleaned segment always ends at the offset where the
// segments it replaces ended, so the range names exactly those. Index
// .swap files without a .log.swap are leftovers of an uncommitted swap, or
// of a completed one whose indexes were not renamed yet; they go.
func (l *Log) completeSwaps(entries []os.DirEntry) (bool, error) {
	var swaps, logs []int64
	have := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		have[name] = true
		base, suffix, ok := parseFileName(name)
		switch {
		case !ok:
		case suffix == logSuffix+swapSuffix:
			swaps = append(swaps, base)
		case suffix == logSuffix:
			logs = append(logs, base)
		}
	}
	dirty := false
	remove := func(name string) error {
		if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil && !isNotExist(err) {
			return fmt.Errorf("remove %s: %w", name, err)
		}
		delete(have, name)
		dirty = true
		return nil
	}
	for _, base := range swaps {
		swapName := fileName(base, logSuffix+swapSuffix)
		next, err := l.swapNextOffset(filepath.Join(l.dir, swapName), base)
		if err != nil {
			return dirty, err
		}
		// The cleaner always writes a .txnindex.swap; without one, the
		// cleaned .txnindex already took its final name and stays.
		txnRenamed := !have[fileName(base, txnIndexSuffix+swapSuffix)]
		for _, old := range logs {
			if old < base || old >= next {
				continue
			}
			for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
				if suffix == txnIndexSuffix && old == base && txnRenamed {
					continue
				}
				if err := remove(fileName(old, suffix)); err != nil {
					return dirty, err
				}
			}
			l.logger.Info("deleted segment replaced by a cleaned one", "file", fileName(old, logSuffix))
		}
		for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
			if !have[fileName(base, suffix+swapSuffix)] {
				if err := remove(fileName(base, suffix)); err != nil {
					return dirty, err
				}
			}
		}
		// The old segments and indexes must stay deleted before the swap
		// takes their place: a crash must not bring them back beside it.
		if err := l.fs.SyncDir(l.dir); err != nil {
			return dirty, fmt.Errorf("fsync directory: %w", err)
		}
		for _, suffix := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			swapped := fileName(base, suffix+swapSuffix)
			if !have[swapped] {
				continue
			}
			if err := l.fs.Rename(filepath.Join(l.dir, swapped), filepath.Join(l.dir, fileName(base, suffix))); err != nil {
				return dirty, fmt.Errorf("complete swap %s: %w", swapped, err)
			}
			delete(have, swapped)
		}
		// The indexes' names are durable before the .log.swap goes: a
		// .txnindex.swap left without it would be removed as a leftover.
		if err := l.fs.SyncDir(l.dir); err != nil {
			return dirty, fmt.Errorf("fsync directory: %w", err)
		}
		if err := l.fs.Rename(filepath.Join(l.dir, swapName), filepath.Join(l.dir, fileName(base, logSuffix))); err != nil {
			return dirty, fmt.Errorf("complete swap %s: %w", swapName, err)
		}
		delete(have, swapName)
		dirty = true
		l.logger.Info("completed segment swap", "file", fileName(base, logSuffix), "replaced_up_to", next)
	}
	for name := range have {
		if strings.HasSuffix(name, swapSuffix) {
			if err := remove(name); err != nil {
				return dirty, err
			}
			l.logger.Info("removed leftover file", "file", name)
		}
	}
	return dirty, nil
}

// swapNextOffset reads the batch headers of a swap file: the offset after
// its last batch (base when it has none). The file was fsynced before the
// swap was committed, so a bad batch in it is corruption.
func (l *Log) swapNextOffset(path string, base int64) (int64, error) {
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	next := base
	sc := newBatchScanner(f, 0, st.Size(), false)
	for sc.next() {
		next = sc.h.LastOffset() + 1
	}
	if sc.err != nil {
		return 0, sc.err
	}
	if sc.bad != nil {
		return 0, fmt.Errorf("%w: %s at position %d: %v", ErrCorruption, path, sc.pos, sc.bad)
	}
	return next, nil
}
