package test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func clusterSettings(extra map[string]string) map[string]string {
	s := maps.Clone(fastFailover)
	maps.Copy(s, extra)
	return s
}

func strp(s string) *string { return &s }

// createReplicated creates a topic through the cluster and waits until
// every partition has a leader and a full ISR.
func (c *testCluster) createReplicated(name string, partitions int32, rf int16, configs map[string]*string) kadm.TopicDetail {
	c.t.Helper()
	ctx := testContext(c.t, 30*time.Second)
	resp, err := c.admin().CreateTopic(ctx, partitions, rf, configs, name)
	if err != nil || resp.Err != nil {
		c.t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
	return c.waitHealthy(name, c.liveNode(), int(rf), 30*time.Second)
}

// producer returns an acks=all idempotent producer for the cluster that
// retries through leader changes.
func (c *testCluster) producer() *kgo.Client {
	return c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(60*time.Second),
		kgo.ProducerLinger(time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
}

// TestClusterKillLeaders produces with acks=all and min.insync.replicas=2
// to a topic of replication factor 3 while the leader of a partition is
// killed with kill -9, again and again, and restarted. Afterwards every
// acknowledged record is in place exactly once, and every partition has a
// live leader and a full ISR.
func TestClusterKillLeaders(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterSettings(nil))
	c.createReplicated("failover", 3, 3, map[string]*string{"min.insync.replicas": strp("2")})
	acks := newAckLog()
	ctx := testContext(t, 4*time.Minute)
	stop := produceLoop(ctx, c.producer(), "failover", acks)
	defer stop()

	acks.waitFor(t, 5000, time.Minute)
	for round := range 4 {
		td := c.waitHealthy("failover", 1+int32(round%3), 3, time.Minute)
		p := td.Partitions[int32(round%3)]
		victim := p.Leader
		before := acks.len()
		t.Logf("round %d: kill -9 broker %d, leader of partition %d at epoch %d", round, victim, p.Partition, p.LeaderEpoch)
		c.node(victim).kill(syscall.SIGKILL)
		// Producing goes on with two of three replicas.
		acks.waitFor(t, before+3000, time.Minute)
		c.node(victim).restart()
		acks.waitFor(t, acks.len()+2000, time.Minute)
	}
	stop()
	for id := range int32(3) {
		td := c.waitHealthy("failover", id+1, 3, time.Minute)
		for _, p := range td.Partitions {
			if p.Leader < 1 || p.Leader > 3 {
				t.Fatalf("partition %d: leader %d", p.Partition, p.Leader)
			}
		}
	}
	c.checkAcked("failover", acks)
}

// TestClusterPausedFollower stops a follower with SIGSTOP past
// replica.lag.time.max.ms: the ISR shrinks, acks=all producing continues
// with min.insync.replicas=2, and after SIGCONT the follower catches up and
// rejoins the ISR.
func TestClusterPausedFollower(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterSettings(map[string]string{"broker.session.timeout.ms": "20000"}))
	td := c.createReplicated("paused", 1, 3, map[string]*string{"min.insync.replicas": strp("2")})
	p := td.Partitions[0]
	var follower int32
	for _, r := range p.Replicas {
		if r != p.Leader {
			follower = r
			break
		}
	}
	acks := newAckLog()
	ctx := testContext(t, 3*time.Minute)
	stop := produceLoop(ctx, c.producer(), "paused", acks)
	defer stop()
	acks.waitFor(t, 2000, time.Minute)

	t.Logf("SIGSTOP follower %d (leader %d)", follower, p.Leader)
	c.node(follower).signal(syscall.SIGSTOP)
	shrunk := waitISR(t, c, "paused", p.Leader, func(isr []int32) bool { return !slices.Contains(isr, follower) }, 30*time.Second)
	t.Logf("ISR shrank to %v", shrunk)
	before := acks.len()
	acks.waitFor(t, before+3000, time.Minute)

	c.node(follower).signal(syscall.SIGCONT)
	grown := waitISR(t, c, "paused", p.Leader, func(isr []int32) bool { return slices.Contains(isr, follower) }, time.Minute)
	t.Logf("follower %d back in the ISR %v", follower, grown)
	stop()
	c.checkAcked("paused", acks)
}

// waitISR waits until partition 0 of topic, as broker via sees it, has an
// ISR for which ok holds, and returns it.
func waitISR(t *testing.T, c *testCluster, topic string, via int32, ok func([]int32) bool, timeout time.Duration) []int32 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		md, err := c.metadata(ctx, via, topic)
		cancel()
		if err == nil {
			if p, found := md.Topics[topic].Partitions[0]; found && ok(p.ISR) {
				return p.ISR
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ISR of %s-0 did not change as expected within %v: %s", topic, timeout, describePartitions(md.Topics[topic]))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterGroupSurvivesCoordinatorLoss consumes with a group that
// commits as it goes; the broker coordinating the group is killed midway.
// The group keeps consuming through the new coordinator, no committed
// offset goes backwards, and the group ends committed at the end of every
// partition.
func TestClusterGroupSurvivesCoordinatorLoss(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterSettings(nil))
	c.createReplicated("orders", 6, 3, nil)
	const total = 30000
	prod := c.producer()
	ctx := testContext(t, 4*time.Minute)
	for i := range total {
		prod.Produce(ctx, &kgo.Record{Topic: "orders", Value: fmt.Appendf(nil, "order-%06d", i)}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	const group = "billing"
	cons := c.client(kgo.ConsumerGroup(group), kgo.ConsumeTopics("orders"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<10),
		kgo.SessionTimeout(6*time.Second), kgo.RetryTimeout(time.Minute))
	adm := c.admin()
	seen := map[string]bool{}
	committed := map[int32]int64{}
	killed := false
	for len(seen) < total {
		fs := cons.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d before the deadline", len(seen), total)
		}
		for _, r := range fs.Records() {
			seen[string(r.Value)] = true
		}
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Logf("commit: %v (retried with the next batch)", err)
			continue
		}
		for p, o := range cons.CommittedOffsets()["orders"] {
			committed[p] = o.Offset
		}
		if !killed && len(seen) >= total/3 {
			coords := adm.FindGroupCoordinators(ctx, group)
			if err := coords.Error(); err != nil {
				t.Fatal(err)
			}
			coord := coords[group].NodeID
			t.Logf("kill -9 coordinator %d after %d records", coord, len(seen))
			c.node(coord).kill(syscall.SIGKILL)
			killed = true
			// What the surviving brokers report must include every commit
			// acknowledged before the kill.
			offs := fetchGroupOffsets(t, c, group)
			for p, at := range committed {
				if offs[p] < at {
					t.Fatalf("partition %d: committed %d before the kill, the new coordinator has %d", p, at, offs[p])
				}
			}
			defer c.node(coord).restart()
		}
	}
	offs := fetchGroupOffsets(t, c, group)
	var sum int64
	for _, o := range offs {
		sum += o
	}
	if sum != total {
		t.Fatalf("group committed %d records in all (%v), want %d", sum, offs, total)
	}
}

// fetchGroupOffsets reads a group's committed offsets, retrying while the
// coordinator moves.
func fetchGroupOffsets(t *testing.T, c *testCluster, group string) map[int32]int64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		// A fresh client each time: one that dialled the dead coordinator
		// may keep asking it.
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.node(c.liveNode()).addr))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		cancel()
		cl.Close()
		if err == nil && resp.Error() == nil {
			out := map[int32]int64{}
			resp.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("fetch offsets of %s: %v %v", group, err, resp.Error())
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestClusterAddBrokerAndReassign adds a fourth broker to a running cluster
// (no restart of the others), moves partitions onto it while a producer and
// a consumer run, and ends with every broker leading one partition and
// nothing lost.
func TestClusterAddBrokerAndReassign(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterSettings(nil))
	c.createReplicated("grow", 4, 3, map[string]*string{"min.insync.replicas": strp("2")})
	acks := newAckLog()
	ctx := testContext(t, 4*time.Minute)
	stop := produceLoop(ctx, c.producer(), "grow", acks)
	defer stop()
	consumed := make(chan int, 1)
	consCtx, stopConsuming := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	cwg.Add(1)
	go func() {
		defer cwg.Done()
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumeTopics("grow"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			return
		}
		defer cl.Close()
		n := 0
		for consCtx.Err() == nil {
			n += cl.PollFetches(consCtx).NumRecords()
		}
		consumed <- n
	}()
	acks.waitFor(t, 3000, time.Minute)

	c.addBroker(4)
	adm := c.admin()
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := c.brokerMetadata(ctx, 1)
		if err == nil && slices.Contains(md.Brokers.NodeIDs(), 4) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker 4 never joined: %v %v", md.Brokers, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	targets := map[int32][]int32{0: {4, 1, 2}, 1: {1, 4, 3}, 2: {2, 3, 4}, 3: {3, 4, 1}}
	var req kadm.AlterPartitionAssignmentsReq
	for p, rs := range targets {
		req.Assign("grow", p, rs)
	}
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Each(func(r kadm.AlterPartitionAssignmentsResponse) {
		if r.Err != nil {
			t.Fatalf("reassign %s-%d: %v", r.Topic, r.Partition, r.Err)
		}
	})
	deadline = time.Now().Add(2 * time.Minute)
	for {
		listed, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{"grow": {0: {}, 1: {}, 2: {}, 3: {}}})
		if err == nil && len(listed.Sorted()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reassignment did not complete: %v %v", listed, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	elect, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"grow": {0: {}, 1: {}, 2: {}, 3: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range elect {
		for _, r := range ps {
			t.Logf("elect %s-%d: %v", r.Topic, r.Partition, r.Err)
			if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
				t.Fatalf("elect %s-%d: %v", r.Topic, r.Partition, r.Err)
			}
		}
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		td := c.waitHealthy("grow", 4, 3, time.Minute)
		leads := map[int32]int{}
		for p, want := range targets {
			got := td.Partitions[p]
			if !slices.Equal(got.Replicas, want) {
				t.Fatalf("partition %d: replicas %v, want %v", p, got.Replicas, want)
			}
			leads[got.Leader]++
		}
		if leads[1] == 1 && leads[2] == 1 && leads[3] == 1 && leads[4] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leadership unbalanced: %v: %s", leads, describePartitions(td))
		}
		time.Sleep(200 * time.Millisecond)
	}
	acks.waitFor(t, acks.len()+1000, time.Minute)
	stop()
	stopConsuming()
	cwg.Wait()
	t.Logf("consumer read %d records while partitions moved", <-consumed)
	c.checkAcked("grow", acks)
}

// TestClusterControllerFailover kills the controller: the others elect a
// new one within seconds and topic creation keeps working. Then two of the
// three voters are frozen (a minority cut off from the quorum): the one
// left cannot commit anything until they return.
func TestClusterControllerFailover(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterSettings(nil))
	adm := c.admin()
	ctx := testContext(t, 3*time.Minute)
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := md.Controller
	t.Logf("kill -9 controller %d", old)
	start := time.Now()
	c.node(old).kill(syscall.SIGKILL)
	var survivor int32 = 1
	if survivor == old {
		survivor = 2
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		md, err := c.brokerMetadata(cctx, survivor)
		cancel()
		if err == nil && md.Controller > 0 && md.Controller != old {
			t.Logf("broker %d is controller %v after the kill", md.Controller, time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("no new controller 15s after killing %d", old)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.createReplicated("after-failover", 2, 2, nil)
	c.node(old).restart()
	c.waitHealthy("after-failover", old, 2, time.Minute)

	// Freeze two voters: the third is a minority and must not commit.
	lone := int32(3)
	c.node(1).signal(syscall.SIGSTOP)
	c.node(2).signal(syscall.SIGSTOP)
	lcl, err := kgo.NewClient(kgo.SeedBrokers(c.node(lone).addr))
	if err != nil {
		t.Fatal(err)
	}
	defer lcl.Close()
	cctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	resp, err := kadm.NewClient(lcl).CreateTopic(cctx, 1, 1, nil, "minority")
	cancel()
	if err == nil && resp.Err == nil {
		t.Fatal("a one-of-three minority created a topic")
	}
	t.Logf("minority create refused: %v %v", err, resp.Err)
	// Nothing was committed: the lone node's own metadata has no such
	// topic. (The entry may still commit once the others return, as with
	// any Raft log; the client was told it timed out.)
	cctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	md, err = c.metadata(cctx, lone, "minority")
	cancel()
	if err == nil {
		if td, ok := md.Topics["minority"]; ok && td.Err == nil {
			t.Fatalf("the minority committed a topic: %s", describePartitions(td))
		}
	}
	c.node(1).signal(syscall.SIGCONT)
	c.node(2).signal(syscall.SIGCONT)
	// The lone controller's decision to fence the frozen brokers may
	// commit only now that the quorum is back, and their next heartbeat
	// unfences them again: until then a replication factor of 3 is refused.
	c.waitBrokers(3, 30*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := c.admin().CreateTopic(cctx, 1, 3, nil, "healed")
		cancel()
		if err == nil && resp.Err == nil {
			break
		}
		if err == nil && !errors.Is(resp.Err, kerr.InvalidReplicationFactor) || time.Now().After(deadline) {
			t.Fatalf("create topic healed: %v %v", err, resp.Err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	c.waitHealthy("healed", c.liveNode(), 3, 30*time.Second)
}

// TestDevCluster runs `sluice dev-cluster`, uses it, and stops it with
// SIGTERM.
func TestDevCluster(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(sluiceBin, "dev-cluster", "--nodes", "3", "--base-port", "0", "--data-dir", filepath.Join(t.TempDir(), "dev"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	bootstrap := make(chan string, 1)
	var out strings.Builder
	var mu sync.Mutex
	go func() {
		buf := make([]byte, 4096)
		var line strings.Builder
		for {
			n, err := stderr.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			for _, b := range buf[:n] {
				if b != '\n' {
					line.WriteByte(b)
					continue
				}
				if _, rest, ok := strings.Cut(line.String(), "bootstrap servers "); ok {
					select {
					case bootstrap <- rest:
					default:
					}
				}
				line.Reset()
			}
			if err != nil {
				break
			}
		}
		done <- cmd.Wait()
	}()
	defer cmd.Process.Kill()
	var seeds string
	select {
	case seeds = <-bootstrap:
	case <-time.After(30 * time.Second):
		mu.Lock()
		t.Fatalf("no bootstrap line in 30s:\n%s", out.String())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(seeds, ",")...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testContext(t, time.Minute)
	adm := kadm.NewClient(cl)
	var md kadm.Metadata
	for {
		md, err = brokerMetadataAt(ctx, strings.Split(seeds, ",")[0])
		if err == nil && len(md.Brokers) == 3 {
			break
		}
		if ctx.Err() != nil {
			mu.Lock()
			t.Fatalf("dev cluster never showed 3 brokers: %v %v\n%s", md.Brokers, err, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r, err := adm.CreateTopic(ctx, 3, 3, nil, "dev"); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}
	for i := range 300 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "dev", Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	got := consumeFrom(t, strings.Split(seeds, ","), "dev", 300)
	if len(got) != 300 {
		t.Fatalf("consumed %d", len(got))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev-cluster exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("dev-cluster did not stop within 60s of SIGTERM")
	}
}
