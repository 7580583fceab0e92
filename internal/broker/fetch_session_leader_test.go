package broker

// Fetch sessions (KIP-227) against a real in-process leader: a one-voter
// metadata node, a replica manager and the Broker's handler, called as the
// listener calls it (server imports broker, so the listener itself cannot
// be used from package broker's tests).

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	slog "github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

type leaderEnv struct {
	t    *testing.T
	ctx  context.Context
	node *cluster.Node
	mgr  *replica.Manager
	b    *Broker
}

func newLeaderEnv(t *testing.T) *leaderEnv { return newLeaderEnvWith(t, nil) }

// newLeaderEnvWith is newLeaderEnv with the broker's Config changed by mod.
func newLeaderEnvWith(t *testing.T, mod func(*Config)) *leaderEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	static, err := config.NewBroker(map[string]string{"node.id": "1", "replica.lag.time.max.ms": "600000"})
	if err != nil {
		t.Fatal(err)
	}
	node, err := cluster.Open(ctx, cluster.Config{NodeID: 1, Dir: filepath.Join(t.TempDir(), "meta"), Host: "127.0.0.1", Port: 9092,
		SessionTimeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	mgr := replica.NewManager(replica.Config{
		NodeID:       1,
		LogDirs:      []string{filepath.Join(t.TempDir(), "data")},
		BrokerConfig: func(img *cluster.Image) *config.Broker { return EffectiveConfig(static, img, 1) },
		Propose:      node.Propose,
	})
	bcfg := Config{NodeID: 1, Static: static, Cluster: node, Replicas: mgr}
	if mod != nil {
		mod(&bcfg)
	}
	b := New(bcfg)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); mgr.Run(runCtx, node) }()
	t.Cleanup(func() {
		stop()
		<-done
		b.Close()
		mgr.Close()
		node.Close()
	})
	return &leaderEnv{t: t, ctx: ctx, node: node, mgr: mgr, b: b}
}

func (e *leaderEnv) propose(cmd cluster.Command) {
	e.t.Helper()
	if err := e.node.Propose(e.ctx, cmd); err != nil {
		e.t.Fatalf("propose %T: %v", cmd, err)
	}
}

func (e *leaderEnv) waitFor(what string, cond func() bool) {
	e.t.Helper()
	for !cond() {
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// createTopic creates name with the given replica lists and waits until
// this broker leads every partition; it returns the topic ID.
func (e *leaderEnv) createTopic(name string, replicas ...[]int32) [16]byte {
	e.t.Helper()
	var id cluster.TopicID
	rand.Read(id[:])
	e.propose(cluster.CreateTopic{Name: name, ID: id, Replicas: replicas})
	for i := range replicas {
		e.waitFor("leadership of "+name, func() bool {
			p, ok := e.mgr.Partition(name, int32(i))
			return ok && p.IsLeader() && p.TopicID == id
		})
	}
	return id
}

func (e *leaderEnv) part(name string, i int32) *replica.Partition {
	e.t.Helper()
	p, ok := e.mgr.Partition(name, i)
	if !ok {
		e.t.Fatalf("no partition %s-%d", name, i)
	}
	return p
}

// appendN appends n one-record batches to p as leader.
func (e *leaderEnv) appendN(p *replica.Partition, n int) {
	e.t.Helper()
	for range n {
		b, err := record.Build(record.BuildOptions{}, []record.Record{{Value: []byte("v")}})
		if err != nil {
			e.t.Fatal(err)
		}
		h, _ := record.Validate(b)
		if _, err := p.Append(b, h); err != nil {
			e.t.Fatal(err)
		}
	}
}

// fetch sends req through the broker's handler as a connection would.
func (e *leaderEnv) fetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	e.t.Helper()
	r := e.b.Handle(e.ctx, &Client{ID: "leader-test", Principal: Anonymous}, req)
	if r.Release != nil {
		defer r.Release()
	}
	resp := r.Response
	if r.Wait != nil {
		resp = r.Wait(e.ctx)
	}
	fr, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		e.t.Fatalf("fetch answered %T", resp)
	}
	// Copy what Release may reuse.
	for i := range fr.Topics {
		for j := range fr.Topics[i].Partitions {
			p := &fr.Topics[i].Partitions[j]
			p.RecordBatches = append([]byte(nil), p.RecordBatches...)
		}
	}
	return fr
}

type fp struct {
	topicID   [16]byte
	partition int32
	offset    int64
	epoch     int32 // current leader epoch, -1 unknown
}

// fetchReq is a v16 consumer fetch of parts.
func fetchReq(id, epoch int32, maxWait, minBytes int32, parts ...fp) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.SessionID, req.SessionEpoch = 16, id, epoch
	req.ReplicaID, req.ReplicaState.ID = -1, -1
	req.MaxWaitMillis, req.MinBytes = maxWait, minBytes
	for _, p := range parts {
		var t *kmsg.FetchRequestTopic
		for i := range req.Topics {
			if req.Topics[i].TopicID == p.topicID {
				t = &req.Topics[i]
			}
		}
		if t == nil {
			req.Topics = append(req.Topics, kmsg.NewFetchRequestTopic())
			t = &req.Topics[len(req.Topics)-1]
			t.TopicID = p.topicID
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p.partition, p.offset, 1<<20, p.epoch
		rp.LogStartOffset = -1
		t.Partitions = append(t.Partitions, rp)
	}
	return req
}

func forgetIDs(req *kmsg.FetchRequest, id [16]byte, parts ...int32) *kmsg.FetchRequest {
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.TopicID, ft.Partitions = id, parts
	req.ForgottenTopics = append(req.ForgottenTopics, ft)
	return req
}

// respParts maps the partitions of a response by (topic ID, partition).
type respKey struct {
	id [16]byte
	p  int32
}

func respParts(resp *kmsg.FetchResponse) map[respKey]kmsg.FetchResponseTopicPartition {
	m := make(map[respKey]kmsg.FetchResponseTopicPartition)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			m[respKey{t.TopicID, p.Partition}] = p
		}
	}
	return m
}

func listed(resp *kmsg.FetchResponse) []int32 {
	var out []int32
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, p.Partition)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// openSession runs a full fetch creating a session and returns its ID.
func (e *leaderEnv) openSession(parts ...fp) int32 {
	e.t.Helper()
	resp := e.fetch(fetchReq(0, 0, 0, 0, parts...))
	if resp.ErrorCode != 0 || resp.SessionID == 0 {
		e.t.Fatalf("full fetch: error %d session %d", resp.ErrorCode, resp.SessionID)
	}
	return resp.SessionID
}

// A follower that fell behind the leader's log start gets
// OFFSET_OUT_OF_RANGE with the leader's log start offset: replica/fetcher.go
// restarts its log there when it is above its fetch offset, and otherwise
// takes the answer for being past the leader's end (an empty new replica
// of a partition whose head retention deleted would never catch up).
func TestFetchBelowLogStartTellsTheFollowerTheLogStart(t *testing.T) {
	e := newLeaderEnv(t)
	e.propose(cluster.RegisterBroker{Broker: cluster.Broker{ID: 2, Host: "127.0.0.1", Port: 1}})
	id := e.createTopic("f", []int32{1, 2})
	p := e.part("f", 0)
	e.appendN(p, 5)
	follower := func(offset int64) kmsg.FetchResponseTopicPartition {
		req := fetchReq(0, -1, 0, 0, fp{id, 0, offset, -1})
		req.ReplicaID, req.ReplicaState.ID, req.ReplicaState.Epoch = 2, 2, -1
		resp := e.fetch(req)
		got, ok := respParts(resp)[respKey{id, 0}]
		if resp.ErrorCode != 0 || !ok {
			t.Fatalf("follower fetch: error %d, partition listed %v", resp.ErrorCode, ok)
		}
		return got
	}
	// The follower catches up, so the high watermark reaches 5 and the
	// log start may move (retention, or a mirror's DeleteRecords).
	if got := follower(5); got.ErrorCode != 0 {
		t.Fatalf("caught-up follower fetch: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	e.waitFor("high watermark 5", func() bool { return p.HighWatermark() == 5 })
	if ls, err := p.MirrorLogStart(3); err != nil || ls != 3 {
		t.Fatalf("log start %d, %v", ls, err)
	}
	// A new replica, empty, fetches from 0.
	got := follower(0)
	if got.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch below log start: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(got.ErrorCode))
	}
	if got.LogStartOffset <= 0 {
		t.Fatalf("OFFSET_OUT_OF_RANGE below the log start carries log_start_offset %d: the follower "+
			"(fetcher.go applyFetched: rp.LogStartOffset > offset) can never restart at the leader's log start 3", got.LogStartOffset)
	}
}

// An incremental response lists exactly the partitions with news: records,
// a new high watermark, a new log start offset, an error; never the quiet
// ones.
func TestSessionListsOffsetChangesOnly(t *testing.T) {
	e := newLeaderEnv(t)
	id := e.createTopic("s", []int32{1}, []int32{1}, []int32{1})
	p0, p1, p2 := e.part("s", 0), e.part("s", 1), e.part("s", 2)
	e.appendN(p0, 4)
	e.appendN(p1, 4)
	e.appendN(p2, 4)
	sid := e.openSession(fp{id, 0, 4, -1}, fp{id, 1, 4, -1}, fp{id, 2, 4, -1})
	epoch := int32(1)
	inc := func(parts ...fp) *kmsg.FetchResponse {
		t.Helper()
		resp := e.fetch(fetchReq(sid, epoch, 0, 0, parts...))
		epoch++
		if resp.ErrorCode != 0 || resp.SessionID != sid {
			t.Fatalf("epoch %d: error %v session %d", epoch-1, kerr.ErrorForCode(resp.ErrorCode), resp.SessionID)
		}
		return resp
	}
	if got := listed(inc()); len(got) != 0 {
		t.Fatalf("nothing changed, response lists %v", got)
	}
	// Log start of 1 moves (retention / DeleteRecords): only 1 is listed.
	if _, err := p1.MirrorLogStart(2); err != nil {
		t.Fatal(err)
	}
	resp := inc()
	if got := listed(resp); !equalParts(got, []int32{1}) {
		t.Fatalf("after the log start of 1 moved, response lists %v, want [1]", got)
	}
	if ls := respParts(resp)[respKey{id, 1}].LogStartOffset; ls != 2 {
		t.Fatalf("log start %d, want 2", ls)
	}
	if got := listed(inc()); len(got) != 0 {
		t.Fatalf("log start already told, response lists %v", got)
	}
	// New records on 2 at the session's fetch offset: 2 with records.
	e.appendN(p2, 1)
	resp = inc()
	if got := listed(resp); !equalParts(got, []int32{2}) {
		t.Fatalf("after a write to 2, response lists %v, want [2]", got)
	}
	if r := respParts(resp)[respKey{id, 2}]; len(r.RecordBatches) == 0 || r.HighWatermark != 5 {
		t.Fatalf("partition 2: %d record bytes hw %d", len(r.RecordBatches), r.HighWatermark)
	}
	// The client does not move 2's offset: it comes back with the same records
	// (a partially consumed partition is never dropped).
	if got := listed(inc()); !equalParts(got, []int32{2}) {
		t.Fatalf("2 still has records at its session offset, response lists %v", got)
	}
	// The client moves 2 to 5: nothing new.
	if got := listed(inc(fp{id, 2, 5, -1})); len(got) != 0 {
		t.Fatalf("caught up, response lists %v", got)
	}
	// A leader epoch from the future on 0 is an error: listed, every time.
	for range 2 {
		resp = inc(fp{id, 0, 4, p0.LeaderEpoch() + 5})
		if r, ok := respParts(resp)[respKey{id, 0}]; !ok || r.ErrorCode != kerr.UnknownLeaderEpoch.Code {
			t.Fatalf("future leader epoch: listed %v code %d", ok, r.ErrorCode)
		}
	}
	// Fixed: listed once more, with its offsets, then quiet.
	resp = inc(fp{id, 0, 4, -1})
	if r, ok := respParts(resp)[respKey{id, 0}]; !ok || r.ErrorCode != 0 || r.HighWatermark != 4 {
		t.Fatalf("fixed partition: listed %v %+v", ok, r)
	}
	if got := listed(inc()); len(got) != 0 {
		t.Fatalf("all quiet, response lists %v", got)
	}
}

// A session names topics by ID: after the topic is deleted and created
// again under the same name, the old ID's partitions answer
// UNKNOWN_TOPIC_ID (never silently empty, never the new topic's data),
// and the client moving to the new ID in the same session works.
func TestSessionOfARecreatedTopic(t *testing.T) {
	e := newLeaderEnv(t)
	old := e.createTopic("r", []int32{1})
	e.appendN(e.part("r", 0), 3)
	sid := e.openSession(fp{old, 0, 3, -1})
	e.propose(cluster.DeleteTopic{ID: cluster.TopicID(old)})
	e.waitFor("the old partition to go", func() bool { p, ok := e.mgr.Partition("r", 0); return !ok || p.TopicID != old })
	nu := e.createTopic("r", []int32{1})
	e.appendN(e.part("r", 0), 5)
	epoch := int32(1)
	for range 2 {
		resp := e.fetch(fetchReq(sid, epoch, 0, 0))
		epoch++
		r, ok := respParts(resp)[respKey{old, 0}]
		if resp.ErrorCode != 0 || !ok || r.ErrorCode != kerr.UnknownTopicID.Code || len(r.RecordBatches) != 0 {
			t.Fatalf("deleted topic's partition: top %d listed %v code %d records %d", resp.ErrorCode, ok, r.ErrorCode, len(r.RecordBatches))
		}
	}
	resp := e.fetch(forgetIDs(fetchReq(sid, epoch, 0, 0, fp{nu, 0, 0, -1}), old, 0))
	epoch++
	m := respParts(resp)
	if _, ok := m[respKey{old, 0}]; ok || len(m) != 1 {
		t.Fatalf("after forgetting the old ID, response lists %v", m)
	}
	if r := m[respKey{nu, 0}]; r.ErrorCode != 0 || r.HighWatermark != 5 || len(r.RecordBatches) == 0 {
		t.Fatalf("new topic: %+v", r)
	}
}

// A waiting incremental fetch (max_wait_ms) wakes for a write to a
// partition of its session, not for writes elsewhere.
func TestSessionWaitWakesForSessionPartitionsOnly(t *testing.T) {
	e := newLeaderEnv(t)
	id := e.createTopic("w", []int32{1}, []int32{1})
	p0, p1 := e.part("w", 0), e.part("w", 1)
	sid := e.openSession(fp{id, 0, 0, -1})
	const wait = 1500
	type answer struct {
		resp *kmsg.FetchResponse
		took time.Duration
	}
	start := func(epoch int32) chan answer {
		c := make(chan answer, 1)
		go func() {
			t0 := time.Now()
			r := e.b.Handle(e.ctx, &Client{ID: "leader-test", Principal: Anonymous}, fetchReq(sid, epoch, wait, 1))
			resp := r.Response.(*kmsg.FetchResponse)
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					pp := &resp.Topics[i].Partitions[j]
					pp.RecordBatches = append([]byte(nil), pp.RecordBatches...)
				}
			}
			if r.Release != nil {
				r.Release()
			}
			c <- answer{resp, time.Since(t0)}
		}()
		return c
	}
	// A write to partition 1, outside the session, does not end the wait.
	c := start(1)
	time.Sleep(100 * time.Millisecond)
	e.appendN(p1, 1)
	a := <-c
	if a.took < wait*time.Millisecond*9/10 || len(listed(a.resp)) != 0 {
		t.Fatalf("write outside the session: answered after %v listing %v", a.took, listed(a.resp))
	}
	// A write to partition 0 does, with the record.
	c = start(2)
	time.Sleep(100 * time.Millisecond)
	e.appendN(p0, 1)
	a = <-c
	r, ok := respParts(a.resp)[respKey{id, 0}]
	if a.took > wait*time.Millisecond/2 || !ok || len(r.RecordBatches) == 0 || r.HighWatermark != 1 {
		t.Fatalf("write in the session: answered after %v, listed %v, %d bytes, hw %d", a.took, ok, len(r.RecordBatches), r.HighWatermark)
	}
}

// read_committed in a session: an open transaction moves the high
// watermark but not the last stable offset, and no record past the LSO is
// returned; a waiting read_committed fetch wakes when the commit marker
// lands and gets the transaction's records and the new LSO.
func TestSessionReadCommitted(t *testing.T) {
	e := newLeaderEnv(t)
	id := e.createTopic("x", []int32{1})
	p := e.part("x", 0)
	e.appendN(p, 2)
	full := fetchReq(0, 0, 0, 0, fp{id, 0, 2, -1})
	full.IsolationLevel = 1
	resp := e.fetch(full)
	sid := resp.SessionID
	if sid == 0 || resp.ErrorCode != 0 {
		t.Fatalf("full fetch: session %d error %d", sid, resp.ErrorCode)
	}
	// A transactional batch at offset 2.
	b, err := record.Build(record.BuildOptions{Transactional: true, Producer: &record.Producer{ID: 7, Epoch: 0, BaseSequence: 0}},
		[]record.Record{{Value: []byte("t")}})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := record.Validate(b)
	if _, err := p.Append(b, h); err != nil {
		t.Fatal(err)
	}
	if p.HighWatermark() != 3 || p.LastStableOffset() != 2 {
		t.Fatalf("hw %d lso %d, want 3 and 2", p.HighWatermark(), p.LastStableOffset())
	}
	inc := fetchReq(sid, 1, 0, 0)
	inc.IsolationLevel = 1
	resp = e.fetch(inc)
	r, ok := respParts(resp)[respKey{id, 0}]
	if !ok || r.HighWatermark != 3 || r.LastStableOffset != 2 || len(r.RecordBatches) != 0 {
		t.Fatalf("open transaction: listed %v hw %d lso %d bytes %d", ok, r.HighWatermark, r.LastStableOffset, len(r.RecordBatches))
	}
	// Wait (read_committed), then commit.
	inc = fetchReq(sid, 2, 2000, 1)
	inc.IsolationLevel = 1
	c := make(chan *kmsg.FetchResponse, 1)
	t0 := time.Now()
	go func() { c <- e.fetch(inc) }()
	time.Sleep(100 * time.Millisecond)
	if _, err := p.AppendMarker(markerCommit(7), 0); err != nil {
		t.Fatal(err)
	}
	resp = <-c
	took := time.Since(t0)
	r, ok = respParts(resp)[respKey{id, 0}]
	if !ok || len(r.RecordBatches) == 0 || r.LastStableOffset != 4 || took > time.Second {
		t.Fatalf("after commit: after %v listed %v lso %d bytes %d", took, ok, r.LastStableOffset, len(r.RecordBatches))
	}
}

func markerCommit(pid int64) slog.Marker {
	return slog.Marker{ProducerID: pid, ProducerEpoch: 0, Commit: true, Timestamp: time.Now().UnixMilli()}
}

// A throttled incremental fetch (over a quota) is answered with no
// partitions: nothing it read may be recorded as told, so the next fetch
// still lists the partition whose high watermark moved.
func TestThrottledSessionFetchTellsNothing(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &fetchSessions{}
	id := newSession(t, c, 16, false, now, 10, 0, 1)
	fc, code := c.open(sessionReq(16, id, 1), false, now)
	if code != 0 {
		t.Fatal(code)
	}
	served(fc, 10, 1)
	fc.items[0].hw = 11
	if sid, code := c.throttled(fc); sid != id || code != 0 {
		t.Fatalf("throttled: session %d code %d", sid, code)
	}
	fc, code = c.open(sessionReq(16, id, 2), false, now)
	if code != 0 {
		t.Fatalf("next epoch after a throttled answer: code %d", code)
	}
	served(fc, 10)
	fc.items[0].hw = 11
	if _, code := c.finish(fc, now, 10); code != 0 {
		t.Fatal(code)
	}
	if got := included(fc); !equalParts(got, []int32{0}) {
		t.Fatalf("after a throttled answer, response lists %v, want [0]", got)
	}
}

// Concurrent requests on one session (a client's retries racing its own
// late answers, or two clients sharing an ID): each epoch is answered
// successfully at most once, and only by a request that carried it. Run
// with -race.
func TestSessionConcurrentRequests(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &fetchSessions{}
	id := newSession(t, c, 16, false, now, 10, 0, 1, 2, 3)
	const workers, rounds = 8, 300
	var mu sync.Mutex
	won := make(map[int32]int)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				c.mu.Lock()
				e := c.sessions[id].epoch
				c.mu.Unlock()
				req := sessionReq(16, id, e, int32(i%5))
				if (w+i)%7 == 0 {
					forget(req, int32((i+1)%5))
				}
				fc, code := c.open(req, false, now)
				if code != 0 || fc.mode != sessionIncremental {
					if fc != nil && fc.mode == sessionless {
						return // emptied: closed
					}
					continue
				}
				served(fc, int64(i), int32(i%4))
				if _, code := c.finish(fc, now, 10); code == 0 {
					mu.Lock()
					won[e]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for e, n := range won {
		if n > 1 {
			t.Fatalf("epoch %d answered successfully %d times", e, n)
		}
	}
	if len(won) == 0 {
		t.Fatal("no request succeeded")
	}
}

// followedTopic creates a one-partition topic this broker leads with broker
// 2, which does not run, as its follower, and returns its ID, its partition
// and a function that fetches as broker 2 from an offset (moving the high
// watermark to it).
func (e *leaderEnv) followedTopic(name string) ([16]byte, *replica.Partition, func(offset int64)) {
	e.t.Helper()
	e.propose(cluster.RegisterBroker{Broker: cluster.Broker{ID: 2, Host: "127.0.0.1", Port: 1}})
	id := e.createTopic(name, []int32{1, 2})
	follow := func(offset int64) {
		req := fetchReq(0, -1, 0, 0, fp{id, 0, offset, -1})
		req.ReplicaID, req.ReplicaState.ID, req.ReplicaState.Epoch = 2, 2, -1
		e.fetch(req)
	}
	return id, e.part(name, 0), follow
}

// The last stable offset never passes a transaction whose marker is not
// below the high watermark yet (Kafka's unreplicated transactions): it
// moves with the high watermark, so a read_committed fetch woken by the
// high watermark finds it moved, and a follower made leader without the
// marker never shows a lower one. Here the commit marker is appended on a
// leader whose follower has not fetched it yet.
func TestLSOWaitsForTheMarkerToBeReplicated(t *testing.T) {
	e := newLeaderEnv(t)
	id, p, follow := e.followedTopic("m")
	e.appendN(p, 2)
	b, _ := record.Build(record.BuildOptions{Transactional: true, Producer: &record.Producer{ID: 7, Epoch: 0, BaseSequence: 0}},
		[]record.Record{{Value: []byte("t")}})
	h, _ := record.Validate(b)
	if _, err := p.Append(b, h); err != nil {
		t.Fatal(err)
	}
	e.appendN(p, 1) // offset 3, outside the transaction
	follow(4)
	e.waitFor("hw 4", func() bool { return p.HighWatermark() == 4 })
	if lso := p.LastStableOffset(); lso != 2 {
		t.Fatalf("open transaction at 2: lso %d", lso)
	}
	// A read_committed consumer waits at the last stable offset.
	wait := fetchReq(0, -1, 5000, 1, fp{id, 0, 2, -1})
	wait.IsolationLevel = 1
	type answer struct {
		resp *kmsg.FetchResponse
		took time.Duration
	}
	c := make(chan answer, 1)
	go func() { t0 := time.Now(); r := e.fetch(wait); c <- answer{r, time.Since(t0)} }()
	time.Sleep(100 * time.Millisecond)
	if _, err := p.AppendMarker(markerCommit(7), 0); err != nil {
		t.Fatal(err)
	}
	if hw, lso := p.HighWatermark(), p.LastStableOffset(); hw != 4 || lso != 2 {
		t.Fatalf("marker at 4 not replicated: hw %d lso %d, want 4 and 2", hw, lso)
	}
	follow(5) // the follower has the marker: the high watermark passes it
	a := <-c
	got := respParts(a.resp)[respKey{id, 0}]
	if got.ErrorCode != 0 || got.LastStableOffset != 5 || got.HighWatermark != 5 || len(got.RecordBatches) == 0 {
		t.Fatalf("woken read_committed fetch: error %d hw %d lso %d, %d bytes", got.ErrorCode, got.HighWatermark, got.LastStableOffset, len(got.RecordBatches))
	}
	if a.took > 2500*time.Millisecond {
		t.Fatalf("read_committed fetch answered after %v: not woken by the high watermark passing the marker", a.took)
	}
}
