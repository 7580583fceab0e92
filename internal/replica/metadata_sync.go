package replica

import "sync"

// partition.metadata files of small batches of new partitions are made
// durable in the background, many at a time: opening them writes the
// files without an fsync and marks their log directory, and one goroutine
// syncs the marked directories (one syncfs each) until none is left, then
// exits (a large batch syncs at once: inlineMetadataSync). Kafka also flushes
// partition.metadata from a scheduled task rather than on the creation
// path. Creating 10,000 single-partition topics one after another thus
// costs a few syncs of the directory, not one per topic. Until the sync,
// a crash can lose the file; a partition directory without one is taken
// as the topic's of the same name (RemoveOrphans), as before.
type metadataSync struct {
	mu      sync.Mutex
	dirty   map[string]bool // log directories written since their last sync
	running bool            // the syncing goroutine runs
}

// syncMetadata marks root for a sync and starts the syncing goroutine if
// it is not running. While the Manager stops it syncs inline.
func (m *Manager) syncMetadata(root string) {
	s := &m.metaSync
	s.mu.Lock()
	if s.dirty == nil {
		s.dirty = make(map[string]bool)
	}
	s.dirty[root] = true
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if !start {
		return
	}
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.bgCtx.Err() != nil {
		m.syncMetadataLoop() // stopping: no new goroutine (bg.Wait may be running)
		return
	}
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		m.syncMetadataLoop()
	}()
}

// syncMetadataLoop syncs the marked directories until none is marked.
func (m *Manager) syncMetadataLoop() {
	s := &m.metaSync
	for {
		s.mu.Lock()
		dirty := s.dirty
		s.dirty = nil
		if len(dirty) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		for root := range dirty {
			if err := m.syncLogDir(root); err != nil {
				m.logger.Warn("sync log directory after creating partitions", "dir", root, "err", err)
			}
		}
	}
}
