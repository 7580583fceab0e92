package test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// failoverBound is how soon, with the default settings, a partition whose
// leader was cut off must take acks=all writes again on the side of the
// cluster that keeps the metadata quorum.
const failoverBound = 5 * time.Second

// TestNetfaultControllerIsolated cuts the metadata quorum's leader (the
// controller) off from the other voters and every other broker, while
// clients still reach it. The others elect a controller and move the
// partitions it led; those partitions take acks=all writes again within
// failoverBound; the isolated broker acknowledges no acks=all write; after
// the heal every broker reports the same metadata, and every
// acknowledged record is in the log where it was acknowledged.
func TestNetfaultControllerIsolated(t *testing.T) {
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1"}).asCluster()
	const topic = "ctrl-isolated"
	ctx := testContext(t, 3*time.Minute)
	td := createTopicIn(c, topic, 3, 3, minISR2)
	ctrl, _ := waitControllerNot(c, 1, -1, 10*time.Second)
	led := ledBy(td, ctrl)
	if len(led) == 0 {
		t.Fatalf("controller %d leads no partition of %s: %s", ctrl, topic, describePartitions(td))
	}
	acks := newAckLog()
	stop := steadyLoad(ctx, c, topic, acks, nil)
	acks.waitFor(t, 200, time.Minute)

	mustFault(t, c.partition([]int32{ctrl}, others(c, ctrl)))
	cut := time.Now()
	zombie := make(chan *ackLog, 1)
	go func() {
		ok, errs := produceToOnly(t, c, ctrl, topic, "to-old-controller", 20, kgo.AllISRAcks())
		t.Logf("acks=all to the isolated controller: %d acknowledged, errors %v", ok.len(), errs)
		zombie <- ok
	}()
	newCtrl, took := waitControllerNot(c, others(c, ctrl)[0], ctrl, 30*time.Second)
	t.Logf("controller %d cut off from its peers; broker %d controls after %v", ctrl, newCtrl, took.Round(time.Millisecond))
	writable := probeWritable(t, ctx, addrsOf(c, others(c, ctrl)), topic, led, cut, acks)
	t.Logf("partitions %v led by the isolated controller: acks=all writable again after %v", led, roundAll(writable))
	if ok := <-zombie; ok.len() > 0 {
		t.Errorf("the isolated controller acknowledged %d acks=all writes", ok.len())
	}
	checkWritableWithin(t, writable, failoverBound)

	mustFault(t, c.heal())
	stop()
	waitConverged(c, topic, 3, time.Minute)
	checkAckedAt(t, c.seeds(), topic, acks)
}

// TestNetfaultFlappingBroker cuts a broker off from everyone and heals it
// again and again for a while (cuts shorter and longer than the session
// timeout) under a steady idempotent acks=all load: nothing acknowledged
// is lost or duplicated, every partition takes writes again within
// failoverBound once the flapping stops, and the metadata converges.
func TestNetfaultFlappingBroker(t *testing.T) {
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1"}).asCluster()
	const topic = "flapping"
	ctx := testContext(t, 3*time.Minute)
	td := createTopicIn(c, topic, 6, 3, minISR2)
	victim := td.Partitions[0].Leader
	acks := newAckLog()
	gaps := newPartitionGaps()
	stop := steadyLoad(ctx, c, topic, acks, gaps)
	acks.waitFor(t, 200, time.Minute)

	// Cut for 1 s (below the 3 s session), 4 s (fenced, its partitions
	// move), 2 s, 5 s; healed for 2 s in between.
	cuts := []time.Duration{time.Second, 4 * time.Second, 2 * time.Second, 5 * time.Second}
	for i, d := range cuts {
		mustFault(t, c.isolate(victim))
		time.Sleep(d) // the fault's length is the test's input
		mustFault(t, c.heal())
		if i < len(cuts)-1 {
			time.Sleep(2 * time.Second) // as is the time between faults
		}
	}
	healed := time.Now()
	all := make([]int32, 0, len(td.Partitions))
	for _, p := range td.Partitions.Sorted() {
		all = append(all, p.Partition)
	}
	writable := probeWritable(t, ctx, c.seeds(), topic, all, healed, acks)
	t.Logf("broker %d flapped %v; after the last heal every partition writable within %v; longest gap between acknowledgements per partition while flapping: %v",
		victim, cuts, roundAll(writable), gaps.longest())
	checkWritableWithin(t, writable, failoverBound)
	stop()
	waitConverged(c, topic, 3, time.Minute)
	checkAckedAt(t, c.seeds(), topic, acks)
}

// TestNetfaultMajorityMinoritySplit splits five brokers, all metadata
// voters, into two (the controller and one other) and three. The three
// elect a controller and fence the two; a partition the two led with at
// least min.insync.replicas (2) replicas among the three is writable there
// again within failoverBound (one with a single replica among the three
// keeps an ISR of one there, below min.insync.replicas, and takes no
// acks=all write until the heal, as in Kafka). Clients that reach only the
// two get no acks=all write acknowledged: every partition, of replication
// factor 3, has a replica among the three, which the two cannot drop from
// the ISR without the controller. After the heal the metadata converges
// and every acknowledged record is in place.
func TestNetfaultMajorityMinoritySplit(t *testing.T) {
	c := startNetCluster(t, 5, map[string]string{"offsets.topic.num.partitions": "1"}).asCluster()
	const topic = "split"
	ctx := testContext(t, 4*time.Minute)
	td := createTopicIn(c, topic, 10, 3, minISR2)
	ctrl, _ := waitControllerNot(c, 1, -1, 10*time.Second)
	// The controller and a broker such that the two lead a partition with
	// two replicas among the other three.
	var minority, majority, led []int32
	for _, other := range c.ids() {
		if other == ctrl || len(led) > 0 {
			continue
		}
		minority = []int32{ctrl, other}
		majority = others(c, minority...)
		for _, p := range ledBy(td, minority...) {
			if replicasIn(td, p, majority) >= 2 {
				led = append(led, p)
			}
		}
	}
	if len(led) == 0 {
		t.Fatalf("no two brokers with the controller %d lead a partition of %s with two replicas among the other three: %s", ctrl, topic, describePartitions(td))
	}
	acks := newAckLog()
	stop := steadyLoad(ctx, c, topic, acks, nil)
	acks.waitFor(t, 200, time.Minute)

	mustFault(t, c.partition(minority, majority))
	cut := time.Now()
	var wg sync.WaitGroup
	var minorityAcked int
	var mu sync.Mutex
	for _, id := range minority {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, errs := produceToOnly(t, c, id, topic, fmt.Sprintf("to-minority-%d", id), 20, kgo.AllISRAcks())
			t.Logf("acks=all through minority broker %d: %d acknowledged, errors %v", id, ok.len(), errs)
			mu.Lock()
			minorityAcked += ok.len()
			mu.Unlock()
		}()
	}
	newCtrl, took := waitControllerNot(c, majority[0], ctrl, 30*time.Second)
	t.Logf("split %v | %v; broker %d controls the majority after %v", minority, majority, newCtrl, took.Round(time.Millisecond))
	if slices.Contains(minority, newCtrl) {
		t.Fatalf("the majority names controller %d, of the minority", newCtrl)
	}
	writable := probeWritable(t, ctx, addrsOf(c, majority), topic, led, cut, acks)
	t.Logf("partitions %v led by the minority, two of their replicas in the majority: acks=all writable on the majority side after %v", led, roundAll(writable))
	wg.Wait()
	if minorityAcked > 0 {
		t.Errorf("the minority acknowledged %d acks=all writes", minorityAcked)
	}
	checkWritableWithin(t, writable, failoverBound)

	mustFault(t, c.heal())
	stop()
	waitConverged(c, topic, 3, 2*time.Minute)
	checkAckedAt(t, c.seeds(), topic, acks)
}

// replicasIn counts the replicas of partition p of td among ids.
func replicasIn(td kadm.TopicDetail, p int32, ids []int32) int {
	n := 0
	for _, r := range td.Partitions[p].Replicas {
		if slices.Contains(ids, r) {
			n++
		}
	}
	return n
}

// ledBy lists the partitions of td that one of ids leads.
func ledBy(td kadm.TopicDetail, ids ...int32) []int32 {
	var out []int32
	for _, p := range td.Partitions.Sorted() {
		if slices.Contains(ids, p.Leader) {
			out = append(out, p.Partition)
		}
	}
	return out
}

// addrsOf are the Kafka addresses of ids, as clients dial them.
func addrsOf(c cluster, ids []int32) []string {
	var out []string
	for _, id := range ids {
		out = append(out, c.addr(id))
	}
	return out
}

// waitControllerNot waits until broker via names a controller other than
// old (-1: any controller), and returns it and how long that took.
func waitControllerNot(c cluster, via, old int32, timeout time.Duration) (int32, time.Duration) {
	c.tb().Helper()
	start := time.Now()
	var ctrl int32
	waitFor(c.tb(), timeout, fmt.Sprintf("broker %d to name a controller other than %d", via, old), func() bool {
		ctrl = controllerOf(c, via)
		return ctrl >= 0 && ctrl != old
	})
	return ctrl, time.Since(start)
}

// probeWritable measures, for each of partitions, how long after since an
// acks=all write to it was first acknowledged. A fresh idempotent client,
// seeded with seeds, produces one record to every partition not yet
// written every 100 ms, so that one client's timeouts toward a dead
// leader do not count: the figure is how soon the cluster takes writes.
// Acknowledged probes join acks. It fails the test if a partition takes
// no write within a minute.
func probeWritable(t *testing.T, ctx context.Context, seeds []string, topic string, partitions []int32, since time.Time, acks *ackLog) map[int32]time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var mu sync.Mutex
	first := map[int32]time.Duration{}
	done := make(chan struct{})
	pending := func() []int32 {
		mu.Lock()
		defer mu.Unlock()
		return slices.DeleteFunc(slices.Clone(partitions), func(p int32) bool { _, ok := first[p]; return ok })
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for round := 0; ; round++ {
		todo := pending()
		if len(todo) == 0 {
			return first
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.RecordDeliveryTimeout(15*time.Second), kgo.MetadataMinAge(100*time.Millisecond))
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Close() // fails what is still buffered
			for _, p := range todo {
				r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "probe-%d-%d-%d", since.UnixNano(), round, p)}
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					if err != nil {
						return
					}
					acks.add(r)
					mu.Lock()
					if _, ok := first[r.Partition]; !ok {
						first[r.Partition] = time.Since(since)
						if len(first) == len(partitions) {
							close(done)
						}
					}
					mu.Unlock()
				})
			}
			cl.Flush(ctx)
		}()
		select {
		case <-tick.C:
		case <-done:
		case <-ctx.Done():
			t.Fatalf("partitions %v took no acks=all write within a minute (first acknowledgements: %v)", pending(), first)
		}
	}
}

// checkWritableWithin fails the test if a partition took longer than
// bound to take writes again.
func checkWritableWithin(t testing.TB, writable map[int32]time.Duration, bound time.Duration) {
	t.Helper()
	for p, d := range writable {
		if d > bound {
			t.Errorf("partition %d writable again only after %v, over the failover bound %v", p, d.Round(time.Millisecond), bound)
		}
	}
}

func roundAll(m map[int32]time.Duration) string {
	var parts []string
	for _, p := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("p%d %v", p, m[p].Round(10*time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

// waitConverged waits until every broker lists the same controller, all
// the brokers, and for every partition of topic the same leader, leader
// epoch and ISR, the ISR of isr members.
func waitConverged(c cluster, topic string, isr int, timeout time.Duration) {
	c.tb().Helper()
	ids := c.ids()
	waitForErr(c.tb(), timeout, fmt.Sprintf("the metadata of %s to converge", topic), func() error {
		views := map[string][]int32{}
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			v, err := metadataView(ctx, c, id, topic, len(ids), isr)
			cancel()
			if err != nil {
				v = "error: " + err.Error()
			}
			views[v] = append(views[v], id)
		}
		if len(views) == 1 {
			for v := range views {
				if !strings.HasPrefix(v, "error: ") {
					return nil
				}
			}
		}
		return fmt.Errorf("views: %v", views)
	})
}

// metadataView is what broker id says of the controller, the brokers and
// topic's partitions, as a string to compare; an error if the view is
// not whole (a broker missing, a partition without a leader or with an
// ISR short of isr).
func metadataView(ctx context.Context, c cluster, id int32, topic string, brokers, isr int) (string, error) {
	md, err := metadataAt(ctx, c, id, topic)
	if err != nil {
		return "", err
	}
	if len(md.Brokers) != brokers {
		return "", fmt.Errorf("broker %d lists %d brokers", id, len(md.Brokers))
	}
	td := md.Topics[topic]
	if td.Err != nil {
		return "", td.Err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "controller %d;", md.Controller)
	for _, p := range td.Partitions.Sorted() {
		if p.Err != nil || p.Leader < 0 || len(p.ISR) < isr {
			return "", fmt.Errorf("broker %d: %s", id, describePartitions(td))
		}
		fmt.Fprintf(&b, " p%d leader %d epoch %d isr %v;", p.Partition, p.Leader, p.LeaderEpoch, slices.Sorted(slices.Values(p.ISR)))
	}
	return b.String(), nil
}

// steadyLoad produces to topic with an idempotent acks=all client that
// reaches every broker, until the returned stop is called, noting in gaps
// (if not nil) when each partition acknowledged.
func steadyLoad(ctx context.Context, c cluster, topic string, acks *ackLog, gaps *partitionGaps) (stop func()) {
	cl := c.client(kgo.MaxBufferedRecords(500), kgo.MetadataMinAge(250*time.Millisecond))
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			v := fmt.Sprintf("%s-load-%08d", topic, i)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err == nil {
					acks.add(r)
					if gaps != nil {
						gaps.ack(r.Partition, time.Now())
					}
				}
			})
			if i%20 == 19 {
				// A steady load, not a flood: every byte of it also
				// crosses the proxies in this process, and a starved
				// test process would delay the faults it measures.
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer fcancel()
		cl.Flush(fctx)
	}
}

// partitionGaps keeps, per partition, the longest time between two
// acknowledgements.
type partitionGaps struct {
	mu   sync.Mutex
	last map[int32]time.Time
	max  map[int32]time.Duration
}

func newPartitionGaps() *partitionGaps {
	return &partitionGaps{last: map[int32]time.Time{}, max: map[int32]time.Duration{}}
}

func (g *partitionGaps) ack(p int32, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if prev, ok := g.last[p]; ok {
		g.max[p] = max(g.max[p], at.Sub(prev))
	}
	g.last[p] = at
}

func (g *partitionGaps) longest() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return roundAll(g.max)
}
