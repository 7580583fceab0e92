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
// Moves between log directories (move.go) are paced by a third quota,
// bounded by replica.alter.log.dirs.io.max.bytes.per.second (Kafka's
// AlterLogDirs quota: its ReplicaAlterLogDirsThread records every byte it
// copies and copies no more while the quota is exceeded). The background
// rounds of every move's copy record their bytes and wait while the rate
// is over the bound; the final copy, under the log's writer lock, is not
// paced, so producers never wait on the throttle.
//
// The throttled replicas are read from the image at each Reconcile and kept
// as bits on the Partition, so an unthrottled fetch pays one atomic load.

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/quota"
)

// Throttle bits of Partition.throttled.
const (
	throttleLeader   uint32 = 1 << iota // listed in leader.replication.throttled.replicas
	throttleFollower                    // listed in follower.replication.throttled.replicas
)

// throttles are the broker's replication quotas: as leader, as follower,
// and of moves between log directories.
type throttles struct {
	leader, follower, alterLogDirs *quota.Replication
}

func newThrottles(now func() time.Time) throttles {
	return throttles{leader: quota.NewReplication(now), follower: quota.NewReplication(now),
		alterLogDirs: quota.NewReplication(now)}
}

// configure applies the broker's throttle rates and sample windows.
func (t throttles) configure(b *config.Broker) {
	samples := int(b.Int64("replication.quota.window.num"))
	size := time.Duration(max(b.Int64("replication.quota.window.size.seconds"), 1)) * time.Second
	t.leader.Configure(rateOf(b, "leader.replication.throttled.rate"), samples, size)
	t.follower.Configure(rateOf(b, "follower.replication.throttled.rate"), samples, size)
	t.alterLogDirs.Configure(rateOf(b, "replica.alter.log.dirs.io.max.bytes.per.second"), samples, size)
}

// paceMoves returns the log.Pacer of one move between log directories
// over q, the broker's AlterLogDirs quota. The bytes copied are recorded
// in q, and the copy waits while q's rate is over its bound (all moves
// together, as Kafka checks), and until the move's own last chunk has
// taken len/bound: q's rate forgets a burst whole once its samples expire,
// so a chunk larger than the bound's worth of a sampled span would
// otherwise pass at more than the bound. A change of the bound (raised or
// deleted) is seen at once, and ctx ending stops the wait. The rate is
// looked at again at least every second, as the follower fetcher does.
func paceMoves(q *quota.Replication) log.Pacer {
	var last time.Time // when the previous chunk was let go
	return func(ctx context.Context, n int) (held bool, err error) {
		q.Record(n)
		from := last
		if from.IsZero() {
			from = time.Now()
		}
		defer func() { last = time.Now() }()
		for {
			changed := q.Changed() // before the checks: a change between them is seen
			var wait time.Duration
			if q.Exceeded() {
				wait = max(q.Delay(), 10*time.Millisecond) // Delay is 0 under a bound of 0
			}
			if b := q.Bound(); b <= 0 {
				wait = time.Second // nothing passes until the bound changes
			} else if !math.IsInf(b, 1) {
				wait = max(wait, time.Until(from.Add(time.Duration(float64(n)/b*float64(time.Second)))))
			}
			if wait <= 0 {
				return held, nil
			}
			held = true
			timer := time.NewTimer(min(wait, time.Second))
			select {
			case <-timer.C:
			case <-changed:
				timer.Stop()
			case <-ctx.Done():
				timer.Stop()
				return held, ctx.Err()
			}
		}
	}
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

// AlterLogDirsThrottle is the rate of bytes this broker copies moving
// partitions between log directories, bounded by
// replica.alter.log.dirs.io.max.bytes.per.second.
func (m *Manager) AlterLogDirsThrottle() *quota.Replication { return m.throttles.alterLogDirs }

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
