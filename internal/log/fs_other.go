//go:build !linux

package log

import (
	"os"
	"syscall"
)

// SyncFS makes everything written durable; without syncfs(2) it is
// sync(2), which covers every filesystem.
func (OSFS) SyncFS(string) error {
	syscall.Sync()
	return nil
}

// fdatasync is fsync where fdatasync(2) is not available.
func fdatasync(f *os.File) error { return f.Sync() }
