package cluster

import (
	"fmt"
	"log/slog"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// ApplyBatch applies a batch of commands exactly as Apply applies them one
// by one: the same final state, the same result or error per command
// (failed ones included, which leave the state as it was), and the
// applied index at the batch's last command. Every image it publishes is
// whole, and the previously published image is left untouched.
func TestApplyBatchEqualsApplyOneByOne(t *testing.T) {
	t.Parallel()
	cmds := []Command{
		RegisterBroker{Broker: Broker{ID: 1, Host: "h", Port: 1}},
		RegisterBroker{Broker: Broker{ID: 2, Host: "h", Port: 2}},
		CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1, 2}, {2, 1}}},
		CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{2}}},
		CreateTopic{Name: "a", ID: tid(3), Replicas: [][]int32{{1}}}, // exists: fails
		CreatePartitions{ID: tid(2), Replicas: [][]int32{{1}}},
		DeleteTopic{ID: tid(9)}, // unknown: fails
		fenceBroker{ID: 2},
		DeleteTopic{ID: tid(1)},
		CreateTopic{Name: "c", ID: tid(4), Replicas: [][]int32{{1}}},
	}
	var logs []*raft.Log
	for i, c := range cmds {
		data, err := encodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data})
	}
	one := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	var want []any
	for _, l := range logs {
		want = append(want, one.Apply(l))
	}

	pub := newPublisher()
	batch := newFSM(slog.New(slog.DiscardHandler), pub)
	got := batch.ApplyBatch(logs[:3])
	before := pub.image()
	beforeTopics := before.Topics.Len()
	got = append(got, batch.ApplyBatch(logs[3:])...)
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("command %d (%T): batch result %v, one by one %v", i, cmds[i], got[i], want[i])
		}
	}
	for _, i := range []int{4, 6} {
		if _, ok := got[i].(error); !ok {
			t.Errorf("command %d (%T) did not fail in the batch", i, cmds[i])
		}
	}
	if !reflect.DeepEqual(withoutDelta(batch.state), withoutDelta(one.state)) {
		t.Errorf("state after the batches %+v\nwant %+v", batch.state, one.state)
	}
	if pub.image().Index != uint64(len(logs)) || batch.applied.get() != uint64(len(logs)) {
		t.Errorf("published index %d, applied %d; want %d", pub.image().Index, batch.applied.get(), len(logs))
	}
	if before.Topics.Len() != beforeTopics || before.Topics.Value("b") != nil {
		t.Errorf("the image published after the first batch changed: %v", before.Topics)
	}
	if c, ok := pub.image().ChangesSince(before.Index); !ok || len(c.Topics) != 3 {
		t.Errorf("changes since the first batch: %+v (%v), want topics a, b, c", c, ok)
	}
}
