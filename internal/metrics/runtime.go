package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Go's runtime (go_*) and the process's (process_*) standard metrics,
// created per registry.
func newGoCollector() prometheus.Collector { return collectors.NewGoCollector() }

func newProcessCollector() prometheus.Collector {
	return collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})
}
