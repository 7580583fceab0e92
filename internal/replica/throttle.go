package replica

// Replication throttles (KIP-73, Kafka's ReplicationQuotaManager). A topic
// names the replicas to throttle in leader.replication.throttled.replicas
// and follower.replication.throttled.replicas ("partition:broker,..." or
// "*"); a broker applies the entries that name itself. As leader it sends
// no records of a throttled partition to a follower outside the ISR while
// its leader.replication.throttled.rate is exceeded (the broker's fetch
// handler asks LeaderThrottled, InSync and LeaderThrottle); as follower it
// leaves a throttled partition it is not in the ISR of out of its fetches
// while its follower.replication.throttled.rate is exceeded (fetcher.go).
// In-sync replicas are never throttled, so acks=all writes are not slowed.
// The bytes of throttled partitions are recorded whether or not a rate is
// set, as in Kafka.
//
// The throttled replicas are read from the image at each Reconcile and kept
// as bits on the Partition, so an unthrottled fetch pays one atomic load.

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/quota"
)

// Throttle bits of Partition.throttled.
const (
	throttleLeader   uint32 = 1 << iota // listed in leader.replication.throttled.replicas
	throttleFollower                    // listed in follower.replication.throttled.replicas
)

// throttles are the broker's replication quotas. Moves between log
// directories are not paced yet: log.Log.Relocate has no hook for it.
type throttles struct {
	leader, follower *quota.Replication
}

func newThrottles(now func() time.Time) throttles {
	return throttles{leader: quota.NewReplication(now), follower: quota.NewReplication(now)}
}

// configure applies the broker's throttle rates and sample windows.
func (t throttles) configure(b *config.Broker) {
	samples := int(b.Int64("replication.quota.window.num"))
	size := time.Duration(max(b.Int64("replication.quota.window.size.seconds"), 1)) * time.Second
	t.leader.Configure(rateOf(b, "leader.replication.throttled.rate"), samples, size)
	t.follower.Configure(rateOf(b, "follower.replication.throttled.rate"), samples, size)
}

func rateOf(b *config.Broker, name string) float64 {
	if v := b.Int64(name); v != math.MaxInt64 {
		return float64(v)
	}
	return math.Inf(1)
}

// LeaderThrottle is the rate of bytes this broker sends as leader for
// throttled replicas, bounded by leader.replication.throttled.rate.
func (m *Manager) LeaderThrottle() *quota.Replication { return m.throttles.leader }

// FollowerThrottle is the rate of bytes this broker fetches as follower for
// throttled replicas, bounded by follower.replication.throttled.rate.
func (m *Manager) FollowerThrottle() *quota.Replication { return m.throttles.follower }

// LeaderThrottled reports whether this broker's replica of the partition
// is listed in the topic's leader.replication.throttled.replicas.
func (p *Partition) LeaderThrottled() bool { return p.throttled.Load()&throttleLeader != 0 }

// followerThrottled reports whether this broker's replica is listed in the
// topic's follower.replication.throttled.replicas.
func (p *Partition) followerThrottled() bool { return p.throttled.Load()&throttleFollower != 0 }

// InSync reports whether replica id is in the partition's committed ISR.
func (p *Partition) InSync(id int32) bool {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	return slices.Contains(p.isr, id)
}

// throttledReplicas is a topic's throttled-replica lists, as they apply to
// one broker.
type throttledReplicas struct {
	leader, follower throttledSet
}

// throttledSet is the partitions one list throttles on one broker.
type throttledSet struct {
	all   bool
	parts map[int32]bool
}

func (s throttledSet) has(partition int32) bool { return s.all || s.parts[partition] }

// throttledFor reads the throttled-replica configs of t for broker node.
// Neither config has a broker default, so the topic's own settings are all
// there is.
func throttledFor(t *cluster.Topic, node int32) throttledReplicas {
	if len(t.Configs) == 0 {
		return throttledReplicas{}
	}
	return throttledReplicas{
		leader:   parseThrottled(t.Configs["leader.replication.throttled.replicas"], node),
		follower: parseThrottled(t.Configs["follower.replication.throttled.replicas"], node),
	}
}

// parseThrottled reads "*" or "partition:broker,..." (validated when set)
// into the partitions it throttles on broker node. Entries that do not
// parse are skipped.
func parseThrottled(v string, node int32) throttledSet {
	v = strings.TrimSpace(v)
	if v == "" {
		return throttledSet{}
	}
	if v == "*" {
		return throttledSet{all: true}
	}
	var s throttledSet
	for _, e := range strings.Split(v, ",") {
		ps, bs, ok := strings.Cut(strings.TrimSpace(e), ":")
		if !ok {
			continue
		}
		p, err1 := strconv.ParseInt(strings.TrimSpace(ps), 10, 32)
		b, err2 := strconv.ParseInt(strings.TrimSpace(bs), 10, 32)
		if err1 != nil || err2 != nil || int32(b) != node {
			continue
		}
		if s.parts == nil {
			s.parts = make(map[int32]bool)
		}
		s.parts[int32(p)] = true
	}
	return s
}

// bits are the Partition.throttled bits of one partition.
func (r throttledReplicas) bits(partition int32) uint32 {
	var b uint32
	if r.leader.has(partition) {
		b |= throttleLeader
	}
	if r.follower.has(partition) {
		b |= throttleFollower
	}
	return b
}
