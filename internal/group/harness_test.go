package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
)

// memLog is an in-memory Log: batches get offsets on append and are kept
// as written, like a partition of __consumer_offsets.
type memLog struct {
	mu      sync.Mutex
	batches map[int32][][]byte
	next    map[int32]int64
	// failAppend, when set, fails appends with the error it returns.
	failAppend func(partition int32) error
	// readGate, when set, blocks Read until it is closed.
	readGate chan struct{}
}

func newMemLog() *memLog {
	return &memLog{batches: make(map[int32][][]byte), next: make(map[int32]int64)}
}

func (l *memLog) Append(ctx context.Context, p int32, batch []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	h, err := record.Validate(batch)
	if err != nil {
		return -1, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failAppend != nil {
		if err := l.failAppend(p); err != nil {
			return -1, err
		}
	}
	b := slices.Clone(batch)
	base := l.next[p]
	record.SetBaseOffset(b, base)
	l.batches[p] = append(l.batches[p], b)
	l.next[p] = base + int64(h.LastOffsetDelta) + 1
	return base, nil
}

func (l *memLog) Read(p int32, offset int64, maxBytes int) ([]byte, error) {
	l.mu.Lock()
	gate := l.readGate
	l.mu.Unlock()
	if gate != nil {
		<-gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches[p] {
		h, _ := record.ParseHeader(b)
		if h.LastOffset() < offset {
			continue
		}
		if len(out) > 0 && len(out)+len(b) > maxBytes {
			break
		}
		out = append(out, b...)
	}
	return out, nil
}

func (l *memLog) Bounds(p int32) (int64, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return 0, l.next[p], nil
}

// records decodes every record of a partition, in order.
func (l *memLog) records(t *testing.T, p int32) []record.Record {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []record.Record
	cs := record.NewCodecs()
	for _, b := range l.batches[p] {
		rs, err := cs.Records(b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rs...)
	}
	return out
}

// wallClock is a settable wall clock for commit timestamps and retention.
type wallClock struct{ ns atomic.Int64 }

func (w *wallClock) Now() time.Time          { return time.Unix(0, w.ns.Load()) }
func (w *wallClock) Advance(d time.Duration) { w.ns.Add(int64(d)) }

type harness struct {
	t    *testing.T
	c    *Coordinator
	log  *memLog
	wall *wallClock
	// mono is the coordinator's monotonic clock when the harness was made
	// by newClockHarness; nil when it is the real one.
	mono *wallClock
	cfg  Config
}

func testConfig(log Log, wall *wallClock) Config {
	return Config{
		Partitions:        4,
		Log:               log,
		Logger:            slog.New(slog.DiscardHandler),
		Now:               wall.Now,
		MinSessionTimeout: 10 * time.Millisecond,
		MaxSessionTimeout: 5 * time.Minute,
		OffsetsRetention:  24 * time.Hour,
		RetentionCheck:    time.Hour,
	}
}

// newHarness starts a coordinator that owns every partition of a fresh
// in-memory log.
func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	return newHarnessWith(t, nil, mod)
}

// newClockHarness is newHarness with a monotonic clock that only
// h.advance moves: timeouts fire when a test advances the clock past them.
func newClockHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	mono := &wallClock{}
	mono.ns.Store(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return newHarnessWith(t, mono, mod)
}

func newHarnessWith(t *testing.T, mono *wallClock, mod func(*Config)) *harness {
	t.Helper()
	wall := &wallClock{}
	wall.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	log := newMemLog()
	cfg := testConfig(log, wall)
	if mono != nil {
		cfg.Mono = mono.Now
	}
	if mod != nil {
		mod(&cfg)
	}
	h := &harness{t: t, log: log, wall: wall, mono: mono, cfg: cfg}
	h.c = h.start(cfg)
	return h
}

// advance moves the harness's monotonic clock (and the wall clock with
// it) and fires the timeouts that are due.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	if h.mono == nil {
		h.t.Fatal("advance needs a harness from newClockHarness")
	}
	h.mono.Advance(d)
	h.wall.Advance(d)
	h.c.Tick()
}

// start runs a coordinator over cfg and loads every partition.
func (h *harness) start(cfg Config) *Coordinator {
	h.t.Helper()
	c := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	h.t.Cleanup(func() {
		cancel()
		<-done
	})
	for p := range cfg.Partitions {
		if err := c.Load(context.Background(), p); err != nil {
			h.t.Fatal(err)
		}
	}
	return c
}

// restart is a coordinator failover: a new coordinator over the same log.
func (h *harness) restart() {
	h.t.Helper()
	h.c = h.start(h.cfg)
}

// waitFor polls cond until it holds, failing the test after 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 0
	m.Topics = topics
	return m.AppendTo(nil)
}

// joinReq is a v9 JoinGroup of a "consumer" member offering range.
func joinReq(groupID, memberID string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group = groupID
	req.MemberID = memberID
	req.SessionTimeoutMillis = 10000
	req.RebalanceTimeoutMillis = 10000
	req.ProtocolType = "consumer"
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("t")}}
	return req
}

func (h *harness) joinAsync(req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	ctx := WithClient(context.Background(), "client", "127.0.0.1:5000")
	go func() { ch <- h.c.JoinGroup(ctx, req) }()
	return ch
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a response")
		panic("unreachable")
	}
}

// memberID gets a member ID through the KIP-394 round trip.
func (h *harness) memberID(groupID string) string {
	h.t.Helper()
	resp := recv(h.t, h.joinAsync(joinReq(groupID, "")))
	if resp.ErrorCode != kerr.MemberIDRequired.Code || resp.MemberID == "" {
		h.t.Fatalf("first join: code %d member %q, want MEMBER_ID_REQUIRED with an ID", resp.ErrorCode, resp.MemberID)
	}
	return resp.MemberID
}

func syncReq(groupID, memberID string, gen int32, assign map[string]string) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = groupID, memberID, gen
	req.ProtocolType, req.Protocol = new("consumer"), new("range")
	for id, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	return req
}

func (h *harness) syncAsync(req *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ch <- h.c.SyncGroup(context.Background(), req) }()
	return ch
}

func (h *harness) heartbeat(groupID, memberID string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version = 4
	req.Group, req.MemberID, req.Generation = groupID, memberID, gen
	return h.c.Heartbeat(context.Background(), req).ErrorCode
}

func (h *harness) describe(groupID string) kmsg.DescribeGroupsResponseGroup {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{groupID}
	return h.c.DescribeGroups(context.Background(), req).Groups[0]
}

// rebalance joins the given member IDs concurrently (each already holds an
// ID), has the leader assign "a:<member>" to each, syncs everyone, and
// returns the generation and leader.
func (h *harness) rebalance(groupID string, ids ...string) (int32, string) {
	h.t.Helper()
	joins := make([]<-chan *kmsg.JoinGroupResponse, len(ids))
	for i, id := range ids {
		joins[i] = h.joinAsync(joinReq(groupID, id))
	}
	var gen int32
	leader := ""
	for i, ch := range joins {
		resp := recv(h.t, ch)
		if resp.ErrorCode != 0 {
			h.t.Fatalf("join of %s: %v", ids[i], kerr.ErrorForCode(resp.ErrorCode))
		}
		if gen != 0 && resp.Generation != gen {
			h.t.Fatalf("members joined generations %d and %d", gen, resp.Generation)
		}
		gen, leader = resp.Generation, resp.LeaderID
	}
	assign := make(map[string]string)
	for _, id := range ids {
		assign[id] = "a:" + id
	}
	syncs := make([]<-chan *kmsg.SyncGroupResponse, len(ids))
	for i, id := range ids {
		var a map[string]string
		if id == leader {
			a = assign
		}
		syncs[i] = h.syncAsync(syncReq(groupID, id, gen, a))
	}
	for i, ch := range syncs {
		resp := recv(h.t, ch)
		if resp.ErrorCode != 0 || string(resp.MemberAssignment) != "a:"+ids[i] {
			h.t.Fatalf("sync of %s: code %d assignment %q", ids[i], resp.ErrorCode, resp.MemberAssignment)
		}
	}
	return gen, leader
}

// stableGroup forms a Stable group of n dynamic members.
func (h *harness) stableGroup(groupID string, n int) ([]string, int32, string) {
	h.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.memberID(groupID)
	}
	gen, leader := h.rebalance(groupID, ids...)
	return ids, gen, leader
}

func commitReq(groupID, memberID string, gen int32, topic string, offsets map[int32]int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 9
	req.Group, req.MemberID, req.Generation = groupID, memberID, gen
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	for _, p := range slices.Sorted(maps.Keys(offsets)) {
		pp := kmsg.NewOffsetCommitRequestTopicPartition()
		pp.Partition, pp.Offset, pp.LeaderEpoch = p, offsets[p], 7
		pp.Metadata = new(fmt.Sprintf("meta-%d", p))
		t.Partitions = append(t.Partitions, pp)
	}
	req.Topics = []kmsg.OffsetCommitRequestTopic{t}
	return req
}

// commit commits offsets and returns the partitions' codes (all equal
// unless stated).
func (h *harness) commit(groupID, memberID string, gen int32, topic string, offsets map[int32]int64) int16 {
	h.t.Helper()
	resp := h.c.OffsetCommit(context.Background(), commitReq(groupID, memberID, gen, topic, offsets))
	code := resp.Topics[0].Partitions[0].ErrorCode
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != code {
			h.t.Fatalf("partitions answered different codes: %+v", resp.Topics[0].Partitions)
		}
	}
	return code
}

// fetchAll returns every committed offset of a group as "topic/p" ->
// "offset/epoch/metadata" (OffsetFetch v8, null topics).
func (h *harness) fetchAll(groupID string) map[string]string {
	h.t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: groupID}}
	resp := h.c.OffsetFetch(context.Background(), req)
	g := resp.Groups[0]
	if g.ErrorCode != 0 {
		h.t.Fatalf("fetch %s: %v", groupID, kerr.ErrorForCode(g.ErrorCode))
	}
	out := make(map[string]string)
	for _, t := range g.Topics {
		for _, p := range t.Partitions {
			out[fmt.Sprintf("%s/%d", t.Topic, p.Partition)] = fmt.Sprintf("%d/%d/%s", p.Offset, p.LeaderEpoch, deref(p.Metadata))
		}
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
		t.Fatalf("%s: got %s, want %s", what, codeName(got), codeName(want))
	}
}
