package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"testing"
)

// Kafka's ReplicationControlManager.handleBrokerUnregistered: the broker
// leaves every ISR where it is not the last member and stops leading, as
// when it is fenced; it stays a replica (until a reassignment) and the
// image no longer lists it.
func TestUnregisterBrokerLeavesISRsAndLeaderships(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, electionTopic)
	mustApply(t, f, UnregisterBroker{ID: 2})
	if _, ok := f.state.Brokers[2]; ok {
		t.Fatal("broker 2 still listed after unregistering it")
	}
	want := []Partition{
		{Index: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, PartitionEpoch: 1},
		{Index: 1, Leader: 3, LeaderEpoch: 1, Replicas: []int32{2, 3}, ISR: []int32{3}, PartitionEpoch: 1},
		{Index: 2, Leader: 3, Replicas: []int32{3}, ISR: []int32{3}},
	}
	if got := f.state.Topics.Value("t").Partitions; !reflect.DeepEqual(got, want) {
		t.Fatalf("after unregistering broker 2:\n got %+v\nwant %+v", got, want)
	}

	// The last ISR member stays in the ISR (a clean election stays
	// possible should it register again); nobody else may lead.
	mustApply(t, f, UnregisterBroker{ID: 3})
	if p := part(f, "t", 2); p.Leader != noLeader || !reflect.DeepEqual(p.ISR, []int32{3}) || p.LeaderEpoch != 1 {
		t.Fatalf("partition 2 after unregistering its only replica: %+v", p)
	}
	if p := part(f, "t", 1); p.Leader != noLeader || !reflect.DeepEqual(p.ISR, []int32{3}) || !reflect.DeepEqual(p.Replicas, []int32{2, 3}) {
		t.Fatalf("partition 1 after unregistering both replicas: %+v", p)
	}
}

// An unregistered replica is never elected, not even by an unclean
// election when it is the last ISR member and no other replica is live.
func TestUnregisteredBrokerIsNeverElected(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, CreateTopic{Name: "u", ID: tid(5), Replicas: [][]int32{{2, 1}},
		Configs: map[string]string{uncleanConfig: "true"}})
	mustApply(t, f, fenceBroker{ID: 1}) // ISR [2], led by 2
	mustApply(t, f, UnregisterBroker{ID: 2})
	if p := part(f, "u", 0); p.Leader != noLeader {
		t.Fatalf("after unregistering the leader with every other replica fenced: %+v", p)
	}
	mustApply(t, f, unfenceBroker{ID: 1})
	if p := part(f, "u", 0); p.Leader != 1 {
		t.Fatalf("after broker 1 returned (unclean allowed): %+v, want led by 1", p)
	}
	mustApply(t, f, ElectLeaders{Partitions: []TopicPartitionID{{Topic: tid(5), Partition: 0}}})
	if p := part(f, "u", 0); p.Leader != 1 {
		t.Fatalf("after a preferred election: %+v, want still led by 1", p)
	}
}

// Kafka answers BROKER_ID_NOT_REGISTERED for an ID it does not know; the
// image is left as it was.
func TestUnregisterUnknownBrokerFails(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, electionTopic)
	before := f.state
	err, _ := applyFSM(t, f, UnregisterBroker{ID: 9}).(error)
	if !errors.Is(err, ErrBrokerNotRegistered) {
		t.Fatalf("unregister broker 9: %v, want ErrBrokerNotRegistered", err)
	}
	if f.state != before {
		t.Fatal("a failed unregistration changed the image")
	}
	mustApply(t, f, UnregisterBroker{ID: 4})
	if err, _ := applyFSM(t, f, UnregisterBroker{ID: 4}).(error); !errors.Is(err, ErrBrokerNotRegistered) {
		t.Fatalf("unregister broker 4 twice: %v, want ErrBrokerNotRegistered", err)
	}
}

// A broker that registered once on older software and never returns holds
// CommandLevel down; unregistering it lifts the level to the remaining
// brokers'.
func TestUnregisterOldBrokerRaisesCommandLevel(t *testing.T) {
	t.Parallel()
	f := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	mustApply(t, f,
		RegisterBroker{Broker: Broker{ID: 1, Host: "h", Port: 1, Level: commandLevel}},
		RegisterBroker{Broker: Broker{ID: 2, Host: "h", Port: 2}}, // no level: older software
		RegisterBroker{Broker: Broker{ID: 3, Host: "h", Port: 3, Level: commandLevel}},
		fenceBroker{ID: 2},
	)
	if got := f.state.CommandLevel(); got != 1 {
		t.Fatalf("CommandLevel with an old broker registered = %d, want 1", got)
	}
	mustApply(t, f, UnregisterBroker{ID: 2})
	if got := f.state.CommandLevel(); got != commandLevel {
		t.Fatalf("CommandLevel after unregistering the old broker = %d, want %d", got, commandLevel)
	}
}

// The command is a new type at version 1 without the ignore flag, at every
// level: software that does not know it stops (halt.go) instead of keeping
// a broker the others removed.
func TestUnregisterBrokerWireFormat(t *testing.T) {
	t.Parallel()
	for _, level := range []uint8{1, commandLevel} {
		b, err := encodeCommandAt(UnregisterBroker{ID: 7}, level)
		if err != nil {
			t.Fatal(err)
		}
		if want := "\x17\x01\x00" + `{"id":7}`; string(b) != want {
			t.Errorf("level %d: encoded %q, want %q", level, b, want)
		}
		got, err := decodeCommand(b)
		if err != nil || got != (UnregisterBroker{ID: 7}) {
			t.Errorf("decoded %#v, %v", got, err)
		}
	}
	if latestVersion(cmdUnregisterBroker) != 1 {
		t.Errorf("latestVersion(UnregisterBroker) = %d, want 1", latestVersion(cmdUnregisterBroker))
	}
	var unknown *unknownCommandError
	if _, err := decodeCommand([]byte("\x17\x02\x00" + `{"id":7}`)); !errors.As(err, &unknown) || unknown.ignore() {
		t.Errorf("version 2 decoded with %v, want an unknown command that may not be ignored", err)
	}
}

// A snapshot taken after an unregistration restores without the broker.
func TestUnregisterBrokerSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	f := fsmWith(t, electionTopic, UnregisterBroker{ID: 2})
	g := restoredCopy(t, f)
	if _, ok := g.state.Brokers[2]; ok || len(g.state.Brokers) != 3 {
		t.Errorf("restored brokers %v, want 1, 3 and 4", g.state.Brokers)
	}
}

// Kafka removes a live broker too. Sluice's broker, still running, finds
// itself missing at its next heartbeat and registers again, at a new
// broker epoch, and is unfenced as after any registration.
func TestUnregisteredLiveBrokerRegistersAgain(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	q.converged("three live brokers", func(img *Image) bool {
		return len(img.Brokers) == 3 && isLive(img.Brokers, 1) && isLive(img.Brokers, 2) && isLive(img.Brokers, 3)
	})
	target := q.follower()
	id := target.ID()
	old := q.leader().Image().Brokers[id].Epoch
	if err := q.leader().UnregisterBroker(testCtx(t), id); err != nil {
		t.Fatalf("unregister live broker %d: %v", id, err)
	}
	q.converged("the broker registered again and unfenced", func(img *Image) bool {
		b, ok := img.Brokers[id]
		return ok && isLive(img.Brokers, id) && b.Epoch != old
	})
}

// A follower forwards the command to the controller: the error keeps its
// identity across the RPC, so the broker answers BROKER_ID_NOT_REGISTERED.
func TestBrokerNotRegisteredCrossesTheRPC(t *testing.T) {
	t.Parallel()
	err := toWireError(fmt.Errorf("cluster: unregister broker 9: %w", ErrBrokerNotRegistered)).err()
	if !errors.Is(err, ErrBrokerNotRegistered) {
		t.Fatalf("after the RPC: %v, want ErrBrokerNotRegistered", err)
	}
}

// An UnregisterBroker is refused while another registered broker runs
// older software, which would stop at the command; the old broker itself
// may be removed.
func TestUnregisterRefusedWhileAnotherBrokerIsOlder(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	mustPropose(t, n,
		RegisterBroker{Broker: Broker{ID: 8, Host: "h", Port: 8, Fenced: true}},
		RegisterBroker{Broker: Broker{ID: 9, Host: "h", Port: 9, Fenced: true}},
	)
	if err := n.UnregisterBroker(testCtx(t), 9); !errors.Is(err, ErrOlderBrokers) {
		t.Fatalf("unregister 9 while 8 runs older software: %v, want %v", err, ErrOlderBrokers)
	}
	mustPropose(t, n, RegisterBroker{Broker: Broker{ID: 8, Host: "h", Port: 8, Fenced: true, Level: commandLevel}})
	if err := n.UnregisterBroker(testCtx(t), 9); err != nil {
		t.Fatalf("unregister the only older broker: %v", err)
	}
	if _, ok := n.Image().Brokers[9]; ok || n.Image().CommandLevel() != commandLevel {
		t.Fatalf("after unregistering 9: brokers %v, level %d", n.Image().Brokers, n.Image().CommandLevel())
	}
}

// A broker of the software before level 3 (level 2) applies
// UnregisterBroker: its presence does not refuse the command.
func TestUnregisterAllowedBesideALevelTwoBroker(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	mustPropose(t, n,
		RegisterBroker{Broker: Broker{ID: 8, Host: "h", Port: 8, Fenced: true, Level: 2}},
		RegisterBroker{Broker: Broker{ID: 9, Host: "h", Port: 9, Fenced: true}},
	)
	if err := n.UnregisterBroker(testCtx(t), 9); err != nil {
		t.Fatalf("unregister 9 beside a level 2 broker: %v", err)
	}
	if _, ok := n.Image().Brokers[9]; ok || n.Image().CommandLevel() != 2 {
		t.Fatalf("after unregistering 9: brokers %v, level %d", n.Image().Brokers, n.Image().CommandLevel())
	}
}
