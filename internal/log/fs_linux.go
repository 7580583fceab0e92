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

// OpenSyncFS opens dir for syncs of its filesystem (FSSyncOpener).
func (OSFS) OpenSyncFS(dir string) (FSSyncHandle, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	return dirSyncer{d}, nil
}

// dirSyncer is an open directory whose filesystem it syncs.
type dirSyncer struct{ d *os.File }

func (s dirSyncer) SyncFS() error { return unix.Syncfs(int(s.d.Fd())) }
func (s dirSyncer) Close() error  { return s.d.Close() }
