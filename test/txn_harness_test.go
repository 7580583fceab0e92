package test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Helpers shared by the transaction tests (txn_*_test.go). They take seed
// addresses rather than a broker, so the same test bodies run against an
// in-process node, `sluice serve` processes, or a cluster.

// txnSettings are broker settings that keep transaction tests fast: timed
// out transactions are looked for every 500 ms, groups rebalance at once,
// and __transaction_state has few partitions to create.
func txnSettings() map[string]string {
	return map[string]string{
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500",
		"transaction.state.log.num.partitions":                        "4",
		"group.initial.rebalance.delay.ms":                            "0",
	}
}

// txnSettingArgs turns settings into `sluice serve -c` arguments.
func txnSettingArgs(settings map[string]string) []string {
	var args []string
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", k+"="+settings[k])
	}
	return args
}

// txnClient returns a franz-go client for seeds, closed at test end.
func txnClient(t testing.TB, seeds []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// txnProducer returns a transactional producer with transactional ID id
// whose records go to the partition they name.
func txnProducer(t testing.TB, seeds []string, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return txnClient(t, seeds, append([]kgo.Opt{
		kgo.TransactionalID(id),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.ClientID("txn-test-" + id),
	}, opts...)...)
}

// txnCreateTopic creates a topic and waits until every partition answers
// ListOffsets.
func txnCreateTopic(t testing.TB, cl *kgo.Client, topic string, partitions int32, rf int16, configs map[string]*string) {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, rf, configs, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
	txnWaitFor(t, 30*time.Second, "topic "+topic+" to serve ListOffsets", func() (bool, string) {
		offs, err := txnListOffsets(ctx, cl, topic, partitions, 0)
		if err != nil {
			return false, err.Error()
		}
		return len(offs) == int(partitions), fmt.Sprint(offs)
	})
}

// txnRun runs one transaction: it produces recs (each naming its
// partition) and commits or aborts. Records come back with their offsets.
func txnRun(ctx context.Context, cl *kgo.Client, commit bool, recs []*kgo.Record) error {
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		if aerr := cl.EndTransaction(ctx, kgo.TryAbort); aerr != nil {
			return fmt.Errorf("produce in transaction: %w (and abort: %v)", err, aerr)
		}
		return fmt.Errorf("produce in transaction: %w", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		return fmt.Errorf("end transaction (commit %v): %w", commit, err)
	}
	return nil
}

// txnListOffsets asks each partition's leader for its end offset with
// ListOffsets (timestamp -1) at isolation level 0 (read_uncommitted: the
// high watermark) or 1 (read_committed: the last stable offset).
func txnListOffsets(ctx context.Context, cl *kgo.Client, topic string, partitions int32, isolation int8) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.CurrentLeaderEpoch = -1
		rp.Timestamp = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	out := map[int32]int64{}
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return nil, fmt.Errorf("ListOffsets isolation %d to broker %d: %w", isolation, shard.Meta.NodeID, shard.Err)
		}
		for _, t := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("ListOffsets isolation %d %s/%d: %w", isolation, t.Topic, p.Partition, err)
				}
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

// txnEnds returns the high watermarks and last stable offsets of topic.
func txnEnds(t testing.TB, cl *kgo.Client, topic string, partitions int32) (hwm, lso map[int32]int64) {
	t.Helper()
	ctx := testContext(t, 15*time.Second)
	hwm, err := txnListOffsets(ctx, cl, topic, partitions, 0)
	if err != nil {
		t.Fatal(err)
	}
	lso, err = txnListOffsets(ctx, cl, topic, partitions, 1)
	if err != nil {
		t.Fatal(err)
	}
	return hwm, lso
}

// txnExpectEnds waits until the high watermark and last stable offset of
// every partition are as wanted. It waits because EndTxn is answered once
// the coordinator has logged the decision; the markers reach the
// partitions just after, as in Kafka. A wrong value that never changes
// fails after 15 s.
func txnExpectEnds(t testing.TB, cl *kgo.Client, topic string, wantHWM, wantLSO map[int32]int64) {
	t.Helper()
	txnWaitFor(t, 15*time.Second, fmt.Sprintf("%s: ListOffsets read_uncommitted %v and read_committed %v", topic, wantHWM, wantLSO), func() (bool, string) {
		hwm, lso := txnEnds(t, cl, topic, int32(len(wantHWM)))
		return fmt.Sprint(hwm) == fmt.Sprint(wantHWM) && fmt.Sprint(lso) == fmt.Sprint(wantLSO),
			fmt.Sprintf("read_uncommitted %v, read_committed %v", hwm, lso)
	})
}

// txnConsumer returns a consumer of every partition of topic from the
// start, read_committed or read_uncommitted.
func txnConsumer(t testing.TB, seeds []string, topic string, readCommitted bool, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if readCommitted {
		iso = kgo.ReadCommitted()
	}
	return txnClient(t, seeds, append([]kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso),
	}, opts...)...)
}

// txnPoll polls cl for up to d and returns what arrived. Errors other than
// the end of d fail the test.
func txnPoll(t testing.TB, cl *kgo.Client, d time.Duration) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out []*kgo.Record
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		out = append(out, fs.Records()...)
	}
	return out
}

// txnConsumeUntil polls cl until done says the records so far (by
// partition, in offset order) are complete, or fails after timeout.
func txnConsumeUntil(t testing.TB, cl *kgo.Client, what string, timeout time.Duration, got map[int32][]*kgo.Record, done func(map[int32][]*kgo.Record) bool) map[int32][]*kgo.Record {
	t.Helper()
	if got == nil {
		got = map[int32][]*kgo.Record{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !done(got) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			counts := map[int32]int{}
			for p, rs := range got {
				counts[p] = len(rs)
			}
			t.Fatalf("%s: not complete within %v; records per partition so far: %v", what, timeout, counts)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("%s: fetch %s/%d: %v", what, topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], r) })
	}
	return got
}

var txnSentinelSeq atomic.Int64

const txnSentinelPrefix = "sentinel-"

// txnReadAll reads every record of topic that precedes a sentinel: it
// commits one sentinel record to each partition in a transaction of its
// own, then consumes from the start until every partition's sentinel
// arrived. Whatever is visible now at the isolation level is then known to
// have been read, with no need to wait for stragglers. Sentinels (of this
// and earlier calls) are left out of the result.
func txnReadAll(t testing.TB, seeds []string, topic string, partitions int32, readCommitted bool) map[int32][]*kgo.Record {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	mark := fmt.Sprintf("%s%d", txnSentinelPrefix, txnSentinelSeq.Add(1))
	p := txnProducer(t, seeds, fmt.Sprintf("%s-%s-%t", mark, topic, readCommitted))
	var recs []*kgo.Record
	for part := range partitions {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: part, Value: []byte(mark)})
	}
	if err := txnRun(ctx, p, true, recs); err != nil {
		t.Fatalf("commit sentinels to %s: %v", topic, err)
	}
	p.Close()
	cl := txnConsumer(t, seeds, topic, readCommitted)
	defer cl.Close()
	seen := map[int32]bool{}
	got := txnConsumeUntil(t, cl, fmt.Sprintf("read %s (read_committed %v) up to its sentinels", topic, readCommitted), 45*time.Second, nil,
		func(got map[int32][]*kgo.Record) bool {
			for p, rs := range got {
				if len(rs) > 0 && string(rs[len(rs)-1].Value) == mark {
					seen[p] = true
				}
			}
			return len(seen) == int(partitions)
		})
	out := map[int32][]*kgo.Record{}
	for p, rs := range got {
		var prev int64 = -1
		for _, r := range rs {
			if r.Offset <= prev {
				t.Fatalf("%s/%d: offset %d after %d", topic, p, r.Offset, prev)
			}
			prev = r.Offset
			if !strings.HasPrefix(string(r.Value), txnSentinelPrefix) {
				out[p] = append(out[p], r)
			}
		}
	}
	return out
}

// txnValues lists the values of records.
func txnValues(rs []*kgo.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Value)
	}
	return out
}

// txnOffsetsOf lists the offsets of records.
func txnOffsetsOf(rs []*kgo.Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Offset
	}
	return out
}

// txnWaitFor polls cond (as waitForErr) until it holds or fails the test
// after timeout, with cond's last description of what it saw.
func txnWaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	waitForErr(t, timeout, what, func() error {
		if ok, last := cond(); !ok {
			return fmt.Errorf("last saw: %s", last)
		}
		return nil
	})
}

// txnIsFenced reports whether err says the producer's epoch was fenced by
// a newer one.
func txnIsFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// txnDescribe describes one transactional ID at its coordinator.
func txnDescribe(t testing.TB, cl *kgo.Client, id string) kadm.DescribedTransaction {
	t.Helper()
	ctx := testContext(t, 15*time.Second)
	ds, err := kadm.NewClient(cl).DescribeTransactions(ctx, id)
	if err != nil {
		t.Fatalf("describe transaction %s: %v", id, err)
	}
	d, ok := ds[id]
	if !ok {
		t.Fatalf("describe transaction %s: not in the answer %v", id, ds)
	}
	if d.Err != nil {
		t.Fatalf("describe transaction %s: %v", id, d.Err)
	}
	return d
}

// txnLedger tags records with a transaction number and an index within
// it ("tx000042-007"), and checks read_committed output: every
// transaction either all there or not at all, and every one whose commit
// was acknowledged all there.
type txnLedger struct {
	perTxn int
}

func (l txnLedger) value(txn, idx int) string { return fmt.Sprintf("tx%06d-%03d", txn, idx) }

// records builds transaction txn's records, spread round-robin over
// partitions.
func (l txnLedger) records(topic string, partitions int32, txn int) []*kgo.Record {
	recs := make([]*kgo.Record, l.perTxn)
	for i := range recs {
		v := l.value(txn, i)
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Key: []byte(v), Value: []byte(v)}
	}
	return recs
}

// check asserts all-or-nothing over got (read read_committed) and that
// every transaction in acked is complete. It returns how many transactions
// are present.
func (l txnLedger) check(t testing.TB, got map[int32][]*kgo.Record, acked map[int]bool, partitions int32) int {
	t.Helper()
	seen := map[int]map[int]bool{}
	for p, rs := range got {
		for _, r := range rs {
			var txn, idx int
			if _, err := fmt.Sscanf(string(r.Value), "tx%06d-%03d", &txn, &idx); err != nil {
				t.Fatalf("%d/%d: unexpected value %q", p, r.Offset, r.Value)
			}
			if idx < 0 || idx >= l.perTxn || int32(idx)%partitions != p {
				t.Fatalf("%d/%d: %q is not a record of this partition", p, r.Offset, r.Value)
			}
			if seen[txn] == nil {
				seen[txn] = map[int]bool{}
			}
			if seen[txn][idx] {
				t.Fatalf("%d/%d: %q read twice", p, r.Offset, r.Value)
			}
			seen[txn][idx] = true
		}
	}
	var partial []string
	for txn, idxs := range seen {
		if len(idxs) != l.perTxn {
			var missing []int
			for i := range l.perTxn {
				if !idxs[i] {
					missing = append(missing, i)
				}
			}
			partial = append(partial, fmt.Sprintf("transaction %d has %d of %d records (missing %v)", txn, len(idxs), l.perTxn, missing))
		}
	}
	sort.Strings(partial)
	if len(partial) > 0 {
		t.Fatalf("read_committed shows partial transactions: %s", strings.Join(partial, "; "))
	}
	var lost []int
	for txn := range acked {
		if len(seen[txn]) == 0 {
			lost = append(lost, txn)
		}
	}
	sort.Ints(lost)
	if len(lost) > 0 {
		t.Fatalf("transactions whose commit was acknowledged are missing from read_committed: %v (of %d acknowledged)", lost, len(acked))
	}
	return len(seen)
}

// txnLoop runs ledger transactions one after another from a transactional
// producer until stopped, and remembers each one's outcome as the producer
// learned it: committed (and when the commit was acknowledged), aborted on
// purpose (every abortEvery-th transaction, if abortEvery > 0), or unknown.
// A failed transaction is aborted (its outcome stays unknown: it may be
// there, but then whole) and the loop goes on with the next number; after
// three failures in a row it starts a new producer with the same
// transactional ID, as an application would.
type txnLoop struct {
	t          testing.TB
	ledger     txnLedger
	topic      string
	parts      int32
	abortEvery int
	producer   func() *kgo.Client

	mu        sync.Mutex
	cl        *kgo.Client // the producer in use
	committed map[int]bool
	aborted   map[int]bool
	commitAt  []time.Time // when each commit was acknowledged, in order
	failures  []string    // one per transaction of unknown outcome

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func startTxnLoop(t testing.TB, ctx context.Context, ledger txnLedger, topic string, parts int32, abortEvery int, producer func() *kgo.Client) *txnLoop {
	ctx, cancel := context.WithCancel(ctx)
	l := &txnLoop{t: t, ledger: ledger, topic: topic, parts: parts, abortEvery: abortEvery, producer: producer,
		committed: map[int]bool{}, aborted: map[int]bool{}, cancel: cancel, done: make(chan struct{})}
	go l.run(ctx)
	return l
}

func (l *txnLoop) run(ctx context.Context) {
	defer close(l.done)
	cl := l.producer()
	l.setClient(cl)
	defer func() { cl.Close() }()
	failed := 0
	for txn := 0; ctx.Err() == nil; txn++ {
		commit := l.abortEvery <= 0 || txn%l.abortEvery != l.abortEvery-1
		err := txnRun(ctx, cl, commit, l.ledger.records(l.topic, l.parts, txn))
		now := time.Now()
		if err == nil {
			failed = 0
			l.mu.Lock()
			if commit {
				l.committed[txn] = true
				l.commitAt = append(l.commitAt, now)
			} else {
				l.aborted[txn] = true
			}
			l.mu.Unlock()
			continue
		}
		if ctx.Err() != nil {
			l.mu.Lock()
			l.failures = append(l.failures, fmt.Sprintf("transaction %d: cut off by the end of the loop: %v", txn, err))
			l.mu.Unlock()
			return
		}
		abortCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		aerr := cl.EndTransaction(abortCtx, kgo.TryAbort)
		cancel()
		l.mu.Lock()
		l.failures = append(l.failures, fmt.Sprintf("transaction %d: %v (abort: %v)", txn, err, aerr))
		l.mu.Unlock()
		if failed++; failed >= 3 && ctx.Err() == nil {
			cl.Close()
			cl = l.producer()
			l.setClient(cl)
			failed = 0
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (l *txnLoop) setClient(cl *kgo.Client) {
	l.mu.Lock()
	l.cl = cl
	l.mu.Unlock()
}

// commitCount is how many commits were acknowledged so far.
func (l *txnLoop) commitCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.commitAt)
}

// progressLocked describes the loop's progress for a timeout message.
func (l *txnLoop) progressLocked() string {
	last := ""
	if len(l.failures) > 0 {
		last = "; last failure: " + l.failures[len(l.failures)-1]
	}
	return fmt.Sprintf("%d commits acknowledged, %d aborts, %d failed%s", len(l.commitAt), len(l.aborted), len(l.failures), last)
}

// waitCommits waits until n more commits than now were acknowledged.
func (l *txnLoop) waitCommits(n int, timeout time.Duration, what string) {
	l.t.Helper()
	target := l.commitCount() + n
	txnWaitFor(l.t, timeout, fmt.Sprintf("%s (%d commits acknowledged)", what, target), func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.commitAt) >= target, l.progressLocked()
	})
}

// firstCommitAfter waits for the first commit acknowledged after since
// and returns when it was.
func (l *txnLoop) firstCommitAfter(since time.Time, timeout time.Duration) time.Time {
	l.t.Helper()
	var at time.Time
	txnWaitFor(l.t, timeout, "a commit after "+since.Format("15:04:05.000"), func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		i := sort.Search(len(l.commitAt), func(i int) bool { return l.commitAt[i].After(since) })
		if i < len(l.commitAt) {
			at = l.commitAt[i]
			return true, ""
		}
		return false, l.progressLocked()
	})
	return at
}

// stop ends the loop (a transaction in flight is cut off: its outcome is
// unknown) and returns the transactions whose commits were acknowledged.
// A produce to a dead or unreachable broker may not return when its
// context ends (franz-go keeps a record it already sent until it knows
// its fate), so after 5 s the client is closed under it. Calls after the
// first only return the commits.
func (l *txnLoop) stop() map[int]bool {
	l.t.Helper()
	l.once.Do(func() {
		l.cancel()
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			l.mu.Lock()
			cl := l.cl
			l.mu.Unlock()
			cl.Close()
			select {
			case <-l.done:
			case <-time.After(30 * time.Second):
				l.t.Fatal("the transaction loop did not stop within 30s of closing its client")
			}
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.failures) > 0 {
			l.t.Logf("%d transactions failed, e.g. %s", len(l.failures), l.failures[0])
		}
	})
	committed, _, _ := l.outcomes()
	return committed
}

// outcomes are the transactions whose commit or abort was acknowledged,
// and how many ended otherwise.
func (l *txnLoop) outcomes() (committed, aborted map[int]bool, unknown int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.committed), maps.Clone(l.aborted), len(l.failures)
}

// txnCommittedLog indexes got, a topic read read_committed, by offset, and
// reports every record in it of a transaction in aborted.
func txnCommittedLog(t testing.TB, topic string, got map[int32][]*kgo.Record, aborted map[int]bool) map[tpo]string {
	t.Helper()
	log := map[tpo]string{}
	for p, rs := range got {
		for _, r := range rs {
			v := string(r.Value)
			log[tpo{p, r.Offset}] = v
			var txn, idx int
			fmt.Sscanf(v, "tx%06d-%03d", &txn, &idx)
			if aborted[txn] {
				t.Errorf("%s/%d: %s of aborted transaction %d is read_committed at %d", topic, p, v, txn, r.Offset)
			}
		}
	}
	return log
}

// txnWaitState waits until the coordinator describes id in one of states
// (a commit is answered in PrepareCommit; CompleteCommit follows once the
// markers are written) and returns that description.
func txnWaitState(t testing.TB, cl *kgo.Client, id string, states ...string) kadm.DescribedTransaction {
	t.Helper()
	var d kadm.DescribedTransaction
	txnWaitFor(t, 15*time.Second, fmt.Sprintf("transaction %s in state %v", id, states), func() (bool, string) {
		d = txnDescribe(t, cl, id)
		return slices.Contains(states, d.State), fmt.Sprintf("%+v", d)
	})
	return d
}
