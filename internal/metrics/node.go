package metrics

import (
	"cmp"
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/buildinfo"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/replica"
)

// Groups is the part of the group coordinator the lag collector reads.
type Groups interface {
	ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse
	OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse
}

// NodeSources is where the node collector reads a broker's state when
// scraped. Any func may be nil: its metrics are left out.
type NodeSources struct {
	NodeID int32
	// Image is the current cluster metadata.
	Image func() *cluster.Image
	// Partitions are the partitions this broker hosts.
	Partitions func() []*replica.Partition
	// LogDirs are log.dirs; LogDirOffline says why one is offline (nil:
	// online).
	LogDirs       func() []string
	LogDirOffline func(dir string) error
	// RaftStats are hashicorp/raft's Stats.
	RaftStats func() map[string]string
	// Connections are the open Kafka connections per listener name.
	Connections func() map[string]int
	// Groups is the group coordinator; its lag is computed from the
	// committed offsets of the groups this broker coordinates and the high
	// watermarks of the partitions it hosts.
	Groups Groups
	// MaxLagPartitions bounds the partitions sluice_consumer_group_lag
	// reports per scrape (sluice.metrics.group.lag.max.partitions); zero
	// or less reports none.
	MaxLagPartitions int
	// MaxSizePartitions bounds the partitions sluice_log_size_bytes
	// reports per scrape, the largest first
	// (sluice.metrics.log.size.max.partitions).
	MaxSizePartitions int
	// Waiting are the requests in purgatory (broker.Broker.Waiting).
	Waiting func() broker.Waiting
	// Stats are the replica manager's counters: ISR changes, leader
	// elections, the cleaner.
	Stats *replica.Stats
}

// nodeCollector exports the state of one broker at scrape time.
type nodeCollector struct {
	src NodeSources

	buildInfo                                                   *prometheus.Desc
	hosted, leaders, underReplicated, underMinISR, offline      *prometheus.Desc
	raftState, raftTerm, raftCommit, raftApplied, raftLastIndex *prometheus.Desc
	raftLeader, raftPeers                                       *prometheus.Desc
	brokers, connections, groups, lag, lagSkipped               *prometheus.Desc
	dirSize, dirOffline, logSize, sizeSkipped                   *prometheus.Desc
	waiting, isrShrinks, isrExpands, elections                  *prometheus.Desc
	cleanerLogs, cleanerRead, cleanerWritten, cleanerSegments   *prometheus.Desc
	cleanerRemoved, cleanerErrors, cleanerLast, cleanerLastTook *prometheus.Desc
}

// RegisterNode registers the collector of src's state, sluice_build_info,
// and Go's runtime and process collectors on reg.
func RegisterNode(reg prometheus.Registerer, src NodeSources) {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	c := &nodeCollector{
		src:             src,
		buildInfo:       d("sluice_build_info", "Always 1; the labels say which build of Sluice runs.", "version", "commit", "go_version"),
		hosted:          d("sluice_partitions_hosted", "Partitions with a replica on this broker."),
		leaders:         d("sluice_partitions_leader", "Partitions this broker leads."),
		underReplicated: d("sluice_partitions_under_replicated", "Partitions this broker leads whose ISR is smaller than their replica set."),
		underMinISR:     d("sluice_partitions_under_min_isr", "Partitions this broker leads whose ISR is smaller than min.insync.replicas (acks=all produce fails)."),
		offline:         d("sluice_partitions_offline", "Partitions hosted on this broker that have no leader in the cluster metadata."),
		raftState:       d("sluice_raft_state", "1 for the metadata Raft state this node is in.", "state"),
		raftTerm:        d("sluice_raft_term", "Current Raft term of the metadata quorum."),
		raftCommit:      d("sluice_raft_commit_index", "Highest metadata log index known committed."),
		raftApplied:     d("sluice_raft_applied_index", "Highest metadata log index applied to this node's state machine."),
		raftLastIndex:   d("sluice_raft_last_log_index", "Last index in this node's metadata log."),
		raftLeader:      d("sluice_raft_leader_id", "Node ID of the metadata quorum leader (the controller); -1 when none is known."),
		raftPeers:       d("sluice_raft_peers", "Other voters of the metadata quorum in this node's Raft configuration."),
		brokers:         d("sluice_brokers", "Brokers registered in the cluster metadata, by state.", "state"),
		connections:     d("sluice_connections", "Open Kafka connections, by listener.", "listener"),
		groups:          d("sluice_consumer_groups", "Groups this broker coordinates, by state.", "state"),
		lag:             d("sluice_consumer_group_lag", "High watermark minus the group's committed offset, for partitions hosted on the group's coordinator.", "group", "topic", "partition"),
		dirSize:         d("sluice_log_dir_size_bytes", "Bytes of the segments of the partitions in each log directory.", "dir"),
		dirOffline:      d("sluice_log_dir_offline", "1 when the log directory is offline after an I/O error (KIP-112), else 0.", "dir"),
		lagSkipped:      d("sluice_consumer_group_lag_skipped_partitions", "Committed partitions left out of sluice_consumer_group_lag at the last scrape: over sluice.metrics.group.lag.max.partitions, or not hosted on the coordinator."),
		logSize:         d("sluice_log_size_bytes", "Bytes of the segments of each partition hosted on this broker, the largest sluice.metrics.log.size.max.partitions of them.", "topic", "partition"),
		sizeSkipped:     d("sluice_log_size_skipped_partitions", "Hosted partitions left out of sluice_log_size_bytes at the last scrape (over sluice.metrics.log.size.max.partitions)."),
		waiting:         d("sluice_purgatory_requests", "Requests waiting to be answered (purgatory): acks=all produce requests waiting for replication and fsync, fetches waiting for fetch.min.bytes.", "operation"),
		isrShrinks:      d("sluice_isr_shrinks_total", "Replicas removed from the ISR of partitions this broker leads."),
		isrExpands:      d("sluice_isr_expands_total", "Replicas added to the ISR of partitions this broker leads."),
		elections:       d("sluice_leader_elections_total", "Times this broker became the leader of a partition (or leader again at a newer leader epoch), start-up included."),
		cleanerLogs:     d("sluice_log_cleaner_cleanings_total", "Compacted partition logs the cleaner cleaned."),
		cleanerRead:     d("sluice_log_cleaner_read_bytes_total", "Bytes of the segments the cleaner rewrote, before cleaning."),
		cleanerWritten:  d("sluice_log_cleaner_written_bytes_total", "Bytes of the segments the cleaner rewrote, after cleaning."),
		cleanerSegments: d("sluice_log_cleaner_segments_total", "Segments the cleaner rewrote."),
		cleanerRemoved:  d("sluice_log_cleaner_removed_records_total", "Records the cleaner removed (older values of a key, expired tombstones and markers)."),
		cleanerErrors:   d("sluice_log_cleaner_errors_total", "Cleanings that failed with an error (not those given up because the log changed)."),
		cleanerLast:     d("sluice_log_cleaner_last_pass_timestamp_seconds", "When the cleaner last finished a pass over the compacted logs (Unix time); 0 before the first."),
		cleanerLastTook: d("sluice_log_cleaner_last_pass_duration_seconds", "How long the cleaner's last pass over the compacted logs took."),
	}
	reg.MustRegister(c, newGoCollector(), newProcessCollector())
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo, c.hosted, c.leaders, c.underReplicated, c.underMinISR, c.offline,
		c.raftState, c.raftTerm, c.raftCommit, c.raftApplied, c.raftLastIndex, c.raftLeader, c.raftPeers,
		c.brokers, c.connections, c.groups, c.lag, c.lagSkipped, c.dirSize, c.dirOffline, c.logSize, c.sizeSkipped,
		c.waiting, c.isrShrinks, c.isrExpands, c.elections, c.cleanerLogs, c.cleanerRead, c.cleanerWritten,
		c.cleanerSegments, c.cleanerRemoved, c.cleanerErrors, c.cleanerLast, c.cleanerLastTook} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	bi := buildinfo.Get()
	gauge(c.buildInfo, 1, bi.Version, bi.Commit, bi.GoVersion)
	var img *cluster.Image
	if c.src.Image != nil {
		img = c.src.Image()
	}
	if img != nil {
		c.collectBrokers(gauge, img)
	}
	if c.src.Partitions != nil {
		c.collectPartitions(gauge, img)
	}
	if c.src.RaftStats != nil {
		c.collectRaft(gauge, img)
	}
	if c.src.Connections != nil {
		for name, n := range c.src.Connections() {
			gauge(c.connections, float64(n), name)
		}
	}
	if c.src.Groups != nil {
		c.collectGroups(gauge)
	}
	if c.src.Waiting != nil {
		w := c.src.Waiting()
		gauge(c.waiting, float64(w.Produce), "produce")
		gauge(c.waiting, float64(w.ConsumerFetch), "fetch_consumer")
		gauge(c.waiting, float64(w.FollowerFetch), "fetch_follower")
	}
	if s := c.src.Stats; s != nil {
		c.collectStats(ch, gauge, s)
	}
}

// collectStats exports the replica manager's counters.
func (c *nodeCollector) collectStats(ch chan<- prometheus.Metric, gauge func(*prometheus.Desc, float64, ...string), s *replica.Stats) {
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(c.isrShrinks, s.ISRShrinks.Load())
	counter(c.isrExpands, s.ISRExpands.Load())
	counter(c.elections, s.LeaderElections.Load())
	counter(c.cleanerLogs, s.CleanerLogs.Load())
	counter(c.cleanerRead, s.CleanerBytesRead.Load())
	counter(c.cleanerWritten, s.CleanerBytesWritten.Load())
	counter(c.cleanerSegments, s.CleanerSegments.Load())
	counter(c.cleanerRemoved, s.CleanerRecordsRemoved.Load())
	counter(c.cleanerErrors, s.CleanerErrors.Load())
	last := 0.0
	if ns := s.CleanerLastPass.Load(); ns > 0 {
		last = float64(ns) / 1e9
	}
	gauge(c.cleanerLast, last)
	gauge(c.cleanerLastTook, time.Duration(s.CleanerLastPassTook.Load()).Seconds())
}

func (c *nodeCollector) collectBrokers(gauge func(*prometheus.Desc, float64, ...string), img *cluster.Image) {
	var up, fenced, shuttingDown int
	for _, b := range img.Brokers {
		switch {
		case b.ShuttingDown:
			shuttingDown++
		case b.Fenced:
			fenced++
		default:
			up++
		}
	}
	gauge(c.brokers, float64(up), "unfenced")
	gauge(c.brokers, float64(fenced), "fenced")
	gauge(c.brokers, float64(shuttingDown), "shutting_down")
}

// collectPartitions visits the hosted partitions once: the cost of a
// scrape is proportional to them, never to the cluster's partitions.
func (c *nodeCollector) collectPartitions(gauge func(*prometheus.Desc, float64, ...string), img *cluster.Image) {
	var hosted, leaders, under, underMin, offline int
	dirs := map[string]int64{}
	if c.src.LogDirs != nil {
		for _, dir := range c.src.LogDirs() {
			dirs[filepath.Clean(dir)] = 0 // as partitions' Dir is
			v := 0.0
			if c.src.LogDirOffline != nil && c.src.LogDirOffline(dir) != nil {
				v = 1
			}
			gauge(c.dirOffline, v, filepath.Clean(dir))
		}
	}
	parts := c.src.Partitions()
	// Each partition's size is reported when they are few enough, else
	// those of the largest: a series per partition costs a scrape more
	// than the rest of this pass.
	var sizes []partitionSize
	if len(parts) > c.src.MaxSizePartitions {
		sizes = make([]partitionSize, 0, len(parts))
	}
	for _, p := range parts {
		hosted++
		size := p.Log().Size()
		dirs[p.Dir()] += size
		if sizes != nil {
			sizes = append(sizes, partitionSize{p, size})
		} else {
			gauge(c.logSize, float64(size), p.Topic, strconv.Itoa(int(p.Index)))
		}
		var placed *cluster.Partition
		if img != nil {
			if t := img.Topics.Value(p.Topic); t != nil && int(p.Index) < len(t.Partitions) {
				placed = &t.Partitions[p.Index]
			}
		}
		if placed != nil && placed.Leader < 0 {
			offline++
		}
		if !p.IsLeader() {
			continue
		}
		leaders++
		isr := len(p.ISR())
		if placed != nil && isr < len(placed.Replicas) {
			under++
		}
		if isr < p.MinInsyncReplicas() {
			underMin++
		}
	}
	gauge(c.hosted, float64(hosted))
	if sizes != nil {
		n := max(c.src.MaxSizePartitions, 0)
		slices.SortFunc(sizes, func(a, b partitionSize) int { return cmp.Compare(b.size, a.size) })
		for _, s := range sizes[:n] {
			gauge(c.logSize, float64(s.size), s.p.Topic, strconv.Itoa(int(s.p.Index)))
		}
		gauge(c.sizeSkipped, float64(len(sizes)-n))
	} else {
		gauge(c.sizeSkipped, 0)
	}
	for dir, size := range dirs {
		gauge(c.dirSize, float64(size), dir)
	}
	gauge(c.leaders, float64(leaders))
	gauge(c.underReplicated, float64(under))
	gauge(c.underMinISR, float64(underMin))
	gauge(c.offline, float64(offline))
}

func (c *nodeCollector) collectRaft(gauge func(*prometheus.Desc, float64, ...string), img *cluster.Image) {
	stats := c.src.RaftStats()
	if stats == nil {
		return
	}
	state := stats["state"]
	for _, s := range []string{"Follower", "Candidate", "Leader", "Shutdown"} {
		v := 0.0
		if state == s {
			v = 1
		}
		gauge(c.raftState, v, lower(s))
	}
	num := func(d *prometheus.Desc, key string) {
		if v, err := strconv.ParseUint(stats[key], 10, 64); err == nil {
			gauge(d, float64(v))
		}
	}
	num(c.raftTerm, "term")
	num(c.raftCommit, "commit_index")
	num(c.raftApplied, "applied_index")
	num(c.raftLastIndex, "last_log_index")
	num(c.raftPeers, "num_peers")
	if img != nil {
		gauge(c.raftLeader, float64(img.ControllerID))
	}
}

func lower(s string) string {
	b := []byte(s)
	if len(b) > 0 && b[0] >= 'A' && b[0] <= 'Z' {
		b[0] += 'a' - 'A'
	}
	return string(b)
}

// groupsTimeout bounds the coordinator calls of one scrape: a collector has
// no context of its own.
const groupsTimeout = 5 * time.Second

// collectGroups counts the groups this broker coordinates by state and
// computes their lag: one OffsetFetch of every group's committed offsets,
// then the high watermark of each partition hosted here, up to
// MaxLagPartitions partitions.
func (c *nodeCollector) collectGroups(gauge func(*prometheus.Desc, float64, ...string)) {
	ctx, cancel := context.WithTimeout(context.Background(), groupsTimeout)
	defer cancel()
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.Version = 5
	lresp := c.src.Groups.ListGroups(ctx, lreq)
	states := map[string]int{}
	for _, s := range []string{"Empty", "Stable", "PreparingRebalance", "CompletingRebalance", "Assigning", "Reconciling", "Dead"} {
		states[s] = 0
	}
	freq := kmsg.NewPtrOffsetFetchRequest()
	freq.Version = 8
	for _, g := range lresp.Groups {
		states[g.GroupState]++
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g.Group
		freq.Groups = append(freq.Groups, rg)
	}
	for s, n := range states {
		gauge(c.groups, float64(n), s)
	}
	if len(freq.Groups) == 0 || c.src.Partitions == nil {
		return
	}
	fresp := c.src.Groups.OffsetFetch(ctx, freq)
	var hosted map[topicPartition]*replica.Partition
	reported, skipped := 0, 0
	for _, g := range fresp.Groups {
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 || p.Offset < 0 {
					continue
				}
				if reported >= c.src.MaxLagPartitions {
					skipped++
					continue
				}
				if hosted == nil {
					parts := c.src.Partitions()
					hosted = make(map[topicPartition]*replica.Partition, len(parts))
					for _, rp := range parts {
						hosted[topicPartition{rp.Topic, rp.Index}] = rp
					}
				}
				rp, ok := hosted[topicPartition{t.Topic, p.Partition}]
				if !ok {
					skipped++
					continue
				}
				reported++
				gauge(c.lag, float64(max(rp.HighWatermark()-p.Offset, 0)), g.Group, t.Topic, strconv.Itoa(int(p.Partition)))
			}
		}
	}
	gauge(c.lagSkipped, float64(skipped))
}

type partitionSize struct {
	p    *replica.Partition
	size int64
}

type topicPartition struct {
	topic     string
	partition int32
}
