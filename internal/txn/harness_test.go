package txn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
)

// fakeClock is the coordinator's clock in tests: it moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeLog is __transaction_state in memory: every partition's batches, and
// errors to answer the next appends with.
type fakeLog struct {
	mu      sync.Mutex
	batches map[int32][][]byte
	end     map[int32]int64
	fail    []error
	// readGate, when set, blocks Read until it is closed (a slow load).
	readGate chan struct{}
	reading  chan struct{}
	// stall, when set, makes Append wait until its context ends once it
	// has appended, as a leader whose followers stopped copying it does.
	stall bool
}

func newFakeLog() *fakeLog {
	return &fakeLog{batches: make(map[int32][][]byte), end: make(map[int32]int64)}
}

func (l *fakeLog) Append(ctx context.Context, partition int32, batch []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fail) > 0 {
		err := l.fail[0]
		l.fail = l.fail[1:]
		return -1, err
	}
	h, err := record.Validate(batch)
	if err != nil {
		return -1, err
	}
	b := slices.Clone(batch)
	off := l.end[partition]
	record.SetBaseOffset(b, off)
	l.batches[partition] = append(l.batches[partition], b)
	l.end[partition] = off + int64(h.LastOffsetDelta) + 1
	if l.stall {
		l.mu.Unlock()
		<-ctx.Done()
		l.mu.Lock()
		return -1, ctx.Err()
	}
	return off, nil
}

func (l *fakeLog) Read(partition int32, offset int64, maxBytes int) ([]byte, error) {
	l.mu.Lock()
	gate, reading := l.readGate, l.reading
	l.mu.Unlock()
	if gate != nil {
		if reading != nil {
			close(reading)
		}
		<-gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches[partition] {
		h, err := record.ParseHeader(b)
		if err != nil {
			return nil, err
		}
		if h.LastOffset() >= offset {
			out = append(out, b...)
		}
	}
	return out, nil
}

func (l *fakeLog) Bounds(partition int32) (int64, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return 0, l.end[partition], nil
}

// put appends raw bytes as a partition's whole content (for replay tests).
func (l *fakeLog) put(partition int32, b []byte, end int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.batches[partition] = [][]byte{b}
	l.end[partition] = end
}

// written is one record the coordinator wrote.
type written struct {
	id    string
	value *kmsg.TxnMetadataValue // nil for a tombstone
}

func (l *fakeLog) records(t *testing.T, partition int32) []written {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []written
	for _, b := range l.batches[partition] {
		recs, err := record.NewCodecs().Records(b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var k kmsg.TxnMetadataKey
			if err := k.ReadFrom(r.Key); err != nil {
				t.Fatal(err)
			}
			w := written{id: k.TransactionalID}
			if r.Value != nil {
				w.value = new(kmsg.TxnMetadataValue)
				if err := w.value.ReadFrom(r.Value); err != nil {
					t.Fatal(err)
				}
			}
			out = append(out, w)
		}
	}
	return out
}

// fakeMarkers records marker requests and fails the first failures of them
// (or every one, with failures < 0). block, when set, holds Write until it
// is closed or ctx ends.
type fakeMarkers struct {
	mu       sync.Mutex
	reqs     []MarkerRequest
	failures int
	block    chan struct{}
	calls    chan struct{} // receives a value per call, when set
	err      error         // what a failure returns; nil: NOT_ENOUGH_REPLICAS
}

func (m *fakeMarkers) Write(ctx context.Context, r MarkerRequest) error {
	m.mu.Lock()
	m.reqs = append(m.reqs, r)
	block, calls, failErr := m.block, m.calls, m.err
	fail := m.failures != 0
	if m.failures > 0 {
		m.failures--
	}
	m.mu.Unlock()
	if calls != nil {
		select {
		case calls <- struct{}{}:
		default:
		}
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		if failErr != nil {
			return fmt.Errorf("markers: %w", failErr)
		}
		return fmt.Errorf("markers: %w", kerr.NotEnoughReplicas)
	}
	return nil
}

func (m *fakeMarkers) requests() []MarkerRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.reqs)
}

const (
	testPartitions = 3
	testEpoch      = 7
	groupPartition = 11
)

type harness struct {
	t       *testing.T
	c       *Coordinator
	log     *fakeLog
	markers *fakeMarkers
	clock   *fakeClock
	ctx     context.Context
	allocs  int64
	exists  func(topic string, partition int32) bool
}

func newHarness(t *testing.T) *harness {
	return newHarnessWith(t, newFakeLog(), func(*Config) {})
}

func newHarnessWith(t *testing.T, log *fakeLog, configure func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, log: log, markers: &fakeMarkers{},
		clock: &fakeClock{now: time.UnixMilli(1_700_000_000_000)}, ctx: context.Background()}
	cfg := Config{
		Partitions: testPartitions,
		Log:        log,
		Markers:    h.markers,
		ProducerIDs: NewProducerIDs(func(ctx context.Context, n int64) (int64, error) {
			h.allocs++
			return h.allocs * 1000, nil
		}),
		GroupPartition:  func(string) int32 { return groupPartition },
		PartitionExists: func(topic string, _ int32) bool { return topic != "missing" },
		Now:             h.clock.Now,
		MaxTimeout:      time.Minute,
		IDExpiration:    time.Hour,
	}
	configure(&cfg)
	h.c = New(cfg)
	h.c.c.minBackoff, h.c.c.maxBackoff = time.Millisecond, time.Millisecond
	t.Cleanup(h.c.c.stop)
	for p := int32(0); p < h.c.c.cfg.Partitions; p++ {
		if err := h.c.Load(h.ctx, p, testEpoch); err != nil {
			t.Fatal(err)
		}
	}
	h.wait()
	return h
}

// wait returns once the coordinator's background work (markers and
// completions) is done.
func (h *harness) wait() { h.c.c.bg.Wait() }

func (h *harness) init(id string, version int16, producerID int64, epoch int16) *kmsg.InitProducerIDResponse {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = version
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = 10_000
	req.ProducerID, req.ProducerEpoch = producerID, epoch
	return h.c.InitProducerID(h.ctx, req)
}

// begin inits id (v4) and returns its producer ID and epoch.
func (h *harness) begin(id string) (int64, int16) {
	h.t.Helper()
	resp := h.init(id, 4, -1, -1)
	if resp.ErrorCode != 0 {
		h.t.Fatalf("InitProducerId %s: %v", id, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// add sends AddPartitionsToTxn v3 and returns the code of each partition.
func (h *harness) add(version int16, id string, pid int64, epoch int16, topic string, partitions ...int32) []int16 {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = version
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, partitions
	req.Topics = append(req.Topics, rt)
	resp := h.c.AddPartitionsToTxn(h.ctx, req)
	var codes []int16
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

func (h *harness) mustAdd(id string, pid int64, epoch int16, topic string, partitions ...int32) {
	h.t.Helper()
	for _, code := range h.add(3, id, pid, epoch, topic, partitions...) {
		if code != 0 {
			h.t.Fatalf("AddPartitionsToTxn %s: %v", id, kerr.ErrorForCode(code))
		}
	}
}

func (h *harness) end(version int16, id string, pid int64, epoch int16, commit bool) *kmsg.EndTxnResponse {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = version
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return h.c.EndTxn(h.ctx, req)
}

func (h *harness) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	return h.c.DescribeTransactions(h.ctx, req).TransactionStates[0]
}

// states lists the states written for id, in order ("-" for a tombstone),
// with the epoch of each: "PrepareCommit@3".
func (h *harness) states(id string) []string {
	h.t.Helper()
	var out []string
	for _, w := range h.log.records(h.t, h.c.PartitionFor(id)) {
		if w.id != id {
			continue
		}
		if w.value == nil {
			out = append(out, "-")
			continue
		}
		out = append(out, fmt.Sprintf("%s@%d", stateName(w.value.State), w.value.ProducerEpoch))
	}
	return out
}

func codeName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	var ke *kerr.Error
	if errors.As(kerr.ErrorForCode(code), &ke) {
		return ke.Message
	}
	return fmt.Sprint(code)
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %s, want %s", what, codeName(got), codeName(want))
	}
}

// valueRecord encodes a stored state for replay tests.
func valueRecord(id string, v txnValue) record.Record {
	if v.partitions == nil {
		v.partitions = make(partitionSet)
	}
	return record.Record{Key: txnKey(id), Value: v.marshal()}
}

// buildLog encodes records as one batch for fakeLog.put.
func buildLog(t testing.TB, recs ...record.Record) ([]byte, int64) {
	t.Helper()
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
	}
	b, err := record.Build(record.BuildOptions{}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b, int64(len(recs))
}
