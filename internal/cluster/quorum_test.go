package cluster

// Multi-node tests: real TCP on 127.0.0.1, one directory per node,
// in-process nodes. Short session timeout and heartbeat interval.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

const (
	testSession   = 1500 * time.Millisecond
	testHeartbeat = 200 * time.Millisecond
)

// testQuorum is a set of nodes; voters are 1..n.
type testQuorum struct {
	t      *testing.T
	voters []Voter
	cfgs   map[int32]Config
	mu     sync.Mutex
	nodes  map[int32]*Node
}

// newQuorum binds a listener per voter and opens all voters together.
func newQuorum(t *testing.T, voters int, tweak func(*Config)) *testQuorum {
	t.Helper()
	q := &testQuorum{t: t, cfgs: map[int32]Config{}, nodes: map[int32]*Node{}}
	lns := map[int32]net.Listener{}
	for id := int32(1); id <= int32(voters); id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id] = ln
		q.voters = append(q.voters, Voter{ID: id, Addr: ln.Addr().String()})
	}
	for id := int32(1); id <= int32(voters); id++ {
		q.cfgs[id] = q.config(id, lns[id].Addr().String(), tweak)
	}
	var wg sync.WaitGroup
	errs := make(chan error, voters)
	for id := int32(1); id <= int32(voters); id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- q.open(id, lns[id])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(q.closeAll)
	return q
}

func (q *testQuorum) config(id int32, addr string, tweak func(*Config)) Config {
	cfg := Config{
		NodeID: id, Dir: q.t.TempDir(), Host: "127.0.0.1", Port: 9000 + id, Rack: []string{"a", "b"}[id%2],
		Logger: testLogger(q.t), Voters: q.voters, RaftAddr: addr,
		SessionTimeout: testSession, HeartbeatInterval: testHeartbeat,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	return cfg
}

// open opens node id from its config (on ln if given, else binding its
// RaftAddr again).
func (q *testQuorum) open(id int32, ln net.Listener) error {
	n, err := openWith(testCtx(q.t), q.cfgs[id], nil, ln)
	if err != nil {
		return err
	}
	q.mu.Lock()
	q.nodes[id] = n
	q.mu.Unlock()
	return nil
}

func (q *testQuorum) reopen(id int32) *Node {
	q.t.Helper()
	if err := q.open(id, nil); err != nil {
		q.t.Fatalf("reopen node %d: %v", id, err)
	}
	return q.node(id)
}

// openSideBySide opens the given closed nodes together (none finishes
// opening before a quorum of them runs).
func (q *testQuorum) openSideBySide(ids ...int32) {
	q.t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(ids))
	for _, id := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- q.open(id, nil) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			q.t.Fatal(err)
		}
	}
}

func (q *testQuorum) node(id int32) *Node {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.nodes[id]
}

func (q *testQuorum) kill(id int32) {
	q.t.Helper()
	q.mu.Lock()
	n := q.nodes[id]
	delete(q.nodes, id)
	q.mu.Unlock()
	start := time.Now()
	if err := n.Close(); err != nil {
		q.t.Errorf("close node %d: %v", id, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		q.t.Errorf("closing node %d took %v", id, d)
	}
}

func (q *testQuorum) closeAll() {
	q.mu.Lock()
	ids := make([]int32, 0, len(q.nodes))
	for id := range q.nodes {
		ids = append(ids, id)
	}
	q.mu.Unlock()
	for _, id := range ids {
		q.kill(id)
	}
}

// live returns the open nodes.
func (q *testQuorum) live() []*Node {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*Node
	for _, n := range q.nodes {
		out = append(out, n)
	}
	return out
}

// leader waits until the open nodes agree on a leader among them.
func (q *testQuorum) leader() *Node {
	q.t.Helper()
	var l *Node
	waitFor(q.t, "an agreed controller", func() bool {
		nodes := q.live()
		id := nodes[0].Image().ControllerID
		for _, n := range nodes {
			if n.Image().ControllerID != id {
				return false
			}
		}
		l = q.node(id)
		return l != nil
	})
	return l
}

func (q *testQuorum) follower() *Node {
	l := q.leader()
	for _, n := range q.live() {
		if n != l && slices.ContainsFunc(q.voters, func(v Voter) bool { return v.ID == n.ID() }) {
			return n
		}
	}
	q.t.Fatal("no follower")
	return nil
}

// converged waits until every open node's image satisfies cond.
func (q *testQuorum) converged(what string, cond func(*Image) bool) {
	q.t.Helper()
	waitFor(q.t, what, func() bool {
		for _, n := range q.live() {
			if !cond(n.Image()) {
				return false
			}
		}
		return true
	})
}

func (q *testQuorum) sameImages() {
	q.t.Helper()
	var want *Image
	waitFor(q.t, "the same image index on every node", func() bool {
		want = nil
		for _, n := range q.live() {
			img := n.Image()
			if want != nil && img.Index != want.Index {
				return false
			}
			want = img
		}
		return true
	})
	for _, n := range q.live() {
		got := n.Image()
		if !reflect.DeepEqual(snapshotOf(got), snapshotOf(want)) {
			q.t.Errorf("node %d image differs:\n got %+v\nwant %+v", n.ID(), snapshotOf(got), snapshotOf(want))
		}
	}
}

func TestQuorumFormsAndReplicates(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	l := q.leader()
	img := l.Image()
	if img.ClusterID == "" || len(img.Brokers) != 3 {
		t.Fatalf("cluster %q brokers %v", img.ClusterID, img.Brokers)
	}
	for id, b := range img.Brokers {
		if b.Fenced || b.ShuttingDown || b.Port != 9000+id {
			t.Errorf("broker %d: %+v", id, b)
		}
	}
	qi := l.Quorum()
	if qi.Leader != l.ID() || len(qi.Voters) != 3 || len(qi.NonVoters) != 0 {
		t.Errorf("Quorum() = %+v", qi)
	}
	placed, err := PlaceReplicas(l.Image(), 3, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustPropose(t, l, CreateTopic{Name: "a", Replicas: placed})
	mustPropose(t, q.follower(), AlterConfigs{ResourceType: 2, Name: "a", Set: map[string]*string{"retention.ms": str("5")}})
	q.sameImages()
	if got := q.follower().Image().Topics.Value("a"); got == nil || got.Configs["retention.ms"] != "5" {
		t.Fatalf("topic a on a follower: %+v", got)
	}
}

func TestQuorumProposeOnFollower(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	f := q.follower()
	// Read-your-writes: the follower's own image shows the topic as soon
	// as Propose returns.
	if err := f.Propose(testCtx(t), CreateTopic{Name: "x", Replicas: [][]int32{{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	if f.Image().Topics.Value("x") == nil {
		t.Fatal("the proposing follower does not see its topic")
	}
	err := f.Propose(testCtx(t), CreateTopic{Name: "x", Replicas: [][]int32{{1}}})
	if !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate topic from a follower: %v, want ErrTopicExists", err)
	}
	err = f.Propose(testCtx(t), DeleteTopic{ID: tid(99)})
	if !errors.Is(err, ErrUnknownTopic) || errors.Is(err, ErrTopicExists) {
		t.Fatalf("unknown topic from a follower: %v", err)
	}
	err = f.Propose(testCtx(t), AlterConfigs{ResourceType: 9, Name: "x"})
	if !errors.Is(err, ErrInvalidResource) {
		t.Fatalf("bad resource from a follower: %v", err)
	}
	// ElectLeaders results come back per partition.
	id := f.Image().Topics.Value("x").ID
	res, err := f.ElectLeaders(testCtx(t), ElectLeaders{Partitions: []TopicPartitionID{{Topic: id, Partition: 0}, {Topic: id, Partition: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[TopicPartitionID]error{{Topic: id, Partition: 0}: ErrElectionNotNeeded, {Topic: id, Partition: 3}: ErrUnknownPartition}
	if len(res) != 2 {
		t.Fatalf("ElectLeaders: %v", res)
	}
	for tp, e := range want {
		if !errors.Is(res[tp], e) {
			t.Errorf("ElectLeaders %v: %v, want %v", tp, res[tp], e)
		}
	}
}

func TestQuorumNonVoterJoins(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	mustPropose(t, q.leader(), CreateTopic{Name: "before", Replicas: [][]int32{{1, 2, 3}}})
	// The non-voter binds port 0 and advertises what it got.
	q.cfgs[4] = q.config(4, "127.0.0.1:0", nil)
	n4 := q.reopen(4)
	if n4.Image().Topics.Value("before") == nil {
		t.Fatal("the non-voter did not catch up before Open returned")
	}
	if b := n4.Image().Brokers[4]; b.Fenced || b.Port != 9004 {
		t.Fatalf("broker 4 after Open: %+v", b)
	}
	qi := q.leader().Quorum()
	if len(qi.Voters) != 3 || len(qi.NonVoters) != 1 || qi.NonVoters[0].ID != 4 || qi.NonVoters[0].Addr == "127.0.0.1:0" {
		t.Fatalf("Quorum() = %+v", qi)
	}
	mustPropose(t, n4, CreateTopic{Name: "from-4", Replicas: [][]int32{{4}}})
	mustPropose(t, q.leader(), CreateTopic{Name: "after", Replicas: [][]int32{{1}}})
	q.sameImages()
	if n4.Image().Topics.Value("after") == nil || q.node(1).Image().Topics.Value("from-4") == nil {
		t.Fatal("topics did not reach every node")
	}
	// A restarted non-voter finds its way back.
	q.cfgs[4] = q.config(4, string(qi.NonVoters[0].Addr), nil)
	q.kill(4)
	mustPropose(t, q.leader(), CreateTopic{Name: "while-down", Replicas: [][]int32{{1}}})
	n4 = q.reopen(4)
	if n4.Image().Topics.Value("while-down") == nil {
		t.Fatal("the restarted non-voter did not catch up")
	}
}

func TestQuorumLeaderFailover(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	old := q.leader()
	oldID := old.ID()
	mustPropose(t, old, CreateTopic{Name: "t", Replicas: [][]int32{{oldID, oldID%3 + 1}}})
	q.kill(oldID)
	start := time.Now()
	nl := q.leader()
	t.Logf("new controller %d after %v", nl.ID(), time.Since(start))
	if nl.ID() == oldID || time.Since(start) > 5*time.Second {
		t.Fatalf("controller %d after %v", nl.ID(), time.Since(start))
	}
	for _, n := range q.live() {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err := n.Propose(ctx, AlterConfigs{ResourceType: 4, Name: "", Set: map[string]*string{"k": str(string(rune('a' + n.ID())))}})
		cancel()
		if err != nil {
			t.Fatalf("propose on node %d after failover: %v", n.ID(), err)
		}
	}
	// The dead broker is fenced after the session timeout; its partition
	// moves to the other in-sync replica.
	q.converged("the old controller fenced and its partition moved", func(img *Image) bool {
		p := img.Topics.Value("t").Partitions[0]
		return img.Brokers[oldID].Fenced && p.Leader == oldID%3+1 && p.LeaderEpoch == 1
	})
	// It comes back: registered fenced, unfenced by its heartbeat.
	back := q.reopen(oldID)
	if back.Image().Brokers[oldID].Fenced {
		t.Fatal("restarted broker still fenced after Open")
	}
	q.sameImages()
}

func TestQuorumMinorityCannotCommit(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	f := q.follower()
	var others []int32
	for _, n := range q.live() {
		if n != f {
			others = append(others, n.ID())
		}
	}
	for _, id := range others {
		q.kill(id)
	}
	// An entry the majority committed just before it died may still reach
	// the follower's image: wait until the image stops moving.
	before := f.Image().Index
	for stable := time.Now(); time.Since(stable) < 300*time.Millisecond; time.Sleep(20 * time.Millisecond) {
		if idx := f.Image().Index; idx != before {
			before, stable = idx, time.Now()
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	err := f.Propose(ctx, CreateTopic{Name: "lonely", Replicas: [][]int32{{1}}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("propose on a minority: %v, want context.DeadlineExceeded", err)
	}
	if f.Image().Index != before || f.Image().Topics.Value("lonely") != nil {
		t.Fatalf("the minority committed: index %d -> %d", before, f.Image().Index)
	}
}

// A network partition isolating the leader: the majority elects another
// leader and commits; the old leader cannot commit; after healing, it
// follows the majority's log.
func TestQuorumPartitionedLeader(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	old := q.leader()
	addrOf := map[int32]string{}
	for _, v := range q.voters {
		addrOf[v.ID] = v.Addr
	}
	oldAddr := addrOf[old.ID()]
	old.mux.partition(func(string) bool { return true })
	for _, n := range q.live() {
		if n != old {
			n.mux.partition(func(a string) bool { return a == oldAddr })
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if err := old.Propose(ctx, CreateTopic{Name: "minority", Replicas: [][]int32{{1}}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("propose on the isolated leader: %v", err)
	}
	var majority *Node
	for _, n := range q.live() {
		if n != old {
			majority = n
		}
	}
	mctx, mcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer mcancel()
	// On a broker of the majority: the isolated one may be fenced by now,
	// and a new partition on fenced brokers alone is refused.
	if err := majority.Propose(mctx, CreateTopic{Name: "majority", Replicas: [][]int32{{majority.ID()}}}); err != nil {
		t.Fatalf("propose on the majority: %v", err)
	}
	// The isolated broker is fenced by the new controller.
	waitFor(t, "the isolated broker fenced", func() bool { return majority.Image().Brokers[old.ID()].Fenced })
	for _, n := range q.live() {
		n.mux.partition(nil)
	}
	q.converged("the healed node follows the majority", func(img *Image) bool {
		return img.Topics.Value("majority") != nil && img.Topics.Value("minority") == nil && !img.Brokers[old.ID()].Fenced
	})
	q.sameImages()
}

func TestQuorumFencing(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, func(c *Config) { c.LeaderImbalanceCheck = 300 * time.Millisecond })
	l := q.leader()
	victim := q.follower().ID()
	other := int32(1)
	for other == victim {
		other++
	}
	mustPropose(t, l, CreateTopic{Name: "t", Replicas: [][]int32{{victim, other}, {other, victim}, {victim}}})
	q.node(victim).pauseHeartbeats.Store(true)
	q.converged("the silent broker fenced", func(img *Image) bool { return img.Brokers[victim].Fenced })
	img := l.Image()
	want := []Partition{
		{Index: 0, Leader: other, LeaderEpoch: 1, Replicas: []int32{victim, other}, ISR: []int32{other}, PartitionEpoch: 1},
		{Index: 1, Leader: other, Replicas: []int32{other, victim}, ISR: []int32{other}, PartitionEpoch: 1},
		{Index: 2, Leader: noLeader, LeaderEpoch: 1, Replicas: []int32{victim}, ISR: []int32{victim}, PartitionEpoch: 1},
	}
	if got := img.Topics.Value("t").Partitions; !reflect.DeepEqual(got, want) {
		t.Fatalf("after fencing %d:\n got %+v\nwant %+v", victim, got, want)
	}
	// AlterPartition cannot put the fenced broker back in sync.
	id := img.Topics.Value("t").ID
	err := q.node(other).Propose(testCtx(t), AlterPartition{Topic: id, Partition: 1, Leader: other, LeaderEpoch: 0, PartitionEpoch: 1, ISR: []int32{other, victim}})
	if !errors.Is(err, ErrIneligibleReplica) {
		t.Fatalf("AlterPartition with a fenced replica: %v", err)
	}

	q.node(victim).pauseHeartbeats.Store(false)
	q.converged("the broker unfenced, leading its lone partition again", func(img *Image) bool {
		p := img.Topics.Value("t").Partitions[2]
		return !img.Brokers[victim].Fenced && p.Leader == victim && p.LeaderEpoch == 2
	})
	// Back in sync (what the replica manager's AlterPartition does), the
	// automatic rebalance gives the broker its preferred leadership back.
	err = q.node(other).Propose(testCtx(t), AlterPartition{Topic: id, Partition: 0, Leader: other, LeaderEpoch: 1, PartitionEpoch: 1, ISR: []int32{other, victim}})
	if err != nil {
		t.Fatalf("AlterPartition: %v", err)
	}
	q.converged("the preferred leader restored", func(img *Image) bool {
		p := img.Topics.Value("t").Partitions[0]
		return p.Leader == victim && p.LeaderEpoch == 2
	})
	q.sameImages()
}

func TestQuorumControlledShutdownAndRestart(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	l := q.leader()
	mustPropose(t, l, CreateTopic{Name: "t", Replicas: [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {2}}})
	n2 := q.node(2)
	if err := n2.ControlledShutdown(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	img := n2.Image() // read-your-writes: already applied here
	if !img.Brokers[2].ShuttingDown {
		t.Fatal("broker 2 not shutting down")
	}
	for _, p := range img.Topics.Value("t").Partitions {
		if p.Leader == 2 || (slices.Contains(p.ISR, 2) && len(p.ISR) > 1) {
			t.Errorf("partition %d still led by or in sync on 2: %+v", p.Index, p)
		}
	}
	if p := img.Topics.Value("t").Partitions[1]; p.Leader != 3 || p.LeaderEpoch != 1 {
		t.Errorf("partition 1: %+v", p)
	}
	q.kill(2)
	n2 = q.reopen(2)
	if b := n2.Image().Brokers[2]; b.ShuttingDown || b.Fenced {
		t.Fatalf("broker 2 after restart: %+v", b)
	}
	// Partition 3 had only 2: leaderless since the shutdown, led by 2
	// again once it is back.
	q.converged("partition 3 led by 2 again", func(img *Image) bool { return img.Topics.Value("t").Partitions[3].Leader == 2 })
}

func TestQuorumRestartAllKeepsState(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	mustPropose(t, q.follower(), CreateTopic{Name: "t", Replicas: [][]int32{{1, 2, 3}}},
		AllocateProducerIDs{BrokerID: 1, Count: 100})
	cluster := q.leader().Image().ClusterID
	if err := q.leader().rs.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	mustPropose(t, q.leader(), AlterConfigs{ResourceType: 2, Name: "t", Set: map[string]*string{"k": str("v")}})
	q.closeAll()
	q.openSideBySide(1, 2, 3)
	q.converged("the restarted cluster with its state, every broker live", func(img *Image) bool {
		tp := img.Topics.Value("t")
		for _, b := range img.Brokers {
			if b.Fenced {
				return false
			}
		}
		return img.ClusterID == cluster && tp != nil && tp.Configs["k"] == "v" && img.NextProducerID == 100 &&
			len(img.Brokers) == 3 && tp.Partitions[0].Leader != noLeader
	})
	q.sameImages()
	mustPropose(t, q.follower(), CreateTopic{Name: "u", Replicas: [][]int32{{2}}})
}

func TestQuorumCloseWithDeadPeers(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	l := q.leader()
	for _, n := range q.live() {
		if n != l {
			q.kill(n.ID())
		}
	}
	q.kill(l.ID()) // kill fails the test if Close takes more than 5s
}

// TestQuorumSurvivesBadControlInput sends malformed bytes to a voter's
// Raft/control port: an unknown protocol byte, an oversized frame, a frame
// that is not JSON, an unknown operation, a torn frame. Each costs only its
// own connection; the quorum keeps committing.
func TestQuorumSurvivesBadControlInput(t *testing.T) {
	q := newQuorum(t, 3, nil)
	addr := q.voters[0].Addr
	frame := func(body string) []byte {
		b := make([]byte, 4, 4+len(body))
		binary.BigEndian.PutUint32(b, uint32(len(body)))
		return append(b, body...)
	}
	inputs := map[string][]byte{
		"unknown protocol":  []byte("Xhello"),
		"oversized frame":   append([]byte{muxControl}, 0xff, 0xff, 0xff, 0xff),
		"not json":          append([]byte{muxControl}, frame("{not json")...),
		"unknown operation": append([]byte{muxControl}, frame(`{"op":"launch-missiles"}`)...),
		"torn frame":        append([]byte{muxControl}, 0, 0, 1, 0, '{'),
		"garbage raft":      append([]byte{muxRaft}, bytes.Repeat([]byte{0xde, 0xad}, 512)...),
	}
	for name, in := range inputs {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("%s: dial: %v", name, err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write(in)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		io.Copy(io.Discard, c) // until the node answers or closes
		c.Close()
	}
	mustPropose(t, q.node(2), CreateTopic{Name: "after-garbage", Replicas: [][]int32{{1, 2, 3}}})
	waitFor(t, "every node sees the topic", func() bool {
		for id := int32(1); id <= 3; id++ {
			if q.node(id).Image().Topics.Value("after-garbage") == nil {
				return false
			}
		}
		return true
	})
}

// TestQuorumSyncCatchesUpWithTheController: after Sync returns, a node's
// image holds everything the controller had applied.
func TestQuorumSyncCatchesUpWithTheController(t *testing.T) {
	q := newQuorum(t, 3, nil)
	for i := range 20 {
		mustPropose(t, q.node(1), CreateTopic{Name: fmt.Sprintf("s%d", i), Replicas: [][]int32{{1}}})
	}
	for id := int32(1); id <= 3; id++ {
		if err := q.node(id).Sync(testCtx(t)); err != nil {
			t.Fatalf("node %d: sync: %v", id, err)
		}
		if q.node(id).Image().Topics.Value("s19") == nil {
			t.Fatalf("node %d: image lacks the last topic after Sync", id)
		}
	}
}

// The whole cluster stops without controlled shutdowns (a power cut) and
// comes back without broker 3. Brokers 1 and 2 lead their partitions
// again as soon as they are back, the ISRs keep every member until 3 is
// fenced, and then 3's partition moves to an ISR member that came back.
// Registering used to take each returning broker out of its ISRs, down
// to a last member that could be broker 3, and a partition whose ISR was
// only the missing broker then had no leader even after it was fenced.
func TestQuorumRestartWithoutOneBrokerLeadsEveryPartition(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	mustPropose(t, q.leader(), CreateTopic{Name: "t", Replicas: [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}})
	q.closeAll()
	q.openSideBySide(1, 2)
	img := q.leader().Image()
	for i, want := range []int32{1, 2} {
		if p := img.Topics.Value("t").Partitions[i]; p.Leader != want || p.LeaderEpoch != 1 || len(p.ISR) != 3 {
			t.Errorf("partition %d once 1 and 2 are back: %+v, want led by %d at epoch 1 with the whole ISR", i, p, want)
		}
	}
	start := time.Now()
	q.converged("broker 3 fenced and every partition led by 1 or 2", func(img *Image) bool {
		if !img.Brokers[3].Fenced {
			return false
		}
		for _, p := range img.Topics.Value("t").Partitions {
			if p.Leader != 1 && p.Leader != 2 || slices.Contains(p.ISR, 3) {
				return false
			}
		}
		return true
	})
	if took := time.Since(start); took > 2*testSession+time.Second {
		t.Errorf("partition 2 took %v to move, more than the session timeout (%v) allows", took, testSession)
	}
	q.sameImages()
}

// A broker that rejoined keeps its leaderships until its first heartbeat;
// if it dies before that, the controller fences it again when its session
// times out, and they move.
func TestQuorumRejoinedBrokerSilentIsFencedAgain(t *testing.T) {
	t.Parallel()
	const session = 4 * time.Second
	q := newQuorum(t, 3, func(c *Config) { c.SessionTimeout = session })
	mustPropose(t, q.leader(), CreateTopic{Name: "t", Replicas: [][]int32{{3, 1, 2}}})
	b3 := q.leader().Image().Brokers[3]
	q.closeAll()
	q.openSideBySide(1, 2)
	// Broker 3 registers again and dies before its first heartbeat: here
	// another node proposes its registration for it.
	b3.Fenced = true
	mustPropose(t, q.node(1), RegisterBroker{Broker: b3, Rejoin: true})
	if p := q.node(1).Image().Topics.Value("t").Partitions[0]; p.Leader != 3 || p.LeaderEpoch != 1 {
		t.Fatalf("partition 0 after 3 rejoined: %+v, want still led by 3 at epoch 1", p)
	}
	start := time.Now()
	q.converged("partition 0 led by 1 after 3 stayed silent", func(img *Image) bool {
		p := img.Topics.Value("t").Partitions[0]
		return p.Leader == 1 && !slices.Contains(p.ISR, 3)
	})
	if took := time.Since(start); took > 2*session {
		t.Errorf("leadership moved after %v, want within about the session timeout (%v)", took, session)
	}
	q.sameImages()
}

// A broker back with a new metadata log (its data directory wiped) does
// not rejoin: it may have lost its partitions' data too, so it leaves its
// ISRs and leaderships as a fence does, even before its session ended.
func TestQuorumBrokerWithNewDirectoryDoesNotRejoin(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	q.cfgs[4] = q.config(4, "127.0.0.1:0", nil)
	q.reopen(4)
	mustPropose(t, q.leader(), CreateTopic{Name: "t", Replicas: [][]int32{{4, 1, 2}}})
	addr := q.leader().Quorum().NonVoters[0].Addr
	q.kill(4)
	q.cfgs[4] = q.config(4, addr, nil) // a new directory
	n4 := q.reopen(4)
	if p := n4.Image().Topics.Value("t").Partitions[0]; p.Leader == 4 || slices.Contains(p.ISR, 4) {
		t.Fatalf("partition 0 after 4 came back with a new directory: %+v", p)
	}
}

// TestQuorumBrokerWithNewLogDirsDoesNotRejoin: a broker back with its
// metadata log but a log directory that lost its mark (wiped or replaced
// while it was down) does not rejoin: the replicas in that directory may
// be empty, and one of them must not stay in the ISR, let alone lead.
func TestQuorumBrokerWithNewLogDirsDoesNotRejoin(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	q.cfgs[4] = q.config(4, "127.0.0.1:0", nil)
	q.reopen(4)
	mustPropose(t, q.leader(), CreateTopic{Name: "t", Replicas: [][]int32{{4, 1, 2}}})
	q.kill(4)
	cfg := q.cfgs[4]
	cfg.NewLogDirs = true
	q.cfgs[4] = cfg
	n4 := q.reopen(4)
	if p := n4.Image().Topics.Value("t").Partitions[0]; p.Leader == 4 || slices.Contains(p.ISR, 4) {
		t.Fatalf("partition 0 after 4 came back with a new log directory: %+v", p)
	}
}

// TestQuorumSessionExpiry: every broker's session expiry runs about a
// session timeout ahead while its heartbeats reach the controller; a
// broker whose heartbeats stop sees its expiry pass no later than the
// controller fences it, and a new one once they resume.
func TestQuorumSessionExpiry(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	victim := q.follower().ID()
	for id := int32(1); id <= 3; id++ {
		waitFor(t, fmt.Sprintf("broker %d's session expiry ahead", id), func() bool {
			exp, bounded := q.node(id).SessionExpiry()
			return bounded && time.Until(exp) > testSession-3*testHeartbeat
		})
	}
	q.node(victim).pauseHeartbeats.Store(true)
	exp, _ := q.node(victim).SessionExpiry()
	q.converged("the silent broker fenced", func(img *Image) bool { return img.Brokers[victim].Fenced })
	if now := time.Now(); now.Before(exp) {
		t.Fatalf("broker %d fenced %v before its own session expiry", victim, exp.Sub(now))
	}
	if later, _ := q.node(victim).SessionExpiry(); !later.Equal(exp) {
		t.Fatalf("the silent broker's session expiry moved from %v to %v", exp, later)
	}
	q.node(victim).pauseHeartbeats.Store(false)
	waitFor(t, "the session expiry ahead again", func() bool {
		exp, _ := q.node(victim).SessionExpiry()
		return time.Until(exp) > 0
	})
}

// TestQuorumIsolatedControllerSessionEndsBeforeFencing: a controller cut
// off from the other voters keeps the Raft leadership for up to a lease
// or two, and its own heartbeats, and those of a broker cut off with it,
// reach it all that while; the new controller counts their sessions from
// its last Raft contact with it at the earliest. Their sessions must end
// by then: until a session ends, its broker names itself leader in
// Metadata and acts as transaction coordinator.
func TestQuorumIsolatedControllerSessionEndsBeforeFencing(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	// Broker 4, a non-voter, stays on the controller's side of the split.
	q.cfgs[4] = q.config(4, "127.0.0.1:0", nil)
	n4 := q.reopen(4)
	old := q.leader()
	for _, n := range []*Node{old, n4} {
		waitFor(t, fmt.Sprintf("broker %d's session expiry ahead", n.ID()), func() bool {
			exp, bounded := n.SessionExpiry()
			return bounded && time.Until(exp) > testSession-3*testHeartbeat
		})
	}
	side := map[string]bool{n4.mux.advertise.String(): true}
	for _, v := range q.voters {
		if v.ID == old.ID() {
			side[v.Addr] = true
		}
	}
	var majority *Node
	for _, n := range q.live() {
		switch {
		case n == old || n == n4:
			n.mux.partition(func(a string) bool { return !side[a] })
		default:
			majority = n
			n.mux.partition(func(a string) bool { return side[a] })
		}
	}
	// Every voter's last contact with the old controller, from which the
	// new one counts sessions, is before this.
	cut := time.Now()
	for _, n := range []*Node{old, n4} {
		waitFor(t, fmt.Sprintf("broker %d fenced", n.ID()), func() bool { return majority.Image().Brokers[n.ID()].Fenced })
		fenced := time.Now()
		exp, _ := n.SessionExpiry()
		t.Logf("broker %d after the cut: session expiry %v, fenced by %v", n.ID(), exp.Sub(cut), fenced.Sub(cut))
		if limit := cut.Add(testSession); exp.After(limit) {
			t.Errorf("broker %d's session runs until %v after the cut, past the %v after which the new controller may fence it",
				n.ID(), exp.Sub(cut), testSession)
		}
		if exp.After(fenced) {
			t.Errorf("broker %d was fenced %v before its own session expiry", n.ID(), exp.Sub(fenced))
		}
	}
}

// Ending maintenance registers the broker fenced: the controller unfences
// it at its next heartbeat. A broker the controller fenced meanwhile (its
// heartbeats stopped) is not unfenced by the end of its maintenance, and
// leads nothing, until it heartbeats again.
func TestQuorumEndControlledShutdownLeavesAFencedBrokerFenced(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	l := q.leader()
	var victim *Node
	for _, n := range q.live() {
		if n != l {
			victim = n
			break
		}
	}
	id := victim.ID()
	mustPropose(t, l, CreateTopic{Name: "t", Replicas: [][]int32{{id}}})
	if err := victim.ControlledShutdown(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	victim.PauseHeartbeats(true)
	q.converged("the silent broker fenced", func(img *Image) bool { return img.Brokers[id].Fenced })
	ctx, cancel := context.WithTimeout(testCtx(t), 3*testSession)
	err := victim.EndControlledShutdown(ctx)
	cancel()
	if err == nil {
		t.Fatal("maintenance of a silent broker ended unfenced")
	}
	img := victim.Image()
	if b := img.Brokers[id]; !b.Fenced || b.ShuttingDown {
		t.Fatalf("broker %d after ending maintenance while silent: %+v, want fenced and not shutting down", id, b)
	}
	if p := img.Topics.Value("t").Partitions[0]; p.Leader != noLeader {
		t.Fatalf("partition of the fenced broker: %+v, want no leader", p)
	}
	victim.PauseHeartbeats(false)
	q.converged("the broker unfenced by its heartbeats, leading its partition", func(img *Image) bool {
		return !img.Brokers[id].Fenced && img.Topics.Value("t").Partitions[0].Leader == id
	})
	if err := victim.EndControlledShutdown(testCtx(t)); err != nil {
		t.Fatalf("ending maintenance again: %v", err)
	}
}

// A partition left without a leader (its one ISR member fenced) gets one
// once unclean.leader.election.enable is enabled for its topic: the
// controller elects the live replica out of sync, as Kafka's does.
func TestQuorumEnablingUncleanElectionElectsLeaderlessPartitions(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	// x, the last ISR member, goes silent and is fenced.
	x, y := outOfSyncPair(t, q)
	x.PauseHeartbeats(true)
	defer x.PauseHeartbeats(false)
	q.converged("x fenced, the partition without a leader", func(img *Image) bool {
		return img.Brokers[x.ID()].Fenced && img.Topics.Value("t").Partitions[0].Leader == noLeader
	})
	time.Sleep(2 * testHeartbeat) // ticks of the controller: nothing elects y yet
	if p := q.leader().Image().Topics.Value("t").Partitions[0]; p.Leader != noLeader {
		t.Fatalf("leader elected with unclean election disabled: %+v", p)
	}
	mustPropose(t, q.leader(), AlterConfigs{ResourceType: resourceTopic, Name: "t", Set: map[string]*string{uncleanConfig: str("true")}})
	q.converged("y elected, out of sync", func(img *Image) bool {
		p := img.Topics.Value("t").Partitions[0]
		return p.Leader == y.ID() && slices.Equal(p.ISR, []int32{y.ID()})
	})
}

// TestQuorumBrokerWithLostLogsDoesNotLeadItsEmptyReplicas: a broker back
// with none of its log directories' data, the last ISR member of a
// partition with another replica, does not lead it once unfenced: the
// partition waits without a leader (for an unclean election) instead of
// truncating the other replica to an empty log.
func TestQuorumBrokerWithLostLogsDoesNotLeadItsEmptyReplicas(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	q.cfgs[4] = q.config(4, "127.0.0.1:0", nil)
	q.reopen(4)
	other := q.follower().ID()
	mustPropose(t, q.leader(), CreateTopic{Name: "t", Replicas: [][]int32{{4, other}}})
	q.converged("the topic created", func(img *Image) bool { return img.Topics.Value("t") != nil })
	// The other replica leaves the ISR (nothing fetches here for it to
	// rejoin), leaving broker 4 its last member.
	mustPropose(t, q.leader(), fenceBroker{ID: other, Epoch: q.leader().Image().Brokers[other].Epoch})
	q.converged("the other replica out of the ISR, live", func(img *Image) bool {
		p := img.Topics.Value("t").Partitions[0]
		return !img.Brokers[other].Fenced && slices.Equal(p.ISR, []int32{4}) && p.Leader == 4
	})
	q.kill(4)
	cfg := q.config(4, "127.0.0.1:0", nil)
	cfg.Dir = q.cfgs[4].Dir // the metadata is kept; the log directories are new
	cfg.NewLogDirs, cfg.LostLogs = true, true
	q.cfgs[4] = cfg
	n4 := q.reopen(4)
	if b := n4.Image().Brokers[4]; b.Fenced {
		t.Fatalf("broker 4 fenced after its start: %+v", b)
	}
	if p := n4.Image().Topics.Value("t").Partitions[0]; p.Leader != noLeader || len(p.ISR) != 0 {
		t.Fatalf("partition after broker 4 came back without its data: %+v, want no leader and an empty ISR", p)
	}
	mustPropose(t, q.leader(), AlterConfigs{ResourceType: resourceTopic, Name: "t", Set: map[string]*string{uncleanConfig: str("true")}})
	q.converged("an unclean election", func(img *Image) bool {
		p := img.Topics.Value("t").Partitions[0]
		return p.Leader != noLeader && len(p.ISR) == 1
	})
}

// With unclean.leader.election.enable set in the brokers' static configs
// (and nowhere in the metadata), a partition whose last ISR member is
// fenced gets the live replica out of sync as leader: the controller
// elects it.
func TestQuorumStaticUncleanElection(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, func(c *Config) { c.UncleanLeaderElection = true })
	x, y := outOfSyncPair(t, q)
	x.PauseHeartbeats(true)
	defer x.PauseHeartbeats(false)
	q.converged("y elected, out of sync, once x is fenced", func(img *Image) bool {
		p := img.Topics.Value("t").Partitions[0]
		return img.Brokers[x.ID()].Fenced && p.Leader == y.ID() && slices.Equal(p.ISR, []int32{y.ID()})
	})
}

// outOfSyncPair creates topic "t" of one partition on the two brokers of q
// that do not lead the quorum, x and y, and takes y out of its ISR (fenced
// once by hand; nothing here fetches for it to rejoin), live again: x is
// the ISR's last member.
func outOfSyncPair(t *testing.T, q *testQuorum) (x, y *Node) {
	t.Helper()
	l := q.leader()
	var others []*Node
	for _, n := range q.live() {
		if n != l {
			others = append(others, n)
		}
	}
	x, y = others[0], others[1]
	mustPropose(t, l, CreateTopic{Name: "t", Replicas: [][]int32{{x.ID(), y.ID()}}})
	q.converged("the topic created", func(img *Image) bool { return img.Topics.Value("t") != nil })
	mustPropose(t, l, fenceBroker{ID: y.ID(), Epoch: l.Image().Brokers[y.ID()].Epoch})
	q.converged("y unfenced again, out of the ISR", func(img *Image) bool {
		p := img.Topics.Value("t").Partitions[0]
		return !img.Brokers[y.ID()].Fenced && slices.Equal(p.ISR, []int32{x.ID()})
	})
	return x, y
}
