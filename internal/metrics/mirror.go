package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// MirrorPartition is one partition a mirror running in this process copies
// (internal/mirror's PartitionStatus, without importing it).
type MirrorPartition struct {
	SourceTopic, Topic string
	Partition          int32
	// Lag is the source's high watermark minus the mirror topic's, in
	// offsets; -1 when not yet known (the sample is left out).
	Lag            int64
	Records, Bytes int64
}

// mirrorCollector exports a mirror's partitions at scrape time.
type mirrorCollector struct {
	parts               func() []MirrorPartition
	lag, records, bytes *prometheus.Desc
}

// RegisterMirror registers the collector of the partitions parts returns
// (read at each scrape) on reg.
func RegisterMirror(reg prometheus.Registerer, parts func() []MirrorPartition) {
	labels := []string{"source_topic", "topic", "partition"}
	reg.MustRegister(&mirrorCollector{
		parts:   parts,
		lag:     prometheus.NewDesc("sluice_mirror_lag_records", "Source high watermark minus the mirror topic's, per mirrored partition, as the mirror last saw them (offsets: gaps left by compaction or transaction markers count).", labels, nil),
		records: prometheus.NewDesc("sluice_mirror_copied_records_total", "Records the mirror in this process copied to the mirror topic's partition.", labels, nil),
		bytes:   prometheus.NewDesc("sluice_mirror_copied_bytes_total", "Bytes of record batches the mirror in this process copied to the mirror topic's partition.", labels, nil),
	})
}

func (c *mirrorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.records
	ch <- c.bytes
}

func (c *mirrorCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.parts() {
		l := []string{p.SourceTopic, p.Topic, strconv.Itoa(int(p.Partition))}
		if p.Lag >= 0 {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(p.Lag), l...)
		}
		ch <- prometheus.MustNewConstMetric(c.records, prometheus.CounterValue, float64(p.Records), l...)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(p.Bytes), l...)
	}
}
