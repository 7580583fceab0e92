package test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Restarts of a whole three-broker cluster. Whatever way the brokers stop
// (kill -9, so no controlled shutdown; or SIGTERM side by side, each
// handing its leaderships to the others while it can), every partition
// has a leader again and takes acks=all writes within restartBound of the
// restart, with every acknowledged record in place; also when one broker
// stays down, as long as some broker that came back was in sync. A
// partition whose whole ISR stays down has no leader, and gets one when
// an ISR member comes back.

// restartBound is how long after the brokers are started again every
// partition must be led and writable: a session timeout (3 s in
// fastFailover) for a broker that did not come back to be fenced, with
// room for a loaded test machine.
const restartBound = 20 * time.Second

const restartTopic = "restart"

// stopAll stops every running broker with sig, side by side.
func (c *testCluster) stopAll(sig syscall.Signal) {
	c.mu.Lock()
	var procs []*process
	for _, p := range c.nodes {
		procs = append(procs, p)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.kill(sig) }()
	}
	wg.Wait()
}

// relaunch starts again, side by side, every stopped broker for which
// start is true, on its data directory and address, and waits until each
// serves.
func (c *testCluster) relaunch(start func(id int32) bool) {
	c.t.Helper()
	var procs []*process
	for id := int32(1); id <= int32(len(c.nodes)); id++ {
		p := c.node(id)
		select {
		case <-p.done:
		default:
			continue
		}
		if start(id) {
			p.launch(p.addr)
			procs = append(procs, p)
		}
	}
	for _, p := range procs {
		p.waitReady()
	}
}

// restartCluster starts a cluster with a topic of six partitions,
// replication factor 3 and min.insync.replicas 2, and some records
// acknowledged in it.
func restartCluster(t *testing.T) (*testCluster, *ackLog) {
	c := startCluster(t, 3, clusterSettings(nil))
	c.createReplicated(restartTopic, 6, 3, map[string]*string{"min.insync.replicas": strp("2")})
	acks := newAckLog()
	cl := c.partitionWriter()
	writeEveryPartition(t, cl, acks, "before", 6, time.Minute)
	cl.Close()
	return c, acks
}

// partitionWriter is an acks=all producer that writes each record to the
// partition it names, and looks up leaders again soon after an error (by
// default no sooner than 5 s after the last look-up), so that the time to
// writable is the cluster's rather than the client's.
func (c *testCluster) partitionWriter() *kgo.Client {
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
func (c *testCluster) checkRestarted(t *testing.T, acks *ackLog, up func(id int32) bool, restarted time.Time) {
	t.Helper()
	var led time.Duration
	waitFor(t, restartBound, "every partition led by a broker that is up", func() bool {
		md, err := c.metadata(testContext(t, 3*time.Second), c.liveNode(), restartTopic)
		if err != nil {
			return false
		}
		td := md.Topics[restartTopic]
		if td.Err != nil || len(td.Partitions) != 6 {
			return false
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 1 || !up(p.Leader) {
				return false
			}
		}
		led = time.Since(restarted)
		return true
	})
	writeEveryPartition(t, c.partitionWriter(), acks, "after", 6, restartBound-time.Since(restarted))
	t.Logf("every partition led %v and writable %v after the restart", led.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	c.checkAcked(restartTopic, acks)
}

// stopSignals are the two ways a broker stops: kill -9, with no
// controlled shutdown, and SIGTERM, with one.
var stopSignals = []struct {
	name string
	sig  syscall.Signal
}{{"kill -9", syscall.SIGKILL}, {"SIGTERM", syscall.SIGTERM}}

func TestClusterRestartAll(t *testing.T) {
	t.Parallel()
	for _, stop := range stopSignals {
		t.Run(stop.name, func(t *testing.T) {
			c, acks := restartCluster(t)
			c.stopAll(stop.sig)
			restarted := time.Now()
			all := func(int32) bool { return true }
			c.relaunch(all)
			c.checkRestarted(t, acks, all, restarted)
		})
	}
}

// One broker stays down: after kill -9 of all (it was in every ISR and
// looks live to the restarted controller until its session times out),
// and after SIGTERM of that broker first and then of the others (its
// controlled shutdown took it out of the ISRs).
func TestClusterRestartWithOneBrokerDown(t *testing.T) {
	t.Parallel()
	for _, stop := range stopSignals {
		t.Run(stop.name, func(t *testing.T) {
			c, acks := restartCluster(t)
			const down = 2
			c.node(down).kill(stop.sig)
			c.stopAll(stop.sig)
			restarted := time.Now()
			up := func(id int32) bool { return id != down }
			c.relaunch(up)
			c.checkRestarted(t, acks, up, restarted)
		})
	}
}

// The brokers stop one after another with SIGTERM, so the last one is
// left the only ISR member of every partition (with nobody to hand its
// leaderships to, it stops without a controlled shutdown). Without it,
// no other broker leads them (no unclean election): it is named leader
// until its session times out, then nobody is; when it comes back, it
// leads them again.
func TestClusterRestartWithoutLastISRMember(t *testing.T) {
	t.Parallel()
	c, acks := restartCluster(t)
	const last = 3
	for id := int32(1); id <= 3; id++ {
		c.node(id).kill(syscall.SIGTERM)
	}
	c.relaunch(func(id int32) bool { return id != last })
	// Watch for twice the session timeout at least, long enough for the
	// controller to have fenced the missing broker and to have elected
	// anyone it would, and until every partition is seen leaderless.
	start := time.Now()
	for leaderless := false; !leaderless || time.Since(start) < 6*time.Second; {
		if time.Since(start) > restartBound {
			t.Fatalf("partitions still named led by the missing broker %d after %v", last, restartBound)
		}
		time.Sleep(200 * time.Millisecond)
		md, err := c.metadata(testContext(t, 3*time.Second), 1, restartTopic)
		if err != nil || len(md.Topics[restartTopic].Partitions) != 6 {
			continue
		}
		leaderless = true
		for _, p := range md.Topics[restartTopic].Partitions {
			if p.Leader >= 0 && p.Leader != last {
				t.Fatalf("partition %d led by %d while its only ISR member %d is down: %s", p.Partition, p.Leader, last, describePartitions(md.Topics[restartTopic]))
			}
			leaderless = leaderless && p.Leader < 0 && p.Err != nil
		}
	}
	restarted := time.Now()
	c.relaunch(func(id int32) bool { return id == last })
	c.checkRestarted(t, acks, func(int32) bool { return true }, restarted)
}
