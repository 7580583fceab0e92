package test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluice-io/sluice/internal/record"
)

// rawConn is a bare TCP connection to the broker for sending bytes no
// client library would send.
type rawConn struct {
	t  testing.TB
	nc net.Conn
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, nc: nc}
}

func (c *rawConn) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// request frames and sends a kmsg request with header v1 or v2.
func (c *rawConn) request(req kmsg.Request, corr int32) {
	c.t.Helper()
	body := []byte{0, 0, 0, 0}
	body = binary.BigEndian.AppendUint16(body, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.GetVersion()))
	body = binary.BigEndian.AppendUint32(body, uint32(corr))
	body = binary.BigEndian.AppendUint16(body, 4)
	body = append(body, "test"...)
	if req.IsFlexible() {
		body = append(body, 0)
	}
	body = req.AppendTo(body)
	binary.BigEndian.PutUint32(body, uint32(len(body)-4))
	c.write(body)
}

// response reads one response frame and returns its body after the
// correlation ID (and the tag byte, for flexible responses).
func (c *rawConn) response(flexibleHeader bool) (int32, []byte) {
	c.t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		c.t.Fatalf("read response size: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.nc, b); err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(b))
	b = b[4:]
	if flexibleHeader {
		b = b[1:]
	}
	return corr, b
}

// expectClosed asserts that the broker closes the connection.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf [1]byte
	_, err := c.nc.Read(buf[:])
	if err == nil {
		c.t.Fatal("connection still open, want it closed")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("connection still open after 10s, want it closed")
	}
}

// stillServes checks that a well-behaved client is served.
func stillServes(t testing.TB, cl *kgo.Client, topic string) {
	t.Helper()
	ctx := testContext(t, 10*time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatalf("second client failed: %v", err)
	}
}

func TestBadInputClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("bystander", 1, nil)
	good := b.client()
	stillServes(t, good, "bystander")

	t.Run("oversized size prefix", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		c.write([]byte{0x7f, 0xff, 0xff, 0xff})
		c.expectClosed()
		stillServes(t, good, "bystander")
	})
	t.Run("negative size prefix", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		c.write([]byte{0xff, 0xff, 0xff, 0xfe, 1, 2, 3})
		c.expectClosed()
		stillServes(t, good, "bystander")
	})
	t.Run("truncated frame", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		c.write([]byte{0, 0, 0, 100, 0, 3, 0, 1, 0, 0})
		c.nc.(*net.TCPConn).CloseWrite()
		c.expectClosed()
		stillServes(t, good, "bystander")
	})
	t.Run("random garbage", func(t *testing.T) {
		rng := rand.New(rand.NewSource(1))
		for i := 0; i < 20; i++ {
			c := dialRaw(t, b.addr)
			garbage := make([]byte, 64+rng.Intn(512))
			rng.Read(garbage)
			binary.BigEndian.PutUint32(garbage, uint32(len(garbage)-4))
			c.write(garbage)
			c.nc.(*net.TCPConn).CloseWrite()
			// Either a response or a close; the broker must not hang or die.
			c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, c.nc)
		}
		stillServes(t, good, "bystander")
	})
	t.Run("unknown api key", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		frame := []byte{0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0}
		c.write(frame)
		c.expectClosed()
		stillServes(t, good, "bystander")
	})
	t.Run("unsupported produce version", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		req := kmsg.NewPtrProduceRequest()
		req.Version = 1
		c.request(req, 1)
		c.expectClosed()
		stillServes(t, good, "bystander")
	})
	t.Run("future ApiVersions answered at v0", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = 99
		// A v99 request would use header v2.
		frame := []byte{0, 0, 0, 0, 0, 18, 0, 99, 0, 0, 0, 42, 0, 4, 't', 'e', 's', 't', 0, 0}
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		c.write(frame)
		corr, body := c.response(false)
		if corr != 42 {
			t.Fatalf("correlation id %d, want 42", corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("decode v0 response: %v", err)
		}
		// KIP-511, as Kafka answers: ApiVersions' own versions alone, so
		// the client asks again at v4 and gets the whole answer.
		if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 || resp.ApiKeys[0].MaxVersion != 4 {
			t.Fatalf("error %d with keys %+v, want UNSUPPORTED_VERSION with ApiVersions 0-4 alone", resp.ErrorCode, resp.ApiKeys)
		}
	})
	t.Run("malformed body", func(t *testing.T) {
		c := dialRaw(t, b.addr)
		// Metadata v1 whose topic array claims 1000 entries in 2 bytes.
		frame := []byte{0, 0, 0, 0, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0x03, 0xe8, 0, 1}
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		c.write(frame)
		c.expectClosed()
		stillServes(t, good, "bystander")
	})
}

// batch builds a valid uncompressed v2 batch of one record.
func batch(value string) []byte {
	rec := kmsg.Record{Value: []byte(value)}
	// Length covers the record after its own varint; with Length 0 that
	// varint is one byte.
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	recBytes := rec.AppendTo(nil)
	rb := kmsg.RecordBatch{
		Magic:           2,
		LastOffsetDelta: 0,
		FirstTimestamp:  time.Now().UnixMilli(),
		MaxTimestamp:    time.Now().UnixMilli(),
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      1,
		Records:         recBytes,
	}
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

func produceRaw(t testing.TB, cl *kgo.Client, topic string, partition int32, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("produce request: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

func TestProduceErrorsPerPartition(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	b.createTopic("strict", 2, map[string]*string{"max.message.bytes": ptr("2000")})
	b.createTopic("short-segments", 1, map[string]*string{"max.message.bytes": ptr("8000"), "segment.bytes": ptr("2048")})
	cl := b.client()

	good := batch("hello")
	if p := produceRaw(t, cl, "strict", 0, good); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch: error %d offset %d", p.ErrorCode, p.BaseOffset)
	}
	corrupt := batch("hello")
	corrupt[len(corrupt)-1] ^= 0xff
	twoBatches := append(batch("a"), batch("b")...)
	badMagic := batch("x")
	badMagic[16] = 1
	tooLarge := batch(string(make([]byte, 3000)))
	short := batch("hello")[:40]
	// A record that does not decode (a header count of 1 with no header
	// after it) in a batch whose CRC covers it.
	badRecord := batch("hello")
	badRecord[len(badRecord)-1] = 1
	binary.BigEndian.PutUint32(badRecord[17:], crc32.Checksum(badRecord[21:], crc32.MakeTable(crc32.Castagnoli)))
	tests := []struct {
		name      string
		topic     string
		partition int32
		records   []byte
		want      *kerr.Error
	}{
		// A CRC mismatch is the one defect clients retry; what the
		// producer checksummed wrong is INVALID_RECORD, as in Kafka.
		{"crc mismatch", "strict", 0, corrupt, kerr.CorruptMessage},
		{"magic 1", "strict", 0, badMagic, kerr.InvalidRecord},
		{"truncated batch", "strict", 0, short, kerr.InvalidRecord},
		{"record that does not decode", "strict", 0, badRecord, kerr.InvalidRecord},
		{"over segment.bytes", "short-segments", 0, tooLarge, kerr.RecordListTooLarge},
		{"two batches", "strict", 0, twoBatches, kerr.InvalidRecord},
		{"missing partition", "strict", 7, good, kerr.UnknownTopicOrPartition},
		{"missing topic", "nope", 0, good, kerr.UnknownTopicOrPartition},
		{"over max.message.bytes", "strict", 1, tooLarge, kerr.MessageTooLarge},
	}
	for _, tt := range tests {
		p := produceRaw(t, cl, tt.topic, tt.partition, tt.records)
		if p.ErrorCode != tt.want.Code {
			t.Errorf("%s: error %v, want %v", tt.name, kerr.ErrorForCode(p.ErrorCode), tt.want)
		}
	}
	// zstd needs produce v7 (KIP-110): a client speaking Kafka 2.0's v6
	// gets UNSUPPORTED_COMPRESSION_TYPE.
	zstd, err := record.Build(record.BuildOptions{Codec: record.CodecZstd, BaseTimestamp: time.Now().UnixMilli()}, []record.Record{{Value: []byte("z")}})
	if err != nil {
		t.Fatal(err)
	}
	old := b.client(kgo.MaxVersions(kversion.V2_0_0()))
	if p := produceRaw(t, old, "strict", 1, zstd); p.ErrorCode != kerr.UnsupportedCompressionType.Code {
		t.Errorf("zstd on produce v6: error %v, want UNSUPPORTED_COMPRESSION_TYPE", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := produceRaw(t, cl, "strict", 1, zstd); p.ErrorCode != 0 {
		t.Errorf("zstd on the latest produce: error %v", kerr.ErrorForCode(p.ErrorCode))
	}
	// Nothing bad was stored: partition 0 still holds exactly the good batch.
	if p := produceRaw(t, cl, "strict", 0, batch("again")); p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("after bad batches: error %d offset %d, want offset 1", p.ErrorCode, p.BaseOffset)
	}
}

func ptr[T any](v T) *T { return &v }
