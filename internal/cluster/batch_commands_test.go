package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

// A CreateTopics command creates every topic it can and reports each
// refusal exactly as CreateTopic would: an existing name or ID, a name
// repeated within the command, bad replicas. Through Propose the result is
// nil or an *ItemErrors, and a retry of the same command finds its own
// topics by ID.
func TestProposeCreateTopics(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	mustPropose(t, n, CreateTopic{Name: "old", ID: tid(1), Replicas: [][]int32{{1}}})
	cmd := CreateTopics{Topics: []CreateTopic{
		{Name: "a", ID: tid(2), Replicas: [][]int32{{1}, {1}}, Configs: map[string]string{"k": "v"}},
		{Name: "old", ID: tid(3), Replicas: [][]int32{{1}}},         // exists
		{Name: "b", ID: tid(1), Replicas: [][]int32{{1}}},           // ID taken
		{Name: "a", ID: tid(4), Replicas: [][]int32{{1}}},           // created just before
		{Name: "c", ID: tid(5), Replicas: [][]int32{{1, 1}}},        // replica twice
		{Name: "d", ID: tid(6)},                                     // no partitions
		{Name: "e", Replicas: [][]int32{{1}}},                       // ID assigned
		{Name: "f", ID: tid(7), Replicas: [][]int32{{1}, {1}, {1}}}, // created
	}}
	err := n.Propose(testCtx(t), cmd)
	var ie *ItemErrors
	if !errors.As(err, &ie) || len(ie.Errs) != len(cmd.Topics) {
		t.Fatalf("Propose: %v, want *ItemErrors of %d", err, len(cmd.Topics))
	}
	want := []error{nil, ErrTopicExists, ErrTopicExists, ErrTopicExists, ErrInvalidReplication, ErrInvalidPartitions, nil, nil}
	for i, w := range want {
		if got := ie.Errs[i]; (got == nil) != (w == nil) || (w != nil && !errors.Is(got, w)) {
			t.Errorf("topic %d (%s): %v, want %v", i, cmd.Topics[i].Name, got, w)
		}
	}
	img := n.Image()
	if got := slices.Sorted(func(yield func(string) bool) {
		for name := range img.Topics.All() {
			if !yield(name) {
				return
			}
		}
	}); !slices.Equal(got, []string{"a", "e", "f", "old"}) {
		t.Fatalf("topics %v, want a e f old", got)
	}
	if a := img.Topics.Value("a"); a.ID != tid(2) || len(a.Partitions) != 2 || a.Configs["k"] != "v" {
		t.Errorf("topic a: %+v", a)
	}
	if e := img.Topics.Value("e"); e.ID == (TopicID{}) || img.TopicsByID.Value(e.ID) != e {
		t.Errorf("topic e: %+v", e)
	}
	if got := ItemErrorsOf(err, len(cmd.Topics)); !reflect.DeepEqual(got, ie.Errs) {
		t.Errorf("ItemErrorsOf: %v", got)
	}

	// Retried after it committed: its own topics are not errors.
	retry := CreateTopics{Topics: []CreateTopic{cmd.Topics[0], cmd.Topics[7]}}
	if err := n.Propose(testCtx(t), retry); err != nil {
		t.Fatalf("retried CreateTopics: %v", err)
	}
	if err := n.Propose(testCtx(t), CreateTopics{}); err == nil || errors.As(err, &ie) {
		t.Fatalf("empty CreateTopics: %v, want a plain error", err)
	}
	if got := ItemErrorsOf(errors.New("x"), 2); got[0] == nil || got[1] == nil {
		t.Errorf("ItemErrorsOf a whole failure: %v", got)
	}
}

// An AlterPartitions command applies each change as AlterPartition would,
// refusing stale ones alone; many changes of one topic's partitions copy
// its partitions once, and no image published before changes.
func TestApplyAlterPartitions(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1, 2}, {1, 2}, {2, 1}, {1, 2}}})
	before := f.state
	beforeParts := slices.Clone(before.Topics.Value("t").Partitions)
	cmd := AlterPartitions{Items: []AlterPartition{
		{Topic: tid(1), Partition: 0, Leader: 1, ISR: []int32{1}},
		{Topic: tid(1), Partition: 1, Leader: 1, ISR: []int32{1}},
		{Topic: tid(1), Partition: 2, Leader: 1, ISR: []int32{1}},    // not the leader
		{Topic: tid(1), Partition: 0, Leader: 1, ISR: []int32{1, 2}}, // stale: partition 0 just changed
		{Topic: tid(9), Partition: 0, Leader: 1, ISR: []int32{1}},    // unknown topic
		{Topic: tid(1), Partition: 3, Leader: 1, ISR: []int32{1}},
	}}
	res, ok := applyFSM(t, f, cmd).(itemResults)
	if !ok || len(res) != len(cmd.Items) {
		t.Fatalf("apply: %#v", res)
	}
	want := []error{nil, nil, ErrFencedLeaderEpoch, ErrInvalidUpdateVersion, ErrUnknownPartition, nil}
	for i, w := range want {
		if got := res[i]; (got == nil) != (w == nil) || (w != nil && !errors.Is(got, w)) {
			t.Errorf("item %d: %v, want %v", i, got, w)
		}
	}
	for i, isr := range [][]int32{{1}, {1}, {2, 1}, {1}} {
		p := part(f, "t", i)
		wantEpoch := int32(1)
		if i == 2 {
			wantEpoch = 0
		}
		if !slices.Equal(p.ISR, isr) || p.PartitionEpoch != wantEpoch {
			t.Errorf("partition %d: %+v, want ISR %v epoch %d", i, p, isr, wantEpoch)
		}
	}
	if !reflect.DeepEqual(before.Topics.Value("t").Partitions, beforeParts) {
		t.Errorf("the previous image changed: %+v", before.Topics.Value("t").Partitions)
	}
	if c, ok := f.state.ChangesSince(before.Index); !ok || len(c.Topics) != 1 {
		t.Errorf("changes: %+v %v", c, ok)
	}
	if err, _ := applyFSM(t, f, AlterPartitions{}).(error); err == nil {
		t.Error("empty AlterPartitions applied")
	}
}

// In a Raft batch, AlterPartitions and ElectLeaders that change the same
// topic one after another give what applying them one at a time gives,
// and leave the image published before the batch as it was.
func TestApplyBatchOfPartitionChanges(t *testing.T) {
	t.Parallel()
	setup := []Command{
		RegisterBroker{Broker: Broker{ID: 1, Host: "h", Port: 1}},
		RegisterBroker{Broker: Broker{ID: 2, Host: "h", Port: 2}},
		CreateTopic{Name: "t", ID: tid(1), Replicas: [][]int32{{1, 2}, {2, 1}, {1, 2}}},
	}
	cmds := []Command{
		AlterPartitions{Items: []AlterPartition{
			{Topic: tid(1), Partition: 0, Leader: 1, ISR: []int32{1}},
			{Topic: tid(1), Partition: 2, Leader: 1, ISR: []int32{1}},
		}},
		fenceBroker{ID: 2},
		unfenceBroker{ID: 2},
		AlterPartitions{Items: []AlterPartition{
			{Topic: tid(1), Partition: 0, Leader: 1, PartitionEpoch: 1, ISR: []int32{1, 2}},
			{Topic: tid(1), Partition: 2, Leader: 1, PartitionEpoch: 9, ISR: []int32{1, 2}}, // stale
		}},
		ElectLeaders{Partitions: []TopicPartitionID{{Topic: tid(1), Partition: 1}}},
		Reassign{Topic: tid(1), Partition: 0, Target: []int32{2, 1}},
	}
	logsOf := func(first int, cs []Command) []*raft.Log {
		var logs []*raft.Log
		for i, c := range cs {
			data, err := encodeCommand(c)
			if err != nil {
				t.Fatal(err)
			}
			logs = append(logs, &raft.Log{Index: uint64(first + i), Type: raft.LogCommand, Data: data})
		}
		return logs
	}
	one := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	batch := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	one.ApplyBatch(logsOf(1, setup))
	batch.ApplyBatch(logsOf(1, setup))
	before := batch.state
	beforeParts := slices.Clone(before.Topics.Value("t").Partitions)
	var want []any
	for _, l := range logsOf(len(setup)+1, cmds) {
		want = append(want, one.Apply(l))
	}
	got := batch.ApplyBatch(logsOf(len(setup)+1, cmds))
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("batch results %v\none by one %v", got, want)
	}
	if !reflect.DeepEqual(withoutDelta(batch.state), withoutDelta(one.state)) {
		t.Errorf("state after the batch %+v\nwant %+v", batch.state.Topics.Value("t"), one.state.Topics.Value("t"))
	}
	if !reflect.DeepEqual(before.Topics.Value("t").Partitions, beforeParts) {
		t.Errorf("the image published before the batch changed: %+v", before.Topics.Value("t").Partitions)
	}
	if want := computeLoad(batch.state.Topics); !reflect.DeepEqual(batch.state.load, want) {
		t.Errorf("replica load %+v, counted from the topics %+v", batch.state.load, want)
	}
}

func TestBatchCommandsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, cmd := range []Command{
		CreateTopics{Topics: []CreateTopic{{Name: "a", ID: tid(1), Replicas: [][]int32{{1, 2}}, Configs: map[string]string{"k": "v"}}, {Name: "b", ID: tid(2), Replicas: [][]int32{{2}}}}},
		AlterPartitions{Items: []AlterPartition{{Topic: tid(1), Partition: 3, Leader: 2, LeaderEpoch: 4, PartitionEpoch: 5, ISR: []int32{2, 1}}}},
	} {
		b, err := encodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCommand(b)
		if err != nil || !reflect.DeepEqual(got, cmd) {
			t.Errorf("round trip of %#v: %#v, %v", cmd, got, err)
		}
	}
	// The payload format is persistent.
	b, err := encodeCommand(AlterPartitions{Items: []AlterPartition{{Topic: tid(1), Partition: 1, Leader: 2, ISR: []int32{2}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "\x14\x01\x00" + `{"items":[{"topic":"qwAAAAAAAAAAAAAAAAAAAQ","partition":1,"leader":2,"leader_epoch":0,"partition_epoch":0,"isr":[2]}]}`
	if string(b) != want {
		t.Errorf("encoded %q, want %q", b, want)
	}
}
