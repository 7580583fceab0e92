//go:build !linux

package log

import "syscall"

// SyncFS makes everything written durable; without syncfs(2) it is
// sync(2), which covers every filesystem.
func (OSFS) SyncFS(string) error {
	syscall.Sync()
	return nil
}
