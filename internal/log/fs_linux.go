package log

import (
	"os"

	"golang.org/x/sys/unix"
)

// SyncFS makes everything written to the filesystem holding dir durable
// (syncfs(2)); since Linux 5.8 it reports write-back errors of that
// filesystem.
func (OSFS) SyncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = unix.Syncfs(int(d.Fd()))
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// StartWriteback starts writing the range to disk without waiting
// (sync_file_range(2) with SYNC_FILE_RANGE_WRITE).
func (f osFile) StartWriteback(off, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// fdatasync flushes f's data and the metadata needed to read it back.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
