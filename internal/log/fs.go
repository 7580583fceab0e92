package log

import (
	"errors"
	"io"
	"os"
)

// FS is the small filesystem interface the log uses, so tests can inject
// errors, torn writes, a full disk and crashes that lose unsynced data.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(name string) error
	Rename(oldname, newname string) error
	MkdirAll(name string, perm os.FileMode) error
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	// SyncDir fsyncs a directory so that created, renamed and removed
	// entries survive a crash.
	SyncDir(name string) error
}

// File is an open file of an FS.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Seeker
	io.Closer
	// Sync makes the file's data and size durable (its times need not
	// be: fdatasync(2) is enough).
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Name() string
}

// OSFS is the operating system's filesystem. Open uses it when Options.FS is
// nil.
type OSFS struct{}

// OpenFile opens a file with os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// osFile is an OSFS file. Its Sync is fdatasync(2) where the system has
// it: the log needs a file's data and size durable, not its times, and
// fsync(2) adds an inode update to every sync of an appended file, which
// on the development machine's disk made an acknowledged write's sync
// about twice as dear.
type osFile struct{ *os.File }

func (f osFile) Sync() error { return fdatasync(f.File) }

// Remove removes a file or an empty directory.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// RemoveAll removes a path and everything below it.
func (OSFS) RemoveAll(name string) error { return os.RemoveAll(name) }

// Rename renames a file, replacing newname if it exists.
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// MkdirAll creates a directory and its parents.
func (OSFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(name, perm) }

// ReadDir lists a directory sorted by name.
func (OSFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

// Stat describes a file.
func (OSFS) Stat(name string) (os.FileInfo, error) { return os.Stat(name) }

// SyncDir fsyncs the directory name.
func (OSFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// osCreateTrunc opens a file for writing from scratch.
const osCreateTrunc = os.O_CREATE | os.O_TRUNC | os.O_RDWR

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
