package test

// request_percentage (KIP-124) counts the time the broker spends on a
// client's requests: a consumer long-polling an idle topic spends its time
// waiting, which is not counted, while the time its response takes to be
// written is.

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestRequestPercentageCountsWorkNotWaiting(t *testing.T) {
	b := startBroker(t, nil)
	createTopicWith(t, b.client(), "idle", 1)
	createTopicWith(t, b.client(), "backlog", 1)
	ctx := testContext(t, 60*time.Second)
	setClientQuota(t, b.admin(), "poller", "request_percentage", 5)
	// dialRaw's client ID: one second of work in the ten-second window.
	setClientQuota(t, b.admin(), "test", "request_percentage", 10)

	// Ten fetches of an idle topic, each waiting 300 ms for data: 3 s of
	// waiting in 3 s, which would be 30% of a thread if it counted.
	var hook throttleHook
	poller := newClient(t, b.addr, kgo.ClientID("poller"), kgo.WithHooks(&hook))
	topics, err := b.admin().ListTopics(ctx, "idle")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 10; i++ {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 300, 1, 1<<20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "idle", topics["idle"].ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, poller)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ThrottleMillis > 0 {
			t.Fatalf("long-poll fetch %d throttled %d ms at request_percentage=5: waiting was counted", i, resp.ThrottleMillis)
		}
	}
	if took := time.Since(start); took < 2500*time.Millisecond {
		t.Fatalf("ten fetches waiting 300 ms took %v: they did not wait", took)
	}
	if n := hook.n.Load(); n != 0 {
		t.Fatalf("the long-polling consumer was throttled %d times", n)
	}

	// A 24 MB response read 2.5 s late: writing it takes that long, 25%
	// of the ten-second window, and the client's next request is
	// throttled for it (reading it took far less than a second).
	producer := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := make([]byte, 100<<10)
	for i := 0; i < 240; i++ {
		producer.Produce(ctx, &kgo.Record{Topic: "backlog", Value: value}, nil)
	}
	if err := producer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, b.addr)
	c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	c.request(fetchV11("backlog", 0, 50<<20), 1)
	time.Sleep(2500 * time.Millisecond) // the response waits in the socket buffers
	_, body := c.response(false)
	if len(body) < 20<<20 {
		t.Fatalf("fetch answered %d bytes, want the 24 MB backlog", len(body))
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 4
	c.request(md, 2)
	_, body = c.response(false)
	mresp := kmsg.NewPtrMetadataResponse()
	mresp.Version = 4
	if err := mresp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	t.Logf("after a 24 MB response written over ~2.5 s: next request throttle_time_ms %d", mresp.ThrottleMillis)
	if mresp.ThrottleMillis <= 0 {
		t.Fatal("the time spent writing a response to a slow reader was not counted")
	}
}
