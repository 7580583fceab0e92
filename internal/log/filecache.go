package log

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
)

// FileCache bounds the file descriptors the logs of a process hold. A broker
// with thousands of partitions cannot keep every segment's files open, as
// Kafka does: it would run out of descriptors long before disk. Segment
// files (.log, .index, .timeindex, .txnindex) are opened on first use and
// stay open while used; once idle, the least recently used are closed while
// more than the limit are open, and reopened on their next use.
//
// A file is never closed while a read, write or fsync uses it, nor while it
// holds writes not yet fsynced (its fsync must see any write-back error), so
// the count can exceed the limit by the files busy or dirty at the moment.
// A partition that is idle after its last fsync holds no descriptor once
// the cache needs it.
//
// The owner creates one FileCache per process and passes it to every Open
// in Options.Files. Its lock is a leaf: it is taken under any of the logs'
// locks and nothing is acquired under it.
type FileCache struct {
	limit int

	mu   sync.Mutex
	open int        // files with a descriptor
	lru  cachedList // idle files with a descriptor, least recently used first
}

// NewFileCache returns a cache that keeps at most limit idle files open
// (limit <= 0: no bound, files stay open once opened until their log
// closes them, as when Options.Files is nil).
func NewFileCache(limit int) *FileCache {
	return &FileCache{limit: limit}
}

// Open is the number of files with an open descriptor.
func (c *FileCache) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// Limit is the bound given to NewFileCache.
func (c *FileCache) Limit() int { return c.limit }

// evictLocked takes descriptors from the least recently used idle files
// while more than the limit are open. The caller holds mu and closes what
// it returns after releasing mu.
func (c *FileCache) evictLocked(out []File) []File {
	for c.limit > 0 && c.open > c.limit {
		h := c.lru.head
		if h == nil {
			break
		}
		c.lru.remove(h)
		out = append(out, h.f)
		h.f = nil
		c.open--
	}
	return out
}

// cachedList is an intrusive doubly linked list of idle files.
type cachedList struct{ head, tail *cachedFile }

func (l *cachedList) pushBack(h *cachedFile) {
	h.prev, h.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = h
	} else {
		l.head = h
	}
	l.tail = h
	h.inLRU = true
}

func (l *cachedList) remove(h *cachedFile) {
	if !h.inLRU {
		return
	}
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		l.head = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		l.tail = h.prev
	}
	h.prev, h.next, h.inLRU = nil, nil, false
}

// cachedFile is one file of a segment whose descriptor the cache may close
// while it is idle. Its methods open it again when needed (read-write, never
// creating it: create does that). Fields are guarded by cache.mu, except
// fs, which never changes; openMu serialises opening.
type cachedFile struct {
	cache *FileCache
	fs    FS

	openMu sync.Mutex

	path string
	f    File // nil while closed
	pins int  // calls using f
	// writes counts writes begun (the file is dirty while it is past
	// synced), done those finished: a Sync covers only the finished ones,
	// since one pinned for writing may not have reached the file yet.
	writes, done uint64
	synced       uint64      // done as of the last successful fsync
	syncs        []*fileSync // Syncs running
	closed       bool        // closed for good (the segment left the log)
	inLRU        bool
	prev, next   *cachedFile
}

// fileSync is a Sync running; err is set before done is closed.
type fileSync struct {
	done chan struct{}
	err  error
}

func newCachedFile(c *FileCache, fsys FS, path string) *cachedFile {
	return &cachedFile{cache: c, fs: fsys, path: path}
}

// errFileClosed is returned by a file whose segment left the log, as
// *os.File returns os.ErrClosed.
func (h *cachedFile) errClosed(op string) error {
	return &fs.PathError{Op: op, Path: h.path, Err: os.ErrClosed}
}

// Name is the file's path.
func (h *cachedFile) Name() string {
	h.cache.mu.Lock()
	defer h.cache.mu.Unlock()
	return h.path
}

// acquire returns the open descriptor, opening the file if needed, pinned
// until release. write marks the file dirty before the caller writes, so
// it cannot be closed before its fsync.
func (h *cachedFile) acquire(op string, write bool) (File, error) {
	c := h.cache
	c.mu.Lock()
	if f := h.pinLocked(write); f != nil || h.closed {
		c.mu.Unlock()
		if f == nil {
			return nil, h.errClosed(op)
		}
		return f, nil
	}
	c.mu.Unlock()

	h.openMu.Lock()
	defer h.openMu.Unlock()
	c.mu.Lock()
	if f := h.pinLocked(write); f != nil || h.closed {
		c.mu.Unlock()
		if f == nil {
			return nil, h.errClosed(op)
		}
		return f, nil
	}
	path := h.path
	c.mu.Unlock()
	f, err := h.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if f = h.install(f, write); f == nil {
		return nil, h.errClosed(op)
	}
	return f, nil
}

// pinLocked pins an open descriptor; nil when there is none. The caller
// holds cache.mu.
func (h *cachedFile) pinLocked(write bool) File {
	if h.f == nil || h.closed {
		return nil
	}
	h.pins++
	if write {
		h.writes++
	}
	h.cache.lru.remove(h)
	return h.f
}

// install makes f the open descriptor, pinned, and closes what the cache
// evicts to make room.
func (h *cachedFile) install(f File, write bool) File {
	c := h.cache
	c.mu.Lock()
	if h.closed {
		c.mu.Unlock()
		f.Close()
		return nil
	}
	old := h.f
	if old == nil {
		c.open++
	}
	c.lru.remove(h)
	h.f = f
	h.pins++
	if write {
		h.writes++
	}
	victims := c.evictLocked(nil)
	c.mu.Unlock()
	if old != nil {
		victims = append(victims, old)
	}
	for _, v := range victims {
		v.Close()
	}
	return f
}

// release unpins the descriptor; an idle, clean file joins the cache's
// eviction order.
func (h *cachedFile) release() {
	c := h.cache
	c.mu.Lock()
	h.pins--
	var victims []File
	if h.pins == 0 && h.f != nil {
		if h.closed {
			victims = append(victims, h.f)
			h.f = nil
			c.open--
		} else if h.writes == h.synced && c.limit > 0 {
			c.lru.pushBack(h)
			victims = c.evictLocked(victims)
		}
	}
	c.mu.Unlock()
	for _, v := range victims {
		v.Close()
	}
}

// create creates the file (emptying one that exists) and keeps it open.
func (h *cachedFile) create() error { return h.openWith(osCreateTrunc, true) }

// openWith opens the file with flag (which may create it) and keeps it
// open; dirty says whether that changed the file (O_TRUNC of one that may
// hold data), so it stays open until fsynced.
func (h *cachedFile) openWith(flag int, dirty bool) error {
	c := h.cache
	h.openMu.Lock()
	defer h.openMu.Unlock()
	c.mu.Lock()
	path, closed := h.path, h.closed
	c.mu.Unlock()
	if closed {
		return h.errClosed("create")
	}
	f, err := h.fs.OpenFile(path, flag, 0o644)
	if err != nil {
		return err
	}
	if h.install(f, dirty) == nil {
		return h.errClosed("create")
	}
	if dirty {
		h.wrote()
	}
	h.release()
	return nil
}

// wrote records that a write pinned with acquire(op, true) has reached
// the file: a Sync that begins after it covers it.
func (h *cachedFile) wrote() {
	h.cache.mu.Lock()
	h.done++
	h.cache.mu.Unlock()
}

func (h *cachedFile) ReadAt(p []byte, off int64) (int, error) {
	f, err := h.acquire("read", false)
	if err != nil {
		return 0, err
	}
	defer h.release()
	return f.ReadAt(p, off)
}

func (h *cachedFile) WriteAt(p []byte, off int64) (int, error) {
	f, err := h.acquire("write", true)
	if err != nil {
		return 0, err
	}
	defer h.release()
	defer h.wrote()
	return f.WriteAt(p, off)
}

func (h *cachedFile) Truncate(size int64) error {
	f, err := h.acquire("truncate", true)
	if err != nil {
		return err
	}
	defer h.release()
	defer h.wrote()
	return f.Truncate(size)
}

// Sync fsyncs the file if it was written since its last fsync. A file that
// is not open has nothing to fsync: it is closed only once clean.
//
// A Sync beside others fsyncs through a descriptor of its own, then waits
// for them. The kernel reports a writeback error once per open file
// description: of two fsyncs of one descriptor, the one that does not pick
// the error up returns success though the data it was to make durable may
// be lost. A descriptor opened while the others run is told of every error
// they have not seen, and one they have seen fails them, so it fails this
// Sync too.
func (h *cachedFile) Sync() (err error) {
	c := h.cache
	c.mu.Lock()
	if h.done == h.synced || h.f == nil {
		c.mu.Unlock()
		return nil
	}
	f := h.pinLocked(false)
	gen := h.done
	running := slices.Clone(h.syncs)
	me := &fileSync{done: make(chan struct{})}
	h.syncs = append(h.syncs, me)
	path := h.path
	c.mu.Unlock()
	defer func() {
		me.err = err
		close(me.done)
		c.mu.Lock()
		h.syncs = slices.DeleteFunc(h.syncs, func(s *fileSync) bool { return s == me })
		c.mu.Unlock()
		h.release()
	}()
	if len(running) > 0 {
		// Without a descriptor to spare (EMFILE), it waits for the others
		// and fsyncs the shared one after them.
		own, oerr := h.fs.OpenFile(path, os.O_RDONLY, 0)
		if oerr == nil {
			err = own.Sync()
			if cerr := own.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
		for _, s := range running {
			<-s.done
			if s.err != nil {
				return fmt.Errorf("fsync beside a failed one: %w", s.err)
			}
		}
		if oerr != nil {
			if err := f.Sync(); err != nil {
				return err
			}
		}
	} else if err := f.Sync(); err != nil {
		return err
	}
	c.mu.Lock()
	h.synced = max(h.synced, gen)
	c.mu.Unlock()
	return nil
}

// Stat describes the file, through the descriptor when it is open (the
// size includes writes in flight) and by path otherwise.
func (h *cachedFile) Stat() (os.FileInfo, error) {
	c := h.cache
	c.mu.Lock()
	f := h.pinLocked(false)
	path, closed := h.path, h.closed
	c.mu.Unlock()
	if f != nil {
		defer h.release()
		return f.Stat()
	}
	if closed {
		return nil, h.errClosed("stat")
	}
	return h.fs.Stat(path)
}

// Close closes the file for good (its segment leaves the log); a call in
// flight finishes first. Writes not fsynced are not fsynced.
func (h *cachedFile) Close() error {
	c := h.cache
	c.mu.Lock()
	if h.closed {
		c.mu.Unlock()
		return nil
	}
	h.closed = true
	c.lru.remove(h)
	var f File
	if h.pins == 0 && h.f != nil {
		f, h.f = h.f, nil
		c.open--
	}
	c.mu.Unlock()
	if f != nil {
		return f.Close()
	}
	return nil
}

// setPath points the file at a new name (a swap or relocation renamed it).
// An open descriptor stays: it names the same file.
func (h *cachedFile) setPath(path string) {
	h.cache.mu.Lock()
	h.path = path
	h.cache.mu.Unlock()
}

// retarget points the file at path and makes f (possibly nil: opened on
// next use) its descriptor; f must hold no unsynced writes. It returns the
// old descriptor, for the caller to close once nothing can use it.
// Relocation calls it with the readers and the writer locked out.
func (h *cachedFile) retarget(path string, f File) File {
	c := h.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	old := h.f
	h.path, h.f = path, f
	h.done, h.synced = h.writes, h.writes
	if old == nil && f != nil {
		c.open++
	} else if old != nil && f == nil {
		c.open--
	}
	c.lru.remove(h)
	if f != nil && h.pins == 0 && c.limit > 0 {
		c.lru.pushBack(h)
	}
	return old
}
