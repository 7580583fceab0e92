package test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var txnNetfaultTrials = flag.Int("txnnetfault.trials", 2, "how many times TestTxnNetfaultCoordinatorIsolated cuts the coordinator off")

// txnResumeBound is how soon transactions commit again after the broker
// coordinating them is cut off from its peers: the other brokers fence it
// and elect a new leader of its __transaction_state partition within about
// a session timeout (3 s), and the new coordinator loads the state and
// finishes what was in flight.
const txnResumeBound = 8 * time.Second

// TestTxnNetfaultCoordinatorIsolated runs transactions one after another
// (three in four committed, one aborted) on a three-broker cluster while a
// read_committed consumer reads the topic, and cuts the transaction
// coordinator of the producer's transactional ID off from the other
// brokers and the controller quorum, clients still reaching it. The cut-off
// coordinator cannot write __transaction_state (min.insync.replicas 2), so
// it must send the producer elsewhere: commits resume within
// txnResumeBound of the cut. Healed, the cluster converges; read
// read_committed, every transaction is whole or absent, every acknowledged
// commit is there once, no aborted transaction is, and the live consumer
// read nothing else.
func TestTxnNetfaultCoordinatorIsolated(t *testing.T) {
	t.Parallel()
	const (
		topic = "txn-netfault"
		parts = 3
		id    = "netfault-tx"
	)
	settings := txnSettings()
	settings["offsets.topic.num.partitions"] = "1"
	settings["transaction.state.log.replication.factor"] = "3"
	settings["transaction.state.log.min.isr"] = "2"
	nc := startNetCluster(t, 3, settings)
	c := nc.asCluster()
	createTopicIn(c, topic, parts, 3, minISR2)
	ctx := testContext(t, 4*time.Minute)

	live := &readLog{at: map[tpo]string{}}
	stopConsumer := consumeReadCommitted(t, ctx, c.seeds(), topic, live)
	defer stopConsumer()

	// The cut-off broker leads a partition of the topic too: the producer
	// learns of its new leader at its next metadata refresh, which kgo
	// spaces at least MetadataMinAge apart (5 s by default; Kafka's Java
	// client asks again after retry.backoff.ms, 100 ms), so this producer
	// refreshes at most every 500 ms.
	loop := startTxnLoop(t, ctx, txnLedger{perTxn: 6}, topic, parts, 4, func() *kgo.Client {
		return c.client(kgo.MetadataMinAge(500*time.Millisecond), kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
			kgo.TransactionTimeout(30*time.Second), kgo.RecordDeliveryTimeout(60*time.Second), kgo.RetryTimeout(60*time.Second))
	})
	defer loop.stop()
	loop.waitCommits(10, time.Minute, "transactions committed before any cut")

	var stalls []time.Duration
	for trial := range *txnNetfaultTrials {
		coord := txnCoordinatorOf(t, c, id)
		other := others(c, coord)[0]
		before := loop.commitCount()
		nc.isolateFromPeers(coord)
		cut := time.Now()
		first := loop.firstCommitAfter(cut, 60*time.Second)
		stall := first.Sub(cut)
		stalls = append(stalls, stall)
		newCoord := txnCoordinatorAt(t, c, other, id)
		t.Logf("trial %d: coordinator %d cut off from its peers after %d commits; broker %d coordinates; first commit %v after the cut",
			trial+1, coord, before, newCoord, stall.Round(time.Millisecond))
		loop.waitCommits(5, time.Minute, fmt.Sprintf("commits with broker %d cut off", coord))
		nc.heal()
		for _, b := range c.ids() {
			waitISR(c, topic, b, 3, 2*time.Minute)
		}
		waitISR(c, "__transaction_state", 0, 3, 2*time.Minute)
		loop.waitCommits(5, time.Minute, fmt.Sprintf("commits after broker %d was reconnected", coord))
	}
	loop.stop()
	t.Logf("commits resumed after the cut in %s", stallSummary(stalls))
	for i, s := range stalls {
		if s > txnResumeBound {
			t.Errorf("trial %d: the first commit came %v after the coordinator was cut off, over %v", i+1, s.Round(time.Millisecond), txnResumeBound)
		}
	}

	committed, aborted, unknown := loop.outcomes()
	got := txnReadAll(t, c.seeds(), topic, parts, true)
	n := loop.ledger.check(t, got, committed, parts)
	final := txnCommittedLog(t, topic, got, aborted)
	waitFor(t, time.Minute, "the live read_committed consumer to read the whole log", func() bool { return live.covers(final) })
	stopConsumer()
	checkConsumed(t, "the live read_committed consumer", live, final, isTxnSentinel)
	t.Logf("%d commits acknowledged, %d aborts, %d transactions of unknown outcome; %d whole transactions read_committed, none aborted",
		len(committed), len(aborted), unknown, n)
}

// txnCoordinatorAt asks broker via which broker coordinates transactional
// ID id, until it names a live one.
func txnCoordinatorAt(t *testing.T, c cluster, via int32, id string) int32 {
	t.Helper()
	var node int32 = -1
	txnWaitFor(t, 30*time.Second, fmt.Sprintf("the coordinator of %s as broker %d sees it", id, via), func() (bool, string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(via)))
		if err != nil {
			return false, err.Error()
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp := kadm.NewClient(cl).FindTxnCoordinators(ctx, id)[id]
		if resp.Err != nil {
			return false, fmt.Sprintf("%v %s", resp.Err, resp.ErrMessage)
		}
		node = resp.NodeID
		return true, ""
	})
	return node
}

// consumeReadCommitted reads topic read_committed from the start into
// read until stop is called or ctx ends.
func consumeReadCommitted(t testing.TB, ctx context.Context, seeds []string, topic string, read *readLog) (stop func()) {
	cl := txnConsumer(t, seeds, topic, true)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(read.add)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			cl.Close()
		})
	}
}

func isTxnSentinel(v string) bool { return strings.HasPrefix(v, txnSentinelPrefix) }

// stallSummary gives the median and the longest of durations, and each.
func stallSummary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no trial"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var each []string
	for _, d := range ds {
		each = append(each, d.Round(10*time.Millisecond).String())
	}
	return fmt.Sprintf("p50 %v, max %v over %d trials %v", s[len(s)/2].Round(10*time.Millisecond), s[len(s)-1].Round(10*time.Millisecond), len(s), each)
}
