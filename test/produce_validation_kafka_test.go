package test

// Produce behaviours checked against Kafka's: KafkaApis.handleProduceRequest
// (acks=0 failures close the connection), LogValidator (timestamps,
// attributes, sequences, recompression to compression.type) and KIP-467
// record errors.

import (
	"bytes"
	"crypto/rand"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/record"
)

// buildBatch builds a producer's batch of records with the given values
// (and keys, when keys is not nil), at base timestamp ts.
func buildBatch(t testing.TB, o record.BuildOptions, keys []string, values ...string) []byte {
	t.Helper()
	recs := make([]record.Record, len(values))
	for i, v := range values {
		recs[i] = record.Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Value: []byte(v)}
		if keys != nil && keys[i] != "" {
			recs[i].Key = []byte(keys[i])
		}
	}
	b, err := record.Build(o, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// produceAcksZero sends one acks=0 produce request on a raw connection.
func produceAcksZero(c *rawConn, topic string, records []byte, corr int32) {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = 0
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.request(req, corr)
}

// Kafka's handleProduceRequest closes the connection when an acks=0
// request has a failed partition: the client gets no answer, and the
// closed connection makes it refresh its metadata. A successful one keeps
// the connection.
func TestProduceAcksZeroFailureClosesConnection(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	b.createTopic("acks0", 1, nil)

	ok := dialRaw(t, b.addr)
	produceAcksZero(ok, "acks0", batch("fine"), 1)
	api := kmsg.NewPtrApiVersionsRequest() // v0: no flexible header either way
	ok.request(api, 2)
	if corr, _ := ok.response(false); corr != 2 {
		t.Fatalf("after a good acks=0 produce: response to %d, want the ApiVersions (2)", corr)
	}

	bad := dialRaw(t, b.addr)
	produceAcksZero(bad, "missing-topic", batch("lost"), 1)
	bad.expectClosed()

	// A bad batch on a topic that exists closes it too.
	corrupt := batch("x")
	corrupt[len(corrupt)-1] ^= 0xff
	bad2 := dialRaw(t, b.addr)
	produceAcksZero(bad2, "acks0", corrupt, 1)
	bad2.expectClosed()

	// So does a failed mirror append (mirror appends need acks 1 or -1).
	mirror := dialRaw(t, b.addr)
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, 0, 5000
	req.UnknownTags.Set(config.MirrorAppendTag, nil)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "acks0"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch("copied")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	mirror.request(req, 1)
	mirror.expectClosed()
}

// LogValidator skips records without a timestamp (-1) in the KIP-937
// checks, and a large message.timestamp.after.max.ms (or before) must not
// overflow into refusing current records.
func TestProduceTimestampBoundsKafkaSemantics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	huge := strconv.FormatInt(math.MaxInt64-1, 10)
	b.createTopic("tight", 1, map[string]*string{
		"message.timestamp.before.max.ms": ptr("60000"),
		"message.timestamp.after.max.ms":  ptr("60000"),
	})
	b.createTopic("wide", 1, map[string]*string{
		"message.timestamp.before.max.ms": ptr(huge),
		"message.timestamp.after.max.ms":  ptr(huge),
	})
	// The deprecated difference.max.ms applies where before.max.ms and
	// after.max.ms are not set; where they are, they win (Kafka 3.6-3.9).
	b.createTopic("difference", 1, map[string]*string{"message.timestamp.difference.max.ms": ptr("1000")})
	b.createTopic("difference-before", 1, map[string]*string{
		"message.timestamp.difference.max.ms": ptr("1000"),
		"message.timestamp.before.max.ms":     ptr("3600000"),
	})
	cl := b.client()
	now := time.Now().UnixMilli()
	tests := []struct {
		topic string
		base  int64
		want  *kerr.Error
	}{
		{"tight", -1, nil}, // a single record with NO_TIMESTAMP
		{"tight", now, nil},
		{"tight", now - 3_600_000, kerr.InvalidTimestamp},
		{"tight", now + 3_600_000, kerr.InvalidTimestamp},
		{"wide", now, nil},
		{"wide", 0, nil},
		{"wide", now + 86_400_000, nil},
		{"difference", now - 10_000, kerr.InvalidTimestamp},
		{"difference", now + 10_000, kerr.InvalidTimestamp},
		{"difference-before", now - 10_000, nil},
		{"difference-before", now + 10_000, kerr.InvalidTimestamp},
	}
	for _, tt := range tests {
		p := produceRaw(t, cl, tt.topic, 0, buildBatch(t, record.BuildOptions{BaseTimestamp: tt.base}, nil, "v"))
		if want := codeOf(tt.want); p.ErrorCode != want {
			t.Errorf("%s, timestamp %d: error %v, want %v (%v)", tt.topic, tt.base, kerr.ErrorForCode(p.ErrorCode), tt.want, str(p.ErrorMessage))
		}
	}
}

func codeOf(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

func str(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// LogValidator refuses a producer's batch marked LogAppendTime
// (INVALID_TIMESTAMP, every record named, KIP-467) and one with a producer
// ID but no base sequence (INVALID_RECORD), and names every keyless record
// of a batch on a compacted topic.
func TestProduceBatchRulesKafkaSemantics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	b.createTopic("plain", 1, nil)
	b.createTopic("compacted", 1, map[string]*string{"cleanup.policy": ptr("compact")})
	cl := b.client()
	now := time.Now().UnixMilli()

	lat := buildBatch(t, record.BuildOptions{BaseTimestamp: now, LogAppendTime: true, MaxTimestamp: now + 1}, nil, "a", "b")
	p := produceRaw(t, cl, "plain", 0, lat)
	if p.ErrorCode != kerr.InvalidTimestamp.Code {
		t.Errorf("LogAppendTime batch: error %v, want INVALID_TIMESTAMP", kerr.ErrorForCode(p.ErrorCode))
	}
	wantRecordErrors(t, "LogAppendTime batch", p, 0, 1)

	noSeq := buildBatch(t, record.BuildOptions{BaseTimestamp: now, Producer: &record.Producer{ID: 5, Epoch: 0, BaseSequence: -1}}, nil, "a")
	if p := produceRaw(t, cl, "plain", 0, noSeq); p.ErrorCode != kerr.InvalidRecord.Code {
		t.Errorf("producer ID without sequence: error %v, want INVALID_RECORD", kerr.ErrorForCode(p.ErrorCode))
	}

	keyless := buildBatch(t, record.BuildOptions{BaseTimestamp: now}, []string{"k", "", ""}, "a", "b", "c")
	p = produceRaw(t, cl, "compacted", 0, keyless)
	if p.ErrorCode != kerr.InvalidRecord.Code {
		t.Errorf("keyless records on a compacted topic: error %v, want INVALID_RECORD", kerr.ErrorForCode(p.ErrorCode))
	}
	wantRecordErrors(t, "keyless records", p, 1, 2)

	// Nothing was stored.
	if p := produceRaw(t, cl, "plain", 0, batch("ok")); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch after refused ones: error %v offset %d, want offset 0", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
}

func wantRecordErrors(t *testing.T, what string, p kmsg.ProduceResponseTopicPartition, indexes ...int32) {
	t.Helper()
	var got []int32
	for _, r := range p.ErrorRecords {
		got = append(got, r.RelativeOffset)
		if r.ErrorMessage == nil || *r.ErrorMessage == "" {
			t.Errorf("%s: record error %d has no message", what, r.RelativeOffset)
		}
	}
	if len(got) != len(indexes) {
		t.Fatalf("%s: record errors at %v, want %v", what, got, indexes)
	}
	for i := range got {
		if got[i] != indexes[i] {
			t.Fatalf("%s: record errors at %v, want %v", what, got, indexes)
		}
	}
}

// A retried batch on a LogAppendTime topic is answered with the time it
// was stamped with the first time, as Kafka answers a duplicate with the
// original batch's metadata.
func TestProduceDuplicateKeepsLogAppendTime(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	b.createTopic("lat", 1, map[string]*string{"message.timestamp.type": ptr("LogAppendTime")})
	cl := b.client()
	pid, epoch := initProducerID(t, cl)
	first := produceRaw(t, cl, "lat", 0, idempotentBatch(pid, epoch, 0, 2))
	if first.ErrorCode != 0 || first.LogAppendTime <= 0 {
		t.Fatalf("first append: error %v, log append time %d", kerr.ErrorForCode(first.ErrorCode), first.LogAppendTime)
	}
	for time.Now().UnixMilli() <= first.LogAppendTime+1 {
		time.Sleep(time.Millisecond) // the broker's clock must move on
	}
	retry := produceRaw(t, cl, "lat", 0, idempotentBatch(pid, epoch, 0, 2))
	if retry.ErrorCode != 0 || retry.BaseOffset != first.BaseOffset || retry.LogAppendTime != first.LogAppendTime {
		t.Fatalf("retry: error %v, offset %d, log append time %d; want offset %d, time %d",
			kerr.ErrorForCode(retry.ErrorCode), retry.BaseOffset, retry.LogAppendTime, first.BaseOffset, first.LogAppendTime)
	}
}

// fetchStored returns the batches stored in partition 0 of topic from
// offset 0.
func fetchStored(t testing.TB, b *broker, topic string) []byte {
	t.Helper()
	cl := b.client()
	details, err := b.admin().ListTopics(testContext(t, 10*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.MaxWaitMillis = -1, 10<<20, 100
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, details[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 10 << 20
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch %s: %v", topic, kerr.ErrorForCode(p.ErrorCode))
	}
	return p.RecordBatches
}

// A topic's compression.type other than "producer" has Kafka recompress
// every batch in another codec; the records (keys, values, headers,
// timestamps) and the producer fields are kept.
func TestProduceRecompressesToTopicCompressionType(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	cl := b.client()
	now := time.Now().UnixMilli()
	recs := []record.Record{
		{OffsetDelta: 0, TimestampDelta: 0, Key: []byte("k0"), Value: bytes.Repeat([]byte("value "), 50), Headers: []record.RecordHeader{{Key: "h", Value: []byte("hv")}}},
		{OffsetDelta: 1, TimestampDelta: 7, Value: []byte("second")},
	}
	for _, tc := range []struct {
		topicType string
		from      record.Codec
		want      record.Codec
		level     string
	}{
		{"zstd", record.CodecLZ4, record.CodecZstd, "7"},
		{"uncompressed", record.CodecGzip, record.CodecNone, ""},
		{"gzip", record.CodecNone, record.CodecGzip, "1"},
		{"lz4", record.CodecSnappy, record.CodecLZ4, "12"},
		{"snappy", record.CodecZstd, record.CodecSnappy, ""},
		{"producer", record.CodecGzip, record.CodecGzip, ""},
		{"gzip", record.CodecGzip, record.CodecGzip, ""},
	} {
		name := "to-" + tc.topicType + "-from-" + tc.from.String()
		configs := map[string]*string{"compression.type": ptr(tc.topicType)}
		if tc.level != "" {
			configs["compression."+tc.topicType+".level"] = ptr(tc.level)
		}
		b.createTopic(name, 1, configs)
		sent, err := record.Build(record.BuildOptions{BaseTimestamp: now, Codec: tc.from, Producer: &record.Producer{ID: 11, Epoch: 2, BaseSequence: 0}}, recs)
		if err != nil {
			t.Fatal(err)
		}
		if p := produceRaw(t, cl, name, 0, sent); p.ErrorCode != 0 {
			t.Fatalf("%s: produce: %v %s", name, kerr.ErrorForCode(p.ErrorCode), str(p.ErrorMessage))
		}
		stored := fetchStored(t, b, name)
		h, err := record.Validate(stored)
		if err != nil {
			t.Fatalf("%s: stored batch: %v", name, err)
		}
		if h.Size() != len(stored) {
			t.Fatalf("%s: fetched %d bytes, the batch is %d", name, len(stored), h.Size())
		}
		if h.Codec() != tc.want {
			t.Errorf("%s: stored codec %s, want %s", name, h.Codec(), tc.want)
		}
		if h.ProducerID != 11 || h.ProducerEpoch != 2 || h.BaseSequence != 0 || h.BaseTimestamp != now || h.MaxTimestamp != now+7 || h.RecordCount != 2 || h.LastOffsetDelta != 1 {
			t.Errorf("%s: stored header %+v changed", name, h)
		}
		got, err := record.NewCodecs().Records(stored, 1<<20)
		if err != nil {
			t.Fatalf("%s: stored records: %v", name, err)
		}
		if len(got) != 2 || !bytes.Equal(got[0].Key, recs[0].Key) || !bytes.Equal(got[0].Value, recs[0].Value) ||
			len(got[0].Headers) != 1 || got[0].Headers[0].Key != "h" || !bytes.Equal(got[0].Headers[0].Value, []byte("hv")) ||
			got[1].Key != nil || !bytes.Equal(got[1].Value, recs[1].Value) || got[1].TimestampDelta != 7 || got[1].OffsetDelta != 1 {
			t.Errorf("%s: stored records differ from the produced ones: %+v", name, got)
		}
	}

	// A consumer reads the recompressed records.
	cons := b.client(kgo.ConsumeTopics("to-zstd-from-lz4"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fetches := cons.PollRecords(testContext(t, 10*time.Second), 2)
	if errs := fetches.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if rs := fetches.Records(); len(rs) != 2 || string(rs[1].Value) != "second" || rs[1].Timestamp.UnixMilli() != now+7 {
		t.Fatalf("consumed %d records", len(rs))
	}
}

// Kafka checks max.message.bytes again after recompressing: a batch that
// grows past it is MESSAGE_TOO_LARGE.
func TestProduceRecompressedOverMaxMessageBytes(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	cl := b.client()
	random := make([]byte, 1500)
	rand.Read(random)
	sent := buildBatch(t, record.BuildOptions{BaseTimestamp: time.Now().UnixMilli()}, nil, string(random))
	if z, _ := record.Compress(record.CodecZstd, sent[record.HeaderSize:]); len(z) <= len(sent)-record.HeaderSize {
		t.Fatalf("zstd made random bytes smaller (%d from %d)", len(z), len(sent)-record.HeaderSize)
	}
	b.createTopic("grows", 1, map[string]*string{"compression.type": ptr("zstd"), "max.message.bytes": ptr(strconv.Itoa(len(sent)))})
	if p := produceRaw(t, cl, "grows", 0, sent); p.ErrorCode != kerr.MessageTooLarge.Code {
		t.Fatalf("batch grown by recompression: error %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(p.ErrorCode))
	}
}
