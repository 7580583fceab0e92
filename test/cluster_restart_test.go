package test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Restarts of a whole three-broker cluster, of processes and of
// in-process brokers. Whatever way the brokers stop (killed, so no
// controlled shutdown; or stopped side by side, each handing its
// leaderships to the others while it can), every partition has a leader
// again and takes acks=all writes within restartBound of the restart,
// with every acknowledged record in place; also when one broker stays
// down, as long as some broker that came back was in sync. A partition
// whose whole ISR stays down has no leader, and gets one when an ISR
// member comes back.

// restartBound is how long after the brokers are started again every
// partition must be led and writable: a session timeout (3 s in
// fastFailover) for a broker that did not come back to be fenced, with
// room for a loaded test machine.
const restartBound = 20 * time.Second

const restartTopic = "restart"

// restartCluster creates, on c, a topic of six partitions, replication
// factor 3 and min.insync.replicas 2, with some records acknowledged in
// it.
func restartCluster(t *testing.T, c cluster) *ackLog {
	createTopicIn(c, restartTopic, 6, 3, minISR2)
	acks := newAckLog()
	cl := partitionWriter(c)
	writeEveryPartition(t, cl, acks, "before", 6, time.Minute)
	cl.Close()
	return acks
}

// partitionWriter is an acks=all producer that writes each record to the
// partition it names, and looks up leaders again soon after an error (by
// default no sooner than 5 s after the last look-up), so that the time to
// writable is the cluster's rather than the client's.
func partitionWriter(c cluster) *kgo.Client {
	return c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
}

// writeEveryPartition writes one record to each partition of restartTopic
// with acks=all, the client retrying through missing leaders and short
// ISRs, and fails the test unless all are acknowledged within bound.
func writeEveryPartition(t *testing.T, cl *kgo.Client, acks *ackLog, prefix string, partitions int32, bound time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	errs := make([]error, partitions)
	var wg sync.WaitGroup
	for p := range partitions {
		wg.Add(1)
		v := fmt.Sprintf("%s-%d", prefix, p)
		cl.Produce(ctx, &kgo.Record{Topic: restartTopic, Partition: p, Value: []byte(v)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if errs[p] = err; err == nil {
				acks.add(r)
			}
		})
	}
	wg.Wait()
	for p, err := range errs {
		if err != nil {
			t.Fatalf("partition %d not writable within %v: %v", p, bound, err)
		}
	}
}

// checkRestarted waits until every partition is led by a running broker
// and takes a write, then checks every acknowledged record.
func checkRestarted(t *testing.T, c cluster, acks *ackLog, restarted time.Time) {
	t.Helper()
	waitTopic(c, restartTopic, 0, restartBound-time.Since(restarted), "six partitions, each led by a broker that is up", func(td kadm.TopicDetail) bool {
		if len(td.Partitions) != 6 {
			return false
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 1 || !c.up(p.Leader) {
				return false
			}
		}
		return true
	})
	led := time.Since(restarted)
	writeEveryPartition(t, partitionWriter(c), acks, "after", 6, restartBound-time.Since(restarted))
	t.Logf("every partition led %v and writable %v after the restart", led.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	checkAckedAt(t, c.seeds(), restartTopic, acks)
}

// stopWays are the two ways brokers stop: kill (kill -9 of a process, a
// power cut for an in-process broker), with no controlled shutdown, and
// stop (SIGTERM, or Shutdown), with one. one stops a broker; all stops
// every running broker at once.
var stopWays = []struct {
	name string
	one  func(c cluster, id int32)
	all  func(c cluster)
}{
	{"kill", cluster.kill, cluster.killAll},
	{"stop", cluster.stop, func(c cluster) {
		var wg sync.WaitGroup
		for _, id := range c.ids() {
			if c.up(id) {
				wg.Add(1)
				go func() { defer wg.Done(); c.stop(id) }()
			}
		}
		wg.Wait()
	}},
}

// Every broker stops at once, and all come back.
func TestClusterRestartAll(t *testing.T) {
	t.Parallel()
	for _, stop := range stopWays {
		t.Run(stop.name, func(t *testing.T) {
			t.Parallel()
			forEachKind(t, 3, clusterSettings(nil), func(t *testing.T, c cluster) {
				acks := restartCluster(t, c)
				stop.all(c)
				restarted := time.Now()
				c.startTogether(c.ids()...)
				checkRestarted(t, c, acks, restarted)
			})
		})
	}
}

// One broker stays down: after a kill of all (it was in every ISR and
// looks live to the restarted controller until its session times out),
// and after a stop of that broker first and then of the others (its
// controlled shutdown took it out of the ISRs).
func TestClusterRestartWithOneBrokerDown(t *testing.T) {
	t.Parallel()
	for _, stop := range stopWays {
		t.Run(stop.name, func(t *testing.T) {
			t.Parallel()
			forEachKind(t, 3, clusterSettings(nil), func(t *testing.T, c cluster) {
				acks := restartCluster(t, c)
				const down = 2
				stop.one(c, down)
				stop.all(c)
				restarted := time.Now()
				c.startTogether(others(c, down)...)
				checkRestarted(t, c, acks, restarted)
			})
		})
	}
}

// The brokers stop one after another (controlled), so the last one is
// left the only ISR member of every partition (with nobody to hand its
// leaderships to, it stops without a controlled shutdown). Without it,
// no other broker leads them (no unclean election): it is named leader
// until its session times out, then nobody is; when it comes back, it
// leads them again.
func TestClusterRestartWithoutLastISRMember(t *testing.T) {
	t.Parallel()
	forEachKind(t, 3, clusterSettings(nil), func(t *testing.T, c cluster) {
		acks := restartCluster(t, c)
		const last = 3
		for _, id := range c.ids() {
			c.stop(id)
		}
		c.startTogether(others(c, last)...)
		// Watch for twice the session timeout at least, long enough for the
		// controller to have fenced the missing broker and to have elected
		// anyone it would, and until every partition is seen leaderless.
		start := time.Now()
		waitTopic(c, restartTopic, 1, restartBound, "every partition leaderless, watched for twice the session timeout", func(td kadm.TopicDetail) bool {
			if len(td.Partitions) != 6 {
				return false
			}
			leaderless := true
			for _, p := range td.Partitions {
				if p.Leader >= 0 && p.Leader != last {
					t.Fatalf("partition %d led by %d while its only ISR member %d is down: %s", p.Partition, p.Leader, last, describePartitions(td))
				}
				leaderless = leaderless && p.Leader < 0 && p.Err != nil
			}
			return leaderless && time.Since(start) >= 6*time.Second
		})
		restarted := time.Now()
		c.start(last)
		checkRestarted(t, c, acks, restarted)
	})
}
