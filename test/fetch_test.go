package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchReq builds a one-partition consumer fetch. franz-go sends it at the
// highest version both sides know, which names topics by ID.
func fetchReq(topic string, id [16]byte, partition int32, offset int64, minBytes, maxBytes, partMax, waitMs int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.SessionEpoch = -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = waitMs, minBytes, maxBytes
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, partMax
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// waitParkedFetch waits until a consumer fetch waits in the broker's
// purgatory for data (sluice_purgatory_requests): an append made after
// that has to wake it. The broker serves metrics (sluice.http.listen).
func waitParkedFetch(t *testing.T, b *broker) {
	t.Helper()
	waitForErr(t, 10*time.Second, "a fetch waiting in purgatory", func() error {
		if v, _ := scrapeMetrics(t, b.node.HTTPAddr()).value("sluice_purgatory_requests", "operation", "fetch_consumer"); v < 1 {
			return fmt.Errorf("%v fetches waiting", v)
		}
		return nil
	})
}

func TestFetchLongPollWokenByAppend(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"sluice.http.listen": "127.0.0.1:0"})
	b.createTopic("poll", 1, nil)
	cl := b.client(kgo.RequestTimeoutOverhead(30 * time.Second))
	ctx := testContext(t, 30*time.Second)
	id := topicID(t, cl, "poll")

	// Nothing to read: the fetch waits for max_wait_ms, then answers empty.
	start := time.Now()
	resp, err := fetchReq("poll", id, 0, 0, 1, 1<<20, 1<<20, 500).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 450*time.Millisecond {
		t.Fatalf("empty fetch answered after %v, want about max_wait_ms (500ms)", waited)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 || p.HighWatermark != 0 {
		t.Fatalf("empty fetch: %+v", p)
	}

	// A long poll is woken by an append well before max_wait_ms.
	done := make(chan *kmsg.FetchResponse, 1)
	go func() {
		r, _ := fetchReq("poll", id, 0, 0, 1, 1<<20, 1<<20, 20000).RequestWith(ctx, b.client())
		done <- r
	}()
	waitParkedFetch(t, b)
	produced := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "poll", Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r == nil {
			t.Fatal("fetch failed")
		}
		p := r.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
			t.Fatalf("woken fetch: error %d, %d bytes, hw %d", p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
		}
		if d := time.Since(produced); d > 5*time.Second {
			t.Fatalf("fetch woke %v after the append", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long poll was not woken by the append")
	}
}

func TestFetchByteLimits(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("limits", 1, nil)
	cl := b.client(kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := testContext(t, 30*time.Second)
	id := topicID(t, cl, "limits")
	// Ten batches of about 10 KiB each.
	big := make([]byte, 10<<10)
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "limits", Value: big}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	batches := func(r *kmsg.FetchResponse) (n int, size int) {
		p := r.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("fetch error %v", kerr.ErrorForCode(p.ErrorCode))
		}
		b := p.RecordBatches
		for len(b) >= 12 {
			l := int(b[8])<<24 | int(b[9])<<16 | int(b[10])<<8 | int(b[11])
			n++
			size += 12 + l
			b = b[12+l:]
		}
		return n, size
	}
	tests := []struct {
		name                   string
		maxBytes, partMaxBytes int32
		want                   int
	}{
		{"partition_max_bytes smaller than one batch still returns it (KIP-74)", 1 << 20, 100, 1},
		{"max_bytes smaller than one batch still returns it (KIP-74)", 100, 1 << 20, 1},
		{"partition_max_bytes fits three batches", 1 << 20, 3*(10<<10) + 3*200, 3},
		{"everything fits", 1 << 20, 1 << 20, 10},
	}
	for _, tt := range tests {
		r, err := fetchReq("limits", id, 0, 0, 1, tt.maxBytes, tt.partMaxBytes, 100).RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := batches(r); n != tt.want {
			t.Errorf("%s: %d batches, want %d", tt.name, n, tt.want)
		}
	}
	// A fetch from the middle returns whole batches starting at the one
	// holding the offset; out of range is OFFSET_OUT_OF_RANGE.
	r, err := fetchReq("limits", id, 0, 11, 1, 1<<20, 1<<20, 100).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at 11 of 10: error %d, want OFFSET_OUT_OF_RANGE", p.ErrorCode)
	}
	r, err = fetchReq("limits", id, 0, 10, 1, 1<<20, 1<<20, 100).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch at the end: error %d, %d bytes, want empty", p.ErrorCode, len(p.RecordBatches))
	}
}
