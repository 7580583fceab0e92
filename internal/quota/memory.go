package quota

import (
	"os"
	"strconv"
	"strings"
)

// Memory is the memory the process may use: the cgroup's limit
// (memory.max of cgroup v2, memory.limit_in_bytes of v1) when there is
// one, else the machine's MemTotal. It returns 0 when neither is known.
func Memory() int64 {
	total := memTotal()
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err == nil && v > 0 && (total == 0 || v < total) {
			return v // "max" (no limit) does not parse
		}
	}
	return total
}

func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// Decompression budget bounds (sluice.decompression.max.bytes=-1).
const (
	minDecompressionBudget = 32 << 20
	maxDecompressionBudget = 256 << 20
)

// DefaultDecompressionBudget is the decompression budget for a process of
// memory bytes: a 32nd of it, between 32 MiB and 256 MiB (256 MiB when the
// memory is unknown).
func DefaultDecompressionBudget(memory int64) int64 {
	if memory <= 0 {
		return maxDecompressionBudget
	}
	return min(max(memory/32, minDecompressionBudget), maxDecompressionBudget)
}
