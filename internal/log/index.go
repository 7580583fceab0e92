package log

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// offsetEntry is one entry of the offset index (.index): the batch whose
// last offset is base+rel starts at byte pos of the segment. As in Kafka, an
// entry is added for the first batch after every index.interval.bytes of
// log, so a lookup lands at most that many bytes before its target.
type offsetEntry struct {
	rel uint32
	pos uint32
}

const offsetEntrySize = 8

func (e offsetEntry) put(b []byte) {
	binary.BigEndian.PutUint32(b, e.rel)
	binary.BigEndian.PutUint32(b[4:], e.pos)
}

func getOffsetEntry(b []byte) offsetEntry {
	return offsetEntry{rel: binary.BigEndian.Uint32(b), pos: binary.BigEndian.Uint32(b[4:])}
}

// lookupOffset returns the position of the last indexed batch whose last
// offset is at or below rel, or 0 when there is none: a scan from there
// meets the batch holding base+rel.
func lookupOffset(ix *sparseIndex[offsetEntry], rel uint32) (int64, error) {
	i, e, err := ix.searchLast(func(e offsetEntry) bool { return e.rel <= rel })
	if err != nil || i < 0 {
		return 0, err
	}
	return int64(e.pos), nil
}

// sparseIndex holds the entries of one index file of a segment. The active
// segment keeps them in memory (mem) and writes them out when it rolls or
// the log closes (the file does not exist before); a sealed segment
// searches its file with ReadAt, so closed segments cost no memory. mu
// guards the fields against concurrent readers; only the log's writer
// (holding Log.mu) changes them.
type sparseIndex[E any] struct {
	entrySize int
	put       func(E, []byte)
	get       func([]byte) E
	file      *cachedFile

	mu     sync.RWMutex
	mem    []E // entries while unsealed
	sealed bool
	fileN  int // entries in the file once sealed
}

func newOffsetIndex(f *cachedFile) *sparseIndex[offsetEntry] {
	return &sparseIndex[offsetEntry]{
		file: f, entrySize: offsetEntrySize,
		put: offsetEntry.put, get: getOffsetEntry,
	}
}

// path is the index file's name.
func (ix *sparseIndex[E]) path() string { return ix.file.Name() }

// len is the number of entries.
func (ix *sparseIndex[E]) len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.lenLocked()
}

func (ix *sparseIndex[E]) lenLocked() int {
	if ix.sealed {
		return ix.fileN
	}
	return len(ix.mem)
}

// at returns entry i; the caller holds mu.
func (ix *sparseIndex[E]) at(i int, buf []byte) (E, error) {
	if !ix.sealed {
		return ix.mem[i], nil
	}
	if _, err := ix.file.ReadAt(buf, int64(i)*int64(ix.entrySize)); err != nil {
		var zero E
		return zero, fmt.Errorf("read %s entry %d: %w", ix.path(), i, err)
	}
	return ix.get(buf), nil
}

// searchLast returns the last entry for which ok holds, assuming ok is true
// for a prefix of the entries; i is -1 when it holds for none.
func (ix *sparseIndex[E]) searchLast(ok func(E) bool) (int, E, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var zero E
	var buf []byte
	if ix.sealed {
		buf = make([]byte, ix.entrySize)
	}
	lo, hi := 0, ix.lenLocked() // the answer is lo-1 once lo == hi
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		e, err := ix.at(mid, buf)
		if err != nil {
			return -1, zero, err
		}
		if ok(e) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return -1, zero, nil
	}
	e, err := ix.at(lo-1, buf)
	return lo - 1, e, err
}

// last returns the last entry, if any.
func (ix *sparseIndex[E]) last() (E, bool, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var zero E
	n := ix.lenLocked()
	if n == 0 {
		return zero, false, nil
	}
	var buf []byte
	if ix.sealed {
		buf = make([]byte, ix.entrySize)
	}
	e, err := ix.at(n-1, buf)
	return e, err == nil, err
}

// add appends an entry to an unsealed index.
func (ix *sparseIndex[E]) add(e E) {
	ix.mu.Lock()
	ix.mem = append(ix.mem, e)
	ix.mu.Unlock()
}

// reset empties an unsealed index (before a rebuild).
func (ix *sparseIndex[E]) reset() {
	ix.mu.Lock()
	ix.mem = ix.mem[:0]
	ix.sealed = false
	ix.fileN = 0
	ix.mu.Unlock()
}

// writeOut writes the in-memory entries to a new file in one write. It
// does not fsync.
func (ix *sparseIndex[E]) writeOut() error {
	ix.mu.RLock()
	b := make([]byte, len(ix.mem)*ix.entrySize)
	for i, e := range ix.mem {
		ix.put(e, b[i*ix.entrySize:])
	}
	ix.mu.RUnlock()
	if err := ix.file.create(); err != nil {
		return fmt.Errorf("create %s: %w", ix.path(), err)
	}
	if len(b) == 0 {
		return nil
	}
	if _, err := ix.file.WriteAt(b, 0); err != nil {
		return fmt.Errorf("write %s: %w", ix.path(), err)
	}
	return nil
}

// seal writes the entries out and switches the index to searching its file.
func (ix *sparseIndex[E]) seal() error {
	if err := ix.writeOut(); err != nil {
		return err
	}
	ix.mu.Lock()
	ix.fileN = len(ix.mem)
	ix.mem = nil
	ix.sealed = true
	ix.mu.Unlock()
	return nil
}

// loadSealed makes an index read its existing file. ok is false when the file
// is missing or not a whole number of entries; the caller then rebuilds it.
func (ix *sparseIndex[E]) loadSealed() (ok bool, err error) {
	st, err := ix.file.Stat()
	if isNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", ix.path(), err)
	}
	if st.Size()%int64(ix.entrySize) != 0 {
		return false, nil
	}
	ix.mu.Lock()
	ix.sealed = true
	ix.fileN = int(st.Size() / int64(ix.entrySize))
	ix.mem = nil
	ix.mu.Unlock()
	return true, nil
}

// fileEntries reads every entry of a sealed index's file (to check it).
func (ix *sparseIndex[E]) fileEntries() ([]E, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	b := make([]byte, ix.fileN*ix.entrySize)
	if len(b) == 0 {
		return nil, nil
	}
	if _, err := ix.file.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", ix.path(), err)
	}
	out := make([]E, ix.fileN)
	for i := range out {
		out[i] = ix.get(b[i*ix.entrySize:])
	}
	return out, nil
}

// prepend puts head before the in-memory entries of an unsealed index,
// keeping those for which keep holds (an index rebuilt in two parts).
func (ix *sparseIndex[E]) prepend(head []E, keep func(E) bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.sealed {
		return
	}
	out := make([]E, 0, len(head)+len(ix.mem))
	out = append(out, head...)
	for _, e := range ix.mem {
		if keep(e) {
			out = append(out, e)
		}
	}
	ix.mem = out
}
