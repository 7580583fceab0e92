package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Syncs records the syncs of the log directories' group commit
// (log.SyncObserver): how long each took and how many partitions' logs it
// made durable at once: two histogram observations per sync, made by the
// syncer once the sync is done.
type Syncs struct {
	took, logs prometheus.Histogram
}

// NewSyncs registers sluice_log_flush_duration_seconds and
// sluice_log_flush_partitions on reg.
func NewSyncs(reg prometheus.Registerer) *Syncs {
	s := &Syncs{
		took: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_log_flush_duration_seconds",
			Help:    "Time of one sync of a log directory's group commit: an fdatasync of one partition's log, or of several side by side, or one syncfs.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 16), // 50µs to ~1.6s
		}),
		logs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_log_flush_partitions",
			Help:    "Partitions whose logs one sync made durable at once (group commit across the partitions of a log directory).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 to 512
		}),
	}
	reg.MustRegister(s.took, s.logs)
	return s
}

// ObserveSync implements log.SyncObserver.
func (s *Syncs) ObserveSync(took time.Duration, logs int) {
	s.took.Observe(took.Seconds())
	s.logs.Observe(float64(logs))
}
