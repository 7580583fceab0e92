package test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// makeRecords builds n keyed records with headers and distinct timestamps.
func makeRecords(topic string, n int, seed int64) []*kgo.Record {
	rng := rand.New(rand.NewSource(seed))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	out := make([]*kgo.Record, n)
	for i := range out {
		val := make([]byte, 20+rng.Intn(200))
		rng.Read(val)
		out[i] = &kgo.Record{
			Topic:     topic,
			Key:       []byte(fmt.Sprintf("key-%d", rng.Intn(5000))),
			Value:     val,
			Headers:   []kgo.RecordHeader{{Key: "seq", Value: []byte(fmt.Sprint(i))}, {Key: "h2", Value: []byte("v")}},
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
		}
	}
	return out
}

// produceAll produces records and fails the test on any error. Each record
// comes back with its partition and offset set.
func produceAll(t testing.TB, cl *kgo.Client, records []*kgo.Record) {
	t.Helper()
	ctx := testContext(t, 2*time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, r := range records {
		wg.Add(1)
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
}

type tpo struct {
	partition int32
	offset    int64
}

// consumeAll reads every partition from the start until n records arrived.
func consumeAll(t testing.TB, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx := testContext(t, 2*time.Minute)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records before timeout", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s/%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	return out
}

// checkSame asserts that consumed holds exactly the produced records: same
// key, value, headers and timestamp at the same partition and offset, and
// offsets within each partition dense from zero and in order.
func checkSame(t testing.TB, produced, consumed []*kgo.Record) {
	t.Helper()
	if len(consumed) != len(produced) {
		t.Fatalf("consumed %d records, produced %d", len(consumed), len(produced))
	}
	want := make(map[tpo]*kgo.Record, len(produced))
	for _, r := range produced {
		want[tpo{r.Partition, r.Offset}] = r
	}
	next := map[int32]int64{}
	for _, r := range consumed {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: got offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		w, ok := want[tpo{r.Partition, r.Offset}]
		if !ok {
			t.Fatalf("consumed %d/%d which was never produced", r.Partition, r.Offset)
		}
		if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) {
			t.Fatalf("%d/%d: key/value differ", r.Partition, r.Offset)
		}
		if !r.Timestamp.Equal(w.Timestamp) {
			t.Fatalf("%d/%d: timestamp %v, want %v", r.Partition, r.Offset, r.Timestamp, w.Timestamp)
		}
		if len(r.Headers) != len(w.Headers) {
			t.Fatalf("%d/%d: %d headers, want %d", r.Partition, r.Offset, len(r.Headers), len(w.Headers))
		}
		for i := range r.Headers {
			if r.Headers[i].Key != w.Headers[i].Key || !bytes.Equal(r.Headers[i].Value, w.Headers[i].Value) {
				t.Fatalf("%d/%d: header %d differs", r.Partition, r.Offset, i)
			}
		}
	}
}

func TestFranzGoProduceConsume100k(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("orders", 6, nil)
	records := makeRecords("orders", 100_000, 1)
	produceAll(t, b.client(), records)
	seen := map[int32]bool{}
	for _, r := range records {
		seen[r.Partition] = true
	}
	if len(seen) != 6 {
		t.Fatalf("records landed in %d partitions, want 6", len(seen))
	}
	checkSame(t, records, consumeAll(t, b.addr, "orders", len(records)))
}

func TestFranzGoEveryCodec(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	for _, codec := range []struct {
		name string
		c    kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	} {
		topic := "codec-" + codec.name
		b.createTopic(topic, 3, nil)
		records := makeRecords(topic, 5000, 2)
		produceAll(t, b.client(kgo.ProducerBatchCompression(codec.c)), records)
		checkSame(t, records, consumeAll(t, b.addr, topic, len(records)))
	}
}

func TestConsumeAfterRestart(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("durable", 4, nil)
	records := makeRecords("durable", 20_000, 3)
	produceAll(t, b.client(), records)
	b.restart()
	checkSame(t, records, consumeAll(t, b.addr, "durable", len(records)))
	// And the log keeps growing after recovery, at the right offsets.
	more := makeRecords("durable", 1000, 4)
	produceAll(t, b.client(), more)
	checkSame(t, append(records, more...), consumeAll(t, b.addr, "durable", len(records)+len(more)))
}

var _ = context.Background
