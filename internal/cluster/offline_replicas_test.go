package cluster

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// A broker's replicas in a failed log directory leave their ISRs (unless
// last) and their leaderships move to another in-sync replica; the broker
// stays live, and its partitions in other directories are untouched.
func TestOfflineReplicasMoveLeadershipAndShrinkISR(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, electionTopic)
	other := CreateTopic{Name: "u", ID: tid(2), Replicas: [][]int32{{2, 1}}}
	mustApply(t, f, other)
	mustApply(t, f, OfflineReplicas{Broker: 2, Partitions: []TopicPartitionID{
		{Topic: tid(1), Partition: 0},
		{Topic: tid(1), Partition: 1},
		{Topic: tid(1), Partition: 2}, // 2 holds no replica of it
		{Topic: tid(9), Partition: 0}, // deleted meanwhile
	}})
	want := []Partition{
		{Index: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, PartitionEpoch: 1, OfflineReplicas: []int32{2}},
		{Index: 1, Leader: 3, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{3}, PartitionEpoch: 1, OfflineReplicas: []int32{2}},
		{Index: 2, Leader: 3, Replicas: []int32{3}, ISR: []int32{3}},
	}
	if got := f.state.Topics.Value("t").Partitions; !reflect.DeepEqual(got, want) {
		t.Fatalf("after broker 2's replicas went offline:\n got %+v\nwant %+v", got, want)
	}
	if br := f.state.Brokers[2]; br.Fenced || br.ShuttingDown {
		t.Fatalf("broker 2 %+v, want live", br)
	}
	if p := part(f, "u", 0); p.Leader != 2 || !reflect.DeepEqual(p.ISR, []int32{2, 1}) {
		t.Fatalf("partition of another directory changed: %+v", p)
	}

	// The last in-sync replica stays in the ISR, and nobody else may lead.
	mustApply(t, f, OfflineReplicas{Broker: 3, Partitions: []TopicPartitionID{{Topic: tid(1), Partition: 2}}})
	if p := part(f, "t", 2); p.Leader != noLeader || !reflect.DeepEqual(p.ISR, []int32{3}) || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
		t.Fatalf("partition 2 after its only replica went offline: %+v", p)
	}
	// A report repeated changes nothing.
	mustApply(t, f, OfflineReplicas{Broker: 2, Partitions: []TopicPartitionID{{Topic: tid(1), Partition: 1}}})
	if p := part(f, "t", 1); p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
		t.Fatalf("partition 1 after a repeated report: %+v", p)
	}

	if err, _ := applyFSM(t, f, OfflineReplicas{Broker: 8, Partitions: []TopicPartitionID{{Topic: tid(1), Partition: 0}}}).(error); err == nil {
		t.Fatal("a report from an unregistered broker applied")
	}
	if err, _ := applyFSM(t, f, OfflineReplicas{Broker: 2}).(error); !errors.Is(err, errNoItems) {
		t.Fatalf("an empty report: %v, want errNoItems", err)
	}
}

// With unclean.leader.election.enable, a partition whose only in-sync
// replica went offline is led by another live replica.
func TestOfflineReplicasWithUncleanElection(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1, 2}},
		Configs: map[string]string{"unclean.leader.election.enable": "true"}})
	mustApply(t, f, fenceBroker{ID: 2}, unfenceBroker{ID: 2}) // ISR [1]
	mustApply(t, f, OfflineReplicas{Broker: 1, Partitions: []TopicPartitionID{{Topic: tid(1), Partition: 0}}})
	if p := part(f, "t", 0); p.Leader != 2 || !reflect.DeepEqual(p.ISR, []int32{2}) {
		t.Fatalf("after the only in-sync replica went offline: %+v", p)
	}
}

// KIP-112: a replica reported offline is never elected, not even by an
// unclean election once it is the only live replica, until its broker
// registers again (a new start, its directory readable) or a
// reassignment removes it.
func TestOfflineReplicaIsNeverElected(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	unclean := map[string]string{uncleanConfig: "true"}
	mustPropose(t, n,
		RegisterBroker{Broker: Broker{Level: commandLevel, ID: 2, Host: "h", Port: 2}},
		RegisterBroker{Broker: Broker{Level: commandLevel, ID: 3, Host: "h", Port: 3}},
		CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{2, 3}}, Configs: unclean},
		CreateTopic{Name: "u", ID: tid(2), Replicas: [][]int32{{2, 1}}, Configs: unclean},
		OfflineReplicas{Broker: 2, Partitions: []TopicPartitionID{{Topic: tid(1)}, {Topic: tid(2)}}},
	)
	p := n.Image().Topics.Value("t").Partitions[0]
	if want := (Partition{Leader: 3, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{3}, PartitionEpoch: 1, OfflineReplicas: []int32{2}}); !reflect.DeepEqual(p, want) {
		t.Fatalf("after 2's replica went offline:\n got %+v\nwant %+v", p, want)
	}
	// The last in-sync replica's broker is fenced: 2 is live, but its
	// replica is offline.
	mustPropose(t, n, fenceBroker{ID: 3})
	if p := n.Image().Topics.Value("t").Partitions[0]; p.Leader != noLeader || !reflect.DeepEqual(p.ISR, []int32{3}) {
		t.Fatalf("after 3 was fenced: %+v, want no leader (2 is offline)", p)
	}
	res, err := n.ElectLeaders(testCtx(t), ElectLeaders{Partitions: []TopicPartitionID{{Topic: tid(1)}}, Unclean: true})
	if err != nil || !errors.Is(res[TopicPartitionID{Topic: tid(1)}], ErrNotEligibleLeader) {
		t.Fatalf("unclean election of the offline replica: %v, %v", res, err)
	}
	// Snapshots keep the memory.
	var buf bytes.Buffer
	if err := (&fsmSnapshot{img: n.Image()}).Persist(&memSink{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	if img, err := decodeSnapshot(&buf); err != nil || !reflect.DeepEqual(img.Topics.Value("t").Partitions[0].OfflineReplicas, []int32{2}) {
		t.Fatalf("restored from a snapshot: %v", err)
	}

	// A reassignment away from the offline replica forgets it.
	mustPropose(t, n, Reassign{Topic: tid(2), Target: []int32{1}})
	if p := n.Image().Topics.Value("u").Partitions[0]; !reflect.DeepEqual(p.Replicas, []int32{1}) || p.OfflineReplicas != nil {
		t.Fatalf("after reassigning away from 2: %+v", p)
	}
	// Broker 2 starts again with the directory readable: its replica may
	// lead again (here uncleanly, as the only live one).
	mustPropose(t, n, RegisterBroker{Broker: Broker{Level: commandLevel, ID: 2, Host: "h", Port: 2, Epoch: 7}})
	if p := n.Image().Topics.Value("t").Partitions[0]; p.Leader != 2 || !reflect.DeepEqual(p.ISR, []int32{2}) || p.OfflineReplicas != nil {
		t.Fatalf("after 2 registered again: %+v", p)
	}
}

// OfflineReplicas entries logged before version 2 apply as then: the
// replica is passed over in that election alone, not remembered.
func TestOfflineReplicasVersion1IsNotRemembered(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1, 2}}})
	data, err := encodeCommand(OfflineReplicas{Broker: 1, Partitions: []TopicPartitionID{{Topic: tid(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	data[1] = 1
	if res := f.Apply(&raft.Log{Index: f.applied.get() + 1, Type: raft.LogCommand, Data: data}); res != nil {
		t.Fatalf("apply version 1: %v", res)
	}
	if got, want := part(f, "t", 0), (Partition{Leader: 2, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{2}, PartitionEpoch: 1}); !reflect.DeepEqual(got, want) {
		t.Errorf("version 1:\n got %+v\nwant %+v", got, want)
	}
}

// The same start of a broker registering again (live, at the end of a
// controlled shutdown) keeps its replicas reported offline: it reports a
// failed directory once. A new start forgets them, as it reports again.
func TestOfflineReplicasOutliveTheSameStartRegisteringAgain(t *testing.T) {
	t.Parallel()
	b1 := Broker{ID: 1, Host: "h", Port: 9001, Rack: "r1", Epoch: 5}
	f := fsmWith(t, RegisterBroker{Broker: b1}, CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1, 2}}})
	mustApply(t, f, OfflineReplicas{Broker: 1, Partitions: []TopicPartitionID{{Topic: tid(1)}}})
	down := b1
	down.Fenced, down.ShuttingDown = true, true
	mustApply(t, f, RegisterBroker{Broker: down}, RegisterBroker{Broker: b1})
	if got := part(f, "t", 0).OfflineReplicas; !reflect.DeepEqual(got, []int32{1}) {
		t.Fatalf("after the same start registered again: offline replicas %v, want [1]", got)
	}
	b1.Epoch = 6
	mustApply(t, f, RegisterBroker{Broker: b1})
	if got := part(f, "t", 0).OfflineReplicas; got != nil {
		t.Fatalf("after a new start registered: offline replicas %v, want none", got)
	}
}

// A broker registers an epoch only once no registered broker is of an
// older level: counting itself at this software's level.
func TestCommandLevelAsCountsTheRegisteringBrokerUpgraded(t *testing.T) {
	img := &Image{Brokers: map[int32]Broker{1: {ID: 1}, 2: {ID: 2, Level: commandLevel}}}
	if got := img.CommandLevel(); got != 1 {
		t.Errorf("CommandLevel with broker 1 of level 1 = %d, want 1", got)
	}
	if got := img.commandLevelAs(1); got != commandLevel {
		t.Errorf("commandLevelAs(1) = %d, want %d: only broker 1 was old", got, commandLevel)
	}
	if got := img.commandLevelAs(2); got != 1 {
		t.Errorf("commandLevelAs(2) = %d, want 1: broker 1 is old", got)
	}
}
