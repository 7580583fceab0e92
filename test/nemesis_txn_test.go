package test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// nemesisTxns runs transactions one after another on a topic of three
// partitions, each of txnLedger records spread over the partitions, and
// commits them or (one in four, as the seed says) aborts them. It
// remembers each transaction's outcome as the producer learned it:
// committed (with the offsets its records were given), aborted, or
// unknown (the producer failed part way; a new instance with the same
// transactional ID then fences it and ends whatever it left open).
type nemesisTxns struct {
	topic       string
	ledger      txnLedger
	rng         *rand.Rand // the choice to abort; owned by run
	newProducer func() *kgo.Client

	mu        sync.Mutex
	committed map[int]bool
	aborted   map[int]bool
	unknown   int
	failures  map[string]int // why transactions of unknown outcome failed
	acked     map[string]tpo // where each record of a committed transaction was written
	gaps      ackGaps        // between commits
}

func newNemesisTxns(topic string, seed uint64, newProducer func() *kgo.Client) *nemesisTxns {
	return &nemesisTxns{topic: topic, ledger: txnLedger{perTxn: 6}, rng: rand.New(rand.NewPCG(seed, 1)),
		newProducer: newProducer, committed: map[int]bool{}, aborted: map[int]bool{}, acked: map[string]tpo{},
		failures: map[string]int{}, gaps: ackGaps{start: time.Now(), last: time.Now()}}
}

func (x *nemesisTxns) run(ctx context.Context) {
	cl := x.newProducer()
	defer func() { cl.Close() }()
	for txn := 0; ctx.Err() == nil; txn++ {
		commit := x.rng.IntN(4) != 0
		recs := x.ledger.records(x.topic, 3, txn)
		err := txnRun(ctx, cl, commit, recs)
		x.mu.Lock()
		switch {
		case err == nil && commit:
			x.committed[txn] = true
			for _, r := range recs {
				x.acked[string(r.Value)] = tpo{r.Partition, r.Offset}
			}
			x.gaps.ack(time.Now())
		case err == nil:
			x.aborted[txn] = true
		default:
			x.unknown++
			x.failures[err.Error()]++
		}
		x.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			cl.Close()
			cl = x.newProducer()
		}
	}
}

// why lists the most frequent reasons transactions failed, with their
// counts.
func (x *nemesisTxns) why() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	reasons := slices.SortedFunc(maps.Keys(x.failures), func(a, b string) int { return x.failures[b] - x.failures[a] })
	var parts []string
	for _, r := range reasons[:min(len(reasons), 5)] {
		parts = append(parts, fmt.Sprintf("%d× %s", x.failures[r], r))
	}
	return strings.Join(parts, "; ")
}

func (x *nemesisTxns) commits() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.committed)
}

// waitCommits waits until n more transactions than now committed.
func (x *nemesisTxns) waitCommits(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	target := x.commits() + n
	waitFor(t, timeout, fmt.Sprintf("%d transactions committed", target), func() bool { return x.commits() >= target })
}

// check reads the topic read_committed from the start and checks that
// every transaction is whole or absent, that every committed one is there
// exactly once with its records at the offsets the producer was given,
// and that no aborted one is. It returns the log as read_committed shows
// it: the value at each offset.
func (x *nemesisTxns) check(t *testing.T, seeds []string) map[tpo]string {
	t.Helper()
	got := txnReadAll(t, seeds, x.topic, 3, true)
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.ledger.check(t, got, x.committed, 3)
	out := txnCommittedLog(t, x.topic, got, x.aborted)
	for at, v := range out {
		if written, ok := x.acked[v]; ok && written != at {
			t.Errorf("%s: %s written at %v, read at %d/%d", x.topic, v, written, at.partition, at.offset)
		}
	}
	t.Logf("%s: %d transactions committed, %d aborted, %d of unknown outcome; %d whole transactions read_committed, no aborted one",
		x.topic, len(x.committed), len(x.aborted), x.unknown, n)
	return out
}

// checkConsumed compares what a live consumer read with the log at the
// end: every record read at an offset is the one there now (so none it
// read was aborted or disappeared), and every record there was read.
func checkConsumed(t *testing.T, who string, read *readLog, final map[tpo]string, skip func(v string) bool) {
	t.Helper()
	read.mu.Lock()
	defer read.mu.Unlock()
	for at, v := range read.at {
		if final[at] != v && !skip(v) {
			t.Errorf("%s read %s at %v; the log now holds %q there", who, v, at, final[at])
		}
	}
	var missing []string
	for at, v := range final {
		if _, ok := read.at[at]; !ok {
			missing = append(missing, fmt.Sprintf("%s@%d/%d", v, at.partition, at.offset))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s never read %d records of the log: %s", who, len(missing), strings.Join(missing[:min(len(missing), 10)], " "))
	}
}

// covers reports whether read holds every offset of final.
func (l *readLog) covers(final map[tpo]string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for at := range final {
		if _, ok := l.at[at]; !ok {
			return false
		}
	}
	return true
}
