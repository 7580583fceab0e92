package test

// Idempotent produce (KIP-98): a retried batch is stored once and answered
// with its first offsets, a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER, a
// fenced epoch is INVALID_PRODUCER_EPOCH, a new epoch starts at sequence 0,
// and the producer state survives a restart. Batches are built by hand so
// that retries are exact byte-for-byte repeats.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/node"
)

// idempotentValue is the value of the record with sequence seq.
func idempotentValue(epoch int16, seq int32) string { return fmt.Sprintf("e%d-s%d", epoch, seq) }

// idempotentBatch builds an uncompressed v2 batch of n records from
// producer pid at epoch, with sequences seq..seq+n-1. Record i holds
// idempotentValue(epoch, seq+i).
func idempotentBatch(pid int64, epoch int16, seq int32, n int) []byte {
	now := time.Now().UnixMilli()
	var records []byte
	for i := 0; i < n; i++ {
		rec := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Value: []byte(idempotentValue(epoch, seq+int32(i)))}
		// kmsg writes Length as given; encode with 0 (one byte) and
		// prefix the real length of the rest.
		body := rec.AppendTo(nil)[1:]
		records = binary.AppendVarint(records, int64(len(body)))
		records = append(records, body...)
	}
	rb := kmsg.RecordBatch{
		Magic:           2,
		LastOffsetDelta: int32(n - 1),
		FirstTimestamp:  now,
		MaxTimestamp:    now + int64(n-1),
		ProducerID:      pid,
		ProducerEpoch:   epoch,
		FirstSequence:   seq,
		NumRecords:      int32(n),
		Records:         records,
	}
	raw := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// initProducerID gets a new idempotent producer ID.
func initProducerID(t testing.TB, cl *kgo.Client) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil {
		t.Fatalf("init producer id: %v", err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("init producer id: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if resp.ProducerID < 0 || resp.ProducerEpoch != 0 {
		t.Fatalf("init producer id gave id %d epoch %d", resp.ProducerID, resp.ProducerEpoch)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func TestIdempotentRetryStoredOnce(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("idem", 1, nil)
	cl := b.client()
	pid, _ := initProducerID(t, cl)
	pid2, _ := initProducerID(t, cl)
	if pid2 == pid {
		t.Fatalf("two InitProducerId calls gave the same id %d", pid)
	}

	// want lists the values the log must hold, by offset.
	var want []string
	// send produces a batch and checks its error and base offset.
	send := func(cl *kgo.Client, step string, epoch int16, seq int32, n int, wantErr *kerr.Error, wantBase int64) {
		t.Helper()
		p := produceRaw(t, cl, "idem", 0, idempotentBatch(pid, epoch, seq, n))
		if wantErr != nil {
			if p.ErrorCode != wantErr.Code {
				t.Fatalf("%s: error %v, want %v", step, kerr.ErrorForCode(p.ErrorCode), wantErr)
			}
			return
		}
		if p.ErrorCode != 0 || p.BaseOffset != wantBase {
			t.Fatalf("%s: error %v base offset %d, want no error at %d", step, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, wantBase)
		}
		if wantBase == int64(len(want)) {
			for i := 0; i < n; i++ {
				want = append(want, idempotentValue(epoch, seq+int32(i)))
			}
		}
	}
	expectEnd := func(cl *kgo.Client, step string) {
		t.Helper()
		if end := endOffsets(t, cl, "idem")[0]; end != int64(len(want)) {
			t.Fatalf("%s: end offset %d, want %d", step, end, len(want))
		}
	}

	send(cl, "first batch", 0, 0, 3, nil, 0)
	send(cl, "retry of the first batch", 0, 0, 3, nil, 0)
	expectEnd(cl, "after the retry")
	send(cl, "second batch", 0, 3, 2, nil, 3)
	send(cl, "retry of the first batch, one batch later", 0, 0, 3, nil, 0)
	send(cl, "retry of the second batch", 0, 3, 2, nil, 3)
	expectEnd(cl, "after two retries")
	send(cl, "sequence gap", 0, 10, 1, kerr.OutOfOrderSequenceNumber, 0)
	send(cl, "sequence overlapping the last batch", 0, 4, 2, kerr.OutOfOrderSequenceNumber, 0)
	expectEnd(cl, "after refused sequences")
	send(cl, "next in sequence", 0, 5, 1, nil, 5)

	send(cl, "new epoch not starting at 0", 1, 6, 1, kerr.OutOfOrderSequenceNumber, 0)
	send(cl, "new epoch at sequence 0", 1, 0, 2, nil, 6)
	send(cl, "older epoch after a newer one", 0, 6, 1, kerr.InvalidProducerEpoch, 0)
	send(cl, "retry of an old epoch's batch", 0, 5, 1, kerr.InvalidProducerEpoch, 0)
	send(cl, "retry in the new epoch", 1, 0, 2, nil, 6)
	expectEnd(cl, "before restart")

	// The producer state survives a clean restart.
	b.restart()
	cl = b.client()
	send(cl, "retry after restart", 1, 0, 2, nil, 6)
	expectEnd(cl, "after the retry after restart")
	send(cl, "gap after restart", 1, 5, 1, kerr.OutOfOrderSequenceNumber, 0)
	send(cl, "old epoch after restart", 0, 6, 1, kerr.InvalidProducerEpoch, 0)
	send(cl, "next in sequence after restart", 1, 2, 3, nil, 8)
	send(cl, "its retry", 1, 2, 3, nil, 8)
	expectEnd(cl, "at the end")

	// Producer IDs are never handed out twice, even across a restart.
	if pid3, _ := initProducerID(t, cl); pid3 == pid || pid3 == pid2 {
		t.Fatalf("after restart InitProducerId reused id %d", pid3)
	}

	got := consumeAll(t, b.addr, "idem", len(want))
	if len(got) != len(want) {
		t.Fatalf("consumed %d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		if r.Offset != int64(i) || string(r.Value) != want[i] {
			t.Fatalf("record %d: %q at offset %d, want %q", i, r.Value, r.Offset, want[i])
		}
		if r.ProducerID != pid {
			t.Fatalf("record %d: producer id %d, want %d", i, r.ProducerID, pid)
		}
	}
}

// TestFranzGoIdempotentDefaults produces with franz-go's defaults, which
// are idempotent, through a proxy that drops some Produce responses so
// that the client retries batches the broker already stored.
func TestFranzGoIdempotentDefaults(t *testing.T) {
	t.Parallel()
	b, proxy := brokerBehindProxy(t, 3, 8)
	b.createTopic("idem-franz", 4, nil)
	// franz-go is idempotent by default. Smaller batches than its default
	// make many Produce requests, of which the proxy drops a few.
	cl := b.client(kgo.ProducerBatchMaxBytes(16 << 10))
	ctx := testContext(t, 2*time.Minute)

	const producers, each = 4, 12_500
	var mu sync.Mutex
	acked := make(map[string]tpo, producers*each)
	var firstErr error
	var wg sync.WaitGroup
	for g := 0; g < producers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var inner sync.WaitGroup
			for i := 0; i < each; i++ {
				v := fmt.Sprintf("g%d-%05d", g, i)
				inner.Add(1)
				cl.Produce(ctx, &kgo.Record{Topic: "idem-franz", Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
					defer inner.Done()
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						if firstErr == nil {
							firstErr = err
						}
						return
					}
					if _, dup := acked[string(r.Value)]; dup {
						if firstErr == nil {
							firstErr = fmt.Errorf("record %s acknowledged twice", r.Value)
						}
					}
					acked[string(r.Value)] = tpo{r.Partition, r.Offset}
				})
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	if len(acked) != producers*each {
		t.Fatalf("%d records acknowledged, want %d", len(acked), producers*each)
	}
	if proxy.drops.Load() == 0 {
		t.Fatalf("the proxy dropped no Produce response (of %d), so nothing was retried", proxy.produces.Load())
	}
	t.Logf("%d of %d Produce responses dropped", proxy.drops.Load(), proxy.produces.Load())
	at := make(map[tpo]string, len(acked))
	for v, p := range acked {
		if other, dup := at[p]; dup {
			t.Fatalf("%s and %s both acknowledged at %d/%d", v, other, p.partition, p.offset)
		}
		at[p] = v
	}
	var total int64
	for _, o := range endOffsets(t, cl, "idem-franz") {
		total += o
	}
	if total != producers*each {
		t.Fatalf("log holds %d records, %d produced", total, producers*each)
	}

	consumed := consumeAll(t, b.addr, "idem-franz", producers*each)
	seen := make(map[string]bool, len(consumed))
	var pid int64 = -1
	for _, r := range consumed {
		v := string(r.Value)
		if seen[v] {
			t.Fatalf("record %s stored twice", v)
		}
		seen[v] = true
		if want, ok := acked[v]; !ok || want != (tpo{r.Partition, r.Offset}) {
			t.Fatalf("record %s at %d/%d, acknowledged at %d/%d", v, r.Partition, r.Offset, want.partition, want.offset)
		}
		// Every batch carries the client's producer ID: it was idempotent.
		if r.ProducerID < 0 || (pid >= 0 && r.ProducerID != pid) {
			t.Fatalf("record %s has producer id %d (first seen %d)", v, r.ProducerID, pid)
		}
		pid = r.ProducerID
	}
	if len(seen) != producers*each {
		t.Fatalf("consumed %d distinct records, want %d", len(seen), producers*each)
	}
}

// startBrokerAdvertising starts a broker that tells clients to connect to
// advertise instead of its own listener.
func startBrokerAdvertising(t testing.TB, settings map[string]string, advertise string) *broker {
	t.Helper()
	b := &broker{t: t, dataDir: t.TempDir()}
	b.cfg = node.Config{
		NodeID:    1,
		Listen:    "127.0.0.1:0",
		Advertise: advertise,
		DataDir:   b.dataDir,
		Settings:  settings,
		Logger:    testLogger(t),
	}
	b.start()
	t.Cleanup(b.stop)
	return b
}

// faultyProxy forwards Kafka connections to a broker and, on every
// dropEvery-th Produce response (up to maxDrops of them), closes the
// connection instead of forwarding it: the broker has appended the batch
// and the client never hears so, and retries it. An idempotent producer's
// retry must then be stored once.
type faultyProxy struct {
	ln        net.Listener
	target    string
	dropEvery int64
	maxDrops  int64
	produces  atomic.Int64
	drops     atomic.Int64

	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// newFaultyProxy listens on a loopback port; serve starts forwarding.
func newFaultyProxy(t testing.TB, dropEvery, maxDrops int64) *faultyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultyProxy{ln: ln, dropEvery: dropEvery, maxDrops: maxDrops, done: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	t.Cleanup(p.close)
	return p
}

func (p *faultyProxy) addr() string { return p.ln.Addr().String() }

// brokerBehindProxy starts a broker that advertises a faulty proxy in
// front of it, so that clients reach it only through the proxy.
func brokerBehindProxy(t testing.TB, dropEvery, maxDrops int64) (*broker, *faultyProxy) {
	t.Helper()
	p := newFaultyProxy(t, dropEvery, maxDrops)
	b := startBrokerAdvertising(t, nil, p.addr())
	p.serve(b.addr)
	return b, p
}

func (p *faultyProxy) serve(target string) {
	p.target = target
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c)
			}()
		}
	}()
}

func (p *faultyProxy) close() {
	close(p.done)
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *faultyProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return false
	default:
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *faultyProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

// readFrame reads one size-prefixed Kafka frame, prefix included.
func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 200<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	frame := make([]byte, 4+n)
	copy(frame, size[:])
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}

func (p *faultyProxy) shouldDrop() bool {
	n := p.produces.Add(1)
	if n%p.dropEvery != 0 {
		return false
	}
	if p.drops.Add(1) > p.maxDrops {
		p.drops.Add(-1)
		return false
	}
	return true
}

// handle forwards one client connection. Responses come back in request
// order, so the API key of each request, queued in order, names the
// response it pairs with. (Our clients never send acks=0 produce requests,
// which get no response.)
func (p *faultyProxy) handle(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		client.Close()
		server.Close()
		return
	}
	defer p.untrack(client, server)
	keys := make(chan int16, 4096)
	stop := make(chan struct{})
	defer close(stop)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer server.Close()
		for {
			frame, err := readFrame(client)
			if err != nil || len(frame) < 6 {
				return
			}
			select {
			case keys <- int16(binary.BigEndian.Uint16(frame[4:])):
			case <-stop:
				return
			}
			if _, err := server.Write(frame); err != nil {
				return
			}
		}
	}()
	for {
		frame, err := readFrame(server)
		if err != nil {
			return
		}
		var key int16
		select {
		case key = <-keys:
		case <-stop:
			return
		}
		if key == 0 && p.shouldDrop() {
			return // the deferred untrack closes both sides
		}
		if _, err := client.Write(frame); err != nil {
			return
		}
	}
}
