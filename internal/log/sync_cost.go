package log

import (
	"fmt"
	"os"
	"slices"
	"time"
)

// DurableAppendCost times n appends of size bytes to a new file in dir,
// each followed by fdatasync(2) (fsync where the system has none), and
// returns how long each took, shortest first: the cost of one durable
// write on that filesystem, which no acks=all answer of a log there can
// beat. The file is removed.
func DurableAppendCost(dir string, n, size int) ([]time.Duration, error) {
	f, err := os.CreateTemp(dir, "sluice-fdatasync-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, size)
	took := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := f.Write(buf); err != nil {
			return nil, fmt.Errorf("append to %s: %w", f.Name(), err)
		}
		if err := fdatasync(f); err != nil {
			return nil, fmt.Errorf("fdatasync %s: %w", f.Name(), err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took, nil
}
