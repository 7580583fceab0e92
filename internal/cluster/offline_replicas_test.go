package cluster

import (
	"errors"
	"reflect"
	"testing"
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
		{Index: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, PartitionEpoch: 1},
		{Index: 1, Leader: 3, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{3}, PartitionEpoch: 1},
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
