package test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// zombieTopic creates a one-partition topic of RF 3, min.insync.replicas
// 2, acknowledges a few records on it and returns their log and the
// partition's leader.
func zombieTopic(t *testing.T, c cluster, topic string) (*ackLog, int32) {
	t.Helper()
	ctx := testContext(t, time.Minute)
	td := createTopicIn(c, topic, 1, 3, minISR2)
	acks := newAckLog()
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()))
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

// onlyTo is a client option that sends every connection the client opens,
// to whichever broker, to broker id: a client that reaches that broker
// alone asks it for metadata too, and keeps sending it what it produces
// whatever leader the metadata names.
func onlyTo(c cluster, id int32) kgo.Opt {
	addr := c.addr(id)
	var d net.Dialer
	return kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	})
}

// produceToOnly produces n records with acks to topic from a client that
// can reach only broker id (every connection it opens goes there), and
// returns those acknowledged and the errors of the others, by error.
func produceToOnly(t *testing.T, c cluster, id int32, topic, prefix string, n int, acks kgo.Acks) (*ackLog, map[string]int) {
	t.Helper()
	cl := clientAt(c, id, onlyTo(c, id), kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite(),
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
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1"}).asCluster()
	const topic = "zombie-paused"
	acks, leader := zombieTopic(t, c, topic)

	mustFault(t, c.pause(leader))
	paused := time.Now()
	newLeader := waitLeaderNot(c, topic, 0, others(c, leader)[0], leader, 30*time.Second)
	t.Logf("leader %d paused; broker %d leads after %v (default session timeout)", leader, newLeader, time.Since(paused).Round(time.Millisecond))
	// Resume it with a producer that reaches it alone.
	mustFault(t, c.resume(leader))
	ok, errs := produceToOnly(t, c, leader, topic, "zombie", 20, kgo.AllISRAcks())
	t.Logf("to the resumed former leader: %d acknowledged, errors %v", ok.len(), errs)
	for v, at := range ok.acked {
		acks.acked[v] = at
	}
	checkAckedAt(t, c.seeds(), topic, acks)
}

// TestNetfaultLeaderIsolatedFromPeers cuts a partition's leader off from
// the other brokers and the controller quorum while clients still reach
// it: acks=all writes it takes are never acknowledged unless kept, and
// the others elect a new leader within the session timeout. acks=1 writes
// it acknowledged may be lost, as Kafka documents; the test reports how
// many.
func TestNetfaultLeaderIsolatedFromPeers(t *testing.T) {
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1"}).asCluster()
	const topic = "zombie-isolated"
	acks, leader := zombieTopic(t, c, topic)

	mustFault(t, c.partition([]int32{leader}, others(c, leader)))
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
	newLeader := waitLeaderNot(c, topic, 0, others(c, leader)[0], leader, 30*time.Second)
	t.Logf("leader %d cut off from its peers; broker %d leads after %v", leader, newLeader, time.Since(cut).Round(time.Millisecond))
	r := <-all
	t.Logf("acks=all to the isolated leader: %d acknowledged, errors %v", r.ok.len(), r.errs)
	one, oneErrs := produceToOnly(t, c, leader, topic, "isolated-one", 20, kgo.LeaderAck())
	mustFault(t, c.heal())
	for v, at := range r.ok.acked {
		acks.acked[v] = at
	}
	checkAckedAt(t, c.seeds(), topic, acks)

	// acks=1 writes acknowledged by the isolated leader are not promised
	// to survive: count how many did.
	// Until its first heartbeat after the heal reaches the controller,
	// the former leader names no leader for the partition in Metadata.
	ctx := testContext(t, time.Minute)
	adm := c.admin()
	var ends kadm.ListedOffsets
	waitForErr(t, 30*time.Second, "the end offsets of "+topic, func() error {
		var err error
		if ends, err = adm.ListEndOffsets(ctx, topic); err == nil {
			err = ends.Error()
		}
		return err
	})
	kept := map[string]bool{}
	for _, r := range consumeFrom(t, c.seeds(), topic, int(ends[topic][0].Offset)) {
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
