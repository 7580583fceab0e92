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
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1"})
	const topic = "ctrl-isolated"
	ctx := testContext(t, 3*time.Minute)
	td := c.createTopic(ctx, topic, 3, 3)
	ctrl := c.controllerAt(1)
	led := ledBy(td, ctrl)
	if len(led) == 0 {
		t.Fatalf("controller %d leads no partition of %s: %s", ctrl, topic, describePartitions(td))
	}
	acks := newAckLog()
	stop := c.steadyLoad(ctx, topic, acks)
	acks.waitFor(t, 200, time.Minute)

	other := ctrl%3 + 1
	c.isolateFromPeers(ctrl)
	cut := time.Now()
	zombie := make(chan *ackLog, 1)
	go func() {
		ok, errs := produceToOnly(t, c, ctrl, topic, "to-old-controller", 20, kgo.AllISRAcks())
		t.Logf("acks=all to the isolated controller: %d acknowledged, errors %v", ok.len(), errs)
		zombie <- ok
	}()
	newCtrl, took := c.waitController(other, ctrl, 30*time.Second)
	t.Logf("controller %d cut off from its peers; node %d controls after %v", ctrl, newCtrl, took.Round(time.Millisecond))
	writable := probeWritable(t, ctx, c.seedsExcept(ctrl), topic, led, cut, acks)
	t.Logf("partitions %v led by the isolated controller: acks=all writable again after %v", led, roundAll(writable))
	if ok := <-zombie; ok.len() > 0 {
		t.Errorf("the isolated controller acknowledged %d acks=all writes", ok.len())
	}
	c.checkWritableWithin(writable, failoverBound)

	c.heal()
	stop()
	c.waitConverged(topic, c.ids(), 3, time.Minute)
	c.checkAckedAt(topic, acks)
}

// TestNetfaultFlappingBroker cuts a broker off from everyone and heals it
// again and again for a while (cuts shorter and longer than the session
// timeout) under a steady idempotent acks=all load: nothing acknowledged
// is lost or duplicated, every partition takes writes again within
// failoverBound once the flapping stops, and the metadata converges.
func TestNetfaultFlappingBroker(t *testing.T) {
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1"})
	const topic = "flapping"
	ctx := testContext(t, 3*time.Minute)
	td := c.createTopic(ctx, topic, 6, 3)
	victim := td.Partitions[0].Leader
	acks := newAckLog()
	gaps := newPartitionGaps()
	stop := c.steadyLoadGaps(ctx, topic, acks, gaps)
	acks.waitFor(t, 200, time.Minute)

	// Cut for 1 s (below the 3 s session), 4 s (fenced, its partitions
	// move), 2 s, 5 s; healed for 2 s in between.
	cuts := []time.Duration{time.Second, 4 * time.Second, 2 * time.Second, 5 * time.Second}
	for i, d := range cuts {
		c.isolate(victim)
		time.Sleep(d) // the fault's length is the test's input
		c.heal()
		if i < len(cuts)-1 {
			time.Sleep(2 * time.Second) // as is the time between faults
		}
	}
	healed := time.Now()
	all := make([]int32, 0, len(td.Partitions))
	for _, p := range td.Partitions.Sorted() {
		all = append(all, p.Partition)
	}
	writable := probeWritable(t, ctx, c.clientSeeds(), topic, all, healed, acks)
	t.Logf("broker %d flapped %v; after the last heal every partition writable within %v; longest gap between acknowledgements per partition while flapping: %v",
		victim, cuts, roundAll(writable), gaps.longest())
	c.checkWritableWithin(writable, failoverBound)
	stop()
	c.waitConverged(topic, c.ids(), 3, time.Minute)
	c.checkAckedAt(topic, acks)
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
	c := startNetCluster(t, 5, map[string]string{"offsets.topic.num.partitions": "1"})
	const topic = "split"
	ctx := testContext(t, 4*time.Minute)
	td := c.createTopic(ctx, topic, 10, 3)
	ctrl := c.controllerAt(1)
	// The controller and a broker such that the two lead a partition with
	// two replicas among the other three.
	var minority, majority, led []int32
	for _, other := range c.ids() {
		if other == ctrl || len(led) > 0 {
			continue
		}
		minority = []int32{ctrl, other}
		majority = slices.DeleteFunc(c.ids(), func(id int32) bool { return slices.Contains(minority, id) })
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
	stop := c.steadyLoad(ctx, topic, acks)
	acks.waitFor(t, 200, time.Minute)

	c.split(minority, majority)
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
	newCtrl, took := c.waitController(majority[0], ctrl, 30*time.Second)
	t.Logf("split %v | %v; node %d controls the majority after %v", minority, majority, newCtrl, took.Round(time.Millisecond))
	if slices.Contains(minority, newCtrl) {
		t.Fatalf("the majority names controller %d, of the minority", newCtrl)
	}
	writable := probeWritable(t, ctx, c.seedsOf(majority), topic, led, cut, acks)
	t.Logf("partitions %v led by the minority, two of their replicas in the majority: acks=all writable on the majority side after %v", led, roundAll(writable))
	wg.Wait()
	if minorityAcked > 0 {
		t.Errorf("the minority acknowledged %d acks=all writes", minorityAcked)
	}
	c.checkWritableWithin(writable, failoverBound)

	c.heal()
	stop()
	c.waitConverged(topic, c.ids(), 3, 2*time.Minute)
	c.checkAckedAt(topic, acks)
}

// createTopic creates topic with min.insync.replicas 2 and waits until
// every partition has a leader and a full ISR.
func (c *netCluster) createTopic(ctx context.Context, topic string, partitions int32, rf int16) kadm.TopicDetail {
	c.t.Helper()
	adm := kadm.NewClient(c.client(kgo.SeedBrokers(c.clientSeeds()...)))
	if _, err := adm.CreateTopic(ctx, partitions, rf, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		c.t.Fatal(err)
	}
	return c.waitHealthy(topic, 1, int(rf), time.Minute)
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

func (c *netCluster) ids() []int32 { return slices.Sorted(maps.Keys(c.kafka)) }

// seedsOf are the proxied Kafka addresses of ids.
func (c *netCluster) seedsOf(ids []int32) []string {
	var out []string
	for _, id := range ids {
		out = append(out, c.kafka[id].Addr())
	}
	return out
}

func (c *netCluster) seedsExcept(id int32) []string {
	return c.seedsOf(slices.DeleteFunc(c.ids(), func(o int32) bool { return o == id }))
}

// controllerAt is the controller node via names.
func (c *netCluster) controllerAt(via int32) int32 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := c.brokerMetadata(ctx, via)
	if err != nil {
		c.t.Fatal(err)
	}
	return md.Controller
}

// waitController waits until node via names a controller other than old,
// and returns it and how long that took.
func (c *netCluster) waitController(via, old int32, timeout time.Duration) (int32, time.Duration) {
	c.t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		md, err := c.brokerMetadata(ctx, via)
		cancel()
		if err == nil && md.Controller >= 0 && md.Controller != old {
			return md.Controller, time.Since(start)
		}
		if time.Since(start) > timeout {
			c.t.Fatalf("node %d names no controller other than %d within %v (%v)", via, old, timeout, err)
		}
		time.Sleep(50 * time.Millisecond) // the polling period
	}
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
func (c *netCluster) checkWritableWithin(writable map[int32]time.Duration, bound time.Duration) {
	c.t.Helper()
	for p, d := range writable {
		if d > bound {
			c.t.Errorf("partition %d writable again only after %v, over the failover bound %v", p, d.Round(time.Millisecond), bound)
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

// waitConverged waits until every one of ids, asked directly (not through
// its proxy), lists the same controller, all of ids as brokers, and for
// every partition of topic the same leader, leader epoch and ISR, the ISR
// of isr members.
func (c *netCluster) waitConverged(topic string, ids []int32, isr int, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		views := map[string][]int32{}
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			v, err := c.metadataView(ctx, id, topic, len(ids), isr)
			cancel()
			if err != nil {
				v = "error: " + err.Error()
			}
			views[v] = append(views[v], id)
		}
		if len(views) == 1 {
			for v := range views {
				if !strings.HasPrefix(v, "error: ") {
					return
				}
			}
		}
		last = fmt.Sprint(views)
		if time.Now().After(deadline) {
			c.t.Fatalf("metadata of %s did not converge within %v: %s", topic, timeout, last)
		}
		time.Sleep(200 * time.Millisecond) // the polling period
	}
}

// metadataView is what node id says of the controller, the brokers and
// topic's partitions, as a string to compare; an error if the view is
// not whole (a broker missing, a partition without a leader or with an
// ISR short of isr).
func (c *netCluster) metadataView(ctx context.Context, id int32, topic string, brokers, isr int) (string, error) {
	md, err := c.metadata(ctx, id, topic)
	if err != nil {
		return "", err
	}
	if len(md.Brokers) != brokers {
		return "", fmt.Errorf("node %d lists %d brokers", id, len(md.Brokers))
	}
	td := md.Topics[topic]
	if td.Err != nil {
		return "", td.Err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "controller %d;", md.Controller)
	for _, p := range td.Partitions.Sorted() {
		if p.Err != nil || p.Leader < 0 || len(p.ISR) < isr {
			return "", fmt.Errorf("node %d: %s", id, describePartitions(td))
		}
		fmt.Fprintf(&b, " p%d leader %d epoch %d isr %v;", p.Partition, p.Leader, p.LeaderEpoch, slices.Sorted(slices.Values(p.ISR)))
	}
	return b.String(), nil
}

// steadyLoad produces to topic with an idempotent acks=all client that
// reaches every broker, until the returned stop is called.
func (c *netCluster) steadyLoad(ctx context.Context, topic string, acks *ackLog) (stop func()) {
	return c.steadyLoadGaps(ctx, topic, acks, nil)
}

// steadyLoadGaps is steadyLoad that also notes, in gaps if not nil, when
// each partition acknowledged.
func (c *netCluster) steadyLoadGaps(ctx context.Context, topic string, acks *ackLog, gaps *partitionGaps) (stop func()) {
	cl := c.client(kgo.SeedBrokers(c.clientSeeds()...), kgo.MaxBufferedRecords(500), kgo.MetadataMinAge(250*time.Millisecond))
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
