package faultfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-io/sluice/internal/log"
)

// Mem is a log.FS in memory that can lose power (Crash). It is safe for
// concurrent use.
//
// Every name is absolute and cleaned; "/" always exists. A file's data
// survives a crash as of its last Sync; a name (file or directory)
// survives as of the last SyncDir of its parent directory. A Sync copies
// only what changed since the previous one, so appending logs cost what
// they write.
type Mem struct {
	// power is read-locked by every operation and write-locked by Crash,
	// so an operation completes wholly before the cut or fails after it.
	power sync.RWMutex
	dead  bool

	mu sync.Mutex
	// The namespace now: files and directories by path.
	files map[string]*memNode
	dirs  map[string]bool
	// The namespace as of each directory's last SyncDir.
	durFiles map[string]*memNode
	durDirs  map[string]bool
}

type memNode struct {
	mu        sync.Mutex
	data      []byte
	synced    []byte
	dirtyFrom int64 // the lowest byte changed since the last Sync
	modTime   time.Time
}

// NewMem returns an empty filesystem.
func NewMem() *Mem {
	return &Mem{
		files: map[string]*memNode{}, dirs: map[string]bool{"/": true},
		durFiles: map[string]*memNode{}, durDirs: map[string]bool{"/": true},
	}
}

// errPowerOff is what every operation returns after Crash.
var errPowerOff = syscall.EIO

// Crash cuts the power: it returns what a machine would find on the disk
// now, and every later operation on m fails with EIO (so a broker still
// running on m acknowledges nothing more).
func (m *Mem) Crash() *Mem {
	m.power.Lock()
	defer m.power.Unlock()
	m.dead = true
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMem()
	// A name survives when it and every directory above it were made
	// durable in their parents.
	reachable := func(p string) bool {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			if !m.durDirs[d] {
				return false
			}
			if d == "/" {
				return true
			}
		}
	}
	for d := range m.durDirs {
		if d == "/" || reachable(d) {
			c.dirs[d], c.durDirs[d] = true, true
		}
	}
	for name, n := range m.durFiles {
		if !reachable(name) {
			continue
		}
		n.mu.Lock()
		data := append([]byte(nil), n.synced...)
		mod := n.modTime
		n.mu.Unlock()
		node := &memNode{data: data, synced: append([]byte(nil), data...), dirtyFrom: int64(len(data)), modTime: mod}
		c.files[name], c.durFiles[name] = node, node
	}
	return c
}

// on takes the power lock for one operation; it fails once the power is
// cut. The caller calls the returned function when done.
func (m *Mem) on(op, path string) (func(), error) {
	m.power.RLock()
	if m.dead {
		m.power.RUnlock()
		return nil, &fs.PathError{Op: op, Path: path, Err: errPowerOff}
	}
	return m.power.RUnlock, nil
}

// OpenFile opens a file; O_CREATE, O_EXCL, O_TRUNC and the access modes
// are honoured.
func (m *Mem) OpenFile(name string, flag int, perm os.FileMode) (log.File, error) {
	done, err := m.on("open", name)
	if err != nil {
		return nil, err
	}
	defer done()
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[filepath.Dir(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if m.dirs[name] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
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
		n.truncate(0)
	}
	return &memFile{m: m, node: n, name: name, readOnly: flag&(os.O_WRONLY|os.O_RDWR) == 0,
		appendMode: flag&os.O_APPEND != 0}, nil
}

// Remove removes a file or an empty directory.
func (m *Mem) Remove(name string) error {
	done, err := m.on("remove", name)
	if err != nil {
		return err
	}
	defer done()
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[name] != nil {
		delete(m.files, name)
		return nil
	}
	if m.dirs[name] {
		for p := range m.files {
			if filepath.Dir(p) == name {
				return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
			}
		}
		for d := range m.dirs {
			if d != name && filepath.Dir(d) == name {
				return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
			}
		}
		delete(m.dirs, name)
		return nil
	}
	return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
}

// RemoveAll removes a path and everything below it. Until its parent is
// fsynced a crash brings the path back, but empty: what was below it is
// gone at once (a directory made again with the same name starts empty).
func (m *Mem) RemoveAll(name string) error {
	done, err := m.on("removeall", name)
	if err != nil {
		return err
	}
	defer done()
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	below := func(p string) bool { return strings.HasPrefix(p, name+"/") }
	for f := range m.files {
		if f == name || below(f) {
			delete(m.files, f)
		}
	}
	for f := range m.durFiles {
		if below(f) {
			delete(m.durFiles, f)
		}
	}
	for d := range m.dirs {
		if d == name || below(d) {
			delete(m.dirs, d)
		}
	}
	for d := range m.durDirs {
		if below(d) {
			delete(m.durDirs, d)
		}
	}
	return nil
}

// Rename renames a file, replacing newname if it exists.
func (m *Mem) Rename(oldname, newname string) error {
	done, err := m.on("rename", oldname)
	if err != nil {
		return err
	}
	defer done()
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.files[oldname]
	if n == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	if !m.dirs[filepath.Dir(newname)] {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	delete(m.files, oldname)
	m.files[newname] = n
	return nil
}

// MkdirAll creates a directory and its parents; each is durable once its
// parent is fsynced.
func (m *Mem) MkdirAll(name string, perm os.FileMode) error {
	done, err := m.on("mkdir", name)
	if err != nil {
		return err
	}
	defer done()
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := filepath.Clean(name); ; d = filepath.Dir(d) {
		if m.files[d] != nil {
			return &fs.PathError{Op: "mkdir", Path: d, Err: syscall.ENOTDIR}
		}
		m.dirs[d] = true
		if d == "/" {
			return nil
		}
	}
}

// ReadDir lists a directory sorted by name.
func (m *Mem) ReadDir(name string) ([]os.DirEntry, error) {
	done, err := m.on("readdir", name)
	if err != nil {
		return nil, err
	}
	defer done()
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

// Stat describes a file or directory.
func (m *Mem) Stat(name string) (os.FileInfo, error) {
	done, err := m.on("stat", name)
	if err != nil {
		return nil, err
	}
	defer done()
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

// SyncDir makes the entries of directory name durable as they are now.
func (m *Mem) SyncDir(name string) error {
	done, err := m.on("fsync", name)
	if err != nil {
		return err
	}
	defer done()
	name = filepath.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[name] {
		return &fs.PathError{Op: "fsync", Path: name, Err: fs.ErrNotExist}
	}
	m.syncDirLocked(name)
	return nil
}

func (m *Mem) syncDirLocked(name string) {
	for f := range m.durFiles {
		if filepath.Dir(f) == name && m.files[f] == nil {
			delete(m.durFiles, f)
		}
	}
	for d := range m.durDirs {
		if d != name && filepath.Dir(d) == name && !m.dirs[d] {
			delete(m.durDirs, d)
		}
	}
	for f, n := range m.files {
		if filepath.Dir(f) == name {
			m.durFiles[f] = n
		}
	}
	for d := range m.dirs {
		if d != name && filepath.Dir(d) == name {
			m.durDirs[d] = true
		}
	}
}

// SyncFS makes everything durable (syncfs(2)): every file's data and
// every directory's entries.
func (m *Mem) SyncFS(string) error {
	done, err := m.on("syncfs", "/")
	if err != nil {
		return err
	}
	defer done()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.files {
		n.sync()
	}
	m.durFiles = make(map[string]*memNode, len(m.files))
	for f, n := range m.files {
		m.durFiles[f] = n
	}
	m.durDirs = make(map[string]bool, len(m.dirs))
	for d := range m.dirs {
		m.durDirs[d] = true
	}
	return nil
}

func (n *memNode) info(name string) memInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return memInfo{name: name, size: int64(len(n.data)), mod: n.modTime}
}

// sync makes the node's data durable, copying only what changed.
func (n *memNode) sync() {
	n.mu.Lock()
	defer n.mu.Unlock()
	from := min(n.dirtyFrom, int64(len(n.synced)), int64(len(n.data)))
	n.synced = append(n.synced[:from], n.data[from:]...)
	n.dirtyFrom = int64(len(n.data))
}

func (n *memNode) truncate(size int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if size < int64(len(n.data)) {
		n.data = n.data[:size]
	} else {
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	n.dirtyFrom = min(n.dirtyFrom, size)
	n.modTime = time.Now()
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
	m          *Mem
	node       *memNode
	name       string
	readOnly   bool
	appendMode bool

	mu     sync.Mutex // off and closed
	off    int64
	closed bool
}

var errClosed = os.ErrClosed

func (f *memFile) begin(op string) (func(), error) {
	done, err := f.m.on(op, f.name)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		done()
		return nil, &fs.PathError{Op: op, Path: f.name, Err: errClosed}
	}
	return done, nil
}

func (f *memFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	off := f.off
	f.mu.Unlock()
	n, err := f.ReadAt(p, off)
	f.mu.Lock()
	f.off += int64(n)
	f.mu.Unlock()
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	done, err := f.begin("read")
	if err != nil {
		return 0, err
	}
	defer done()
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
	f.mu.Lock()
	off := f.off
	f.mu.Unlock()
	if f.appendMode {
		f.node.mu.Lock()
		off = int64(len(f.node.data))
		f.node.mu.Unlock()
	}
	n, err := f.WriteAt(p, off)
	f.mu.Lock()
	f.off = off + int64(n)
	f.mu.Unlock()
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	done, err := f.begin("write")
	if err != nil {
		return 0, err
	}
	defer done()
	if f.readOnly {
		return 0, &fs.PathError{Op: "write", Path: f.name, Err: syscall.EBADF}
	}
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(f.node.data)) {
		f.node.data = append(f.node.data, make([]byte, end-int64(len(f.node.data)))...)
	}
	copy(f.node.data[off:], p)
	f.node.dirtyFrom = min(f.node.dirtyFrom, off)
	f.node.modTime = time.Now()
	return len(p), nil
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		f.node.mu.Lock()
		offset += int64(len(f.node.data))
		f.node.mu.Unlock()
	default:
		return 0, errors.New("faultfs: bad whence")
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: syscall.EINVAL}
	}
	f.off = offset
	return offset, nil
}

func (f *memFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: errClosed}
	}
	f.closed = true
	return nil
}

func (f *memFile) Sync() error {
	done, err := f.begin("fsync")
	if err != nil {
		return err
	}
	defer done()
	f.node.sync()
	return nil
}

func (f *memFile) Truncate(size int64) error {
	done, err := f.begin("truncate")
	if err != nil {
		return err
	}
	defer done()
	if f.readOnly {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: syscall.EBADF}
	}
	f.node.truncate(size)
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) { return f.node.info(filepath.Base(f.name)), nil }
func (f *memFile) Name() string               { return f.name }
