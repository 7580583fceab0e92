package cluster

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

// fsmWith is an FSM with brokers 1-4 registered (rack r1, r2, r1, r2) and
// live, and the given commands applied.
func fsmWith(t *testing.T, cmds ...Command) *fsm {
	t.Helper()
	f := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	for id := int32(1); id <= 4; id++ {
		mustApply(t, f, RegisterBroker{Broker: Broker{ID: id, Host: "h", Port: 9000 + id, Rack: []string{"r1", "r2"}[(id-1)%2]}})
	}
	mustApply(t, f, cmds...)
	return f
}

func applyFSM(t *testing.T, f *fsm, cmd Command) any {
	t.Helper()
	data, err := encodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(&raft.Log{Index: f.applied.get() + 1, Type: raft.LogCommand, Data: data})
}

func mustApply(t *testing.T, f *fsm, cmds ...Command) {
	t.Helper()
	for _, c := range cmds {
		if resp := applyFSM(t, f, c); resp != nil {
			if err, ok := resp.(error); ok {
				t.Fatalf("apply %#v: %v", c, err)
			}
		}
	}
}

func part(f *fsm, topic string, i int) Partition { return f.state.Topics.Value(topic).Partitions[i] }

// The topic "t" of these tests: partition 0 on 1,2,3; partition 1 on 2,3;
// partition 2 on 3 alone.
var electionTopic = CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1, 2, 3}, {2, 3}, {3}}}

func TestFenceMovesLeadershipAndShrinksISR(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, electionTopic)
	mustApply(t, f, fenceBroker{ID: 3})
	if !f.state.Brokers[3].Fenced {
		t.Fatal("broker 3 not fenced")
	}
	want := []Partition{
		{Index: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, PartitionEpoch: 1},
		{Index: 1, Leader: 2, Replicas: []int32{2, 3}, ISR: []int32{2}, PartitionEpoch: 1},
		// The last ISR member stays; nobody else may lead.
		{Index: 2, Leader: noLeader, LeaderEpoch: 1, Replicas: []int32{3}, ISR: []int32{3}, PartitionEpoch: 1},
	}
	if got := f.state.Topics.Value("t").Partitions; !reflect.DeepEqual(got, want) {
		t.Fatalf("after fencing 3:\n got %+v\nwant %+v", got, want)
	}

	mustApply(t, f, fenceBroker{ID: 2})
	if p := part(f, "t", 1); p.Leader != noLeader || !reflect.DeepEqual(p.ISR, []int32{2}) || p.LeaderEpoch != 1 || p.PartitionEpoch != 2 {
		t.Fatalf("partition 1 after fencing 2 and 3: %+v", p)
	}
	// Unfencing 3 gives it back the partition it alone is in sync for, not
	// partition 1, whose last in-sync replica is 2.
	mustApply(t, f, unfenceBroker{ID: 3})
	if p := part(f, "t", 2); p.Leader != 3 || p.LeaderEpoch != 2 || p.PartitionEpoch != 2 {
		t.Fatalf("partition 2 after unfencing 3: %+v", p)
	}
	if p := part(f, "t", 1); p.Leader != noLeader {
		t.Fatalf("partition 1 elected an out-of-sync leader: %+v", p)
	}
	mustApply(t, f, unfenceBroker{ID: 2})
	if p := part(f, "t", 1); p.Leader != 2 || p.LeaderEpoch != 2 {
		t.Fatalf("partition 1 after unfencing 2: %+v", p)
	}
}

func TestFenceWithUncleanElection(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, electionTopic,
		AlterConfigs{ResourceType: 2, Name: "t", Set: map[string]*string{uncleanConfig: str("true")}})
	// Partition 1's ISR shrinks to 2, then 2 is fenced: 3 may lead uncleanly.
	p := part(f, "t", 1)
	mustApply(t, f, AlterPartition{Topic: tid(1), Partition: 1, Leader: 2, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{2}})
	mustApply(t, f, fenceBroker{ID: 2})
	if p := part(f, "t", 1); p.Leader != 3 || !reflect.DeepEqual(p.ISR, []int32{3}) || p.LeaderEpoch != 1 {
		t.Fatalf("unclean election on fence: %+v", p)
	}
}

func TestAlterPartition(t *testing.T) {
	t.Parallel()
	ap := func(isr ...int32) AlterPartition {
		return AlterPartition{Topic: tid(1), Partition: 0, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0, ISR: isr}
	}
	tests := []struct {
		name    string
		setup   []Command
		cmd     AlterPartition
		wantErr error
		wantISR []int32
	}{
		{name: "shrink", cmd: ap(1, 2), wantISR: []int32{1, 2}},
		{name: "stale leader epoch", cmd: func() AlterPartition { c := ap(1); c.LeaderEpoch = -1; return c }(), wantErr: ErrFencedLeaderEpoch},
		{name: "not the leader", cmd: func() AlterPartition { c := ap(2); c.Leader = 2; return c }(), wantErr: ErrFencedLeaderEpoch},
		{name: "stale partition epoch", cmd: func() AlterPartition { c := ap(1); c.PartitionEpoch = 7; return c }(), wantErr: ErrInvalidUpdateVersion},
		{name: "unknown partition", cmd: func() AlterPartition { c := ap(1); c.Partition = 9; return c }(), wantErr: ErrUnknownPartition},
		{name: "not a replica", cmd: ap(1, 4), wantErr: ErrIneligibleReplica},
		{name: "leader left out", cmd: ap(2, 3), wantErr: ErrIneligibleReplica},
		{name: "fenced replica", setup: []Command{fenceBroker{ID: 4}, fenceBroker{ID: 3}}, wantErr: ErrIneligibleReplica,
			cmd: func() AlterPartition { c := ap(1, 2, 3); c.PartitionEpoch = 1; return c }()},
		{name: "shutting-down replica", setup: []Command{shutdownBroker{ID: 2}}, wantErr: ErrIneligibleReplica,
			cmd: func() AlterPartition { c := ap(1, 2, 3); c.PartitionEpoch = 1; return c }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := fsmWith(t, append([]Command{electionTopic}, tt.setup...)...)
			before := part(f, "t", 0)
			resp := applyFSM(t, f, tt.cmd)
			err, _ := resp.(error)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("AlterPartition: %v, want %v", err, tt.wantErr)
			}
			after := part(f, "t", 0)
			if err != nil {
				if !reflect.DeepEqual(after, before) {
					t.Fatalf("refused AlterPartition changed %+v to %+v", before, after)
				}
				return
			}
			if !reflect.DeepEqual(after.ISR, tt.wantISR) || after.PartitionEpoch != before.PartitionEpoch+1 || after.LeaderEpoch != before.LeaderEpoch {
				t.Fatalf("after AlterPartition: %+v (before %+v)", after, before)
			}
		})
	}
}

func TestReassignment(t *testing.T) {
	t.Parallel()
	// Move partition 0 from 1,2,3 to 4,2,3: 4 is added, then joins the ISR,
	// which completes the reassignment and hands leadership to 4.
	f := fsmWith(t, electionTopic)
	mustApply(t, f, Reassign{Topic: tid(1), Partition: 0, Target: []int32{4, 2, 3}})
	p := part(f, "t", 0)
	want := Partition{Index: 0, Leader: 1, Replicas: []int32{4, 2, 3, 1}, ISR: []int32{1, 2, 3}, PartitionEpoch: 1,
		AddingReplicas: []int32{4}, RemovingReplicas: []int32{1}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("reassignment started:\n got %+v\nwant %+v", p, want)
	}
	mustApply(t, f, AlterPartition{Topic: tid(1), Partition: 0, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 1, ISR: []int32{1, 2, 3, 4}})
	p = part(f, "t", 0)
	want = Partition{Index: 0, Leader: 4, LeaderEpoch: 1, Replicas: []int32{4, 2, 3}, ISR: []int32{2, 3, 4}, PartitionEpoch: 2}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("reassignment completed:\n got %+v\nwant %+v", p, want)
	}
	if resp := applyFSM(t, f, Reassign{Topic: tid(1), Partition: 0}); !errors.Is(resp.(error), ErrNoReassignment) {
		t.Fatalf("cancel without a reassignment: %v", resp)
	}

	// Cancel: back to the original replicas.
	mustApply(t, f, Reassign{Topic: tid(1), Partition: 1, Target: []int32{4, 1}})
	if p := part(f, "t", 1); !reflect.DeepEqual(p.Replicas, []int32{4, 1, 2, 3}) || !reflect.DeepEqual(p.AddingReplicas, []int32{4, 1}) {
		t.Fatalf("second reassignment: %+v", p)
	}
	mustApply(t, f, Reassign{Topic: tid(1), Partition: 1})
	if p := part(f, "t", 1); !reflect.DeepEqual(p, Partition{Index: 1, Leader: 2, Replicas: []int32{2, 3}, ISR: []int32{2, 3}, PartitionEpoch: 2}) {
		t.Fatalf("cancelled reassignment: %+v", p)
	}

	// A target already in sync (shrinking, reordering) completes at once.
	mustApply(t, f, Reassign{Topic: tid(1), Partition: 1, Target: []int32{3}})
	if p := part(f, "t", 1); !reflect.DeepEqual(p, Partition{Index: 1, Leader: 3, LeaderEpoch: 1, Replicas: []int32{3}, ISR: []int32{3}, PartitionEpoch: 3}) {
		t.Fatalf("shrinking reassignment: %+v", p)
	}
	for _, bad := range []Reassign{
		{Topic: tid(1), Partition: 0, Target: []int32{}},
		{Topic: tid(1), Partition: 0, Target: []int32{1, 1}},
		{Topic: tid(1), Partition: 0, Target: []int32{9}},
	} {
		if resp := applyFSM(t, f, bad); !errors.Is(resp.(error), ErrInvalidReplication) {
			t.Errorf("Reassign %v: %v, want ErrInvalidReplication", bad.Target, resp)
		}
	}
	if resp := applyFSM(t, f, Reassign{Topic: tid(1), Partition: 5, Target: []int32{1}}); !errors.Is(resp.(error), ErrUnknownPartition) {
		t.Errorf("Reassign of an unknown partition: %v", resp)
	}
}

// A reassignment that replaces one in progress keeps every current
// replica, those the first was adding included, until the new target is
// in sync: a leader or the only in-sync copy among them is never dropped.
func TestReassignmentReplacingOneInProgress(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, CreateTopic{Name: "r", ID: tid(3), Replicas: [][]int32{{1, 2}, {1, 2}}})
	// Partition 0: 3 joins the ISR and leads, then the target changes.
	mustApply(t, f, Reassign{Topic: tid(3), Partition: 0, Target: []int32{3, 4}})
	p := part(f, "r", 0)
	mustApply(t, f, AlterPartition{Topic: tid(3), Partition: 0, Leader: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1, 2, 3}})
	mustApply(t, f, ElectLeaders{Partitions: []TopicPartitionID{{Topic: tid(3), Partition: 0}}})
	if p := part(f, "r", 0); p.Leader != 3 {
		t.Fatalf("before the new target: %+v, want led by 3", p)
	}
	mustApply(t, f, Reassign{Topic: tid(3), Partition: 0, Target: []int32{2, 4}})
	p = part(f, "r", 0)
	if p.Leader != 3 || !slices.Contains(p.Replicas, 3) || !reflect.DeepEqual(p.ISR, []int32{1, 2, 3}) ||
		len(p.AddingReplicas) != 0 || !reflect.DeepEqual(p.RemovingReplicas, []int32{3, 1}) {
		// 4 is a replica already (the first target added it): nothing
		// more to add; the reassignment completes once 2 and 4 are in sync.
		t.Fatalf("after the new target: %+v, want led by 3, a replica still, ISR [1 2 3], nothing to add, removing [3 1]", p)
	}
	mustApply(t, f, AlterPartition{Topic: tid(3), Partition: 0, Leader: 3, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1, 2, 3, 4}})
	if p := part(f, "r", 0); !reflect.DeepEqual(p.Replicas, []int32{2, 4}) || p.Leader != 2 || !reflect.DeepEqual(p.ISR, []int32{2, 4}) {
		t.Fatalf("once 4 is in sync: %+v, want replicas [2 4] led by 2", p)
	}
	// Partition 1: 1 and 2 fenced, 3 alone in sync and leading.
	mustApply(t, f, Reassign{Topic: tid(3), Partition: 1, Target: []int32{3, 4}})
	p = part(f, "r", 1)
	mustApply(t, f, AlterPartition{Topic: tid(3), Partition: 1, Leader: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1, 2, 3}})
	mustApply(t, f, fenceBroker{ID: 1}, fenceBroker{ID: 2})
	if p := part(f, "r", 1); p.Leader != 3 || !reflect.DeepEqual(p.ISR, []int32{3}) {
		t.Fatalf("with 1 and 2 fenced: %+v, want 3 leading alone in sync", p)
	}
	mustApply(t, f, Reassign{Topic: tid(3), Partition: 1, Target: []int32{4}})
	if p := part(f, "r", 1); p.Leader != 3 || !reflect.DeepEqual(p.ISR, []int32{3}) || !slices.Contains(p.Replicas, 3) {
		t.Fatalf("after the new target: %+v, want 3 still a replica, leading, in sync", p)
	}
}

func TestElectLeaders(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, electionTopic)
	tp := func(i int32) TopicPartitionID { return TopicPartitionID{Topic: tid(1), Partition: i} }
	// Fence 1: partition 0 moves to 2. Unfence 1: 1 is live but out of
	// the ISR, so the preferred election is not possible until it is back.
	mustApply(t, f, fenceBroker{ID: 1}, unfenceBroker{ID: 1})
	elect := func(c ElectLeaders) electResults {
		t.Helper()
		r, ok := applyFSM(t, f, c).(electResults)
		if !ok {
			t.Fatalf("ElectLeaders returned no results")
		}
		return r
	}
	got := elect(ElectLeaders{Partitions: []TopicPartitionID{tp(0), tp(1), tp(7)}})
	want := electResults{tp(0): ErrNotEligibleLeader, tp(1): ErrElectionNotNeeded, tp(7): ErrUnknownPartition}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("preferred: %v, want %v", got, want)
	}
	p := part(f, "t", 0)
	mustApply(t, f, AlterPartition{Topic: tid(1), Partition: 0, Leader: 2, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{2, 3, 1}})
	if got := elect(ElectLeaders{Partitions: []TopicPartitionID{tp(0)}}); got[tp(0)] != nil {
		t.Fatalf("preferred after 1 caught up: %v", got)
	}
	if p := part(f, "t", 0); p.Leader != 1 || p.LeaderEpoch != 2 {
		t.Fatalf("partition 0 after the preferred election: %+v", p)
	}

	// Unclean: partition 2's only replica in sync is fenced; no live replica.
	mustApply(t, f, fenceBroker{ID: 3})
	if got := elect(ElectLeaders{Unclean: true, Partitions: []TopicPartitionID{tp(1), tp(2)}}); !reflect.DeepEqual(got,
		electResults{tp(1): ErrElectionNotNeeded, tp(2): ErrNotEligibleLeader}) {
		t.Fatalf("unclean: %v", got)
	}
	// Move partition 2 to 4 while 3 is fenced: 4 cannot join the ISR, but
	// an unclean election makes it leader.
	mustApply(t, f, Reassign{Topic: tid(1), Partition: 2, Target: []int32{4}})
	if got := elect(ElectLeaders{Unclean: true, Partitions: []TopicPartitionID{tp(2)}}); got[tp(2)] != nil {
		t.Fatalf("unclean election of 4: %v", got)
	}
	if p := part(f, "t", 2); p.Leader != 4 || !reflect.DeepEqual(p.ISR, []int32{4}) {
		t.Fatalf("partition 2 after the unclean election: %+v", p)
	}
}

func TestShutdownBrokerAndReregister(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, electionTopic)
	mustApply(t, f, shutdownBroker{ID: 2})
	if b := f.state.Brokers[2]; !b.ShuttingDown || b.Fenced {
		t.Fatalf("broker 2: %+v", b)
	}
	if p := part(f, "t", 1); p.Leader != 3 || !reflect.DeepEqual(p.ISR, []int32{3}) || p.LeaderEpoch != 1 {
		t.Fatalf("partition 1 after 2 shut down: %+v", p)
	}
	if p := part(f, "t", 0); p.Leader != 1 || !reflect.DeepEqual(p.ISR, []int32{1, 3}) || p.LeaderEpoch != 0 {
		t.Fatalf("partition 0 after 2 shut down: %+v", p)
	}
	// Registering again (fenced, as a restarted broker does) clears
	// ShuttingDown; the heartbeat's unfence makes it live.
	mustApply(t, f, RegisterBroker{Broker: Broker{ID: 2, Host: "h", Port: 9002, Rack: "r2", Fenced: true}}, unfenceBroker{ID: 2})
	if b := f.state.Brokers[2]; b.ShuttingDown || b.Fenced {
		t.Fatalf("broker 2 after re-registering: %+v", b)
	}
}

// restoredCopy is a new FSM restored from a snapshot of f, failing the
// test unless its state is f's.
func restoredCopy(t *testing.T, f *fsm) *fsm {
	t.Helper()
	var buf bytes.Buffer
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(&memSink{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	g := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	if err := g.Restore(nopCloser{bytes.NewReader(buf.Bytes())}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(withoutDelta(g.state), withoutDelta(f.state)) {
		t.Fatalf("restored\n %+v\nwant\n %+v", g.state, f.state)
	}
	return g
}

// The snapshot carries every field of the new state: fenced and
// shutting-down brokers, partition epochs, reassignments, leaderless
// partitions.
func TestSnapshotCarriesControllerState(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, electionTopic,
		Reassign{Topic: tid(1), Partition: 0, Target: []int32{4, 2}},
		fenceBroker{ID: 3},
		shutdownBroker{ID: 1},
	)
	applyFSM(t, f, DeleteTopic{ID: tid(9)}) // a failed command after the last success
	g := restoredCopy(t, f)
	if g.applied.get() != f.applied.get() || g.applied.get() != f.state.Index+1 {
		t.Fatalf("restored applied index %d, want %d", g.applied.get(), f.applied.get())
	}
	p := part(g, "t", 0)
	if len(p.AddingReplicas) == 0 || len(p.RemovingReplicas) == 0 || p.PartitionEpoch == 0 ||
		!g.state.Brokers[3].Fenced || !g.state.Brokers[1].ShuttingDown || part(g, "t", 2).Leader != noLeader {
		t.Fatalf("restored state lost fields: %+v brokers %+v", g.state.Topics.Value("t").Partitions, g.state.Brokers)
	}
}

func TestNewCommandsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, cmd := range []Command{
		AlterPartition{Topic: tid(1), Partition: 2, Leader: 3, LeaderEpoch: 4, PartitionEpoch: 5, ISR: []int32{3, 1}},
		ElectLeaders{Partitions: []TopicPartitionID{{Topic: tid(1), Partition: 0}}, Unclean: true},
		ElectLeaders{},
		Reassign{Topic: tid(1), Partition: 0, Target: []int32{2, 3}},
		Reassign{Topic: tid(1), Partition: 0},
		fenceBroker{ID: 1}, unfenceBroker{ID: 2}, shutdownBroker{ID: 3},
		RegisterBroker{Broker: Broker{ID: 7, Host: "h", Port: 1, Fenced: true, ShuttingDown: true}},
		RegisterBroker{Broker: Broker{ID: 7, Host: "h", Port: 1, Fenced: true}, Rejoin: true},
		OfflineReplicas{Broker: 2, Partitions: []TopicPartitionID{{Topic: tid(1), Partition: 0}, {Topic: tid(2), Partition: 3}}},
	} {
		b, err := encodeCommand(cmd)
		if err != nil {
			t.Fatalf("encode %#v: %v", cmd, err)
		}
		got, err := decodeCommand(b)
		if err != nil || !reflect.DeepEqual(got, cmd) {
			t.Errorf("round trip of %#v gave %#v (%v)", cmd, got, err)
		}
	}
}

// A broker that registers again as it starts, after stopping without a
// controlled shutdown (the image still shows it live), keeps its ISR
// places and its leaderships with new leader epochs; a registration
// without Rejoin, or of a broker already fenced, leaves them as a fence
// does.
func TestRejoinKeepsISRAndLeadership(t *testing.T) {
	t.Parallel()
	rejoin := func(id int32) RegisterBroker {
		return RegisterBroker{Broker: Broker{ID: id, Host: "h", Port: 9000 + id, Rack: []string{"r1", "r2"}[(id-1)%2], Fenced: true}, Rejoin: true}
	}
	f := fsmWith(t, electionTopic, rejoin(1), rejoin(2))
	if b := f.state.Brokers[1]; !b.Fenced {
		t.Fatalf("broker 1 after rejoining: %+v", b)
	}
	want := []Partition{
		{Index: 0, Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, PartitionEpoch: 1},
		{Index: 1, Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{2, 3}, PartitionEpoch: 1},
		{Index: 2, Leader: 3, Replicas: []int32{3}, ISR: []int32{3}},
	}
	if got := f.state.Topics.Value("t").Partitions; !reflect.DeepEqual(got, want) {
		t.Fatalf("after 1 and 2 rejoined:\n got %+v\nwant %+v", got, want)
	}
	// Broker 3 never comes back: its fence moves partition 2 nowhere (it
	// is the last ISR member) and leaves 1 and 2 leading the others.
	mustApply(t, f, unfenceBroker{ID: 1}, unfenceBroker{ID: 2}, fenceBroker{ID: 3})
	want = []Partition{
		{Index: 0, Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, PartitionEpoch: 2},
		{Index: 1, Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{2}, PartitionEpoch: 2},
		{Index: 2, Leader: noLeader, LeaderEpoch: 1, Replicas: []int32{3}, ISR: []int32{3}, PartitionEpoch: 1},
	}
	if got := f.state.Topics.Value("t").Partitions; !reflect.DeepEqual(got, want) {
		t.Fatalf("after 3 was fenced:\n got %+v\nwant %+v", got, want)
	}

	// Without Rejoin (a first start, or a node of an older version's log
	// replayed), registering fenced leaves ISRs and leaderships.
	g := fsmWith(t, electionTopic, RegisterBroker{Broker: Broker{ID: 1, Host: "h", Port: 9001, Rack: "r1", Fenced: true}})
	if p := part(g, "t", 0); p.Leader != 2 || !reflect.DeepEqual(p.ISR, []int32{2, 3}) {
		t.Fatalf("partition 0 after a plain fenced registration of 1: %+v", p)
	}
	// A broker fenced before it rejoins led nothing and stays out of the
	// ISRs it left.
	h := fsmWith(t, electionTopic, fenceBroker{ID: 2}, rejoin(2))
	if p := part(h, "t", 1); p.Leader != 3 || !reflect.DeepEqual(p.ISR, []int32{3}) || p.LeaderEpoch != 1 {
		t.Fatalf("partition 1 after 2 was fenced and rejoined: %+v", p)
	}
}

// A broker registering with the data of its log directories lost leaves
// the ISR even as its last member, where other replicas exist: unfenced,
// it does not lead the partition it holds nothing of; an unclean election
// picks the live replica out of sync instead. A partition with no other
// replica keeps it in the ISR and is led by it again.
func TestRegisterBrokerWithLostLogs(t *testing.T) {
	f := fsmWith(t, CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1, 2}, {1}}})
	mustApply(t, f, fenceBroker{ID: 2}, unfenceBroker{ID: 2}, fenceBroker{ID: 1})
	if p := part(f, "t", 0); p.Leader != noLeader || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("before: %+v, want no leader, ISR [1]", p)
	}
	mustApply(t, f, RegisterBroker{Broker: Broker{ID: 1, Host: "h", Port: 9001, Rack: "r1", Fenced: true, Epoch: 77, Level: commandLevel}, LostLogs: true})
	mustApply(t, f, unfenceBroker{ID: 1, Epoch: 77})
	if p := part(f, "t", 0); p.Leader != noLeader || len(p.ISR) != 0 {
		t.Fatalf("partition 0 after broker 1 came back empty: %+v, want no leader and an empty ISR", p)
	}
	if p := part(f, "t", 1); p.Leader != 1 || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("partition 1, broker 1's alone: %+v, want led by 1", p)
	}
	tp := TopicPartitionID{Topic: tid(1), Partition: 0}
	if r, _ := applyFSM(t, f, ElectLeaders{Partitions: []TopicPartitionID{tp}}).(electResults); !errors.Is(r[tp], ErrNotEligibleLeader) {
		t.Fatalf("clean election: %v, want ErrNotEligibleLeader", r[tp])
	}
	mustApply(t, f, ElectLeaders{Partitions: []TopicPartitionID{tp}, Unclean: true})
	if p := part(f, "t", 0); p.Leader != 1 && p.Leader != 2 {
		t.Fatalf("after an unclean election: %+v", p)
	}
}

// With unclean election allowed, the partition that loses its last ISR
// member to lost logs elects a live replica at once.
func TestRegisterBrokerWithLostLogsUncleanAllowed(t *testing.T) {
	f := fsmWith(t, CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1, 2}}, Configs: map[string]string{uncleanConfig: "true"}})
	mustApply(t, f, fenceBroker{ID: 2}, unfenceBroker{ID: 2})
	mustApply(t, f, RegisterBroker{Broker: Broker{ID: 1, Host: "h", Port: 9001, Rack: "r1", Fenced: true, Epoch: 77, Level: commandLevel}, LostLogs: true})
	if p := part(f, "t", 0); p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) {
		t.Fatalf("after broker 1 came back empty, unclean allowed: %+v, want led by 2", p)
	}
}
