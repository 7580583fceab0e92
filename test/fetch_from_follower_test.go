package test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestConsumerReadsFromFollowerInItsRack: with replica.selector.class
// set, a consumer whose client.rack is a follower's rack reads every
// record from that follower (KIP-392), read_committed included (the
// aborted records stay hidden), and goes on getting new records from it as
// they are produced; a consumer without a rack reads from the leader.
func TestConsumerReadsFromFollowerInItsRack(t *testing.T) {
	t.Parallel()
	settings := maps.Clone(fastFailover)
	settings["replica.selector.class"] = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
	settings["offsets.topic.num.partitions"] = "1"
	settings["transaction.state.log.num.partitions"] = "1"
	settings["replica.fetch.wait.max.ms"] = "5000"
	c := startInProcess(t, 3, settings, withBrokerSettings(func(id int32, _ string) map[string]string {
		return map[string]string{"broker.rack": fmt.Sprintf("rack-%d", id)}
	}))
	ctx := testContext(t, 90*time.Second)
	const topic = "near-reads"
	td := createTopicIn(c, topic, 1, 3, nil)
	p := td.Partitions[0]
	leader, follower := p.Leader, p.Replicas[0]
	if follower == leader {
		follower = p.Replicas[1]
	}

	prod := c.client(kgo.DefaultProduceTopic(topic), kgo.TransactionalID("near-reads-tx"))
	produce := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			if err := prod.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%s-%d", prefix, i))).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	inTxn := func(commit kgo.TransactionEndTry, prefix string, n int) {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(prefix, n)
		if err := prod.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	inTxn(kgo.TryCommit, "first", 20)
	inTxn(kgo.TryAbort, "aborted", 5)
	inTxn(kgo.TryCommit, "second", 20)

	// consume reads want records as a consumer in rack, and returns the
	// brokers its batches came from.
	type consumer struct {
		cl   *kgo.Client
		mu   sync.Mutex
		from map[int32]int
	}
	newConsumer := func(rack string) *consumer {
		cs := &consumer{from: map[int32]int{}}
		opts := []kgo.Opt{
			kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.WithHooks(fetchSourceHook(func(broker int32) {
				cs.mu.Lock()
				cs.from[broker]++
				cs.mu.Unlock()
			})),
		}
		if rack != "" {
			opts = append(opts, kgo.Rack(rack))
		}
		cs.cl = c.client(opts...)
		return cs
	}
	read := func(cs *consumer, want []string) {
		t.Helper()
		var got []string
		for len(got) < len(want) && ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			fs := cs.cl.PollFetches(pctx)
			cancel()
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("read %v, want %v", got, want)
		}
	}
	names := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s-%d", prefix, i))
		}
		return out
	}
	committed := append(names("first", 20), names("second", 20)...)

	near := newConsumer(fmt.Sprintf("rack-%d", follower))
	read(near, committed)
	// Records produced while it waits reach it through the follower, and
	// at once: the leader tells the follower its new high watermark
	// without waiting out the follower's fetch (5 s here).
	inTxn(kgo.TryCommit, "third", 10)
	start := time.Now()
	read(near, names("third", 10))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("records committed reached the consumer at the follower after %v", took)
	}
	near.mu.Lock()
	from := maps.Clone(near.from)
	near.mu.Unlock()
	if len(from) != 1 || from[follower] == 0 {
		t.Errorf("the consumer in rack-%d read batches from brokers %v, want only from follower %d (leader %d)", follower, from, follower, leader)
	}

	far := newConsumer("")
	read(far, append(committed, names("third", 10)...))
	far.mu.Lock()
	defer far.mu.Unlock()
	if len(far.from) != 1 || far.from[leader] == 0 {
		t.Errorf("the consumer without a rack read batches from brokers %v, want only from leader %d", far.from, leader)
	}

	// A follower serves a consumer's fetch from v11 on; before, it is
	// NOT_LEADER_OR_FOLLOWER, as in Kafka.
	for _, v := range []int16{10, 11, 16} {
		versions := kversion.Stable()
		versions.SetMaxKeyVersion(kmsg.Fetch.Int16(), v)
		direct := c.client(kgo.MaxVersions(versions))
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, td.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, 0, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, direct.Broker(int(follower)))
		if err != nil {
			t.Fatalf("fetch v%d from the follower: %v", v, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch v%d from the follower: %d topics in the response", v, len(resp.Topics))
		}
		sp := resp.Topics[0].Partitions[0]
		want := int16(0)
		if v < 11 {
			want = kerr.NotLeaderForPartition.Code
		}
		if sp.ErrorCode != want || (want == 0 && len(sp.RecordBatches) == 0) {
			t.Errorf("fetch v%d from the follower: error %d with %d bytes of records, want error %d", v, sp.ErrorCode, len(sp.RecordBatches), want)
		}
	}

}

// fetchSourceHook reports the broker each fetched batch came from.
type fetchSourceHook func(broker int32)

func (h fetchSourceHook) OnFetchBatchRead(meta kgo.BrokerMetadata, _ string, _ int32, _ kgo.FetchBatchMetrics) {
	h(meta.NodeID)
}
