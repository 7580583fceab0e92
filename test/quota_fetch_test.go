package test

// A fetch over its client's consumer_byte_rate quota is answered at once
// with no records and throttle_time_ms, as Kafka's handleFetchRequest
// answers it, and a fetch reads at most what the quota allows over the
// quota window (Kafka's getMaxValueInQuotaWindow).

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestThrottledFetchIsAnsweredEmptyAtOnce(t *testing.T) {
	// Three samples of a second: a fetch may read two seconds' worth.
	b := startBroker(t, map[string]string{"quota.window.num": "3", "quota.window.size.seconds": "1"})
	createTopicWith(t, b.client(), "empty-when-throttled", 1)
	ctx := testContext(t, 60*time.Second)
	producer := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(16<<10))
	value := make([]byte, 1000)
	for i := 0; i < 2000; i++ { // 2 MB of backlog in batches of a few KB
		producer.Produce(ctx, &kgo.Record{Topic: "empty-when-throttled", Value: value}, nil)
	}
	if err := producer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	const quota = 100 << 10
	setClientQuota(t, b.admin(), "test", "consumer_byte_rate", quota) // dialRaw's client ID

	c := dialRaw(t, b.addr)
	corr := int32(0)
	fetch := func(offset int64) (time.Duration, kmsg.FetchResponse) {
		t.Helper()
		corr++
		start := time.Now()
		c.request(fetchV11("empty-when-throttled", offset, 10<<20), corr)
		_, body := c.response(false)
		took := time.Since(start)
		resp := kmsg.NewFetchResponse()
		resp.Version = 11
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		return took, resp
	}
	records := func(resp kmsg.FetchResponse) ([]byte, int64) {
		if len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 {
			return nil, -1
		}
		p := resp.Topics[0].Partitions[0]
		var next int64 = -1
		for _, rec := range kgoRecords(t, p.RecordBatches) {
			next = rec + 1
		}
		return p.RecordBatches, next
	}

	// The first fetch reads at most two seconds of the quota (200 KiB,
	// and the batch that passes it), not the 10 MiB it asks for.
	_, first := fetch(0)
	data, next := records(first)
	t.Logf("first fetch: %d bytes, throttle %d ms", len(data), first.ThrottleMillis)
	if len(data) == 0 || len(data) > 2*quota+64<<10 {
		t.Fatalf("first fetch read %d bytes, want some and at most the quota window's %d (and one batch)", len(data), 2*quota)
	}
	// The next one goes over: no records, the throttle time, at once.
	var throttled kmsg.FetchResponse
	var took time.Duration
	for i := 0; i < 5 && throttled.ThrottleMillis == 0; i++ {
		took, throttled = fetch(next)
		if d, n := records(throttled); len(d) > 0 && throttled.ThrottleMillis == 0 {
			next = n
		}
	}
	if throttled.ThrottleMillis <= 0 {
		t.Fatal("a consumer reading 5 x 200 KiB against 100 KiB/s was never throttled")
	}
	if d, _ := records(throttled); len(d) != 0 {
		t.Fatalf("a throttled fetch carried %d bytes of records, want none", len(d))
	}
	if took > time.Duration(throttled.ThrottleMillis)*time.Millisecond/2 && took > 500*time.Millisecond {
		t.Fatalf("a fetch throttled %d ms was answered after %v: want it at once", throttled.ThrottleMillis, took)
	}
	t.Logf("throttled fetch: no records, throttle_time_ms %d, answered in %v", throttled.ThrottleMillis, took.Round(time.Millisecond))
	// Its bytes were not counted: waiting out the throttle times, the
	// consumer is served the same offset again (every fetch answered with
	// a throttle time carrying nothing).
	served := false
	for i := 0; i < 10 && !served; i++ {
		time.Sleep(time.Duration(throttled.ThrottleMillis) * time.Millisecond)
		_, throttled = fetch(next)
		d, _ := records(throttled)
		if throttled.ThrottleMillis > 0 && len(d) > 0 {
			t.Fatalf("a fetch throttled %d ms carried %d bytes", throttled.ThrottleMillis, len(d))
		}
		served = len(d) > 0
	}
	if !served {
		t.Fatalf("the fetch at %d was never served after waiting out its throttle times", next)
	}
}

// fetchV11 is a sessionless Fetch v11 of partition 0 of topic from offset
// that does not wait, reading at most partitionMax bytes (50 MiB in all).
func fetchV11(topic string, offset int64, partitionMax int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 11, -1, 0, 1, 50<<20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, partitionMax, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// kgoRecords lists the offsets of the records in raw record batches (v2:
// base offset at 0, length at 8, last offset delta at 23).
func kgoRecords(t testing.TB, raw []byte) []int64 {
	t.Helper()
	var offsets []int64
	for len(raw) >= 61 {
		base := int64(binary.BigEndian.Uint64(raw))
		size := 12 + int(binary.BigEndian.Uint32(raw[8:]))
		last := int32(binary.BigEndian.Uint32(raw[23:]))
		if size > len(raw) {
			break // a partial batch at the end of the response
		}
		for i := int32(0); i <= last; i++ {
			offsets = append(offsets, base+int64(i))
		}
		raw = raw[size:]
	}
	return offsets
}
