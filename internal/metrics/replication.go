package metrics

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-io/sluice/internal/quota"
)

// ReplicationThrottles are the broker's replication quotas (KIP-73, Kafka's
// LeaderReplication, FollowerReplication and AlterLogDirsReplication
// quotas) the throttle collector reads when scraped. Any field may be nil:
// its series are left out.
type ReplicationThrottles struct {
	// Leader bounds what this broker sends, as leader, to throttled
	// replicas (leader.replication.throttled.rate).
	Leader *quota.Replication
	// Follower bounds what it fetches, as follower, for throttled replicas
	// (follower.replication.throttled.rate).
	Follower *quota.Replication
	// AlterLogDirs bounds what its moves between log directories copy
	// (replica.alter.log.dirs.io.max.bytes.per.second).
	AlterLogDirs *quota.Replication
}

// throttlesCollector exports the replication quotas at scrape time: a
// lock and a sum over the quota's samples each, nothing on the
// replication path beyond what the quotas already record.
type throttlesCollector struct {
	src ReplicationThrottles

	bytes, rate, limit, exceeded *prometheus.Desc
}

// RegisterReplicationThrottles registers the collector of src's quotas on
// reg.
func RegisterReplicationThrottles(reg prometheus.Registerer, src ReplicationThrottles) {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, []string{"throttle"}, nil)
	}
	reg.MustRegister(&throttlesCollector{
		src:      src,
		bytes:    d("sluice_replication_throttle_bytes_total", "Bytes recorded in the replication throttle: of throttled replicas sent as leader or fetched as follower (in or out of the ISR), and copied by moves between log directories."),
		rate:     d("sluice_replication_throttle_rate_bytes_per_second", "The throttle's measured rate, over replication.quota.window.num samples of replication.quota.window.size.seconds: what it compares with its bound."),
		limit:    d("sluice_replication_throttle_limit_bytes_per_second", "The throttle's bound (leader.replication.throttled.rate, follower.replication.throttled.rate, replica.alter.log.dirs.io.max.bytes.per.second); left out when none is set."),
		exceeded: d("sluice_replication_throttle_exceeded", "1 while the throttle's rate is over its bound: throttled replicas out of the ISR get no bytes, log-directory moves wait; else 0."),
	})
}

func (c *throttlesCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.rate, c.limit, c.exceeded} {
		ch <- d
	}
}

func (c *throttlesCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range []struct {
		name string
		q    *quota.Replication
	}{{"leader", c.src.Leader}, {"follower", c.src.Follower}, {"alter_log_dirs", c.src.AlterLogDirs}} {
		if t.q == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(t.q.Total()), t.name)
		ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, t.q.Rate(), t.name)
		if b := t.q.Bound(); !math.IsInf(b, 1) {
			ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, b, t.name)
		}
		exceeded := 0.0
		if t.q.Exceeded() {
			exceeded = 1
		}
		ch <- prometheus.MustNewConstMetric(c.exceeded, prometheus.GaugeValue, exceeded, t.name)
	}
}
