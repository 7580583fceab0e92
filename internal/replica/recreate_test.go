package replica_test

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/replica"
)

// A topic deleted and created again under the same name, seen by a
// follower in one reconciliation: the old *Partition must leave its
// fetcher.
func TestRecreatedTopicLeavesItsOldFetcher(t *testing.T) {
	e := newReplicationEnv(t)
	fm, id1 := followedByHand(t, e)
	t.Logf("before: %v", replica.FetcherParts(fm))

	// Deleted and created again (broker 2 alone now: it leads the new
	// topic), one reconciliation sees both.
	e.propose(cluster.DeleteTopic{ID: id1})
	var id2 cluster.TopicID
	rand.Read(id2[:])
	e.propose(cluster.CreateTopic{Name: "r", ID: id2, Replicas: [][]int32{{2}}})
	if err := fm.Reconcile(e.node.Image()); err != nil {
		t.Fatal(err)
	}
	np, _ := fm.Partition("r", 0)
	t.Logf("new partition leads: %v", np.IsLeader())
	time.Sleep(time.Second)
	after := replica.FetcherParts(fm)
	t.Logf("after: %v", after)
	if len(after) != 0 {
		t.Fatalf("a fetcher still runs for a deleted topic's partition: %v", after)
	}
}

// Same as above, the new topic led by the same broker: the stale
// partition shares the fetcher, and its fetch entry goes under the topic
// entry of the same name.
func TestRecreatedTopicWithTheSameLeaderIsFollowed(t *testing.T) {
	e := newReplicationEnv(t)
	fm, id1 := followedByHand(t, e)
	cl := e.client()
	for range 10 {
		if err := e.produce(cl, "old"); err != nil {
			t.Fatal(err)
		}
	}
	op, _ := fm.Partition("r", 0)
	e.waitFor("old caught up", func() bool { return op.LogEndOffset() == 10 })

	e.propose(cluster.DeleteTopic{ID: id1})
	var id2 cluster.TopicID
	rand.Read(id2[:])
	e.propose(cluster.CreateTopic{Name: "r", ID: id2, Replicas: [][]int32{{1, 2}}})
	if err := fm.Reconcile(e.node.Image()); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the leader to lead the new topic", func() bool {
		p, ok := e.leader.Partition("r", 0)
		return ok && p.IsLeader() && p.TopicID == id2
	})
	lp, _ := e.leader.Partition("r", 0)
	cl2 := e.client() // acks=all
	for range 30 {
		if err := e.produce(cl2, "new"); err != nil {
			t.Logf("produce: %v", err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	np, _ := fm.Partition("r", 0)
	t.Logf("fetchers: %v", replica.FetcherParts(fm))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && np.LogEndOffset() != lp.LogEndOffset() {
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("leader end %d, follower end %d", lp.LogEndOffset(), np.LogEndOffset())
	if np.LogEndOffset() != lp.LogEndOffset() {
		t.Fatalf("the new topic's follower did not catch up")
	}
	want, _ := lp.ReadToEnd(nil, 0, 1<<20)
	got, _ := np.ReadToEnd(nil, 0, 1<<20)
	if !bytes.Equal(got, want) {
		t.Fatalf("follower's log differs from the leader's: %d vs %d bytes", len(got), len(want))
	}
}

// followedByHand creates topic "r" of one partition led by the env's
// leader (1) and followed by broker 2, whose Manager it returns with its
// first image reconciled: the test reconciles the next ones itself.
func followedByHand(t *testing.T, e *replicationEnv) (*replica.Manager, cluster.TopicID) {
	t.Helper()
	e.propose(cluster.RegisterBroker{Broker: cluster.Broker{ID: 2, Host: "127.0.0.1", Port: 1}})
	var id cluster.TopicID
	rand.Read(id[:])
	e.propose(cluster.CreateTopic{Name: "r", ID: id, Replicas: [][]int32{{1, 2}}})
	e.waitFor("the leader to lead", func() bool {
		p, ok := e.leader.Partition("r", 0)
		return ok && p.IsLeader()
	})
	fdir := filepath.Join(t.TempDir(), "f")
	if err := os.MkdirAll(fdir, 0o755); err != nil {
		t.Fatal(err)
	}
	fm := replica.NewManager(replica.Config{
		NodeID:       2,
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		LogDirs:      []string{fdir},
		BrokerConfig: func(img *cluster.Image) *config.Broker { return broker.EffectiveConfig(e.static, img, 2) },
	})
	t.Cleanup(func() { fm.Close() })
	if err := fm.Reconcile(e.node.Image()); err != nil {
		t.Fatal(err)
	}
	return fm, id
}
