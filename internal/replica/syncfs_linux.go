package replica

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS makes everything written to the filesystem holding dir durable
// (syncfs(2)): one call instead of an fsync per file and directory after
// creating many partitions.
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
