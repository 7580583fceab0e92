package replica

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/sluice-io/sluice/internal/log"
)

// Stats are the Manager's event counters, read by the node's metrics when
// scraped. Counting costs an atomic add where the event happens, never a
// walk over partitions.
type Stats struct {
	// ISRShrinks and ISRExpands count replicas removed from and added
	// to the ISR of partitions this broker leads, as committed (Kafka's
	// IsrShrinksPerSec and IsrExpandsPerSec).
	ISRShrinks, ISRExpands atomic.Uint64
	// LeaderElections counts the times this broker became the leader of
	// a partition, or leader again at a newer epoch.
	LeaderElections atomic.Uint64

	// The cleaner (cleaner.go): logs cleaned, what it read and wrote,
	// the segments it rewrote, the records it dropped, the cleanings that
	// failed, and the end and length of its last pass over the dirty logs.
	CleanerLogs, CleanerBytesRead, CleanerBytesWritten    atomic.Uint64
	CleanerSegments, CleanerRecordsRemoved, CleanerErrors atomic.Uint64
	CleanerLastPass                                       atomic.Int64 // Unix nanoseconds; 0: none yet
	CleanerLastPassTook                                   atomic.Int64 // nanoseconds

	// syncs, once set, is told of the log directories' group-commit
	// syncs (SetSyncObserver).
	syncs atomic.Pointer[log.SyncObserver]
}

// SetSyncObserver has every later sync of a log directory's group commit
// reported to o (the node's metrics, once they are served).
func (s *Stats) SetSyncObserver(o log.SyncObserver) { s.syncs.Store(&o) }

// ObserveSync implements log.SyncObserver for the SyncGroups.
func (s *Stats) ObserveSync(took time.Duration, logs int) {
	if o := s.syncs.Load(); o != nil {
		(*o).ObserveSync(took, logs)
	}
}

// Stats returns the manager's counters.
func (m *Manager) Stats() *Stats { return &m.stats }

// countISRChange counts the replicas that left and joined the ISR between
// old and next.
func (s *Stats) countISRChange(old, next []int32) {
	if s == nil {
		return
	}
	for _, id := range old {
		if !slices.Contains(next, id) {
			s.ISRShrinks.Add(1)
		}
	}
	for _, id := range next {
		if !slices.Contains(old, id) {
			s.ISRExpands.Add(1)
		}
	}
}

// cleaned counts one log's cleaning.
func (s *Stats) cleaned(st log.CleanStats, err error) {
	switch {
	case err != nil:
		s.CleanerErrors.Add(1)
	case st.Cleaned:
		s.CleanerLogs.Add(1)
		s.CleanerBytesRead.Add(uint64(max(st.BytesBefore, 0)))
		s.CleanerBytesWritten.Add(uint64(max(st.BytesAfter, 0)))
		s.CleanerSegments.Add(uint64(max(st.SegmentsBefore, 0)))
		s.CleanerRecordsRemoved.Add(uint64(max(st.RecordsRead-st.RecordsKept, 0)))
	}
}

// cleanerPass records the end of a pass of the cleaner that began at start.
func (s *Stats) cleanerPass(start, end time.Time) {
	s.CleanerLastPassTook.Store(int64(end.Sub(start)))
	s.CleanerLastPass.Store(end.UnixNano())
}
