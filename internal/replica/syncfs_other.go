//go:build !linux

package replica

import "syscall"

// syncFS makes everything written to disk durable; without syncfs(2) it
// is sync(2), which covers every filesystem.
func syncFS(string) error {
	syscall.Sync()
	return nil
}
