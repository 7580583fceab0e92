package test

// Sluice driven by segmentio/kafka-go: a Writer with the murmur2 balancer
// (Kafka's default partitioner) and acks=all, and one Reader per partition
// without a group. kafka-go's Writer does not report offsets, so the test
// computes each record's partition with the same balancer and checks that
// every partition holds exactly the records written to it, in write order,
// at offsets dense from zero.

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

func kafkaGoMessage(r *kgo.Record) kafka.Message {
	m := kafka.Message{Key: r.Key, Value: r.Value, Time: r.Timestamp}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return m
}

func recordFromKafkaGo(m kafka.Message) *kgo.Record {
	r := &kgo.Record{Topic: m.Topic, Partition: int32(m.Partition), Offset: m.Offset, Key: m.Key, Value: m.Value, Timestamp: m.Time}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

// kafkaGoWrite writes records with a kafka-go Writer and sets each record's
// Partition to where the murmur2 balancer sends it. Offsets are filled in
// by write order within each partition, which is what the log must hold
// for a fresh topic: the Writer sends one batch at a time per partition.
func kafkaGoWrite(t testing.TB, addr, topic string, partitions int, codec kafka.Compression, records []*kgo.Record) {
	t.Helper()
	// A Transport of its own: kafka-go's shared DefaultTransport caches
	// metadata per address for MetadataTTL, and would not yet know a topic
	// created after its first use.
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Topic:        topic,
		Balancer:     kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    2000,
		BatchBytes:   1 << 20,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  1, // a retry could reorder or duplicate; the test wants none
		Compression:  codec,
		WriteTimeout: 30 * time.Second,
		ReadTimeout:  30 * time.Second,
		Transport:    transport,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(records))
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	next := make(map[int32]int64)
	for i, r := range records {
		msgs[i] = kafkaGoMessage(r)
		r.Partition = int32(kafka.Murmur2Balancer{}.Balance(msgs[i], parts...))
		r.Offset = next[r.Partition]
		next[r.Partition]++
	}
	ctx := testContext(t, 2*time.Minute)
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write %d messages to %s: %v", len(msgs), topic, err)
	}
}

// kafkaGoRead reads want[p] messages from each partition p from the first
// offset, with one group-less Reader per partition.
func kafkaGoRead(t testing.TB, addr, topic string, want map[int32]int) map[int32][]*kgo.Record {
	t.Helper()
	ctx := testContext(t, 2*time.Minute)
	out := make(map[int32][]*kgo.Record)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(want))
	for p, n := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers:   []string{addr},
				Topic:     topic,
				Partition: int(p),
				MinBytes:  1,
				MaxBytes:  10 << 20,
				MaxWait:   500 * time.Millisecond,
			})
			defer r.Close()
			if err := r.SetOffset(kafka.FirstOffset); err != nil {
				errs <- fmt.Errorf("partition %d: set offset: %v", p, err)
				return
			}
			got := make([]*kgo.Record, 0, n)
			for len(got) < n {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					errs <- fmt.Errorf("partition %d: read after %d of %d messages: %v", p, len(got), n, err)
					return
				}
				if m.Partition != int(p) || m.Topic != topic {
					errs <- fmt.Errorf("partition %d: reader returned %s/%d", p, m.Topic, m.Partition)
					return
				}
				got = append(got, recordFromKafkaGo(m))
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

func TestKafkaGoProduceConsume100k(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("kafkago-orders", 6, nil)
	records := makeRecords("kafkago-orders", 100_000, 21)
	kafkaGoWrite(t, b.addr, "kafkago-orders", 6, 0, records)
	counts := countByPartition(records)
	if len(counts) != 6 {
		t.Fatalf("records landed in %d partitions, want 6", len(counts))
	}
	// Nothing more and nothing less than what was written is in the log.
	end := endOffsets(t, b.client(), "kafkago-orders")
	for p := int32(0); p < 6; p++ {
		if end[p] != int64(counts[p]) {
			t.Fatalf("partition %d: end offset %d, %d records written to it", p, end[p], counts[p])
		}
	}
	checkPartitions(t, records, kafkaGoRead(t, b.addr, "kafkago-orders", counts))
	// kafka-go's murmur2 balancer is Kafka's default partitioner, which
	// franz-go also uses for keyed records: a franz-go consumer sees the
	// same records at the same places.
	checkSame(t, records, consumeAll(t, b.addr, "kafkago-orders", len(records)))
}

func TestKafkaGoEveryCodec(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	for _, codec := range []struct {
		name string
		c    kafka.Compression
	}{
		{"none", 0},
		{"gzip", kafka.Gzip},
		{"snappy", kafka.Snappy},
		{"lz4", kafka.Lz4},
		{"zstd", kafka.Zstd},
	} {
		topic := "kafkago-codec-" + codec.name
		b.createTopic(topic, 3, nil)
		records := makeRecords(topic, 3000, 22)
		kafkaGoWrite(t, b.addr, topic, 3, codec.c, records)
		counts := countByPartition(records)
		end := endOffsets(t, b.client(), topic)
		for p := int32(0); p < 3; p++ {
			if end[p] != int64(counts[p]) {
				t.Fatalf("%s: partition %d: end offset %d, %d records written", codec.name, p, end[p], counts[p])
			}
		}
		checkPartitions(t, records, kafkaGoRead(t, b.addr, topic, counts))
	}
}
