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

// minISR2 asks a topic for min.insync.replicas=2.
var minISR2 = map[string]*string{"min.insync.replicas": strp("2")}

// TestClusterKillLeaders produces with acks=all and min.insync.replicas=2
// to a topic of replication factor 3 while the leader of a partition is
// killed, again and again, and started again. Afterwards every
// acknowledged record is in place exactly once, and every partition has a
// live leader and a full ISR. Processes get kill -9; in-process brokers
// lose power (what was not fsynced is gone too).
func TestClusterKillLeaders(t *testing.T) {
	t.Parallel()
	forEachKind(t, 3, clusterSettings(nil), func(t *testing.T, c cluster) {
		createTopicIn(c, "failover", 3, 3, minISR2)
		acks := newAckLog()
		ctx := testContext(t, 4*time.Minute)
		stop := produceLoop(ctx, acksAllProducer(c), "failover", acks)
		defer stop()

		acks.waitFor(t, 5000, time.Minute)
		for round := range 4 {
			td := waitISR(c, "failover", 1+int32(round%3), 3, time.Minute)
			p := td.Partitions[int32(round%3)]
			victim := p.Leader
			before := acks.len()
			t.Logf("round %d: kill broker %d, leader of partition %d at epoch %d", round, victim, p.Partition, p.LeaderEpoch)
			c.kill(victim)
			// Producing goes on with two of three replicas.
			acks.waitFor(t, before+3000, time.Minute)
			c.start(victim)
			acks.waitFor(t, acks.len()+2000, time.Minute)
		}
		stop()
		for _, id := range c.ids() {
			td := waitISR(c, "failover", id, 3, time.Minute)
			for _, p := range td.Partitions {
				if !slices.Contains(c.ids(), p.Leader) {
					t.Fatalf("partition %d: leader %d", p.Partition, p.Leader)
				}
			}
		}
		checkAckedAt(t, c.seeds(), "failover", acks)
	})
}

// TestClusterPausedFollower stops a follower with SIGSTOP past
// replica.lag.time.max.ms: the ISR shrinks, acks=all producing continues
// with min.insync.replicas=2, and after SIGCONT the follower catches up and
// rejoins the ISR. (Processes only: a broker in the test's process cannot
// be frozen alone.)
func TestClusterPausedFollower(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterSettings(map[string]string{"broker.session.timeout.ms": "20000"})).asCluster()
	td := createTopicIn(c, "paused", 1, 3, minISR2)
	p := td.Partitions[0]
	follower := others(c, p.Leader)[0]
	acks := newAckLog()
	ctx := testContext(t, 3*time.Minute)
	stop := produceLoop(ctx, acksAllProducer(c), "paused", acks)
	defer stop()
	acks.waitFor(t, 2000, time.Minute)

	t.Logf("SIGSTOP follower %d (leader %d)", follower, p.Leader)
	mustFault(t, c.pause(follower))
	shrunk := waitTopic(c, "paused", p.Leader, 30*time.Second, fmt.Sprintf("an ISR without %d", follower), func(td kadm.TopicDetail) bool {
		return !slices.Contains(td.Partitions[0].ISR, follower)
	})
	t.Logf("ISR shrank to %v", shrunk.Partitions[0].ISR)
	before := acks.len()
	acks.waitFor(t, before+3000, time.Minute)

	mustFault(t, c.resume(follower))
	grown := waitTopic(c, "paused", p.Leader, time.Minute, fmt.Sprintf("%d back in the ISR", follower), func(td kadm.TopicDetail) bool {
		return slices.Contains(td.Partitions[0].ISR, follower)
	})
	t.Logf("follower %d back in the ISR %v", follower, grown.Partitions[0].ISR)
	stop()
	checkAckedAt(t, c.seeds(), "paused", acks)
}

// TestClusterGroupSurvivesCoordinatorLoss consumes with a group that
// commits as it goes; the broker coordinating the group is killed midway.
// The group keeps consuming through the new coordinator, no committed
// offset goes backwards, and the group ends committed at the end of every
// partition.
func TestClusterGroupSurvivesCoordinatorLoss(t *testing.T) {
	t.Parallel()
	forEachKind(t, 3, clusterSettings(nil), func(t *testing.T, c cluster) {
		createTopicIn(c, "orders", 6, 3, nil)
		const total = 30000
		prod := acksAllProducer(c)
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
				t.Logf("kill coordinator %d after %d records", coord, len(seen))
				c.kill(coord)
				killed = true
				// What the surviving brokers report must include every commit
				// acknowledged before the kill.
				offs := fetchGroupOffsets(c, group)
				for p, at := range committed {
					if offs[p] < at {
						t.Fatalf("partition %d: committed %d before the kill, the new coordinator has %d", p, at, offs[p])
					}
				}
				defer c.start(coord)
			}
		}
		offs := fetchGroupOffsets(c, group)
		var sum int64
		for _, o := range offs {
			sum += o
		}
		if sum != total {
			t.Fatalf("group committed %d records in all (%v), want %d", sum, offs, total)
		}
	})
}

// fetchGroupOffsets reads a group's committed offsets, retrying while the
// coordinator moves.
func fetchGroupOffsets(c cluster, group string) map[int32]int64 {
	c.tb().Helper()
	out := map[int32]int64{}
	waitForErr(c.tb(), time.Minute, "the committed offsets of group "+group, func() error {
		// A fresh client each time: one that dialled the dead coordinator
		// may keep asking it.
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(liveBroker(c))))
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		if err == nil {
			err = resp.Error()
		}
		if err == nil {
			resp.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
		}
		return err
	})
	return out
}

// TestClusterAddBrokerAndReassign adds a fourth broker to a running cluster
// (no restart of the others), moves partitions onto it while a producer and
// a consumer run, and ends with every broker leading one partition and
// nothing lost; on processes and on in-process brokers.
func TestClusterAddBrokerAndReassign(t *testing.T) {
	t.Parallel()
	forEachKind(t, 3, clusterSettings(nil), addBrokerAndReassign)
}

func addBrokerAndReassign(t *testing.T, c cluster) {
	createTopicIn(c, "grow", 4, 3, minISR2)
	acks := newAckLog()
	ctx := testContext(t, 4*time.Minute)
	stop := produceLoop(ctx, acksAllProducer(c), "grow", acks)
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

	mustFault(t, c.add(4))
	adm := c.admin()
	waitForErr(t, 30*time.Second, "broker 4 in the cluster as broker 1 sees it", func() error {
		md, err := metadataAt(ctx, c, 1)
		if err == nil && !slices.Contains(md.Brokers.NodeIDs(), 4) {
			err = fmt.Errorf("brokers %v", md.Brokers.NodeIDs())
		}
		return err
	})
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
	all := kadm.TopicsSet{"grow": {0: {}, 1: {}, 2: {}, 3: {}}}
	waitForErr(t, 2*time.Minute, "the reassignment to complete", func() error {
		listed, err := adm.ListPartitionReassignments(ctx, all)
		if err == nil && len(listed.Sorted()) > 0 {
			err = fmt.Errorf("still moving: %v", listed.Sorted())
		}
		return err
	})
	elect, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, all)
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
	// Broker 4 may not have applied the reassignment's end yet when the
	// controller reports nothing moving: it is waited for.
	waitTopic(c, "grow", 4, 30*time.Second, "the target replicas, a full ISR and one leadership per broker", func(td kadm.TopicDetail) bool {
		leads := map[int32]int{}
		for p, want := range targets {
			got := td.Partitions[p]
			if !slices.Equal(got.Replicas, want) {
				return false
			}
			if got.Err != nil || len(got.ISR) < 3 {
				return false
			}
			leads[got.Leader]++
		}
		return leads[1] == 1 && leads[2] == 1 && leads[3] == 1 && leads[4] == 1
	})
	acks.waitFor(t, acks.len()+1000, time.Minute)
	stop()
	stopConsuming()
	cwg.Wait()
	t.Logf("consumer read %d records while partitions moved", <-consumed)
	checkAckedAt(t, c.seeds(), "grow", acks)
}

// TestClusterControllerFailover kills the controller: the others elect a
// new one within seconds and topic creation keeps working. Then two of the
// three voters are frozen (a minority cut off from the quorum): the one
// left cannot commit anything until they return. (Processes only: freezing
// a broker needs a process of its own.)
func TestClusterControllerFailover(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, clusterSettings(nil)).asCluster()
	ctx := testContext(t, 3*time.Minute)
	old := controllerOf(c, 1)
	if old < 0 {
		t.Fatal("broker 1 knows no controller")
	}
	t.Logf("kill -9 controller %d", old)
	start := time.Now()
	c.kill(old)
	survivor := others(c, old)[0]
	waitFor(t, 15*time.Second, fmt.Sprintf("a controller other than %d", old), func() bool {
		ctrl := controllerOf(c, survivor)
		return ctrl > 0 && ctrl != old
	})
	t.Logf("broker %d is controller %v after the kill", controllerOf(c, survivor), time.Since(start).Round(time.Millisecond))
	createTopicIn(c, "after-failover", 2, 2, nil)
	c.start(old)
	waitISR(c, "after-failover", old, 2, time.Minute)

	// Freeze two voters: the third is a minority and must not commit.
	lone := int32(3)
	for _, id := range others(c, lone) {
		mustFault(t, c.pause(id))
	}
	lcl := clientAt(c, lone)
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
	md, err := metadataAt(cctx, c, lone, "minority")
	cancel()
	if err == nil {
		if td, ok := md.Topics["minority"]; ok && td.Err == nil {
			t.Fatalf("the minority committed a topic: %s", describePartitions(td))
		}
	}
	for _, id := range others(c, lone) {
		mustFault(t, c.resume(id))
	}
	// The lone controller's decision to fence the frozen brokers may
	// commit only now that the quorum is back, and their next heartbeat
	// unfences them again: until then a replication factor of 3 is refused.
	waitBrokersIn(c, 3, 30*time.Second)
	waitForErr(t, 30*time.Second, "topic healed created with replication factor 3", func() error {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := c.admin().CreateTopic(cctx, 1, 3, nil, "healed")
		if err != nil {
			return err // the request again
		}
		if resp.Err != nil && !errors.Is(resp.Err, kerr.InvalidReplicationFactor) {
			t.Fatalf("create topic healed: %v", resp.Err)
		}
		return resp.Err
	})
	waitISR(c, "healed", 0, 3, 30*time.Second)
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
	waitForErr(t, time.Minute, "a dev cluster of 3 brokers", func() error {
		md, err := brokerMetadataAt(ctx, strings.Split(seeds, ",")[0])
		if err == nil && len(md.Brokers) != 3 {
			err = fmt.Errorf("brokers %v", md.Brokers.NodeIDs())
		}
		if err != nil && ctx.Err() != nil {
			mu.Lock()
			t.Fatalf("dev cluster never showed 3 brokers: %v\n%s", err, out.String())
		}
		return err
	})
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

// A replica added to a partition whose head retention deleted starts at
// the leader's log start and joins the ISR: its first fetch, from offset
// 0, is below the log start, and the leader's OFFSET_OUT_OF_RANGE answer
// tells it where the log starts. Led by it, the partition serves what the
// leader held.
func TestClusterNewReplicaOfAPartitionWithItsHeadDeleted(t *testing.T) {
	t.Parallel()
	c := startInProcess(t, 2, clusterSettings(map[string]string{"log.retention.check.interval.ms": "100"}))
	ctx := testContext(t, 2*time.Minute)
	td := createTopicIn(c, "head", 1, 1, map[string]*string{"segment.bytes": strp("1024"), "retention.ms": strp("1")})
	leader := td.Partitions[0].Leader
	prod := acksAllProducer(c, kgo.DefaultProduceTopic("head"))
	defer prod.Close()
	for i := range 100 {
		r := kgo.StringRecord(fmt.Sprintf("record %d", i))
		if i >= 90 {
			// The last segment's records are not expired: retention
			// deletes the head, and they stay to be read.
			r.Timestamp = time.Now().Add(30 * time.Minute)
		}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := c.admin()
	var start int64
	// Retention passes ran while the records were written: wait until the
	// log start has moved and stays where the last pass left it (a
	// second apart, ten passes).
	prev := int64(-1)
	waitForErr(t, 30*time.Second, "retention to delete the head and settle", func() error {
		starts, err := adm.ListStartOffsets(ctx, "head")
		if err != nil {
			return err
		}
		o, _ := starts.Lookup("head", 0)
		if o.Err != nil {
			return o.Err
		}
		if start = o.Offset; start <= 0 || start != prev {
			prev = start
			time.Sleep(time.Second)
			return fmt.Errorf("log start %d", start)
		}
		return nil
	})
	follower := others(c, leader)[0]
	reassign := func(replicas ...int32) {
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign("head", 0, replicas)
		resp, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Each(func(r kadm.AlterPartitionAssignmentsResponse) {
			if r.Err != nil {
				t.Fatalf("reassign to %v: %v", replicas, r.Err)
			}
		})
	}
	reassign(leader, follower)
	waitISR(c, "head", leader, 2, 30*time.Second)
	reassign(follower, leader)
	if _, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"head": {0: {}}}); err != nil {
		t.Fatal(err)
	}
	waitTopic(c, "head", follower, 30*time.Second, "led by the new replica", func(td kadm.TopicDetail) bool {
		return td.Partitions[0].Leader == follower
	})
	cons := c.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"head": {0: kgo.NewOffset().AtStart()}}))
	defer cons.Close()
	var got []string
	for len(got) < int(100-start) && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, fmt.Sprintf("%d:%s", r.Offset, r.Value)) })
	}
	if len(got) == 0 || got[0] != fmt.Sprintf("%d:record %d", start, start) || got[len(got)-1] != "99:record 99" || len(got) != int(100-start) {
		t.Fatalf("read %v from the new replica, want offsets %d to 99", got, start)
	}
}
