package log

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
)

// The aborted-transaction index (.txnindex, Kafka's TransactionIndex) lists
// the transactions aborted by an ABORT marker in its segment, in marker
// order, so a read_committed fetch learns which batches to skip without
// reading the log. Each entry is 34 bytes, big-endian:
//
//	version           int16  0
//	producerId        int64
//	firstOffset       int64  first offset of the transaction
//	lastOffset        int64  offset of its ABORT marker
//	lastStableOffset  int64  the first unstable offset right after the abort
//
// The file exists only for segments that have (or had) an entry, or that
// the cleaner wrote. Entries are written when the marker is appended, and
// fsynced with the segment's .log, so every entry below the recovery point
// is durable; recovery rebuilds the entries from the recovery point on.

const (
	txnIndexSuffix   = ".txnindex"
	txnEntrySize     = 34
	txnEntryVersion  = 0
	maxTxnIndexBytes = 64 << 20 // bounds what is read of one file
)

// abortedEntry is one entry of a .txnindex.
type abortedEntry struct {
	producerID  int64
	firstOffset int64
	lastOffset  int64
	lso         int64
}

func (e abortedEntry) put(b []byte) {
	binary.BigEndian.PutUint16(b, txnEntryVersion)
	binary.BigEndian.PutUint64(b[2:], uint64(e.producerID))
	binary.BigEndian.PutUint64(b[10:], uint64(e.firstOffset))
	binary.BigEndian.PutUint64(b[18:], uint64(e.lastOffset))
	binary.BigEndian.PutUint64(b[26:], uint64(e.lso))
}

func getAbortedEntry(b []byte) (abortedEntry, bool) {
	e := abortedEntry{
		producerID:  int64(binary.BigEndian.Uint64(b[2:])),
		firstOffset: int64(binary.BigEndian.Uint64(b[10:])),
		lastOffset:  int64(binary.BigEndian.Uint64(b[18:])),
		lso:         int64(binary.BigEndian.Uint64(b[26:])),
	}
	// A transaction's records come before its marker: firstOffset <
	// lastOffset, which also rejects the zeros of a file grown without
	// its data.
	ok := binary.BigEndian.Uint16(b) == txnEntryVersion && e.producerID >= 0 &&
		e.firstOffset >= 0 && e.firstOffset < e.lastOffset && e.lso >= 0
	return e, ok
}

func encodeAborted(es []abortedEntry) []byte {
	b := make([]byte, len(es)*txnEntrySize)
	for i, e := range es {
		e.put(b[i*txnEntrySize:])
	}
	return b
}

// txnIndex is a segment's aborted-transaction index: every entry in
// memory, and the file. Its mutex is a leaf lock: appends hold Log.mu as
// well, fetches hold segMu read-locked, fsyncs hold syncIOMu.
type txnIndex struct {
	mu       sync.Mutex
	files    *FileCache
	fs       FS
	path     string
	file     *cachedFile // nil until the file exists
	entries  []abortedEntry
	unsynced bool // written since the last fsync
}

// openTxnIndex opens the .txnindex at path. With create, an existing file
// (left by an earlier segment at the same base) is emptied; otherwise its
// entries are loaded, and a torn or damaged tail is cut off (dropped says
// how many bytes went). A missing file is an empty index.
func openTxnIndex(files *FileCache, fsys FS, path string, create bool, base int64) (t *txnIndex, dropped int64, err error) {
	t = &txnIndex{files: files, fs: fsys, path: path}
	flag := os.O_RDWR
	if create {
		flag |= os.O_TRUNC
	}
	f, err := fsys.OpenFile(path, flag, 0o644)
	if isNotExist(err) {
		return t, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", path, err)
	}
	t.file = newCachedFile(files, fsys, path)
	if create {
		t.file.install(f, true)
		t.file.release()
		t.unsynced = true
		return t, 0, nil
	}
	defer f.Close() // read into memory; the cache opens it again to append
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("stat %s: %w", path, err)
	}
	size := st.Size()
	if size > maxTxnIndexBytes {
		return nil, 0, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrCorruption, path, size, maxTxnIndexBytes)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); int64(n) < size {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	good := int64(0)
	for ; good+txnEntrySize <= size; good += txnEntrySize {
		e, ok := getAbortedEntry(b[good:])
		if !ok || e.lastOffset < base || (len(t.entries) > 0 && e.lastOffset <= t.entries[len(t.entries)-1].lastOffset) {
			break
		}
		t.entries = append(t.entries, e)
	}
	if good < size {
		if err := f.Truncate(good); err != nil {
			return nil, 0, fmt.Errorf("truncate %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return nil, 0, fmt.Errorf("fsync %s: %w", path, err)
		}
	}
	return t, size - good, nil
}

// append adds an entry at the end of the file, creating the file when it
// does not exist yet (created is then true: its name is not durable until
// the directory is fsynced).
func (t *txnIndex) append(fsys FS, e abortedEntry) (created bool, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == nil {
		t.file = newCachedFile(t.files, t.fs, t.path)
		if err := t.file.openWith(os.O_CREATE|os.O_RDWR, true); err != nil {
			t.file = nil
			return false, fmt.Errorf("create %s: %w", t.path, err)
		}
		created = true
	}
	var b [txnEntrySize]byte
	e.put(b[:])
	if _, err := t.file.WriteAt(b[:], int64(len(t.entries))*txnEntrySize); err != nil {
		return created, fmt.Errorf("write %s: %w", t.path, err)
	}
	t.entries = append(t.entries, e)
	t.unsynced = true
	return created, nil
}

// truncateFrom drops the entries whose marker is at or after offset.
func (t *txnIndex) truncateFrom(offset int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.entries)
	for n > 0 && t.entries[n-1].lastOffset >= offset {
		n--
	}
	if n == len(t.entries) {
		return nil
	}
	t.entries = t.entries[:n]
	if t.file == nil {
		return nil
	}
	if err := t.file.Truncate(int64(n) * txnEntrySize); err != nil {
		return fmt.Errorf("truncate %s: %w", t.path, err)
	}
	t.unsynced = true
	return nil
}

// writeAll writes entries as a new file (the cleaner's output), which
// always exists afterwards, even when empty.
func (t *txnIndex) writeAll(fsys FS, entries []abortedEntry) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == nil {
		t.file = newCachedFile(t.files, t.fs, t.path)
	}
	if err := t.file.create(); err != nil {
		return fmt.Errorf("create %s: %w", t.path, err)
	}
	if _, err := t.file.WriteAt(encodeAborted(entries), 0); err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	t.entries = append(t.entries[:0], entries...)
	t.unsynced = true
	return nil
}

// sync fsyncs the file if it was written since the last fsync.
func (t *txnIndex) sync() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == nil || !t.unsynced {
		return nil
	}
	if err := t.file.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", t.path, err)
	}
	t.unsynced = false
	return nil
}

// close closes the file; a later append reopens it (at path, which may have
// changed meanwhile: relocation).
func (t *txnIndex) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.file == nil {
		return nil
	}
	err := t.file.Close()
	t.file = nil
	return err
}

// setPath points the index at a new file name (a swap or a relocation
// renamed it). A file left open keeps its handle.
func (t *txnIndex) setPath(path string) {
	t.mu.Lock()
	t.path = path
	if t.file != nil {
		t.file.setPath(path)
	}
	t.mu.Unlock()
}

func (t *txnIndex) filePath() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.path
}

// snapshot returns a copy of the entries.
func (t *txnIndex) snapshot() []abortedEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]abortedEntry(nil), t.entries...)
}

// collect appends to out the entries with lastOffset >= from and
// firstOffset < upTo. complete is true once an entry shows that no later
// abort can concern the range: its last stable offset is at or past upTo,
// so every transaction aborted after it began at or after upTo.
func (t *txnIndex) collect(from, upTo int64, out []AbortedTxn) (_ []AbortedTxn, complete bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.entries {
		if e.lastOffset >= from && e.firstOffset < upTo {
			out = append(out, AbortedTxn{ProducerID: e.producerID, FirstOffset: e.firstOffset, LastOffset: e.lastOffset})
		}
		if e.lso >= upTo {
			return out, true
		}
	}
	return out, false
}
