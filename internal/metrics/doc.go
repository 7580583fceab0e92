// Package metrics defines Sluice's Prometheus metrics (docs/metrics.md
// lists them) and registers them on a prometheus.Registerer passed in:
// there is no global registry and no package-level collector, so two nodes
// in one process keep separate metrics.
//
// The request path pays for two things only: a request's count and
// latency (an array index and a few atomic adds, Handler) and, for Produce
// and Fetch, per-topic byte and record counters (one map lookup and atomic
// adds per topic). Everything else (partitions, Raft, connections,
// consumer groups and their lag) is read from the node's state when
// /metrics is scraped, at a cost proportional to what this broker hosts.
package metrics
