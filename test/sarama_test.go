package test

// Sluice driven by IBM/sarama: its async and sync producers, its (non-group)
// partition consumer, every compression codec, and its idempotent producer.
// The records come from makeRecords so that keys, values, headers and
// timestamps are checked exactly, at the partition and offset sarama was
// told on produce.

import (
	"bytes"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// saramaConfig is sarama's default config speaking to a recent Kafka, with
// successes returned so that each message learns its partition and offset.
func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "sluice-test-sarama"
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.Return.Errors = true
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	return cfg
}

// saramaMessage turns a test record into a sarama message; Metadata carries
// the record's index in the produced slice.
func saramaMessage(topic string, i int, r *kgo.Record) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{
		Topic:     topic,
		Key:       sarama.ByteEncoder(r.Key),
		Value:     sarama.ByteEncoder(r.Value),
		Timestamp: r.Timestamp,
		Metadata:  i,
	}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	return m
}

// recordFromSarama turns a consumed sarama message into a kgo.Record, so
// that all clients' results are compared by one function.
func recordFromSarama(m *sarama.ConsumerMessage) *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
	}
	return r
}

// checkRecord asserts that got holds want's key, value, headers and
// timestamp. A nil and an empty key or value are treated alike, as kafka-go
// and sarama do not tell them apart.
func checkRecord(t testing.TB, where string, got, want *kgo.Record) {
	t.Helper()
	if !bytes.Equal(got.Key, want.Key) {
		t.Fatalf("%s: key %q, want %q", where, got.Key, want.Key)
	}
	if !bytes.Equal(got.Value, want.Value) {
		t.Fatalf("%s: value of %d bytes differs from the %d produced", where, len(got.Value), len(want.Value))
	}
	if !got.Timestamp.Equal(want.Timestamp) {
		t.Fatalf("%s: timestamp %v, want %v", where, got.Timestamp, want.Timestamp)
	}
	if len(got.Headers) != len(want.Headers) {
		t.Fatalf("%s: %d headers, want %d", where, len(got.Headers), len(want.Headers))
	}
	for i := range got.Headers {
		if got.Headers[i].Key != want.Headers[i].Key || !bytes.Equal(got.Headers[i].Value, want.Headers[i].Value) {
			t.Fatalf("%s: header %d is %q=%q, want %q=%q", where, i,
				got.Headers[i].Key, got.Headers[i].Value, want.Headers[i].Key, want.Headers[i].Value)
		}
	}
}

// saramaProduceAsync produces every record through an AsyncProducer and
// sets each record's Partition and Offset from the success sarama reports.
func saramaProduceAsync(t testing.TB, addr string, cfg *sarama.Config, topic string, records []*kgo.Record) {
	t.Helper()
	p, err := sarama.NewAsyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("new async producer: %v", err)
	}
	defer p.Close()
	// The feeder stops before the producer closes, so it never sends on a
	// closed input when the test fails early.
	stop := make(chan struct{})
	var feeder sync.WaitGroup
	feeder.Add(1)
	defer func() { close(stop); feeder.Wait() }()
	go func() {
		defer feeder.Done()
		for i, r := range records {
			select {
			case p.Input() <- saramaMessage(topic, i, r):
			case <-stop:
				return
			}
		}
	}()
	done := make([]bool, len(records))
	timeout := time.After(90 * time.Second)
	for n := 0; n < len(records); n++ {
		select {
		case m := <-p.Successes():
			i := m.Metadata.(int)
			if done[i] {
				t.Fatalf("record %d reported twice", i)
			}
			done[i] = true
			records[i].Partition, records[i].Offset = m.Partition, m.Offset
		case perr := <-p.Errors():
			t.Fatalf("produce record %d: %v", perr.Msg.Metadata.(int), perr.Err)
		case <-timeout:
			t.Fatalf("only %d of %d records acknowledged after 90s", n, len(records))
		}
	}
}

// saramaProduceSync produces records with SendMessages and sets each
// record's Partition and Offset.
func saramaProduceSync(t testing.TB, addr string, cfg *sarama.Config, topic string, records []*kgo.Record) {
	t.Helper()
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("new sync producer: %v", err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(records))
	for i, r := range records {
		msgs[i] = saramaMessage(topic, i, r)
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("send messages: %v", err)
	}
	for i, m := range msgs {
		records[i].Partition, records[i].Offset = m.Partition, m.Offset
	}
}

// saramaConsume reads want[p] messages from each partition p, starting at
// the oldest offset, with one PartitionConsumer per partition.
func saramaConsume(t testing.TB, addr string, cfg *sarama.Config, topic string, want map[int32]int) map[int32][]*kgo.Record {
	t.Helper()
	c, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("new consumer: %v", err)
	}
	defer c.Close()
	out := make(map[int32][]*kgo.Record)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(want))
	for p, n := range want {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume partition %d: %v", p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			got := make([]*kgo.Record, 0, n)
			timeout := time.After(90 * time.Second)
			for len(got) < n {
				select {
				case m, ok := <-pc.Messages():
					if !ok {
						errs <- fmt.Errorf("partition %d: consumer closed after %d of %d messages", p, len(got), n)
						return
					}
					got = append(got, recordFromSarama(m))
				case cerr := <-pc.Errors():
					errs <- fmt.Errorf("partition %d: %v", p, cerr)
					return
				case <-timeout:
					errs <- fmt.Errorf("partition %d: consumed %d of %d messages before timeout", p, len(got), n)
					return
				}
			}
			mu.Lock()
			out[p] = got
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// checkPartitions asserts that consumed holds, per partition, exactly the
// produced records of that partition in offset order, offsets dense from
// zero, and that within a partition the offsets follow the produce order.
func checkPartitions(t testing.TB, produced []*kgo.Record, consumed map[int32][]*kgo.Record) {
	t.Helper()
	byPart := make(map[int32][]*kgo.Record)
	for _, r := range produced {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	for p, want := range byPart {
		// Produce order within a partition is offset order.
		for i := 1; i < len(want); i++ {
			if want[i].Offset <= want[i-1].Offset {
				t.Fatalf("partition %d: record produced later got offset %d, after %d", p, want[i].Offset, want[i-1].Offset)
			}
		}
		got := consumed[p]
		if len(got) != len(want) {
			t.Fatalf("partition %d: consumed %d records, produced %d", p, len(got), len(want))
		}
		for i := range want {
			if want[i].Offset != int64(i) {
				t.Fatalf("partition %d: record %d was acknowledged at offset %d, want %d", p, i, want[i].Offset, i)
			}
			if got[i].Offset != int64(i) {
				t.Fatalf("partition %d: consumed offset %d at position %d", p, got[i].Offset, i)
			}
			checkRecord(t, fmt.Sprintf("partition %d offset %d", p, i), got[i], want[i])
		}
	}
	for p, got := range consumed {
		if len(byPart[p]) == 0 && len(got) > 0 {
			t.Fatalf("partition %d: consumed %d records, none produced", p, len(got))
		}
	}
}

func countByPartition(records []*kgo.Record) map[int32]int {
	out := make(map[int32]int)
	for _, r := range records {
		out[r.Partition]++
	}
	return out
}

func TestSaramaProduceConsume100k(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("sarama-orders", 6, nil)
	records := makeRecords("sarama-orders", 100_000, 11)
	saramaProduceAsync(t, b.addr, saramaConfig(), "sarama-orders", records)
	counts := countByPartition(records)
	if len(counts) != 6 {
		t.Fatalf("records landed in %d partitions, want 6", len(counts))
	}
	// The default hash partitioner sends one key to one partition.
	keyPart := make(map[string]int32)
	for _, r := range records {
		if p, ok := keyPart[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("key %s went to partitions %d and %d", r.Key, p, r.Partition)
		}
		keyPart[string(r.Key)] = r.Partition
	}
	checkPartitions(t, records, saramaConsume(t, b.addr, saramaConfig(), "sarama-orders", counts))
	// The log end offsets agree with what sarama was told.
	end := endOffsets(t, b.client(), "sarama-orders")
	for p, n := range counts {
		if end[p] != int64(n) {
			t.Fatalf("partition %d: end offset %d, %d records acknowledged", p, end[p], n)
		}
	}
}

func TestSaramaEveryCodec(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	for _, codec := range []struct {
		name string
		c    sarama.CompressionCodec
	}{
		{"none", sarama.CompressionNone},
		{"gzip", sarama.CompressionGZIP},
		{"snappy", sarama.CompressionSnappy},
		{"lz4", sarama.CompressionLZ4},
		{"zstd", sarama.CompressionZSTD},
	} {
		topic := "sarama-codec-" + codec.name
		b.createTopic(topic, 3, nil)
		cfg := saramaConfig()
		cfg.Producer.Compression = codec.c
		records := makeRecords(topic, 3000, 12)
		saramaProduceSync(t, b.addr, cfg, topic, records)
		checkPartitions(t, records, saramaConsume(t, b.addr, saramaConfig(), topic, countByPartition(records)))
	}
}

// TestSaramaIdempotentProducer produces through a proxy that drops some
// Produce responses, so sarama retries batches the broker already stored;
// each record must still be stored once.
func TestSaramaIdempotentProducer(t *testing.T) {
	t.Parallel()
	b, proxy := brokerBehindProxy(t, 3, 5)
	b.createTopic("sarama-idem", 3, nil)
	cfg := saramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max = 5
	records := makeRecords("sarama-idem", 20_000, 13)
	for i, r := range records {
		r.Value = []byte(fmt.Sprintf("idem-%06d", i)) // unique, to find duplicates
	}
	cfg.Producer.Retry.Backoff = 20 * time.Millisecond
	saramaProduceSync(t, b.addr, cfg, "sarama-idem", records)
	if proxy.drops.Load() == 0 {
		t.Fatalf("the proxy dropped no Produce response (of %d), so nothing was retried", proxy.produces.Load())
	}
	t.Logf("%d of %d Produce responses dropped", proxy.drops.Load(), proxy.produces.Load())

	seen := make(map[tpo]int)
	for i, r := range records {
		at := tpo{r.Partition, r.Offset}
		if j, dup := seen[at]; dup {
			t.Fatalf("records %d and %d both acknowledged at %d/%d", j, i, at.partition, at.offset)
		}
		seen[at] = i
	}
	counts := countByPartition(records)
	end := endOffsets(t, b.client(), "sarama-idem")
	var total int64
	for p, o := range end {
		total += o
		if o != int64(counts[p]) {
			t.Fatalf("partition %d: end offset %d, %d records acknowledged", p, o, counts[p])
		}
	}
	if total != int64(len(records)) {
		t.Fatalf("log holds %d records, %d produced", total, len(records))
	}
	consumed := saramaConsume(t, b.addr, saramaConfig(), "sarama-idem", counts)
	checkPartitions(t, records, consumed)
	values := make([]string, 0, len(records))
	for _, rs := range consumed {
		for _, r := range rs {
			values = append(values, string(r.Value))
		}
	}
	sort.Strings(values)
	for i, v := range values {
		if want := fmt.Sprintf("idem-%06d", i); v != want {
			t.Fatalf("sorted value %d is %s, want %s (a duplicate or a loss)", i, v, want)
		}
	}
}
