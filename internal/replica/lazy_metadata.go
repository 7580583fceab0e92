package replica

import (
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/cluster"
)

// A new partition's partition.metadata is written before its first append
// rather than when it is created: creating a file is most of what creating
// an empty partition costs (an inode, like its directory), and most of
// 10,000 partitions created at once stay empty for a while. Until then
// the directory holds no records, so nothing can be mistaken for another
// topic's data: a crash leaves an empty directory, which the topic of
// that name adopts, or RemoveOrphans removes when no topic has that name.
// The topic itself is durable in the metadata log, which is what makes
// the broker open the partition again.

// metadataWriter is a partition's pending partition.metadata.
type metadataWriter struct {
	pending atomic.Bool
	mu      sync.Mutex
	write   func() error // guarded by mu; set once before pending
}

// deferMetadata leaves p's partition.metadata (topic id) to its first
// append.
func (m *Manager) deferMetadata(p *Partition, id cluster.TopicID) {
	p.meta.write = func() error {
		dir := p.log.Dir() // where the log is now (it may have moved)
		if err := m.writePartitionMetadata(dir, id, true); err != nil {
			return err
		}
		m.syncMetadata(filepath.Dir(dir))
		return nil
	}
	p.meta.pending.Store(true)
}

// ensureMetadata writes the partition.metadata left for the first append,
// once; an append calls it before writing anything.
func (p *Partition) ensureMetadata() error {
	w := &p.meta
	if !w.pending.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.pending.Load() {
		return nil
	}
	if err := w.write(); err != nil {
		return err
	}
	w.pending.Store(false)
	return nil
}

// emptyDir reports whether dir holds nothing at all: the directory of a
// partition that never got a record, left behind when its topic was
// deleted while the broker was down (RemoveOrphans removes it).
func (m *Manager) emptyDir(dir string) bool {
	entries, err := m.fs.ReadDir(dir)
	return err == nil && len(entries) == 0
}
