package test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// zombieTopic creates a one-partition topic of RF 3, min.insync.replicas
// 2, acknowledges a few records on it and returns their log and the
// partition's leader.
func zombieTopic(t *testing.T, c *netCluster, topic string) (*ackLog, int32) {
	t.Helper()
	ctx := testContext(t, time.Minute)
	adm := kadm.NewClient(c.client(kgo.SeedBrokers(c.clientSeeds()...)))
	if _, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	td := c.waitHealthy(topic, 1, 3, time.Minute)
	acks := newAckLog()
	cl := c.client(kgo.SeedBrokers(c.clientSeeds()...), kgo.RequiredAcks(kgo.AllISRAcks()))
	for i := range 10 {
		v := fmt.Sprintf("before-%d", i)
		r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).First()
		if err != nil {
			t.Fatal(err)
		}
		acks.add(r)
	}
	return acks, td.Partitions[0].Leader
}

// waitNewLeader waits until node via's Metadata names a leader other than
// old, and returns it.
func (c *netCluster) waitNewLeader(topic string, via, old int32, timeout time.Duration) int32 {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		md, err := c.metadata(ctx, via, topic)
		cancel()
		if err == nil {
			if p := md.Topics[topic].Partitions[0]; p.Leader >= 0 && p.Leader != old {
				return p.Leader
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no leader other than %d within %v as node %d sees it (%v)", old, timeout, via, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// produceToOnly produces n records with acks to topic from a client that
// can reach only node id (every connection it opens goes there), and
// returns those acknowledged and the errors of the others, by error.
func produceToOnly(t *testing.T, c *netCluster, id int32, topic, prefix string, n int, acks kgo.Acks) (*ackLog, map[string]int) {
	t.Helper()
	cl := c.client(kgo.SeedBrokers(c.kafka[id].Addr()), c.onlyTo(id), kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite(),
		kgo.RecordDeliveryTimeout(8*time.Second), kgo.ProduceRequestTimeout(3*time.Second),
		kgo.RequestTimeoutOverhead(time.Second), kgo.MetadataMinAge(100*time.Millisecond))
	ok := newAckLog()
	errs := map[string]int{}
	var mu sync.Mutex
	for i := range n {
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", prefix, i)}, func(r *kgo.Record, err error) {
			if err == nil {
				ok.add(r)
				return
			}
			name := err.Error()
			var ke *kerr.Error
			if errors.As(err, &ke) {
				name = ke.Message
			} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrRecordTimeout) {
				name = "timeout"
			}
			mu.Lock()
			errs[name]++
			mu.Unlock()
		})
	}
	ctx := testContext(t, time.Minute)
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return ok, errs
}

// TestNetfaultPausedLeaderAcknowledgesNothing pauses a partition's leader
// (SIGSTOP) past the session timeout, so that the controller moves its
// leadership, then resumes it while a producer can reach only it: no
// acks=all write to the zombie may be acknowledged unless it is in the
// log the cluster keeps.
func TestNetfaultPausedLeaderAcknowledgesNothing(t *testing.T) {
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1"})
	const topic = "zombie-paused"
	acks, leader := zombieTopic(t, c, topic)
	other := leader%3 + 1

	c.node(leader).signal(syscall.SIGSTOP)
	paused := time.Now()
	newLeader := c.waitNewLeader(topic, other, leader, 30*time.Second)
	t.Logf("leader %d paused; node %d leads after %v (default session timeout)", leader, newLeader, time.Since(paused).Round(time.Millisecond))
	// Resume it with the only route for the producer leading to it.
	c.cutClientsExcept(leader)
	c.node(leader).signal(syscall.SIGCONT)
	ok, errs := produceToOnly(t, c, leader, topic, "zombie", 20, kgo.AllISRAcks())
	t.Logf("to the resumed former leader: %d acknowledged, errors %v", ok.len(), errs)
	c.heal()
	for v, at := range ok.acked {
		acks.acked[v] = at
	}
	checkAckedAt(t, c.clientSeeds(), topic, acks)
}

// TestNetfaultLeaderIsolatedFromPeers cuts a partition's leader off from
// the other brokers and the controller quorum while clients still reach
// it: acks=all writes it takes are never acknowledged unless kept, and
// the others elect a new leader within the session timeout. acks=1 writes
// it acknowledged may be lost, as Kafka documents; the test reports how
// many.
func TestNetfaultLeaderIsolatedFromPeers(t *testing.T) {
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1"})
	const topic = "zombie-isolated"
	acks, leader := zombieTopic(t, c, topic)
	other := leader%3 + 1

	c.isolateFromPeers(leader)
	cut := time.Now()
	type result struct {
		ok   *ackLog
		errs map[string]int
	}
	all := make(chan result, 1)
	go func() {
		ok, errs := produceToOnly(t, c, leader, topic, "isolated-all", 20, kgo.AllISRAcks())
		all <- result{ok, errs}
	}()
	newLeader := c.waitNewLeader(topic, other, leader, 30*time.Second)
	t.Logf("leader %d cut off from its peers; node %d leads after %v", leader, newLeader, time.Since(cut).Round(time.Millisecond))
	r := <-all
	t.Logf("acks=all to the isolated leader: %d acknowledged, errors %v", r.ok.len(), r.errs)
	one, oneErrs := produceToOnly(t, c, leader, topic, "isolated-one", 20, kgo.LeaderAck())
	c.heal()
	for v, at := range r.ok.acked {
		acks.acked[v] = at
	}
	checkAckedAt(t, c.clientSeeds(), topic, acks)

	// acks=1 writes acknowledged by the isolated leader are not promised
	// to survive: count how many did.
	ctx := testContext(t, time.Minute)
	ends, err := kadm.NewClient(c.client(kgo.SeedBrokers(c.clientSeeds()...))).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{}
	for _, r := range consumeFrom(t, c.clientSeeds(), topic, int(ends[topic][0].Offset)) {
		kept[string(r.Value)] = true
	}
	survived := 0
	for v := range one.acked {
		if kept[v] {
			survived++
		}
	}
	t.Logf("acks=1 to the isolated leader: %d acknowledged, %d of them kept (errors %v)", one.len(), survived, oneErrs)
}
