package broker

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/replica"
)

// fakeAckPartition is a partition whose fsync starts with StartSyncs and
// ends when release closes, and whose replication
// answers replErr at once.
type fakeAckPartition struct {
	fsyncing chan struct{} // closed when the fsync starts (StartSyncs)
	release  chan struct{}
	durable  atomic.Bool // set when WaitDurable returns nil
	syncErr  error
	replErr  error
	// replStuck: no follower copies the batch; replication waits until
	// its context ends.
	replStuck bool
}

func newFakeAckPartition() *fakeAckPartition {
	return &fakeAckPartition{fsyncing: make(chan struct{}), release: make(chan struct{})}
}

func (p *fakeAckPartition) WaitReplicated(ctx context.Context, _ int64, _ int32, _ int) error {
	if p.replStuck {
		<-ctx.Done()
		return ctx.Err()
	}
	return p.replErr
}

func (p *fakeAckPartition) ExpectWaitDurable() {}

func (p *fakeAckPartition) StartSyncs() { close(p.fsyncing) }

func (p *fakeAckPartition) WaitDurable(ctx context.Context, _ int64) error {
	select {
	case <-p.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	if p.syncErr != nil {
		return p.syncErr
	}
	p.durable.Store(true)
	return nil
}

// produceWaits is one acks=-1 request's waits on parts, with its response.
func produceWaits(parts ...*fakeAckPartition) ([]durableWait, *kmsg.ProduceResponse) {
	resp := kmsg.NewPtrProduceResponse()
	rt := kmsg.NewProduceResponseTopic()
	rt.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(parts))
	resp.Topics = append(resp.Topics, rt)
	waits := make([]durableWait, len(parts))
	for i, p := range parts {
		waits[i] = durableWait{part: p, end: 10, epoch: 1, minISR: 1, resp: &resp.Topics[0].Partitions[i]}
	}
	return waits, resp
}

// An acks=-1 answer comes only after every partition's batch is fsynced:
// the fsyncs start when the request is handled, before the connection's
// writer asks for the answer, and the answer waits for all of them.
func TestAcksAllAnswerWaitsForEveryFsync(t *testing.T) {
	parts := []*fakeAckPartition{newFakeAckPartition(), newFakeAckPartition(), newFakeAckPartition()}
	waits, resp := produceWaits(parts...)
	reply := awaitDurable(context.Background(), waits, 30*time.Second, nil, resp, nil)
	for _, p := range parts {
		<-p.fsyncing // started without anyone calling Wait
	}
	answered := make(chan kmsg.Response)
	go func() { answered <- reply.Wait(context.Background()) }()
	for i, p := range parts {
		select {
		case <-answered:
			t.Fatalf("answered with %d of %d partitions fsynced", i, len(parts))
		default:
		}
		close(p.release)
	}
	got := (<-answered).(*kmsg.ProduceResponse)
	for i, p := range parts {
		if !p.durable.Load() {
			t.Fatalf("partition %d: answered before its fsync ended", i)
		}
		if c := got.Topics[0].Partitions[i].ErrorCode; c != 0 {
			t.Fatalf("partition %d: error code %d, want 0", i, c)
		}
	}
}

// Each partition's answer carries its own failure: a failed fsync is a
// storage error, a lost leadership wins over it, and an fsync that does not
// end within the request's timeout is REQUEST_TIMED_OUT.
func TestAcksAllWaitErrors(t *testing.T) {
	for _, tc := range []struct {
		name             string
		syncErr, replErr error
		timeout          bool
		want             int16
	}{
		{name: "ok", want: 0},
		{name: "fsync failed", syncErr: fmt.Errorf("fsync: %w", log.ErrOffline), want: kerr.KafkaStorageError.Code},
		{name: "not leader", syncErr: fmt.Errorf("fsync: %w", log.ErrOffline), replErr: replica.ErrNotLeader, want: kerr.NotLeaderForPartition.Code},
		{name: "isr shrank", replErr: replica.ErrNotEnoughReplicasAfterAppend, want: kerr.NotEnoughReplicasAfterAppend.Code},
		{name: "timeout", timeout: true, want: kerr.RequestTimedOut.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeAckPartition()
			p.syncErr, p.replErr = tc.syncErr, tc.replErr
			timeout := 30 * time.Second
			if tc.timeout {
				timeout = time.Millisecond // the fsync never ends: the request's timeout does
			} else {
				close(p.release)
			}
			waits, resp := produceWaits(p)
			got := awaitDurable(context.Background(), waits, timeout, nil, resp, nil).Wait(context.Background()).(*kmsg.ProduceResponse)
			if c := got.Topics[0].Partitions[0].ErrorCode; c != tc.want {
				t.Fatalf("error code %d, want %d", c, tc.want)
			}
		})
	}
}

// A connection that closes ends the waits of its requests: the writer's
// Wait returns instead of waiting for an fsync that never ends.
func TestAcksAllWaitEndsWithTheConnection(t *testing.T) {
	p := newFakeAckPartition()
	waits, resp := produceWaits(p)
	ctx, cancel := context.WithCancel(context.Background())
	reply := awaitDurable(ctx, waits, 30*time.Second, nil, resp, nil)
	<-p.fsyncing
	cancel()
	got := reply.Wait(context.Background()).(*kmsg.ProduceResponse)
	if got.Topics[0].Partitions[0].ErrorCode == 0 || p.durable.Load() {
		t.Fatalf("answered %+v after the connection closed, want an error and no fsync", got.Topics[0].Partitions[0])
	}
}

// A leader cut off from its followers and from the controller waits for
// replication only until its session with the controller lapses: it may
// have been replaced, so the producer gets NOT_LEADER_OR_FOLLOWER and
// looks for the new leader, instead of REQUEST_TIMED_OUT at the end of the
// request's timeout.
func TestAcksAllWaitEndsWhenTheSessionLapses(t *testing.T) {
	p := newFakeAckPartition()
	p.replStuck = true
	close(p.release)
	waits, resp := produceWaits(p)
	const lapse = 200 * time.Millisecond
	start := time.Now()
	expiry := func() (time.Time, bool) { return start.Add(lapse), true }
	got := awaitDurable(context.Background(), waits, 30*time.Second, expiry, resp, nil).Wait(context.Background()).(*kmsg.ProduceResponse)
	took := time.Since(start)
	if c := got.Topics[0].Partitions[0].ErrorCode; c != kerr.NotLeaderForPartition.Code {
		t.Fatalf("error %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(c))
	}
	if took < lapse || took > lapse+5*time.Second {
		t.Fatalf("answered after %v; the session lapsed after %v", took, lapse)
	}
}
