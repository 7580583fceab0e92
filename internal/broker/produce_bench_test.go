package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/record"
)

// benchTopic is a topic's settings resolved from its configs, as the
// produce path reads them.
func benchTopic(tb testing.TB, configs map[string]string) *topicSettings {
	tb.Helper()
	static, err := config.NewBroker(map[string]string{"node.id": "1"})
	if err != nil {
		tb.Fatal(err)
	}
	tcfg, err := config.ResolveTopic(static, configs)
	if err != nil {
		tb.Fatal(err)
	}
	return newTopicSettings(tcfg)
}

// benchBatch is a producer's batch of n records of size bytes each.
func benchBatch(tb testing.TB, codec record.Codec, n, size int) []byte {
	tb.Helper()
	now := time.Now().UnixMilli()
	recs := make([]record.Record, n)
	for i := range recs {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte('a' + (i+j)%7)
		}
		recs[i] = record.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte("key"), Value: v}
	}
	b, err := record.Build(record.BuildOptions{BaseTimestamp: now, Codec: codec, Producer: &record.Producer{ID: 7, Epoch: 0, BaseSequence: 0}}, recs)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkProducePrepare measures what produce does to a batch before
// the append (validation, and recompression when the topic asks for it),
// on the default compression.type=producer and on a topic that recompresses.
func BenchmarkProducePrepare(b *testing.B) {
	br := New(Config{NodeID: 1})
	ctx := context.Background()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 30000
	for _, bc := range []struct {
		name    string
		codec   record.Codec
		configs map[string]string
	}{
		{"producer/none", record.CodecNone, nil},
		{"producer/lz4", record.CodecLZ4, nil},
		{"producer/zstd", record.CodecZstd, nil},
		{"zstd/lz4", record.CodecLZ4, map[string]string{"compression.type": "zstd"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ts := benchTopic(b, bc.configs)
			batch := benchBatch(b, bc.codec, 100, 100)
			rp := &kmsg.ProduceRequestTopicPartition{Records: batch}
			b.ReportAllocs()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				rp.Records = batch
				if _, err := br.prepareBatch(ctx, req, ts, rp, time.Now().UnixMilli()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
