package test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnCoordinatorOf asks the cluster, on a fresh client, which broker
// coordinates transactional ID id (FindCoordinator key type 1).
func txnCoordinatorOf(t *testing.T, c cluster, id string) int32 {
	t.Helper()
	var node int32 = -1
	waitForErr(t, 30*time.Second, "the coordinator of "+id, func() error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(liveBroker(c))))
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp := kadm.NewClient(cl).FindTxnCoordinators(ctx, id)[id]
		if resp.Err != nil {
			return fmt.Errorf("%w %s", resp.Err, resp.ErrMessage)
		}
		node = resp.NodeID
		return nil
	})
	return node
}

// TestTxnClusterKillCoordinatorAndLeader commits transactions of 100
// records over four partitions (replication factor 3, min.insync.replicas
// 2) in a loop on a three-broker cluster, and kills with SIGKILL first the
// transaction coordinator of the producer's transactional ID, then the
// leader of a partition, restarting each. Read read_committed at the end,
// every transaction is whole or absent, and every one whose commit
// returned success is there.
func TestTxnClusterKillCoordinatorAndLeader(t *testing.T) {
	t.Parallel()
	const (
		topic = "txn-cluster"
		parts = 4
		id    = "cluster-tx"
	)
	settings := clusterSettings(txnSettings())
	settings["transaction.state.log.replication.factor"] = "3"
	settings["transaction.state.log.min.isr"] = "2"
	c := startCluster(t, 3, settings).asCluster()
	createTopicIn(c, topic, parts, 3, minISR2)
	ctx := testContext(t, 110*time.Second)
	ledger := txnLedger{perTxn: 100}
	newProducer := func() *kgo.Client {
		return c.client(
			kgo.TransactionalID(id),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.TransactionTimeout(20*time.Second),
			kgo.RecordDeliveryTimeout(45*time.Second),
			kgo.RetryTimeout(45*time.Second),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		)
	}
	loop := startTxnLoop(t, ctx, ledger, topic, parts, 0, newProducer)
	defer loop.stop()
	loop.waitCommits(10, 30*time.Second, "transactions committed before any kill")

	for _, phase := range []string{"coordinator", "leader"} {
		var victim int32
		if phase == "coordinator" {
			victim = txnCoordinatorOf(t, c, id)
		} else {
			td := waitISR(c, topic, 0, 3, 60*time.Second)
			victim = td.Partitions[int32(loop.commitCount()%parts)].Leader
		}
		t.Logf("kill -9 broker %d, the %s, after %d acknowledged commits", victim, phase, loop.commitCount())
		c.kill(victim)
		loop.waitCommits(10, 60*time.Second, fmt.Sprintf("commits with the %s (broker %d) dead", phase, victim))
		c.start(victim)
		loop.waitCommits(5, 60*time.Second, fmt.Sprintf("commits after the %s (broker %d) restarted", phase, victim))
		waitISR(c, topic, victim, 3, 60*time.Second)
	}
	acked := loop.stop()

	// A new instance of the producer finishes whatever the loop left.
	fresh := newProducer()
	const last = 99999
	if err := txnRun(ctx, fresh, true, ledger.records(topic, parts, last)); err != nil {
		t.Fatalf("a transaction from a new producer instance: %v", err)
	}
	acked[last] = true
	admin := c.client()
	waitForErr(t, 30*time.Second, "the last stable offsets to reach the high watermarks", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hwm, err := txnListOffsets(ctx, admin, topic, parts, 0)
		if err != nil {
			return err
		}
		lso, err := txnListOffsets(ctx, admin, topic, parts, 1)
		if err != nil {
			return err
		}
		if !maps.Equal(hwm, lso) {
			return fmt.Errorf("high watermarks %v, last stable offsets %v", hwm, lso)
		}
		return nil
	})
	got := txnReadAll(t, c.seeds(), topic, parts, true)
	n := ledger.check(t, got, acked, parts)
	t.Logf("%d commits acknowledged; %d transactions read_committed, each whole", len(acked), n)
}
