package replica_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/server"
)

// replicationEnv is a leader broker (1) with a one-voter metadata node and
// a Kafka listener on 127.0.0.1:0, and follower replica managers that read
// the same image and fetch from it over TCP.
type replicationEnv struct {
	t      *testing.T
	ctx    context.Context
	node   *cluster.Node
	static *config.Broker
	leader *replica.Manager
	addr   string
}

func newReplicationEnv(t *testing.T) *replicationEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	static, err := config.NewBroker(map[string]string{"node.id": "1", "replica.lag.time.max.ms": "1000", "replica.fetch.wait.max.ms": "200", "replica.fetch.backoff.ms": "50"})
	if err != nil {
		t.Fatal(err)
	}
	node, err := cluster.Open(ctx, cluster.Config{NodeID: 1, Dir: filepath.Join(t.TempDir(), "meta"), Host: "127.0.0.1", Port: int32(port),
		SessionTimeout: 10 * time.Minute}) // broker 2 sends no heartbeats
	if err != nil {
		t.Fatal(err)
	}
	e := &replicationEnv{t: t, ctx: ctx, node: node, static: static, addr: ln.Addr().String()}
	e.leader = e.manager(1, node.Propose)
	b := broker.New(broker.Config{NodeID: 1, Static: static, Cluster: node, Replicas: e.leader})
	srv := server.New(server.Config{MaxRequestSize: 100 << 20}, b)
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.Serve(runCtx, ln) }()
	go func() { defer wg.Done(); e.leader.Run(runCtx, node) }()
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		srv.Shutdown(sctx)
		stop()
		wg.Wait()
		e.leader.Close()
		node.Close()
	})
	return e
}

func (e *replicationEnv) manager(id int32, propose func(context.Context, cluster.Command) error) *replica.Manager {
	return replica.NewManager(replica.Config{
		NodeID:       id,
		LogDirs:      []string{filepath.Join(e.t.TempDir(), "data"+strconv.Itoa(int(id)))},
		BrokerConfig: func(img *cluster.Image) *config.Broker { return broker.EffectiveConfig(e.static, img, id) },
		Propose:      propose,
	})
}

// follower starts a follower manager for broker id in dir, reconciling
// from the leader's image until stop is called.
func (e *replicationEnv) follower(id int32, dir string) (m *replica.Manager, stop func()) {
	m = replica.NewManager(replica.Config{
		NodeID:       id,
		LogDirs:      []string{dir},
		BrokerConfig: func(img *cluster.Image) *config.Broker { return broker.EffectiveConfig(e.static, img, id) },
	})
	if err := m.Reconcile(e.node.Image()); err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, e.node) }()
	return m, func() { cancel(); <-done; m.Close() }
}

func (e *replicationEnv) propose(cmd cluster.Command) {
	e.t.Helper()
	if err := e.node.Propose(e.ctx, cmd); err != nil {
		e.t.Fatalf("propose %T: %v", cmd, err)
	}
}

func (e *replicationEnv) partition() cluster.Partition {
	return e.node.Image().Topics.Value("r").Partitions[0]
}

// waitFor polls cond until it holds or the test's time runs out.
func (e *replicationEnv) waitFor(what string, cond func() bool) {
	e.t.Helper()
	for !cond() {
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (e *replicationEnv) client() *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.RecordRetries(0), kgo.ProducerLinger(0), kgo.RequestRetries(0))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cl.Close)
	return cl
}

func (e *replicationEnv) produce(cl *kgo.Client, value string) error {
	return cl.ProduceSync(e.ctx, &kgo.Record{Topic: "r", Partition: 0, Value: []byte(value)}).FirstErr()
}

// A follower replicates the leader's log byte for byte; acks=all waits for
// it; a follower that stops fetching leaves the ISR after
// replica.lag.time.max.ms, after which min.insync.replicas=2 refuses
// writes and holds the high watermark; when it comes back it truncates,
// catches up and rejoins.
func TestFollowerReplicatesAndISRFollowsIt(t *testing.T) {
	e := newReplicationEnv(t)
	e.propose(cluster.RegisterBroker{Broker: cluster.Broker{ID: 2, Host: "127.0.0.1", Port: 1}})
	var id cluster.TopicID
	rand.Read(id[:])
	e.propose(cluster.CreateTopic{Name: "r", ID: id, Replicas: [][]int32{{1, 2}}, Configs: map[string]string{"min.insync.replicas": "2"}})
	e.waitFor("the leader to lead", func() bool {
		p, ok := e.leader.Partition("r", 0)
		return ok && p.IsLeader()
	})
	lp, _ := e.leader.Partition("r", 0)

	followerDir := filepath.Join(t.TempDir(), "follower")
	fm, stopFollower := e.follower(2, followerDir)
	cl := e.client()
	for i := range 5 {
		if err := e.produce(cl, "a"+strconv.Itoa(i)); err != nil {
			t.Fatalf("acks=all produce %d: %v", i, err)
		}
	}
	fp, ok := fm.Partition("r", 0)
	if !ok || fp.IsLeader() {
		t.Fatal("follower partition missing or leading")
	}
	if lp.HighWatermark() != 5 {
		t.Fatalf("leader high watermark %d, want 5", lp.HighWatermark())
	}
	e.waitFor("the follower's high watermark", func() bool { return fp.HighWatermark() == 5 })
	want, _ := lp.ReadToEnd(nil, 0, 1<<20)
	got, _ := fp.ReadToEnd(nil, 0, 1<<20)
	if !bytes.Equal(got, want) {
		t.Fatal("follower's log differs from the leader's")
	}

	// The follower stops. A follower at the leader's end stays in sync
	// (Kafka's isCaughtUp); once an acks=1 write leaves it behind for
	// replica.lag.time.max.ms it leaves the ISR, and acks=all, which needs
	// two, is refused.
	stopFollower()
	cl1, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl1.Close()
	if err := e.produce(cl1, "b"); err != nil {
		t.Fatalf("acks=1: %v", err)
	}
	if lp.HighWatermark() != 5 {
		t.Fatalf("leader high watermark %d with the follower behind, want 5", lp.HighWatermark())
	}
	e.waitFor("the ISR to shrink", func() bool { return slices.Equal(e.partition().ISR, []int32{1}) })
	e.waitFor("the leader to see the shrink", func() bool { return slices.Equal(lp.ISR(), []int32{1}) })
	// Under min.insync.replicas the acks=1 record is not committed
	// (Kafka's maybeIncrementLeaderHW).
	if lp.HighWatermark() != 5 {
		t.Fatalf("leader high watermark %d after the shrink below min.insync.replicas, want 5", lp.HighWatermark())
	}
	if err := e.produce(cl, "refused"); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("produce with ISR [1]: %v, want NOT_ENOUGH_REPLICAS", err)
	}

	// Back: it catches up and rejoins.
	fm, stopFollower = e.follower(2, followerDir)
	defer stopFollower()
	e.waitFor("the ISR to expand", func() bool { return slices.Equal(e.partition().ISR, []int32{1, 2}) })
	e.waitFor("the leader to see the expansion", func() bool { return len(lp.ISR()) == 2 })
	e.waitFor("the high watermark to pass the acks=1 record", func() bool { return lp.HighWatermark() == 6 })
	if err := e.produce(cl, "c"); err != nil {
		t.Fatalf("acks=all after the follower rejoined: %v", err)
	}
	fp, _ = fm.Partition("r", 0)
	e.waitFor("the follower to catch up", func() bool { return fp.LogEndOffset() == 7 })
	want, _ = lp.ReadToEnd(nil, 0, 1<<20)
	got, _ = fp.ReadToEnd(nil, 0, 1<<20)
	if !bytes.Equal(got, want) {
		t.Fatal("follower's log differs from the leader's after rejoining")
	}
}
