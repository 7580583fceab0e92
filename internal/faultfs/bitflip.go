package faultfs

import (
	"fmt"
	"os"
)

// FlipBit flips the bits of mask in the byte at pos of the file at path,
// on the real disk: bit rot under a running or stopped broker. A broker
// reading the file through the page cache sees it at once.
func FlipBit(path string, pos int64, mask byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, pos); err != nil {
		f.Close()
		return fmt.Errorf("read %s at %d: %w", path, pos, err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b, pos); err != nil {
		f.Close()
		return fmt.Errorf("write %s at %d: %w", path, pos, err)
	}
	return f.Close()
}
