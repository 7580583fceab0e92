package test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Transactions driven by franz-go (kgo's transactional producer and
// GroupTransactSession, kadm's transaction admin calls). Each test body
// takes seed addresses so that it runs the same against any broker.

func TestTxnCommitAbortReadCommitted(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	testTxnCommitAbortReadCommitted(t, []string{b.addr})
}

// testTxnCommitAbortReadCommitted interleaves committed and aborted
// transactions over three partitions and checks, at exact offsets, what
// read_committed and read_uncommitted consumers see, and that ListOffsets
// and Fetch stop read_committed readers at the last stable offset while a
// transaction is open (KIP-98: control records take an offset each; the
// LSO is the first offset of the earliest open transaction).
func testTxnCommitAbortReadCommitted(t *testing.T, seeds []string) {
	const (
		topic   = "txn-rc"
		parts   = 3
		perPart = 5
		txns    = 10
	)
	ctx := testContext(t, 50*time.Second)
	admin := txnClient(t, seeds)
	txnCreateTopic(t, admin, topic, parts, 1, nil)
	prod := txnProducer(t, seeds, "rc-producer")

	committed := map[int32][]string{}
	all := map[int32][]string{}
	allOffsets := map[int32][]int64{}
	for i := range txns {
		commit := i%2 == 0
		var recs []*kgo.Record
		for p := range int32(parts) {
			for j := range perPart {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "tx%d-p%d-%d", i, p, j)})
			}
		}
		if err := txnRun(ctx, prod, commit, recs); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		for _, r := range recs {
			j := int64(len(all[r.Partition]) % perPart)
			// Each transaction holds perPart records and one marker.
			if want := int64(i)*(perPart+1) + j; r.Offset != want {
				t.Fatalf("transaction %d: %s at %d/%d, want offset %d", i, r.Value, r.Partition, r.Offset, want)
			}
			all[r.Partition] = append(all[r.Partition], string(r.Value))
			allOffsets[r.Partition] = append(allOffsets[r.Partition], r.Offset)
			if commit {
				committed[r.Partition] = append(committed[r.Partition], string(r.Value))
			}
		}
	}
	end := int64(txns * (perPart + 1))
	txnExpectEnds(t, admin, topic, map[int32]int64{0: end, 1: end, 2: end}, map[int32]int64{0: end, 1: end, 2: end})

	// read_committed sees the committed transactions only, in order.
	rc := txnConsumer(t, seeds, topic, true)
	got := txnConsumeUntil(t, rc, "read_committed of the committed transactions", 20*time.Second, nil, func(got map[int32][]*kgo.Record) bool {
		for p := range int32(parts) {
			if len(got[p]) < len(committed[p]) {
				return false
			}
		}
		return true
	})
	for p := range int32(parts) {
		if v := txnValues(got[p]); !slices.Equal(v, committed[p]) {
			t.Fatalf("read_committed partition %d: %v, want %v", p, v, committed[p])
		}
	}
	// read_uncommitted sees every record at its offset.
	ru := txnConsumer(t, seeds, topic, false)
	gotAll := txnConsumeUntil(t, ru, "read_uncommitted of every transaction", 20*time.Second, nil, func(got map[int32][]*kgo.Record) bool {
		for p := range int32(parts) {
			if len(got[p]) < len(all[p]) {
				return false
			}
		}
		return true
	})
	for p := range int32(parts) {
		if v, o := txnValues(gotAll[p]), txnOffsetsOf(gotAll[p]); !slices.Equal(v, all[p]) || !slices.Equal(o, allOffsets[p]) {
			t.Fatalf("read_uncommitted partition %d: %v at %v, want %v at %v", p, v, o, all[p], allOffsets[p])
		}
	}

	// An open transaction holds the last stable offset at its first
	// offset, also for a plain record appended after it.
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var open []*kgo.Record
	for p := range int32(parts) {
		for j := range 3 {
			open = append(open, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "open-p%d-%d", p, j)})
		}
	}
	if err := prod.ProduceSync(ctx, open...).FirstErr(); err != nil {
		t.Fatalf("produce in the open transaction: %v", err)
	}
	plain := &kgo.Record{Topic: topic, Partition: 0, Value: []byte("plain-after-open")}
	if err := txnClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(ctx, plain).FirstErr(); err != nil {
		t.Fatalf("plain produce: %v", err)
	}
	if plain.Offset != end+3 {
		t.Fatalf("plain record at offset %d, want %d", plain.Offset, end+3)
	}
	txnExpectEnds(t, admin, topic, map[int32]int64{0: end + 4, 1: end + 3, 2: end + 3}, map[int32]int64{0: end, 1: end, 2: end})
	if late := txnPoll(t, rc, 1500*time.Millisecond); len(late) > 0 {
		t.Fatalf("read_committed read past the last stable offset %d while a transaction is open: %v at %v", end, txnValues(late), txnOffsetsOf(late))
	}
	gotOpen := txnConsumeUntil(t, ru, "read_uncommitted of the open transaction", 20*time.Second, nil, func(got map[int32][]*kgo.Record) bool {
		return len(got[0]) == 4 && len(got[1]) == 3 && len(got[2]) == 3
	})
	for p := range int32(parts) {
		want := []string{fmt.Sprintf("open-p%d-0", p), fmt.Sprintf("open-p%d-1", p), fmt.Sprintf("open-p%d-2", p)}
		wantOffs := []int64{end, end + 1, end + 2}
		if p == 0 {
			want, wantOffs = append(want, "plain-after-open"), append(wantOffs, end+3)
		}
		if v, o := txnValues(gotOpen[p]), txnOffsetsOf(gotOpen[p]); !slices.Equal(v, want) || !slices.Equal(o, wantOffs) {
			t.Fatalf("read_uncommitted of the open transaction, partition %d: %v at %v, want %v at %v", p, v, o, want, wantOffs)
		}
	}

	// After the commit the last stable offset is the high watermark again
	// (the markers at end+4 on partition 0, end+3 elsewhere), and the
	// read_committed consumer moves on.
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit the open transaction: %v", err)
	}
	txnExpectEnds(t, admin, topic, map[int32]int64{0: end + 5, 1: end + 4, 2: end + 4}, map[int32]int64{0: end + 5, 1: end + 4, 2: end + 4})
	gotAfter := txnConsumeUntil(t, rc, "read_committed after the commit", 20*time.Second, nil, func(got map[int32][]*kgo.Record) bool {
		return len(got[0]) >= 4 && len(got[1]) >= 3 && len(got[2]) >= 3
	})
	for p := range int32(parts) {
		want := []string{fmt.Sprintf("open-p%d-0", p), fmt.Sprintf("open-p%d-1", p), fmt.Sprintf("open-p%d-2", p)}
		if p == 0 {
			want = append(want, "plain-after-open")
		}
		if v := txnValues(gotAfter[p]); !slices.Equal(v, want) {
			t.Fatalf("read_committed after the commit, partition %d: %v, want %v (an aborted record here means it leaked)", p, v, want)
		}
	}
}

func TestTxnETLGroupTransactSession(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	testTxnETLGroupTransactSession(t, []string{b.addr})
}

// TestTxnETLTransactionVersion1 runs the same copy with franz-go kept on
// transaction protocol version 1 (EndTxn and TxnOffsetCommit below v5,
// Produce below v12): AddPartitionsToTxn and AddOffsetsToTxn from the
// client, partitions verified by the leaders (KIP-890 part 1), as
// librdkafka, kafkajs and Kafka 3.x clients do.
func TestTxnETLTransactionVersion1(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	v := kversion.Stable()
	v.SetMaxKeyVersion(int16(kmsg.Produce), 11)
	v.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
	v.SetMaxKeyVersion(int16(kmsg.TxnOffsetCommit), 4)
	testTxnETLGroupTransactSession(t, []string{b.addr}, kgo.MaxVersions(v))
}

// etlMember is one consume-transform-produce worker: a
// GroupTransactSession that copies what it polls to the output topic and
// commits the input offsets in the same transaction (KIP-98, KIP-447).
type etlMember struct {
	name    string
	s       *kgo.GroupTransactSession
	stop    context.CancelFunc // ends polling; a transaction in progress still ends
	done    chan struct{}
	commits atomic.Int64
	copied  atomic.Int64
	err     atomic.Pointer[error]
}

func startETLMember(t *testing.T, ctx context.Context, seeds []string, name, group, in, out string, opts ...kgo.Opt) *etlMember {
	t.Helper()
	s, err := kgo.NewGroupTransactSession(append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("etl-" + name),
		kgo.TransactionalID("etl-" + name),
		kgo.TransactionTimeout(20 * time.Second),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.SessionTimeout(10 * time.Second),
		kgo.RebalanceTimeout(20 * time.Second),
		kgo.DefaultProduceTopic(out),
		kgo.ProducerLinger(0),
	}, opts...)...)
	if err != nil {
		t.Fatalf("member %s: %v", name, err)
	}
	pollCtx, stop := context.WithCancel(ctx)
	m := &etlMember{name: name, s: s, stop: stop, done: make(chan struct{})}
	go m.run(ctx, pollCtx)
	return m
}

func commitsOf(m *etlMember) int64 {
	if m == nil {
		return 0
	}
	return m.commits.Load()
}

func (m *etlMember) fail(err error) {
	m.err.CompareAndSwap(nil, &err)
}

func (m *etlMember) run(ctx, pollCtx context.Context) {
	defer close(m.done)
	for pollCtx.Err() == nil {
		fs := m.s.PollRecords(pollCtx, 200)
		var ferr error
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				ferr = fmt.Errorf("fetch %s/%d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			m.fail(ferr)
			return
		}
		if fs.NumRecords() == 0 {
			continue
		}
		if err := m.s.Begin(); err != nil {
			m.fail(fmt.Errorf("begin: %w", err))
			return
		}
		var produceErr atomic.Pointer[error]
		fs.EachRecord(func(r *kgo.Record) {
			out := &kgo.Record{Key: r.Key, Value: append([]byte("out-"), r.Value...)}
			m.s.Produce(ctx, out, func(_ *kgo.Record, err error) {
				if err != nil {
					produceErr.CompareAndSwap(nil, &err)
				}
			})
		})
		committed, err := m.s.End(ctx, kgo.TryCommit)
		if err != nil {
			m.fail(fmt.Errorf("end transaction: %w", err))
			return
		}
		if committed {
			if perr := produceErr.Load(); perr != nil {
				m.fail(fmt.Errorf("a transaction committed although a produce in it failed: %w", *perr))
				return
			}
			m.commits.Add(1)
			m.copied.Add(int64(fs.NumRecords()))
		}
		// Small transactions with a pause between them spread the copy
		// over the joins and leaves, however fast the broker is.
		time.Sleep(5 * time.Millisecond)
	}
}

// leave stops polling, lets a transaction in progress end, and leaves the
// group.
func (m *etlMember) leave(t *testing.T) {
	t.Helper()
	m.stop()
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("member %s did not stop within 30s", m.name)
	}
	m.s.Close()
}

// testTxnETLGroupTransactSession copies 20,000 keyed records with
// GroupTransactSession members while one joins and one leaves, and checks
// that the output, read read_committed, holds each input record exactly
// once, and that the group committed the input's end offsets.
func testTxnETLGroupTransactSession(t *testing.T, seeds []string, opts ...kgo.Opt) {
	const (
		in, out, group = "etl-in", "etl-out", "etl-group"
		parts          = 6
		n              = 20000
	)
	ctx := testContext(t, 55*time.Second)
	admin := txnClient(t, seeds)
	txnCreateTopic(t, admin, in, parts, 1, nil)
	txnCreateTopic(t, admin, out, parts, 1, nil)
	input := make([]*kgo.Record, n)
	for i := range input {
		input[i] = &kgo.Record{Topic: in, Key: fmt.Appendf(nil, "k-%05d", i), Value: fmt.Appendf(nil, "v-%05d", i)}
	}
	produceAll(t, txnClient(t, seeds), input)
	inEnds := endOffsets(t, admin, in)
	adm := kadm.NewClient(admin)

	progress := func() int64 {
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return 0
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil && o.Topic == in {
				sum += o.At
			}
		})
		return sum
	}
	members := map[string]*etlMember{}
	checkMembers := func() {
		for _, m := range members {
			if e := m.err.Load(); e != nil {
				t.Fatalf("member %s: %v", m.name, *e)
			}
		}
	}
	waitProgress := func(atLeast int64, what string, also ...*etlMember) {
		t.Helper()
		txnWaitFor(t, 40*time.Second, what, func() (bool, string) {
			checkMembers()
			p := progress()
			ok := p >= atLeast
			for _, m := range also {
				ok = ok && m.commits.Load() > 0
			}
			return ok, fmt.Sprintf("%d of %d input records committed; transactions per member a %d, b %d, c %d", p, n,
				members["a"].commits.Load(), members["b"].commits.Load(), commitsOf(members["c"]))
		})
	}

	members["a"] = startETLMember(t, ctx, seeds, "a", group, in, out, opts...)
	members["b"] = startETLMember(t, ctx, seeds, "b", group, in, out, opts...)
	waitProgress(n/4, "a quarter of the input copied by two members", members["a"], members["b"])
	members["c"] = startETLMember(t, ctx, seeds, "c", group, in, out, opts...)
	waitProgress(n/2, "half of the input copied and a transaction committed by the member that joined", members["c"])
	members["b"].leave(t)
	waitProgress(n, "all of the input copied after a member left")
	checkMembers()
	for _, name := range []string{"a", "c"} {
		members[name].leave(t)
	}
	checkMembers()
	for _, name := range []string{"a", "b", "c"} {
		m := members[name]
		t.Logf("member %s: %d transactions committed, %d records copied", name, m.commits.Load(), m.copied.Load())
		if m.commits.Load() == 0 {
			t.Errorf("member %s committed no transaction", name)
		}
	}

	// The group's committed offsets are exactly the input's end offsets.
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	for p, e := range inEnds {
		o, ok := offs.Lookup(in, p)
		if !ok || o.Err != nil || o.At != e {
			t.Fatalf("group %s committed %+v (found %v) for %s/%d, want the end offset %d", group, o, ok, in, p, e)
		}
	}

	// The output holds every input record exactly once.
	got := txnReadAll(t, seeds, out, parts, true)
	seen := map[string]bool{}
	total := 0
	for p, rs := range got {
		for _, r := range rs {
			var i int
			if _, err := fmt.Sscanf(string(r.Key), "k-%05d", &i); err != nil || i < 0 || i >= n {
				t.Fatalf("output %d/%d: unexpected key %q", p, r.Offset, r.Key)
			}
			if want := fmt.Sprintf("out-v-%05d", i); string(r.Value) != want {
				t.Fatalf("output %d/%d: key %s has value %q, want %q", p, r.Offset, r.Key, r.Value, want)
			}
			if seen[string(r.Key)] {
				t.Fatalf("output %d/%d: key %s copied twice into read_committed output", p, r.Offset, r.Key)
			}
			seen[string(r.Key)] = true
			total++
		}
	}
	if total != n {
		var missing []string
		for i := 0; i < n && len(missing) < 10; i++ {
			if k := fmt.Sprintf("k-%05d", i); !seen[k] {
				missing = append(missing, k)
			}
		}
		t.Fatalf("read_committed output holds %d records, want %d; first missing keys: %v", total, n, missing)
	}
	uncommitted := 0
	for _, rs := range txnReadAll(t, seeds, out, parts, false) {
		uncommitted += len(rs)
	}
	t.Logf("output: %d records read_committed, %d read_uncommitted (the rest were in aborted transactions)", total, uncommitted)
	if uncommitted < n {
		t.Fatalf("read_uncommitted output holds %d records, fewer than the %d committed", uncommitted, n)
	}
}

func TestTxnFencing(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	testTxnFencing(t, []string{b.addr})
}

// testTxnFencing starts new producers with the same transactional ID while
// an older one has a transaction open: InitProducerId aborts the open
// transaction and bumps the epoch, and the older producer's next produce,
// or its commit, fails as fenced (KIP-98 zombie fencing).
func testTxnFencing(t *testing.T, seeds []string) {
	const topic, id = "txn-fence", "fenced-tx"
	ctx := testContext(t, 50*time.Second)
	admin := txnClient(t, seeds)
	txnCreateTopic(t, admin, topic, 1, 1, nil)
	values := func(prefix string, n int) []*kgo.Record {
		var rs []*kgo.Record
		for i := range n {
			rs = append(rs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
		}
		return rs
	}

	first := txnProducer(t, seeds, id)
	if err := first.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := first.ProduceSync(ctx, values("first", 3)...).FirstErr(); err != nil {
		t.Fatalf("first producer: %v", err)
	}
	pid1, epoch1, err := first.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	txnExpectEnds(t, admin, topic, map[int32]int64{0: 3}, map[int32]int64{0: 0})

	// The second producer's InitProducerId aborts the first's transaction
	// (a marker at 3) and returns the same producer ID at a higher epoch.
	second := txnProducer(t, seeds, id)
	pid2, epoch2, err := second.ProducerID(ctx)
	if err != nil {
		t.Fatalf("second producer's InitProducerId: %v", err)
	}
	if pid2 != pid1 || epoch2 <= epoch1 {
		t.Fatalf("second producer got producer ID %d epoch %d; want the first's ID %d with an epoch above %d", pid2, epoch2, pid1, epoch1)
	}
	txnExpectEnds(t, admin, topic, map[int32]int64{0: 4}, map[int32]int64{0: 4})
	if err := second.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	newer := values("second", 2)
	if err := second.ProduceSync(ctx, newer...).FirstErr(); err != nil {
		t.Fatalf("second producer: %v", err)
	}
	if newer[0].Offset != 4 || newer[1].Offset != 5 {
		t.Fatalf("second producer's records at %d and %d, want 4 and 5", newer[0].Offset, newer[1].Offset)
	}

	// The first producer, a zombie now, cannot produce.
	err = first.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("first-late")}).FirstErr()
	if !txnIsFenced(err) {
		t.Fatalf("fenced producer's produce: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	first.Close()

	// A third producer fences the second, whose commit then fails; its
	// records are aborted (a marker at 6).
	third := txnProducer(t, seeds, id)
	pid3, epoch3, err := third.ProducerID(ctx)
	if err != nil {
		t.Fatalf("third producer's InitProducerId: %v", err)
	}
	if pid3 != pid1 || epoch3 <= epoch2 {
		t.Fatalf("third producer got producer ID %d epoch %d; want ID %d with an epoch above %d", pid3, epoch3, pid1, epoch2)
	}
	err = second.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		t.Fatal("fenced producer's commit succeeded")
	}
	if !txnIsFenced(err) {
		t.Fatalf("fenced producer's commit: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	last := values("third", 1)
	if err := txnRun(ctx, third, true, last); err != nil {
		t.Fatalf("third producer: %v", err)
	}
	if last[0].Offset != 7 {
		t.Fatalf("third producer's record at %d, want 7", last[0].Offset)
	}
	txnExpectEnds(t, admin, topic, map[int32]int64{0: 9}, map[int32]int64{0: 9})

	rc := txnReadAll(t, seeds, topic, 1, true)
	if v, o := txnValues(rc[0]), txnOffsetsOf(rc[0]); !slices.Equal(v, []string{"third-0"}) || !slices.Equal(o, []int64{7}) {
		t.Fatalf("read_committed: %v at %v, want [third-0] at [7]", v, o)
	}
	ru := txnReadAll(t, seeds, topic, 1, false)
	if v, o := txnValues(ru[0]), txnOffsetsOf(ru[0]); !slices.Equal(v, []string{"first-0", "first-1", "first-2", "second-0", "second-1", "third-0"}) ||
		!slices.Equal(o, []int64{0, 1, 2, 4, 5, 7}) {
		t.Fatalf("read_uncommitted: %v at %v, want first-0..2 at 0..2, second-0..1 at 4..5, third-0 at 7", v, o)
	}
}

func TestTxnTimeout(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	testTxnTimeout(t, []string{b.addr})
}

// testTxnTimeout leaves a transaction open past transaction.timeout.ms: the
// coordinator aborts it on its own, bumping the producer's epoch, so the
// last stable offset moves past it, read_committed never shows it, and the
// silent producer's commit fails as fenced.
func testTxnTimeout(t *testing.T, seeds []string) {
	const topic, id = "txn-timeout", "timeout-tx"
	ctx := testContext(t, 50*time.Second)
	admin := txnClient(t, seeds)
	txnCreateTopic(t, admin, topic, 2, 1, nil)

	prod := txnProducer(t, seeds, id, kgo.TransactionTimeout(2*time.Second))
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for p := range int32(2) {
		for j := range 3 {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "silent-p%d-%d", p, j)})
		}
	}
	start := time.Now()
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	pid, epoch, err := prod.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := txnDescribe(t, admin, id)
	if d.State != "Ongoing" || d.ProducerID != pid || d.ProducerEpoch != epoch || d.TimeoutMillis != 2000 {
		t.Fatalf("before the timeout: %+v, want Ongoing with producer %d epoch %d and timeout 2000 ms", d, pid, epoch)
	}

	// The coordinator aborts within the timeout plus a cleanup interval
	// (500 ms) and the time to write the markers; allow a loaded machine
	// ten times that.
	txnWaitFor(t, 20*time.Second, "the coordinator to abort the timed-out transaction", func() (bool, string) {
		hwm, lso := txnEnds(t, admin, topic, 2)
		return hwm[0] == 4 && hwm[1] == 4 && lso[0] == 4 && lso[1] == 4,
			fmt.Sprintf("high watermarks %v, last stable offsets %v", hwm, lso)
	})
	t.Logf("timed-out transaction aborted %.1fs after its records were produced", time.Since(start).Seconds())
	d = txnWaitState(t, admin, id, "CompleteAbort", "Empty")
	if (d.State != "CompleteAbort" && d.State != "Empty") || d.ProducerID != pid || d.ProducerEpoch <= epoch || len(d.Topics) != 0 {
		t.Fatalf("after the timeout: %+v, want CompleteAbort or Empty, producer %d with an epoch above %d, no partitions", d, pid, epoch)
	}

	err = prod.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		t.Fatal("commit of the timed-out transaction succeeded")
	}
	if !txnIsFenced(err) {
		t.Fatalf("commit of the timed-out transaction: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	rc := txnReadAll(t, seeds, topic, 2, true)
	if len(rc[0])+len(rc[1]) != 0 {
		t.Fatalf("read_committed shows the aborted transaction: %v %v", txnValues(rc[0]), txnValues(rc[1]))
	}
	ru := txnReadAll(t, seeds, topic, 2, false)
	for p := range int32(2) {
		want := []string{fmt.Sprintf("silent-p%d-0", p), fmt.Sprintf("silent-p%d-1", p), fmt.Sprintf("silent-p%d-2", p)}
		if v := txnValues(ru[p]); !slices.Equal(v, want) {
			t.Fatalf("read_uncommitted partition %d: %v, want %v", p, v, want)
		}
	}
}

func TestTxnAdminAPIs(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	testTxnAdminAPIs(t, []string{b.addr})
}

// testTxnAdminAPIs checks DescribeTransactions, ListTransactions with state
// and producer ID filters (KIP-664) and DescribeProducers against one open
// and one committed transaction.
func testTxnAdminAPIs(t *testing.T, seeds []string) {
	const topic, other = "txn-admin", "txn-admin-other"
	ctx := testContext(t, 50*time.Second)
	admin := txnClient(t, seeds)
	adm := kadm.NewClient(admin)
	txnCreateTopic(t, admin, topic, 3, 1, nil)
	txnCreateTopic(t, admin, other, 1, 1, nil)
	// Two plain records first, from a producer that keeps no producer state.
	plain := txnClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite())
	if err := plain.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("plain-0")},
		&kgo.Record{Topic: topic, Partition: 0, Value: []byte("plain-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// The producer ID is read before the transaction: asked afterwards,
	// franz-go may initialize the ID again, which leaves the state Empty.
	done := txnProducer(t, seeds, "admin-done")
	donePID, _, err := done.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := txnRun(ctx, done, true, []*kgo.Record{{Topic: other, Value: []byte("done")}}); err != nil {
		t.Fatal(err)
	}

	open := txnProducer(t, seeds, "admin-open", kgo.TransactionTimeout(45*time.Second))
	before := time.Now().UnixMilli()
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	recs := []*kgo.Record{
		{Topic: topic, Partition: 0, Value: []byte("open-0")},
		{Topic: topic, Partition: 0, Value: []byte("open-1")},
		{Topic: topic, Partition: 2, Value: []byte("open-2")},
		{Topic: other, Partition: 0, Value: []byte("open-3")},
	}
	if err := open.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMilli()
	pid, epoch, err := open.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}

	d := txnDescribe(t, admin, "admin-open")
	if d.State != "Ongoing" || d.ProducerID != pid || d.ProducerEpoch != epoch || d.TimeoutMillis != 45000 {
		t.Fatalf("DescribeTransactions admin-open: %+v, want Ongoing, producer %d epoch %d, timeout 45000", d, pid, epoch)
	}
	if d.StartTimestamp < before-1000 || d.StartTimestamp > after+1000 {
		t.Fatalf("DescribeTransactions admin-open: start %d, want within [%d, %d]", d.StartTimestamp, before, after)
	}
	if got := fmt.Sprint(d.Topics.Sorted()); got != fmt.Sprint(kadm.TopicsList{{Topic: topic, Partitions: []int32{0, 2}}, {Topic: other, Partitions: []int32{0}}}) {
		t.Fatalf("DescribeTransactions admin-open: partitions %s, want %s [0 2] and %s [0]", got, topic, other)
	}
	d = txnWaitState(t, admin, "admin-done", "CompleteCommit")
	if d.State != "CompleteCommit" || d.ProducerID != donePID || len(d.Topics) != 0 {
		t.Fatalf("DescribeTransactions admin-done: %+v, want CompleteCommit with producer %d, no partitions", d, donePID)
	}
	ds, err := adm.DescribeTransactions(ctx, "admin-never")
	if err != nil {
		t.Fatalf("describe an unknown transactional ID: %v", err)
	}
	if u := ds["admin-never"]; !errors.Is(u.Err, kerr.TransactionalIDNotFound) {
		t.Fatalf("describe an unknown transactional ID: %+v, want TRANSACTIONAL_ID_NOT_FOUND", u)
	}

	list := func(pids []int64, states ...string) map[string]string {
		t.Helper()
		l, err := adm.ListTransactions(ctx, pids, states)
		if err != nil {
			t.Fatalf("ListTransactions %v %v: %v", pids, states, err)
		}
		out := map[string]string{}
		for _, x := range l.Sorted() {
			if x.TxnID == "admin-open" && x.ProducerID != pid || x.TxnID == "admin-done" && x.ProducerID != donePID {
				t.Fatalf("ListTransactions: %+v has the wrong producer ID", x)
			}
			if x.TxnID == "admin-open" || x.TxnID == "admin-done" {
				out[x.TxnID] = x.State
			}
		}
		return out
	}
	for _, c := range []struct {
		pids   []int64
		states []string
		want   string
	}{
		{nil, nil, "map[admin-done:CompleteCommit admin-open:Ongoing]"},
		{nil, []string{"Ongoing"}, "map[admin-open:Ongoing]"},
		{nil, []string{"CompleteCommit"}, "map[admin-done:CompleteCommit]"},
		{nil, []string{"Ongoing", "CompleteCommit"}, "map[admin-done:CompleteCommit admin-open:Ongoing]"},
		{nil, []string{"PrepareAbort"}, "map[]"},
		{[]int64{pid}, nil, "map[admin-open:Ongoing]"},
		{[]int64{donePID}, []string{"Ongoing"}, "map[]"},
	} {
		if got := fmt.Sprint(list(c.pids, c.states...)); got != c.want {
			t.Fatalf("ListTransactions producer IDs %v states %v: %s, want %s", c.pids, c.states, got, c.want)
		}
	}

	// DescribeProducers: the open transaction starts at offset 2 of
	// partition 0 and at 0 of partition 2; partition 1 has no producer.
	described, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}, 2: {}}})
	if err != nil {
		t.Fatalf("DescribeProducers: %v", err)
	}
	wantStart := map[int32]int64{0: 2, 2: 0}
	wantSeq := map[int32]int32{0: 1, 2: 0}
	for p := range int32(3) {
		dp, ok := described[topic].Partitions[p]
		if !ok || dp.Err != nil {
			t.Fatalf("DescribeProducers %s/%d: %+v (found %v)", topic, p, dp, ok)
		}
		start, has := wantStart[p]
		if !has {
			if len(dp.ActiveProducers) != 0 {
				t.Fatalf("DescribeProducers %s/%d: %+v, want no producers", topic, p, dp.ActiveProducers)
			}
			continue
		}
		got, ok := dp.ActiveProducers[pid]
		if len(dp.ActiveProducers) != 1 || !ok || got.ProducerEpoch != epoch || got.CurrentTxnStartOffset != start ||
			got.LastSequence != wantSeq[p] || got.LastTimestamp < before-1000 {
			t.Fatalf("DescribeProducers %s/%d: %+v, want only producer %d epoch %d with last sequence %d and its transaction from offset %d",
				topic, p, dp.ActiveProducers, pid, epoch, wantSeq[p], start)
		}
	}

	// Once committed, the transaction is CompleteCommit and no partition
	// has an open transaction.
	if err := open.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// The epoch stays, or goes up by one under KIP-890's transaction
	// version 2, which bumps it at every commit.
	d = txnWaitState(t, admin, "admin-open", "CompleteCommit")
	if d.State != "CompleteCommit" || d.ProducerEpoch != epoch && d.ProducerEpoch != epoch+1 || len(d.Topics) != 0 {
		t.Fatalf("after commit: %+v, want CompleteCommit, epoch %d (or %d), no partitions", d, epoch, epoch+1)
	}
	described, err = adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}, 2: {}}})
	if err != nil {
		t.Fatalf("DescribeProducers: %v", err)
	}
	described.EachProducer(func(p kadm.DescribedProducer) {
		if p.CurrentTxnStartOffset != -1 {
			t.Fatalf("DescribeProducers after commit: %+v still has an open transaction", p)
		}
	})
	if got := fmt.Sprint(list([]int64{pid}, "Ongoing")); got != "map[]" {
		t.Fatalf("ListTransactions Ongoing after commit: %s", got)
	}
}
