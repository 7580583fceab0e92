package cluster

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// KIP-631: a broker's heartbeats carry the broker epoch it registered
// with, and the controller counts only those of the epoch registered
// last. The last heartbeats of a broker's earlier start (a process that
// restarted, or one frozen meanwhile) neither unfence the new start nor
// extend a session.
func TestQuorumHeartbeatOfAnEarlierStartUnfencesNothing(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	l := q.leader()
	n := q.follower()
	id := n.ID()
	before := l.Image().Brokers[id]
	if before.Epoch == 0 || before.Epoch != n.epoch.Load() {
		t.Fatalf("broker %d registered at epoch %d, heartbeats at %d", id, before.Epoch, n.epoch.Load())
	}
	// A new start of broker id registers (fenced, until its own first
	// heartbeat), while the earlier start, n, heartbeats on.
	next := before
	next.Fenced, next.Epoch = true, before.Epoch+1
	mustPropose(t, l, RegisterBroker{Broker: next})
	q.converged("the new start registered", func(img *Image) bool { return img.Brokers[id].Epoch == next.Epoch })
	time.Sleep(testSession / 2) // many heartbeats of the earlier start, and controller checks
	if b := l.Image().Brokers[id]; !b.Fenced {
		t.Fatalf("broker %d unfenced by heartbeats of its earlier start: %+v", id, b)
	}
	expiry, _ := n.SessionExpiry()
	time.Sleep(3 * testHeartbeat)
	if later, _ := n.SessionExpiry(); !later.Equal(expiry) {
		t.Errorf("heartbeats of a stale epoch extended the session from %v to %v", expiry, later)
	}
	if err := l.Propose(testCtx(t), unfenceBroker{ID: id, Epoch: before.Epoch}); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("unfence at the earlier epoch: %v, want %v", err, ErrStaleBrokerEpoch)
	}
	// The new start's first heartbeat unfences it.
	n.epoch.Store(next.Epoch)
	q.converged("the new start unfenced", func(img *Image) bool { return !img.Brokers[id].Fenced })
	q.sameImages()
}

// Broker epochs in unfenceBroker and AlterPartition(s) are version 2: a
// node that knows only version 1 stops at one rather than applying it
// without the check.
func TestBrokerEpochsAreVersion2(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		data    string
		want    Command
		wantErr bool
	}{
		{name: "version 1", data: "\x0c\x01\x00{\"id\":3}", want: unfenceBroker{ID: 3}},
		{name: "version 2", data: "\x0c\x02\x00{\"id\":3,\"epoch\":7}", want: unfenceBroker{ID: 3, Epoch: 7}},
		{name: "version 1 with an epoch", data: "\x0c\x01\x00{\"id\":3,\"epoch\":7}", wantErr: true},
		{name: "version 2 without", data: "\x0c\x02\x00{\"id\":3}", wantErr: true},
		{name: "alter partition version 2", data: "\x08\x02\x00" + `{"topic":"qwAAAAAAAAAAAAAAAAAAAQ","partition":0,"leader":1,"leader_epoch":0,"partition_epoch":0,"isr":[1,2],"broker_epochs":[5,0]}`,
			want: AlterPartition{Topic: tid(1), Leader: 1, ISR: []int32{1, 2}, BrokerEpochs: []int64{5, 0}}},
		{name: "alter partition version 1 with epochs", data: "\x08\x01\x00" + `{"topic":"qwAAAAAAAAAAAAAAAAAAAQ","partition":0,"leader":1,"leader_epoch":0,"partition_epoch":0,"isr":[1,2],"broker_epochs":[5,0]}`, wantErr: true},
		{name: "alter partitions version 2", data: "\x14\x02\x00" + `{"items":[{"topic":"qwAAAAAAAAAAAAAAAAAAAQ","partition":0,"leader":1,"leader_epoch":0,"partition_epoch":0,"isr":[1],"broker_epochs":[5]}]}`,
			want: AlterPartitions{Items: []AlterPartition{{Topic: tid(1), Leader: 1, ISR: []int32{1}, BrokerEpochs: []int64{5}}}}},
		{name: "alter partitions version 2 without", data: "\x14\x02\x00" + `{"items":[{"topic":"qwAAAAAAAAAAAAAAAAAAAQ","partition":0,"leader":1,"leader_epoch":0,"partition_epoch":0,"isr":[1]}]}`, wantErr: true},
	} {
		got, err := decodeCommand([]byte(tt.data))
		if (err != nil) != tt.wantErr || (!tt.wantErr && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("%s: decoded %#v, %v", tt.name, got, err)
		}
		if tt.wantErr {
			continue
		}
		b, err := encodeCommand(tt.want)
		if err != nil || string(b) != tt.data {
			t.Errorf("%s: encoded %q, %v", tt.name, b, err)
		}
	}
}

// KIP-903: an ISR expansion names the broker epoch at which the leader saw
// each member catch up, and the controller refuses it if the broker has
// registered again since: the restarted broker may have lost an unflushed
// tail of what it fetched.
func TestQuorumAlterPartitionRefusesABrokerThatRestartedSince(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	l := q.leader()
	n := q.follower()
	f, other := n.ID(), l.ID()
	mustPropose(t, l, CreateTopic{Name: "t", Replicas: [][]int32{{other, f}}})
	id := l.Image().Topics.Value("t").ID
	epochOf := func(b int32) int64 { return l.Image().Brokers[b].Epoch }
	alter := func(partitionEpoch int32, isr []int32, epochs []int64) error {
		return l.Propose(testCtx(t), AlterPartition{Topic: id, Leader: other, PartitionEpoch: partitionEpoch, ISR: isr, BrokerEpochs: epochs})
	}
	if err := alter(0, []int32{other}, []int64{epochOf(other)}); err != nil {
		t.Fatalf("shrink the ISR: %v", err)
	}
	seen := epochOf(f) // the epoch at which the leader saw f fetch

	// f restarts: a new start registers with a new epoch and heartbeats.
	b := l.Image().Brokers[f]
	b.Fenced, b.Epoch = true, seen+1
	n.epoch.Store(b.Epoch)
	mustPropose(t, l, RegisterBroker{Broker: b})
	q.converged("the new start unfenced", func(img *Image) bool { return !img.Brokers[f].Fenced && img.Brokers[f].Epoch == seen+1 })

	for _, tt := range []struct {
		name   string
		epochs []int64
	}{
		{name: "at the epoch before the restart", epochs: []int64{epochOf(other), seen}},
		{name: "without the joining member's epoch", epochs: []int64{epochOf(other), 0}},
		{name: "with an epoch per member missing", epochs: []int64{epochOf(other)}},
	} {
		if err := alter(1, []int32{other, f}, tt.epochs); !errors.Is(err, ErrIneligibleReplica) {
			t.Errorf("expand the ISR %s: %v, want %v", tt.name, err, ErrIneligibleReplica)
		}
	}
	if err := alter(1, []int32{other, f}, []int64{epochOf(other), epochOf(f)}); err != nil {
		t.Fatalf("expand the ISR at the current epochs: %v", err)
	}
	// A leader that sends no epochs (before KIP-903) is not checked.
	if err := alter(2, []int32{other}, nil); err != nil {
		t.Fatalf("shrink without epochs: %v", err)
	}
	if err := alter(3, []int32{other, f}, nil); err != nil {
		t.Fatalf("expand without epochs: %v", err)
	}
	if p := l.Image().Topics.Value("t").Partitions[0]; p.PartitionEpoch != 4 || !reflect.DeepEqual(p.ISR, []int32{other, f}) {
		t.Errorf("partition after the changes: %+v", p)
	}
	q.sameImages()
}

// A fence decided at one start of a broker does not fence the next start,
// registered since (its silence was the earlier start's); a fence of the
// epoch registered does. At level 1 the fence carries no epoch.
func TestFenceOfAnEarlierStartFencesNothing(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, RegisterBroker{Broker: Broker{ID: 2, Host: "h", Port: 9002, Rack: "r2", Epoch: 7}})
	mustApply(t, f, RegisterBroker{Broker: Broker{ID: 2, Host: "h", Port: 9002, Rack: "r2", Epoch: 8}})
	data, err := encodeCommand(fenceBroker{ID: 2, Epoch: 7})
	if err != nil {
		t.Fatal(err)
	}
	if res, _ := f.Apply(&raft.Log{Index: f.applied.get() + 1, Type: raft.LogCommand, Data: data}).(error); !errors.Is(res, ErrStaleBrokerEpoch) {
		t.Fatalf("fence of epoch 7 after epoch 8 registered: %v, want %v", res, ErrStaleBrokerEpoch)
	}
	if f.state.Brokers[2].Fenced {
		t.Fatal("the new start was fenced by the earlier start's silence")
	}
	mustApply(t, f, fenceBroker{ID: 2, Epoch: 8})
	if !f.state.Brokers[2].Fenced {
		t.Fatal("a fence of the registered epoch fenced nothing")
	}
	if data, err := encodeCommandAt(fenceBroker{ID: 2, Epoch: 8}, 1); err != nil || data[1] != 1 {
		t.Fatalf("a fence at level 1: version %d (%v), want 1", data[1], err)
	}
}
