package log

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// memFS is an in-memory FS that remembers what was fsynced, so a test can
// crash it (pebble's vfs.NewCrashableMem and CrashClone are the model):
// CrashClone returns the filesystem a machine would find after losing
// power now. A file keeps only the bytes of its last Sync; a directory
// keeps only the entries of its last SyncDir (a file created, renamed or
// removed without a directory fsync is back to how it was).
type memFS struct {
	mu      sync.Mutex
	files   map[string]*memNode // the namespace now
	durable map[string]*memNode // the namespace as of each directory's last SyncDir
	dirs    map[string]bool
}

type memNode struct {
	mu      sync.Mutex
	data    []byte
	synced  []byte
	modTime time.Time
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memNode{}, durable: map[string]*memNode{}, dirs: map[string]bool{"/": true}}
}

// CrashClone returns what survives a crash now.
func (m *memFS) CrashClone() *memFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := newMemFS()
	for d := range m.dirs {
		c.dirs[d] = true
	}
	for name, n := range m.durable {
		n.mu.Lock()
		data := append([]byte(nil), n.synced...)
		mod := n.modTime
		n.mu.Unlock()
		node := &memNode{data: data, synced: append([]byte(nil), data...), modTime: mod}
		c.files[name] = node
		c.durable[name] = node
	}
	return c
}

func (m *memFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[filepath.Dir(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	n := m.files[name]
	if n == nil {
		if flag&os.O_CREATE == 0 {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		n = &memNode{modTime: time.Now()}
		m.files[name] = n
	} else if flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	}
	if flag&os.O_TRUNC != 0 {
		n.mu.Lock()
		n.data = n.data[:0:0]
		n.mu.Unlock()
	}
	return &memFile{node: n, name: name, readOnly: flag&(os.O_WRONLY|os.O_RDWR) == 0}, nil
}

func (m *memFS) Remove(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[name] == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) RemoveAll(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	for f := range m.files {
		if f == name || strings.HasPrefix(f, name+"/") {
			delete(m.files, f)
			delete(m.durable, f)
		}
	}
	for d := range m.dirs {
		if d == name || strings.HasPrefix(d, name+"/") {
			delete(m.dirs, d)
		}
	}
	return nil
}

func (m *memFS) Rename(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.files[oldname]
	if n == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	delete(m.files, oldname)
	m.files[newname] = n
	return nil
}

func (m *memFS) MkdirAll(name string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := filepath.Clean(name); ; d = filepath.Dir(d) {
		m.dirs[d] = true
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func (m *memFS) ReadDir(name string) ([]os.DirEntry, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[name] {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var out []os.DirEntry
	for f, n := range m.files {
		if filepath.Dir(f) == name {
			out = append(out, fs.FileInfoToDirEntry(n.info(filepath.Base(f))))
		}
	}
	for d := range m.dirs {
		if d != name && filepath.Dir(d) == name {
			out = append(out, fs.FileInfoToDirEntry(memInfo{name: filepath.Base(d), dir: true}))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (m *memFS) Stat(name string) (os.FileInfo, error) {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dirs[name] {
		return memInfo{name: filepath.Base(name), dir: true}, nil
	}
	if n := m.files[name]; n != nil {
		return n.info(filepath.Base(name)), nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

func (m *memFS) SyncDir(name string) error {
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	for f := range m.durable {
		if filepath.Dir(f) == name && m.files[f] == nil {
			delete(m.durable, f)
		}
	}
	for f, n := range m.files {
		if filepath.Dir(f) == name {
			m.durable[f] = n
		}
	}
	return nil
}

func (n *memNode) info(name string) memInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return memInfo{name: name, size: int64(len(n.data)), mod: n.modTime}
}

type memInfo struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

type memFile struct {
	node     *memNode
	name     string
	off      int64
	readOnly bool
	closed   bool
}

var errMemClosed = errors.New("memfs: file closed")

func (f *memFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, errMemClosed
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if off >= int64(len(f.node.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	n, err := f.WriteAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, errMemClosed
	}
	if f.readOnly {
		return 0, errors.New("memfs: file is read-only")
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(f.node.data)) {
		f.node.data = append(f.node.data, make([]byte, end-int64(len(f.node.data)))...)
	}
	copy(f.node.data[off:], p)
	f.node.modTime = time.Now()
	return len(p), nil
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		f.off = offset
	case io.SeekCurrent:
		f.off += offset
	case io.SeekEnd:
		f.node.mu.Lock()
		f.off = int64(len(f.node.data)) + offset
		f.node.mu.Unlock()
	}
	return f.off, nil
}

func (f *memFile) Close() error {
	if f.closed {
		return errMemClosed
	}
	f.closed = true
	return nil
}

func (f *memFile) Sync() error {
	if f.closed {
		return errMemClosed
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.node.synced = append(f.node.synced[:0:0], f.node.data...)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	if f.closed {
		return errMemClosed
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if size < int64(len(f.node.data)) {
		f.node.data = f.node.data[:size]
	} else {
		f.node.data = append(f.node.data, make([]byte, size-int64(len(f.node.data)))...)
	}
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) { return f.node.info(filepath.Base(f.name)), nil }
func (f *memFile) Name() string               { return f.name }

// hookFS wraps an FS to count and fail operations: fault injection without
// a broken disk (pebble's vfs/errorfs is the model). A nil hook passes.
type hookFS struct {
	FS
	onSync  func(name string) error // File.Sync and SyncDir
	onWrite func(name string) error // File.Write and File.WriteAt
	onRead  func(name string)       // File.ReadAt
	onOpen  func(name string, flag int) error
}

func (h *hookFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if h.onOpen != nil {
		if err := h.onOpen(name, flag); err != nil {
			return nil, err
		}
	}
	f, err := h.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &hookFile{File: f, fs: h}, nil
}

func (h *hookFS) SyncDir(name string) error {
	if h.onSync != nil {
		if err := h.onSync(name); err != nil {
			return err
		}
	}
	return h.FS.SyncDir(name)
}

type hookFile struct {
	File
	fs *hookFS
}

func (f *hookFile) Sync() error {
	if f.fs.onSync != nil {
		if err := f.fs.onSync(f.Name()); err != nil {
			return err
		}
	}
	return f.File.Sync()
}

func (f *hookFile) ReadAt(p []byte, off int64) (int, error) {
	if f.fs.onRead != nil {
		f.fs.onRead(f.Name())
	}
	return f.File.ReadAt(p, off)
}

func (f *hookFile) Write(p []byte) (int, error) {
	if f.fs.onWrite != nil {
		if err := f.fs.onWrite(f.Name()); err != nil {
			return 0, err
		}
	}
	return f.File.Write(p)
}

func (f *hookFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.onWrite != nil {
		if err := f.fs.onWrite(f.Name()); err != nil {
			return 0, err
		}
	}
	return f.File.WriteAt(p, off)
}
