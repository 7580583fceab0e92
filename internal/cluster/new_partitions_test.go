package cluster

import (
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// A new partition's ISR is its live replicas and the first of them leads
// (Kafka's ReplicationControlManager.createTopic and createPartitions); a
// broker fenced for silence leads nothing it did not have before, and a
// partition on fenced brokers alone is refused.
func TestQuorumNewPartitionsLeaveFencedReplicasOutOfTheISR(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	l := q.leader()
	victim := q.follower().ID()
	other := int32(1)
	for other == victim {
		other++
	}
	q.node(victim).pauseHeartbeats.Store(true)
	q.converged("the silent broker fenced", func(img *Image) bool { return img.Brokers[victim].Fenced })

	mustPropose(t, l, CreateTopic{Name: "t", Replicas: [][]int32{{victim, other}, {other, victim}}})
	want := []Partition{
		{Index: 0, Leader: other, Replicas: []int32{victim, other}, ISR: []int32{other}},
		{Index: 1, Leader: other, Replicas: []int32{other, victim}, ISR: []int32{other}},
	}
	if got := l.Image().Topics.Value("t").Partitions; !reflect.DeepEqual(got, want) {
		t.Fatalf("topic created while %d is fenced:\n got %+v\nwant %+v", victim, got, want)
	}
	err := l.Propose(testCtx(t), CreateTopic{Name: "lone", Replicas: [][]int32{{victim}}})
	if !errors.Is(err, ErrNoLiveReplica) {
		t.Fatalf("CreateTopic on the fenced broker alone: %v, want %v", err, ErrNoLiveReplica)
	}
	id := l.Image().Topics.Value("t").ID
	err = l.Propose(testCtx(t), CreatePartitions{ID: id, Replicas: [][]int32{{victim, other}, {victim}}})
	if !errors.Is(err, ErrNoLiveReplica) {
		t.Fatalf("CreatePartitions with one on the fenced broker alone: %v, want %v", err, ErrNoLiveReplica)
	}
	mustPropose(t, l, CreatePartitions{ID: id, Replicas: [][]int32{{victim, other}}})
	if got, want := l.Image().Topics.Value("t").Partitions[2], (Partition{Index: 2, Leader: other, Replicas: []int32{victim, other}, ISR: []int32{other}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("partition added while %d is fenced:\n got %+v\nwant %+v", victim, got, want)
	}
	q.sameImages()
}

// CreateTopic entries logged before version 2 apply as they did then:
// every replica in sync, the first leading.
func TestCreateTopicVersion1PutsEveryReplicaInSync(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, fenceBroker{ID: 1})
	data, err := encodeCommand(CreateTopic{Name: "old", ID: tid(1), Replicas: [][]int32{{1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	data[1] = 1
	if res := f.Apply(&raft.Log{Index: f.applied.get() + 1, Type: raft.LogCommand, Data: data}); res != nil {
		t.Fatalf("apply version 1: %v", res)
	}
	mustApply(t, f, CreateTopic{Name: "new", ID: tid(2), Replicas: [][]int32{{1, 2}}})
	if got, want := part(f, "old", 0), (Partition{Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}); !reflect.DeepEqual(got, want) {
		t.Errorf("version 1:\n got %+v\nwant %+v", got, want)
	}
	if got, want := part(f, "new", 0), (Partition{Leader: 2, Replicas: []int32{1, 2}, ISR: []int32{2}}); !reflect.DeepEqual(got, want) {
		t.Errorf("version 2:\n got %+v\nwant %+v", got, want)
	}
}

// While a registered broker runs software of level 1 (a rolling upgrade
// under way), commands are proposed at version 1, which it applies: a new
// partition puts every replica in sync as before, and the broker does not
// halt. Once it registers at this level, version 2 is used.
func TestQuorumProposesAtTheLowestBrokerLevel(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	l := q.leader()
	old := q.follower().ID()
	other := int32(1)
	for other == old {
		other++
	}
	b := l.Image().Brokers[old]
	b.Level = 0 // as its software, before levels, registered it
	mustPropose(t, l, RegisterBroker{Broker: b})
	q.converged("the old broker's registration", func(img *Image) bool { return img.CommandLevel() == 1 })
	q.node(old).pauseHeartbeats.Store(true)
	q.converged("the silent broker fenced", func(img *Image) bool { return img.Brokers[old].Fenced })

	mustPropose(t, l, CreateTopic{Name: "during", Replicas: [][]int32{{old, other}}})
	if got, want := l.Image().Topics.Value("during").Partitions[0], (Partition{Leader: old, Replicas: []int32{old, other}, ISR: []int32{old, other}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("topic created at level 1:\n got %+v\nwant %+v", got, want)
	}
	for _, n := range q.nodes {
		if err := n.Err(); err != nil {
			t.Fatalf("node %d halted at a level-1 command: %v", n.ID(), err)
		}
	}

	b = l.Image().Brokers[old]
	b.Level = commandLevel
	mustPropose(t, l, RegisterBroker{Broker: b})
	q.converged("the upgraded registration", func(img *Image) bool { return img.CommandLevel() == commandLevel })
	mustPropose(t, l, CreateTopic{Name: "after", Replicas: [][]int32{{old, other}}})
	if got, want := l.Image().Topics.Value("after").Partitions[0], (Partition{Leader: other, Replicas: []int32{old, other}, ISR: []int32{other}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("topic created at level 2:\n got %+v\nwant %+v", got, want)
	}
	q.sameImages()
}

// encodeCommandAt level 1 writes version 1, without version 2's fields.
func TestEncodeCommandAtLevelOne(t *testing.T) {
	for _, tc := range []struct {
		cmd  Command
		want Command
	}{
		{CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1}}}, CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1}}}},
		{unfenceBroker{ID: 1, Epoch: 7}, unfenceBroker{ID: 1}},
		{AlterPartition{Topic: tid(1), ISR: []int32{1, 2}, BrokerEpochs: []int64{3, 4}}, AlterPartition{Topic: tid(1), ISR: []int32{1, 2}}},
	} {
		data, err := encodeCommandAt(tc.cmd, 1)
		if err != nil {
			t.Fatal(err)
		}
		if data[1] != 1 {
			t.Errorf("%T at level 1: version %d, want 1", tc.cmd, data[1])
		}
		got, err := decodeCommand(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%T at level 1 decodes to %+v, want %+v", tc.cmd, got, tc.want)
		}
	}
	data, err := encodeCommandAt(RegisterBroker{Broker: Broker{ID: 1}, Rejoin: true}, 1)
	if err != nil || data[1] != 2 {
		t.Errorf("a rejoin at level 1: version %d (%v), want 2, which level 1 applies", data[1], err)
	}
}

// CreatePartitions with From applies only to a topic of that many
// partitions: a second "grow to 2" (a retry, or another request that read
// the same count) is refused instead of growing the topic to 3.
func TestCreatePartitionsFromRefusesAStaleCount(t *testing.T) {
	f := fsmWith(t, CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1}}})
	grow := CreatePartitions{ID: tid(1), Replicas: [][]int32{{1}}, From: 1}
	if res := applyFSM(t, f, grow); res != nil {
		t.Fatalf("grow to 2: %v", res)
	}
	res := applyFSM(t, f, grow)
	if err, _ := res.(error); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("grow to 2 again: %v, want ErrInvalidPartitions", res)
	}
	if n := len(f.state.Topics.Value("t").Partitions); n != 2 {
		t.Fatalf("topic has %d partitions, want 2", n)
	}
}

// The fields of version 3 (CreatePartitions.From, RegisterBroker.LostLogs)
// are written at level 3 alone: below, each command is the version before
// without them, as older software applies it. A version 3 field in an
// older version's envelope is malformed.
func TestEncodeLevelThreeFields(t *testing.T) {
	from := CreatePartitions{ID: tid(1), Replicas: [][]int32{{1}}, From: 4}
	lost := RegisterBroker{Broker: Broker{ID: 1, Fenced: true}, LostLogs: true}
	for _, tc := range []struct {
		cmd            Command
		level, version uint8
		want           Command
	}{
		{from, 3, 3, from},
		{from, 2, 2, CreatePartitions{ID: tid(1), Replicas: [][]int32{{1}}}},
		{from, 1, 1, CreatePartitions{ID: tid(1), Replicas: [][]int32{{1}}}},
		{lost, 3, 3, lost},
		{lost, 2, 1, RegisterBroker{Broker: Broker{ID: 1, Fenced: true}}},
	} {
		data, err := encodeCommandAt(tc.cmd, tc.level)
		if err != nil {
			t.Fatal(err)
		}
		if data[1] != tc.version {
			t.Errorf("%T at level %d: version %d, want %d", tc.cmd, tc.level, data[1], tc.version)
		}
		got, err := decodeCommand(data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%T at level %d decodes to %+v, want %+v", tc.cmd, tc.level, got, tc.want)
		}
		if tc.level == 3 {
			data[1] = 2
			if got, err := decodeCommand(data); err == nil {
				t.Errorf("%T's version 3 fields in a version 2 envelope decode to %+v, want an error", tc.cmd, got)
			}
		}
	}
	if _, err := encodeCommandAt(RegisterBroker{Broker: Broker{ID: 1}, Rejoin: true, LostLogs: true}, 3); err == nil {
		t.Error("a rejoin with lost logs was encoded")
	}
}
