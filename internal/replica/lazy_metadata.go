package replica

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
)

// A new partition's partition.metadata is written before its first append
// rather than when it is created: creating a file is most of what creating
// an empty partition costs (an inode), and most of 10,000 partitions
// created at once stay empty for a while. Its directory waits for the same
// moment (the log makes it at its first write, internal/log/dir.go), so a
// new partition costs no inode at all. Until then there is nothing on the
// disk to mistake for another topic's data: a crash leaves no directory,
// or an empty one, which the topic of that name adopts, or RemoveOrphans
// removes when no topic has that name. The topic itself is durable in the
// metadata log, which is what makes the broker open the partition again.

// metadataWriter is a partition's pending partition.metadata.
type metadataWriter struct {
	deferred bool // set before the partition is shared: left to the first append
	pending  atomic.Bool
	mu       sync.Mutex
	write    func() error // guarded by mu; set once before pending
}

// deferMetadata leaves p's partition.metadata (topic id) to its first
// append.
func (m *Manager) deferMetadata(p *Partition, id cluster.TopicID) {
	p.meta.write = func() error {
		dir := p.log.Dir() // where the log is now (it may have moved)
		root := filepath.Dir(dir)
		// The directory may have gone offline while this partition sat
		// idle (the others are marked in the background): its append
		// fails like theirs, and a failed write takes it offline as a
		// failed append would.
		if err := m.LogDirOffline(root); err != nil {
			return fmt.Errorf("%w: log directory %s: %v", log.ErrOffline, root, err)
		}
		// A new log has no directory until its first write
		// (internal/log/dir.go): this file is that write.
		if err := p.log.EnsureDir(); err != nil {
			m.dirFailed(root, &TopicPartition{p.Topic, p.Index}, err)
			return fmt.Errorf("%w: create %s: %v", log.ErrOffline, dir, err)
		}
		if err := m.writePartitionMetadata(dir, id, true); err != nil {
			m.dirFailed(root, &TopicPartition{p.Topic, p.Index}, err)
			return fmt.Errorf("%w: write %s: %v", log.ErrOffline, partitionMetadataFile, err)
		}
		m.syncMetadata(root)
		return nil
	}
	p.meta.deferred = true
	p.meta.pending.Store(true)
}

// wroteMetadata reports whether opening todo wrote a partition.metadata
// (a partition with data, or a file rewritten), which its log directory
// must then sync; new, empty partitions leave theirs to their first
// append, so creating only those syncs nothing.
func wroteMetadata(todo []*opening) bool {
	for _, o := range todo {
		if o.err == nil && o.p != nil && !o.p.meta.deferred {
			return true
		}
	}
	return false
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
