package log

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/record"
)

// File name suffixes of a segment and of files the log leaves behind.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	deletedSuffix   = ".deleted"
	cleanedSuffix   = ".cleaned"
	swapSuffix      = ".swap"
)

// fileName is the Kafka name of a file of the segment or snapshot at base:
// the offset in 20 digits, then the suffix.
func fileName(base int64, suffix string) string {
	return fmt.Sprintf("%020d%s", base, suffix)
}

// parseFileName splits a Kafka-style file name into its offset and suffix.
func parseFileName(name string) (base int64, suffix string, ok bool) {
	if len(name) < 20 {
		return 0, "", false
	}
	base, err := strconv.ParseInt(name[:20], 10, 64)
	if err != nil || base < 0 || strings.ContainsAny(name[:20], "+-") {
		return 0, "", false
	}
	return base, name[20:], true
}

// segment is one .log file with its two indexes. Bytes below size are
// immutable and visible to readers; only the log's writer appends past it.
// Its files are opened on first use through the log's FileCache, which may
// close them again while they are idle.
type segment struct {
	base   int64
	path   string // of the .log file
	log    *cachedFile
	index  *sparseIndex[offsetEntry]
	tindex *sparseIndex[timeEntry]
	txn    *txnIndex // aborted transactions whose ABORT marker is in this segment

	// size is the published length: readers never read past it.
	size atomic.Int64

	// Writer state, guarded by Log.mu.
	bytesSinceIndex int64
	lastBatchAt     int64     // position of the last batch, -1 when none
	firstAppend     time.Time // wall clock of the first batch, for segment.ms

	// The largest batch max timestamp and the last offset of the first batch
	// that carried it; -1 when no batch has a timestamp.
	tsMu        sync.Mutex
	maxTs       int64
	maxTsOffset int64

	// unchecked is set while the indexes of a sealed segment found at Open
	// have not been read yet: the first use checks them (check, under
	// loadMu) and rebuilds them when damaged, so Open reads no index.
	unchecked atomic.Bool
	loadMu    sync.Mutex
	check     func() error

	// Zeros written past size (zero_ahead.go), guarded by Log.mu: the
	// file holds zeros up to zeroEnd when it is past size; zeroChunk is
	// the last chunk of them written. zeroTorn: writing them failed, and
	// the file may hold part of them past zeroEnd. zeroCut: recovery cut
	// zeros past size without an fsync, so a crash may bring them back.
	// A roll and Close cut the file durably while any of these is set.
	zeroEnd, zeroChunk int64
	zeroTorn, zeroCut  bool

	closed     bool  // guarded by Log.syncIOMu: files closed, nothing to fsync
	txnDropped int64 // bytes of a torn .txnindex tail cut off at open

	// unborn: the segment has no .log file yet. The empty segment of a new
	// or empty log gets its file from its first append (Log.bear), so a
	// partition that is created but never written costs no file. Guarded by
	// Log.mu.
	unborn bool
}

// newSegment makes the segment at base without touching the disk. Files
// whose names carry an extra suffix after the usual one (".cleaned") are
// the cleaner's output.
func newSegment(files *FileCache, fsys FS, dir string, base int64, extra string) *segment {
	s := &segment{base: base, path: filepath.Join(dir, fileName(base, logSuffix)+extra), maxTs: -1, maxTsOffset: -1, lastBatchAt: -1}
	s.log = newCachedFile(files, fsys, s.path)
	s.index = newOffsetIndex(newCachedFile(files, fsys, filepath.Join(dir, fileName(base, indexSuffix)+extra)))
	s.tindex = newTimeIndex(newCachedFile(files, fsys, filepath.Join(dir, fileName(base, timeIndexSuffix)+extra)))
	return s
}

// createSegment creates the segment at base: its .log, empty (its indexes
// are written when it is sealed, its .txnindex on its first abort). A
// .txnindex left by an earlier segment at the same base is emptied.
func createSegment(files *FileCache, fsys FS, dir string, base int64, extra string) (*segment, error) {
	s := newSegment(files, fsys, dir, base, extra)
	// A new segment's name goes to no earlier segment's file (truncation
	// and retention remove them), so there is nothing to fsync in it yet:
	// the cache may close it before its first write.
	if err := s.log.openWith(osCreateTrunc, false); err != nil {
		return nil, fmt.Errorf("create segment %s: %w", s.path, err)
	}
	var err error
	s.txn, s.txnDropped, err = openTxnIndex(files, fsys, filepath.Join(dir, fileName(base, txnIndexSuffix)+extra), true, base)
	if err != nil {
		s.log.Close()
		return nil, err
	}
	return s, nil
}

// unbornSegment makes the empty segment at base without creating a file:
// its first append creates the .log (Log.bear), and its .txnindex is
// created by its first abort, as for any segment. An empty log needs no
// file on disk: recovery takes a directory without segments for an empty
// log at its log start offset.
func unbornSegment(files *FileCache, fsys FS, dir string, base int64) *segment {
	s := newSegment(files, fsys, dir, base, "")
	s.txn = &txnIndex{files: files, fs: fsys, path: filepath.Join(dir, fileName(base, txnIndexSuffix))}
	s.unborn = true
	return s
}

// openSegment opens the existing segment at base: it learns its size and
// loads its aborted-transaction index, and opens no file for good.
func openSegment(files *FileCache, fsys FS, dir string, base int64) (*segment, error) {
	s := newSegment(files, fsys, dir, base, "")
	st, err := fsys.Stat(s.path)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", s.path, err)
	}
	s.size.Store(st.Size())
	s.txn, s.txnDropped, err = openTxnIndex(files, fsys, filepath.Join(dir, fileName(base, txnIndexSuffix)), false, base)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// closeFiles closes the segment's files, returning the first error.
func (s *segment) closeFiles() error {
	err := s.log.Close()
	if e := s.index.file.Close(); err == nil {
		err = e
	}
	if e := s.tindex.file.Close(); err == nil {
		err = e
	}
	if e := s.txn.close(); err == nil {
		err = e
	}
	return err
}

// syncAll fsyncs the segment and its indexes (a rolled segment, before the
// recovery point moves past it). Files not written since their last fsync
// cost nothing.
func (s *segment) syncAll() error {
	if err := s.syncLog(); err != nil {
		return err
	}
	return s.syncIndexes()
}

// syncIndexes fsyncs the offset and time indexes of a sealed segment.
func (s *segment) syncIndexes() error {
	for _, f := range []*cachedFile{s.index.file, s.tindex.file} {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", f.Name(), err)
		}
	}
	return nil
}

// syncLog fsyncs the .log and the aborted-transaction index, whose entries
// must be durable whenever their markers are (the active segment: its
// other indexes live in memory).
func (s *segment) syncLog() error {
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", s.path, err)
	}
	return s.txn.sync()
}

// ensureIndexes checks the indexes of a segment found sealed at Open on
// their first use (see unchecked).
func (s *segment) ensureIndexes() error {
	if !s.unchecked.Load() {
		return nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if !s.unchecked.Load() {
		return nil
	}
	if err := s.check(); err != nil {
		return err
	}
	s.unchecked.Store(false)
	return nil
}

// dropHeadIndex gives up the index entries a first use would have added
// (ensureIndexes failed): the indexes are used as they are, sparser at the
// segment's start.
func (s *segment) dropHeadIndex() {
	s.loadMu.Lock()
	s.unchecked.Store(false)
	s.loadMu.Unlock()
}

// maxTimestamp returns the largest timestamp in the segment and the last
// offset of the batch that carried it first.
func (s *segment) maxTimestamp() (int64, int64) {
	s.tsMu.Lock()
	defer s.tsMu.Unlock()
	return s.maxTs, s.maxTsOffset
}

// observe updates the indexes and timestamps for a batch written at pos
// (h carries the assigned offsets). Appends and index rebuilds share it, so
// a rebuilt index equals the one written the first time.
func (s *segment) observe(h *record.Header, pos int64, intervalBytes int64) {
	s.tsMu.Lock()
	if h.MaxTimestamp > s.maxTs {
		s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.LastOffset()
	}
	maxTs, maxOff := s.maxTs, s.maxTsOffset
	s.tsMu.Unlock()
	if s.bytesSinceIndex > intervalBytes {
		s.index.add(offsetEntry{rel: uint32(h.LastOffset() - s.base), pos: uint32(pos)})
		maybeAddTime(s.tindex, timeEntry{ts: maxTs, rel: uint32(maxOff - s.base)})
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += int64(h.Size())
	s.lastBatchAt = pos
}

// seal finishes a segment that stops being active: the time index gets its
// final entry and both indexes are written out (not fsynced) and from then
// on searched in their files.
func (s *segment) seal() error {
	if ts, off := s.maxTimestamp(); ts >= 0 {
		maybeAddTime(s.tindex, timeEntry{ts: ts, rel: uint32(off - s.base)})
	}
	if err := s.index.seal(); err != nil {
		return err
	}
	return s.tindex.seal()
}

// fits reports whether a batch with last offset delta lastDelta appended
// at offset base keeps the segment addressable by 32-bit relative offsets
// and positions.
func (s *segment) fits(base int64, lastDelta int32, size int) bool {
	return base+int64(lastDelta)-s.base <= math.MaxUint32 && s.size.Load()+int64(size) <= math.MaxUint32
}

// readHeaderAt reads the batch header at pos, which must leave at least a
// header before end.
func (s *segment) readHeaderAt(buf []byte, pos, end int64) (record.Header, error) {
	if end-pos < record.HeaderSize {
		return record.Header{}, s.corruptAt(pos, fmt.Errorf("%d bytes left, a batch header needs %d", end-pos, record.HeaderSize))
	}
	if _, err := s.log.ReadAt(buf[:record.HeaderSize], pos); err != nil {
		return record.Header{}, fmt.Errorf("read %s at %d: %w", s.path, pos, err)
	}
	h, err := record.ParseHeader(buf[:record.HeaderSize])
	if err != nil {
		return h, s.corruptAt(pos, err)
	}
	if int64(h.Size()) > end-pos {
		return h, s.corruptAt(pos, fmt.Errorf("batch of %d bytes, %d left", h.Size(), end-pos))
	}
	return h, nil
}

func (s *segment) corruptAt(pos int64, err error) error {
	return fmt.Errorf("%w: %s at position %d: %v", ErrCorruption, s.path, pos, err)
}

// locate finds the first batch in [from, end) whose last offset is at or
// above offset. found is false when the segment ends first.
func (s *segment) locate(buf []byte, offset, from, end int64) (pos int64, h record.Header, found bool, err error) {
	for pos = from; pos < end; pos += int64(h.Size()) {
		h, err = s.readHeaderAt(buf, pos, end)
		if err != nil {
			return pos, h, false, err
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
	}
	return pos, h, false, nil
}

// find locates the batch holding offset (or the first one after it) below
// end, starting from the offset index. A damaged index only costs a scan
// from the start of the segment.
func (s *segment) find(buf []byte, offset, end int64) (int64, record.Header, bool, error) {
	from := int64(0)
	if offset > s.base {
		if err := s.ensureIndexes(); err != nil {
			return 0, record.Header{}, false, err
		}
		rel := offset - s.base
		if rel > math.MaxUint32 {
			rel = math.MaxUint32
		}
		p, err := lookupOffset(s.index, uint32(rel))
		if err == nil && p < end {
			from = p
		}
	}
	pos, h, found, err := s.locate(buf, offset, from, end)
	if err != nil && from > 0 && errors.Is(err, ErrCorruption) {
		return s.locate(buf, offset, 0, end)
	}
	return pos, h, found, err
}

// batchScanner walks the batches of a segment file in [pos, end) through a
// buffer. Every length is bounded by what is left before it is used. With
// verify set it also reads whole batches and checks them with
// record.Validate (magic, length, CRC32C); otherwise it reads headers only.
//
// next stops at the end, at the first bad or partial batch (bad is set and
// pos is where it starts), or at an I/O error (err is set).
type batchScanner struct {
	f      fileReader
	pos    int64
	end    int64
	verify bool
	chunk  int

	buf    []byte
	bufPos int64

	h     record.Header
	batch []byte // the whole batch when verify is set
	at    int64  // position of the current batch

	bad error
	err error
}

// fileReader is what a batchScanner reads: a File or a cachedFile.
type fileReader interface {
	io.ReaderAt
	Name() string
}

func newBatchScanner(f fileReader, pos, end int64, verify bool) *batchScanner {
	chunk := sparseHeaderChunk
	if verify {
		chunk = verifyChunk
	}
	return &batchScanner{f: f, pos: pos, end: end, verify: verify, chunk: chunk}
}

// What a batchScanner reads at a time: whole batches in chunks of
// verifyChunk; headers in chunks of sparseHeaderChunk, or of headerChunk
// after a batch smaller than a page (smallBatch), when one read holds many
// headers. Reading large batches header by header in small reads also
// keeps the kernel from taking the reads for a sequential stream: a 64 KiB
// read at the start of a file whose batches are about that size made it
// read ahead the whole file, megabytes per partition at a restart with a
// cold page cache, where a page per batch is needed. A read of 512 bytes
// rarely spans two pages (4 KiB reads at batch boundaries always did) and
// copies little of each.
const (
	verifyChunk       = 1 << 20
	headerChunk       = 64 << 10
	sparseHeaderChunk = 512
	smallBatch        = 4 << 10
)

// peek returns the n bytes at s.pos, reading a chunk when they are not
// buffered. n never exceeds s.end-s.pos.
func (s *batchScanner) peek(n int) ([]byte, error) {
	if s.pos >= s.bufPos && s.pos+int64(n) <= s.bufPos+int64(len(s.buf)) {
		off := s.pos - s.bufPos
		return s.buf[off : off+int64(n)], nil
	}
	want := int64(max(n, s.chunk))
	want = min(want, s.end-s.pos)
	if int64(cap(s.buf)) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	m, err := s.f.ReadAt(s.buf, s.pos)
	if m < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		s.buf = s.buf[:0]
		return nil, fmt.Errorf("read %s at %d: %w", s.f.Name(), s.pos, err)
	}
	s.buf = s.buf[:m]
	s.bufPos = s.pos
	return s.buf[:n], nil
}

// validateCurrent reads the current batch whole (next read its header
// only) and checks it with record.Validate.
func (s *batchScanner) validateCurrent() error {
	b := make([]byte, s.h.Size())
	if _, err := s.f.ReadAt(b, s.at); err != nil {
		return fmt.Errorf("read %s at %d: %w", s.f.Name(), s.at, err)
	}
	_, err := record.Validate(b)
	return err
}

// verifyFromHere makes next read and check whole batches from now on.
func (s *batchScanner) verifyFromHere() {
	s.verify, s.chunk = true, verifyChunk
}

func (s *batchScanner) next() bool {
	if s.pos >= s.end || s.bad != nil || s.err != nil {
		return false
	}
	left := s.end - s.pos
	if left < record.HeaderSize {
		s.bad = fmt.Errorf("%w: %d bytes, a batch header needs %d", record.ErrTruncated, left, record.HeaderSize)
		return false
	}
	hb, err := s.peek(record.HeaderSize)
	if err != nil {
		s.err = err
		return false
	}
	h, err := record.ParseHeader(hb)
	if err != nil {
		s.bad = err
		return false
	}
	size := int64(h.Size())
	if size > left {
		s.bad = fmt.Errorf("%w: batch of %d bytes, %d left", record.ErrTruncated, size, left)
		return false
	}
	if s.verify {
		b, err := s.peek(int(size))
		if err != nil {
			s.err = err
			return false
		}
		if _, err := record.Validate(b); err != nil {
			s.bad = err
			return false
		}
		s.batch = b
	} else if size < smallBatch {
		s.chunk = headerChunk
	} else {
		s.chunk = sparseHeaderChunk
	}
	s.h, s.at = h, s.pos
	s.pos += size
	return true
}
