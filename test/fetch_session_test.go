package test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionFetch builds a consumer fetch in session id at epoch of topic
// partitions parts, all from offset 0.
func sessionFetch(topic string, tid [16]byte, id, epoch int32, waitMs, minBytes int32, parts ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.SessionID, req.SessionEpoch = -1, id, epoch
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = waitMs, minBytes, 50<<20
	if len(parts) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, tid
		for _, p := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, 1<<20, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// responsePartitions lists the partitions a fetch response carries.
func responsePartitions(resp *kmsg.FetchResponse) []int32 {
	var out []int32
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, p.Partition)
		}
	}
	return out
}

// KIP-227 at the wire: a full fetch with epoch 0 opens a session, an
// incremental fetch with nothing new lists no partition, and one woken by
// a produce lists just that partition.
func TestFetchSessionIncrementalAtTheWire(t *testing.T) {
	t.Parallel()
	const n = 1000
	b := startBroker(t, map[string]string{"sluice.http.listen": "127.0.0.1:0"})
	b.createTopic("sess", n, nil)
	cl := b.client(kgo.RequestTimeoutOverhead(30 * time.Second))
	ctx := testContext(t, 60*time.Second)
	tid := topicID(t, cl, "sess")
	all := make([]int32, n)
	for i := range all {
		all[i] = int32(i)
	}

	full, err := sessionFetch("sess", tid, 0, 0, 0, 0, all...).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if full.ErrorCode != 0 || full.SessionID <= 0 || len(responsePartitions(full)) != n {
		t.Fatalf("full fetch: error %d, session %d, %d partitions", full.ErrorCode, full.SessionID, len(responsePartitions(full)))
	}
	id := full.SessionID
	sessionless, err := sessionFetch("sess", tid, 0, -1, 0, 0, all...).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if sessionless.SessionID != 0 || len(responsePartitions(sessionless)) != n {
		t.Fatalf("epoch -1: session %d, %d partitions", sessionless.SessionID, len(responsePartitions(sessionless)))
	}

	idle, err := sessionFetch("sess", tid, id, 1, 300, 1).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if idle.ErrorCode != 0 || idle.SessionID != id || len(idle.Topics) != 0 {
		t.Fatalf("idle incremental fetch: error %d, session %d, partitions %v", idle.ErrorCode, idle.SessionID, responsePartitions(idle))
	}
	t.Logf("fetch response of %d idle partitions: %d bytes in full, %d bytes incremental",
		n, len(full.AppendTo(nil)), len(idle.AppendTo(nil)))

	// A long poll on the session is woken by a produce to one partition
	// and answers just that one.
	done := make(chan *kmsg.FetchResponse, 1)
	go func() {
		r, err := sessionFetch("sess", tid, id, 2, 20000, 1).RequestWith(ctx, b.client())
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	waitParkedFetch(t, b)
	prod := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "sess", Partition: 7, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var woken *kmsg.FetchResponse
	select {
	case woken = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("session long poll not woken by the produce")
	}
	if woken == nil || woken.ErrorCode != 0 || len(woken.Topics) != 1 || len(woken.Topics[0].Partitions) != 1 {
		t.Fatalf("woken fetch: %+v", woken)
	}
	if p := woken.Topics[0].Partitions[0]; p.Partition != 7 || len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
		t.Fatalf("woken fetch partition %d, %d bytes, hw %d; want 7 with the record and hw 1", p.Partition, len(p.RecordBatches), p.HighWatermark)
	}

	// Moving partition 7's position past the record: nothing new.
	next := sessionFetch("sess", tid, id, 3, 0, 0, 7)
	next.Topics[0].Partitions[0].FetchOffset = 1
	if r, err := next.RequestWith(ctx, cl); err != nil || r.ErrorCode != 0 || len(r.Topics) != 0 {
		t.Fatalf("after moving on: %v, %+v", err, r)
	}

	for _, tc := range []struct {
		name string
		req  *kmsg.FetchRequest
		code int16
	}{
		{"replayed epoch", sessionFetch("sess", tid, id, 3, 0, 0), kerr.InvalidFetchSessionEpoch.Code},
		{"unknown session", sessionFetch("sess", tid, id^0x5a5a, 1, 0, 0), kerr.FetchSessionIDNotFound.Code},
	} {
		r, err := tc.req.RequestWith(ctx, cl)
		if err != nil || r.ErrorCode != tc.code || len(r.Topics) != 0 {
			t.Fatalf("%s: %v, error %d (want %d), partitions %v", tc.name, err, r.ErrorCode, tc.code, responsePartitions(r))
		}
	}

	// Forgetting every partition closes the session.
	forget := sessionFetch("sess", tid, id, 4, 0, 0)
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.Topic, ft.TopicID, ft.Partitions = "sess", tid, all
	forget.ForgottenTopics = append(forget.ForgottenTopics, ft)
	if r, err := forget.RequestWith(ctx, cl); err != nil || r.ErrorCode != 0 || r.SessionID != 0 {
		t.Fatalf("forget all: %v, %+v", err, r)
	}
	if r, err := sessionFetch("sess", tid, id, 5, 0, 0).RequestWith(ctx, cl); err != nil || r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: %v, %+v", err, r)
	}
}

// franz-go consumes through fetch sessions by default: a consumer of many
// partitions reads every record, and once caught up its fetch responses
// are incremental (they no longer list every partition).
func TestFetchSessionFranzConsumerManyPartitions(t *testing.T) {
	t.Parallel()
	const parts, perPart = 300, 3
	b := startBroker(t, nil)
	b.createTopic("many", parts, nil)
	ctx := testContext(t, 90*time.Second)
	prod := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var records []*kgo.Record
	for p := range parts {
		for i := range perPart {
			records = append(records, &kgo.Record{Topic: "many", Partition: int32(p), Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	if err := prod.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var sizes []int // bytes of each fetch response read
	hook := fetchReadHook(func(n int) {
		mu.Lock()
		sizes = append(sizes, n)
		mu.Unlock()
	})
	cons := b.client(kgo.ConsumeTopics("many"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.WithHooks(hook))
	got := make(map[string]bool)
	for len(got) < parts*perPart {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll after %d records: %v", len(got), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("%d-%d", r.Partition, r.Offset); string(r.Value) != want {
				t.Fatalf("partition %d offset %d holds %q, want %q", r.Partition, r.Offset, r.Value, want)
			}
			got[string(r.Value)] = true
		})
	}
	// Caught up: the next fetches carry nothing new.
	mu.Lock()
	seen := len(sizes)
	mu.Unlock()
	waitFor(t, 20*time.Second, "idle fetches", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sizes) >= seen+3
	})
	mu.Lock()
	idle := sizes[len(sizes)-1]
	mu.Unlock()
	// A full response names 300 partitions (over 10 bytes each); an
	// incremental one with no news names none.
	if idle > 200 {
		t.Fatalf("idle fetch response of %d bytes: not incremental", idle)
	}
	t.Logf("idle fetch response for %d partitions: %d bytes", parts, idle)
}

// fetchReadHook calls f with the size of each Fetch response read.
type fetchReadHook func(n int)

func (h fetchReadHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		h(n)
	}
}

var _ kgo.HookBrokerRead = fetchReadHook(nil)

// Clients that fetch without sessions (sarama, kafka-go) or with one that
// the broker forgets keep working: sarama consumes many partitions.
func TestFetchSessionSaramaConsumerManyPartitions(t *testing.T) {
	t.Parallel()
	const parts = 50
	b := startBroker(t, nil)
	b.createTopic("sarama-many", parts, nil)
	var records []*kgo.Record
	for p := range parts {
		for i := range 4 {
			records = append(records, &kgo.Record{Topic: "sarama-many", Partition: int32(p), Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	ctx := testContext(t, 60*time.Second)
	if err := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cfg := saramaConfig()
	want := make(map[int32]int)
	for p := range parts {
		want[int32(p)] = 4
	}
	checkPartitions(t, records, saramaConsume(t, b.addr, cfg, "sarama-many", want))
}
