package test

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// go test ./test -run TestNemesis -nemesis.duration=30m runs it longer;
// -nemesis.seed replays a run's schedule of faults.
var (
	nemesisDuration = flag.Duration("nemesis.duration", 45*time.Second, "how long TestNemesis injects faults")
	nemesisSeed     = flag.Uint64("nemesis.seed", 0, "seed of TestNemesis's fault schedule (0: from the clock)")
)

const (
	nemesisTopic    = "nemesis"
	nemesisGroup    = "nemesis-group"
	nemesisTxnTopic = "nemesis-txn"
	nemesisTxnGroup = "nemesis-txn-group"
)

// TestNemesis runs, on a three-broker cluster behind fault proxies, an
// idempotent acks=all producer per partition, a transactional producer that commits
// most transactions and aborts some, and two consumer groups (the second
// read_committed), while a seeded scheduler (nemesis) injects faults in
// two lanes side by side, on different brokers: in one, network faults
// (a broker isolated from everyone, a partition leader cut off from its
// peers while clients still reach it, the link between a leader and one
// follower cut, a broker's network flapping, a slow network); in the
// other, process and disk faults (kill -9 and a restart, SIGSTOP shorter
// and longer than the broker session, a failing disk (EIO on fsync,
// ENOSPC, short writes: its log directory goes offline, its partitions
// fail over, and it is restarted on a healthy disk), slow fsyncs).
// Then it checks that every acknowledged record is in the log exactly
// once, at its offset, and in the order it was produced; that every
// committed transaction is read_committed exactly once and whole, no
// aborted one ever, and any other whole or not at all; that committed
// group offsets and high watermarks as clients saw them, and every
// replica's own high watermark (GET /v1/replicas), never moved
// backwards; and that every record a consumer read is still in the log
// at the offset it was read at.
func TestNemesis(t *testing.T) {
	seed := *nemesisSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: go test ./test -run 'TestNemesis$' -nemesis.seed=%d -nemesis.duration=%v)", seed, seed, *nemesisDuration)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with: go test ./test -run 'TestNemesis$' -nemesis.seed=%d -nemesis.duration=%v", seed, *nemesisDuration)
		}
	})
	nc := startNetCluster(t, 3, map[string]string{
		"offsets.topic.num.partitions":                                "3",
		"transaction.state.log.num.partitions":                        "3",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
	})
	brokers := onFaultBuild(t, nc)
	c := brokers.c
	ctx := testContext(t, *nemesisDuration+10*time.Minute)
	minISR := map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}
	topics := []string{nemesisTopic, nemesisTxnTopic}
	for _, topic := range topics {
		createTopicIn(c, topic, 3, 3, minISR)
	}

	// Producers stop first; consumers go on until they have read the log
	// the checks read at the end.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	var producing, reading sync.WaitGroup
	acks := newAckLog()
	// One idempotent producer per partition, so that a partition without
	// a leader or its ISR holds back its own producer only: its windows
	// without an acknowledgement are that partition's unavailability.
	// Values grow in each partition (n-<i*3+p>), for the order check.
	gaps := &ackGaps{start: time.Now()} // no partition acknowledging
	var partGaps []*ackGaps
	var producers []*kgo.Client
	for p := range int32(3) {
		pg := &ackGaps{start: gaps.start}
		partGaps = append(partGaps, pg)
		producer := c.client(kgo.MaxBufferedRecords(1500), kgo.MetadataMinAge(200*time.Millisecond), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		producers = append(producers, producer)
		producing.Add(1)
		go func() {
			defer producing.Done()
			for i := 0; runCtx.Err() == nil; i++ {
				v := fmt.Sprintf("n-%09d", i*3+int(p))
				producer.Produce(runCtx, &kgo.Record{Topic: nemesisTopic, Partition: p, Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
					if err == nil {
						acks.add(r)
						gaps.ack(time.Now())
						pg.ack(time.Now())
					}
				})
				if i%150 == 149 {
					time.Sleep(10 * time.Millisecond) // a steady load, not a flood on a shared machine
				}
			}
		}()
	}
	txns := newNemesisTxns(nemesisTxnTopic, seed, func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.TransactionalID("nemesis-txn"),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionTimeout(10*time.Second),
			kgo.RecordDeliveryTimeout(20*time.Second), kgo.RetryTimeout(20*time.Second), kgo.MetadataMinAge(200*time.Millisecond))
		if err != nil {
			t.Errorf("new transactional producer: %v", err)
		}
		return cl
	})
	producing.Add(1)
	go func() {
		defer producing.Done()
		txns.run(runCtx)
	}()
	consume := func(read *readLog, opts ...kgo.Opt) {
		cl := c.client(append([]kgo.Opt{kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.MetadataMinAge(200 * time.Millisecond)}, opts...)...)
		reading.Add(1)
		go func() {
			defer reading.Done()
			for readCtx.Err() == nil {
				cl.PollFetches(readCtx).EachRecord(read.add)
			}
		}()
	}
	consumed, consumedTxn := &readLog{at: map[tpo]string{}}, &readLog{at: map[tpo]string{}}
	consume(consumed, kgo.ConsumerGroup(nemesisGroup), kgo.ConsumeTopics(nemesisTopic))
	consume(consumedTxn, kgo.ConsumerGroup(nemesisTxnGroup), kgo.ConsumeTopics(nemesisTxnTopic), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	watch := &monotonic{watched: map[string]string{nemesisGroup: nemesisTopic, nemesisTxnGroup: nemesisTxnTopic}, start: gaps.start}
	replicas := &replicaWatch{brokers: brokers, topics: topics, start: gaps.start}
	producing.Add(2)
	go func() {
		defer producing.Done()
		watch.run(runCtx, c.client())
	}()
	go func() {
		defer producing.Done()
		replicas.run(runCtx)
	}()

	sched := &nemesis{c: c, net: nc, brokers: brokers, topics: topics, start: gaps.start, log: t.Logf}
	if err := sched.run(runCtx, seed, time.Now().Add(*nemesisDuration)); err != nil {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	faultsOver := time.Since(gaps.start)
	for _, topic := range topics {
		waitISR(c, topic, 1, 3, 3*time.Minute)
	}
	// Let the producers reach the end of a healthy log.
	acks.waitFor(t, acks.len()+100, time.Minute)
	txns.waitCommits(t, 3, time.Minute)
	stopRun()
	fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	for _, producer := range producers {
		if err := producer.Flush(fctx); err != nil {
			t.Errorf("flush: %v", err)
		}
	}
	cancel()
	producing.Wait()

	final := finalLog(t, c.seeds(), nemesisTopic)
	lost, duplicated, misplaced, disordered := checkAckedLog(t, nemesisTopic, final, acks)
	finalTxn := txns.check(t, c.seeds())
	ends := map[topicPartition]int64{}
	for _, topic := range topics {
		for p, end := range endOffsets(t, c.client(), topic) {
			ends[topicPartition{topic, p}] = end
		}
	}
	waitFor(t, 5*time.Minute, "the consumer groups to read the whole log", func() bool {
		return consumed.covers(final) && consumedTxn.covers(finalTxn)
	})
	stopReading()
	reading.Wait()
	checkConsumed(t, "the consumer", consumed, final, func(string) bool { return false })
	checkConsumed(t, "the read_committed consumer", consumedTxn, finalTxn, func(v string) bool { return strings.HasPrefix(v, txnSentinelPrefix) })
	watch.mu.Lock()
	for _, e := range watch.errs {
		t.Error(e)
	}
	hwChecks, offsetChecks, stale, staleBehind := watch.hwChecks, watch.offsetChecks, watch.stale, watch.staleBehind
	watch.mu.Unlock()
	replicaSamples, errs := replicas.check(ends)
	for _, e := range errs {
		t.Error(e)
	}

	total, kinds := sched.summary()
	windows, longest, byKind := gaps.summary(sched.spans)
	var perPartition []string
	for p, pg := range partGaps {
		w, l, k := pg.summary(sched.spans)
		perPartition = append(perPartition, fmt.Sprintf("partition %d: %d windows (%s), %v in all, longest %v; the longest after each kind of fault: %s",
			p, len(w), pg.histogram(), pg.total().Round(time.Second), l.Round(time.Millisecond), k))
	}
	txnWindows, txnLongest, _ := txns.gaps.summary(sched.spans)
	txns.mu.Lock()
	committed, aborted, unknown := len(txns.committed), len(txns.aborted), txns.unknown
	txns.mu.Unlock()
	t.Logf("nemesis summary (seed %d, %v of faults, %v in all): %d faults (%.1f a second): %s. "+
		"Idempotent producer: %d records acknowledged, %d in the log; lost %d, duplicated %d, moved %d, out of order %d; "+
		"%d distinct offsets consumed, all in place. "+
		"Transactions: %d committed (each read_committed whole, once), %d aborted (none read), %d of unknown outcome (whole or absent; %s). "+
		"%d client high-watermark and %d committed-offset observations, %d replica high-watermark samples: none backwards "+
		"(%d high watermarks answered by a deposed leader, up to %d behind). "+
		"Unavailability of each partition (no write acknowledged for over 1 s): %s. "+
		"Of the whole topic (no partition acknowledging for over 1 s): %d windows (%s), %v in all, longest %v; the longest after each kind of fault: %s; all: %s; "+
		"between transaction commits: %d gaps over 1 s, longest %v: %s.",
		seed, faultsOver.Round(time.Second), time.Since(gaps.start).Round(time.Second), total, float64(total)/faultsOver.Seconds(), kinds,
		acks.len(), len(final), lost, duplicated, misplaced, disordered,
		len(consumed.at),
		committed, aborted, unknown, txns.why(),
		hwChecks, offsetChecks, replicaSamples, stale, staleBehind,
		strings.Join(perPartition, "; "),
		len(windows), gaps.histogram(), gaps.total().Round(time.Second), longest.Round(time.Millisecond), byKind, strings.Join(windows, " "),
		len(txnWindows), txnLongest.Round(time.Millisecond), strings.Join(txnWindows, " "))
}

// checkAckedLog checks the idempotent producer's records in the log at
// the end (the value at each offset of topic): offsets dense from 0, no
// value stored twice, every acknowledged value at the offset it was
// acknowledged with, and in each partition the acknowledged values in the
// order they were produced. It returns how many acknowledged records were lost,
// values stored twice, acknowledged records found elsewhere than where
// they were acknowledged, and records out of order.
func checkAckedLog(t *testing.T, topic string, final map[tpo]string, acks *ackLog) (lost, duplicated, misplaced, disordered int) {
	t.Helper()
	report := func(n int, format string, args ...any) {
		if n <= 10 {
			t.Errorf("%s: "+format, append([]any{topic}, args...)...)
		}
	}
	acks.mu.Lock()
	defer acks.mu.Unlock()
	seen := map[string]tpo{}
	last := map[int32]int{}
	end := map[int32]int64{}
	for _, at := range slices.SortedFunc(maps.Keys(final), func(a, b tpo) int {
		if a.partition != b.partition {
			return int(a.partition - b.partition)
		}
		return int(a.offset - b.offset)
	}) {
		v := final[at]
		if at.offset != end[at.partition] {
			report(1, "partition %d: offset %d after %d", at.partition, at.offset, end[at.partition]-1)
		}
		end[at.partition] = at.offset + 1
		if prev, dup := seen[v]; dup {
			duplicated++
			report(duplicated, "%s stored twice: %v and %v", v, prev, at)
		}
		seen[v] = at
		var i int
		if _, err := fmt.Sscanf(v, "n-%d", &i); err != nil {
			report(1, "unexpected value %q at %v", v, at)
			continue
		}
		if _, acked := acks.acked[v]; !acked {
			continue // never acknowledged: written or not, in any place
		}
		if prev, ok := last[at.partition]; ok && i <= prev {
			disordered++
			report(disordered, "partition %d: %s at offset %d after n-%09d", at.partition, v, at.offset, prev)
		}
		last[at.partition] = i
	}
	for v, at := range acks.acked {
		got, ok := seen[v]
		switch {
		case !ok:
			lost++
			report(lost, "acknowledged %s at %v is not in the log", v, at)
		case got != at:
			misplaced++
			report(misplaced, "acknowledged %s at %v is at %v", v, at, got)
		}
	}
	t.Logf("%s: %d records acknowledged, %d in the log; lost %d, duplicated %d, moved %d, out of order %d",
		topic, len(acks.acked), len(final), lost, duplicated, misplaced, disordered)
	return lost, duplicated, misplaced, disordered
}

// ackGaps records the windows in which no write was acknowledged for
// more than a second, from the first acknowledgement on.
type ackGaps struct {
	start   time.Time
	mu      sync.Mutex
	last    time.Time
	windows []ackGap
}

type ackGap struct{ from, length time.Duration }

func (g *ackGaps) ack(at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d := at.Sub(g.last); !g.last.IsZero() && d > time.Second {
		g.windows = append(g.windows, ackGap{g.last.Sub(g.start), d})
	}
	if at.After(g.last) { // acknowledgements of several producers race here
		g.last = at
	}
}

// total is the time spent in windows.
func (g *ackGaps) total() (d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range g.windows {
		d += w.length
	}
	return d
}

// histogram counts the windows by length: "1-2s 40, 2-5s 12, 5-10s 1, >10s 0".
func (g *ackGaps) histogram() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	bounds := []time.Duration{2 * time.Second, 5 * time.Second, 10 * time.Second}
	counts := make([]int, len(bounds)+1)
	for _, w := range g.windows {
		i, _ := slices.BinarySearch(bounds, w.length)
		counts[i]++
	}
	return fmt.Sprintf("1-2s %d, 2-5s %d, 5-10s %d, >10s %d", counts[0], counts[1], counts[2], counts[3])
}

// faultSpan is when a fault of the schedule began, from the start of the
// schedule, and which it was.
type faultSpan struct {
	from   time.Duration
	kind   string
	victim int32
}

// summary lists the windows, each with the fault that began last before
// its first second was over ("2.1s@+30.2s(kill 2)"), the longest, and the
// longest after each kind of fault ("kill 4.2s, pause 3.1s").
func (g *ackGaps) summary(spans []faultSpan) (out []string, longest time.Duration, byKind string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	kinds := map[string]time.Duration{}
	for _, w := range g.windows {
		cause := faultSpan{kind: "none"}
		for _, s := range spans {
			if s.from <= w.from+time.Second {
				cause = s
			}
		}
		out = append(out, fmt.Sprintf("%v@+%v(%s %d)", w.length.Round(10*time.Millisecond), w.from.Round(100*time.Millisecond), cause.kind, cause.victim))
		longest = max(longest, w.length)
		kinds[cause.kind] = max(kinds[cause.kind], w.length)
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		parts = append(parts, fmt.Sprintf("%s %v", k, kinds[k].Round(10*time.Millisecond)))
	}
	return out, longest, strings.Join(parts, ", ")
}

// readLog is what the consumer read: the value at each offset.
type readLog struct {
	mu sync.Mutex
	at map[tpo]string
}

func (l *readLog) add(r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at[tpo{r.Partition, r.Offset}] = string(r.Value)
}

// monotonic watches, from a client, that the high watermarks of the
// watched topics and the committed offsets of their groups never move
// backwards. A high watermark is checked against the leader epoch of the
// broker that answered: the current leader never answers below what any
// leader answered before (KIP-207), while a deposed leader that has not
// yet learned it was deposed (cut off from the controller, or paused)
// still answers with its last high watermark, as in Kafka; those stale
// answers are counted, not failed.
type monotonic struct {
	watched                map[string]string // group -> its topic
	start                  time.Time         // of the fault schedule
	mu                     sync.Mutex
	hw, committed          map[topicPartition]int64
	epoch                  map[topicPartition]int32 // the newest leader epoch that answered
	hwChecks, offsetChecks int
	stale                  int   // answers from a deposed leader
	staleBehind            int64 // the most such an answer was behind
	errs                   []string
}

func (m *monotonic) run(ctx context.Context, cl *kgo.Client) {
	adm := kadm.NewClient(cl)
	m.hw, m.committed, m.epoch = map[topicPartition]int64{}, map[topicPartition]int64{}, map[topicPartition]int32{}
	sampleEvery(ctx, 200*time.Millisecond, func() {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		for group, topic := range m.watched {
			m.endOffsets(rctx, cl, topic)
			if offs, err := adm.FetchOffsets(rctx, group); err == nil {
				offs.Each(func(o kadm.OffsetResponse) {
					if o.Err == nil && o.Topic == topic {
						m.observe("committed offset", m.committed, topicPartition{topic, o.Partition}, o.At, &m.offsetChecks)
					}
				})
			}
		}
	})
}

// sampleEvery calls sample every d until ctx ends.
func sampleEvery(ctx context.Context, d time.Duration, sample func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sample()
	}
}

// endOffsets observes the high watermarks of topic's partitions, each as
// the broker a client takes for its leader answers ListOffsets.
func (m *monotonic) endOffsets(ctx context.Context, cl *kgo.Client, topic string) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range int32(3) {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = p, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			continue
		}
		for _, t := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == 0 {
					m.observeHW(shard.Meta.NodeID, topicPartition{topic, p.Partition}, p.LeaderEpoch, p.Offset)
				}
			}
		}
	}
}

func (m *monotonic) observeHW(broker int32, tp topicPartition, epoch int32, hw int64) {
	m.mu.Lock()
	if epoch < m.epoch[tp] {
		m.hwChecks++
		m.stale++
		m.staleBehind = max(m.staleBehind, m.hw[tp]-hw)
		m.mu.Unlock()
		return
	}
	m.epoch[tp] = epoch
	m.mu.Unlock()
	m.observe(fmt.Sprintf("high watermark (from broker %d, leader epoch %d)", broker, epoch), m.hw, tp, hw, &m.hwChecks)
}

func (m *monotonic) observe(what string, seen map[topicPartition]int64, p topicPartition, v int64, checks *int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	*checks++
	if prev, ok := seen[p]; ok && v < prev {
		m.errs = append(m.errs, fmt.Sprintf("+%v: %s of %s/%d moved backwards: %d after %d",
			time.Since(m.start).Round(time.Millisecond), what, p.topic, p.partition, v, prev))
	}
	seen[p] = max(seen[p], v)
}

// finalLog reads every record of topic up to each partition's end: the
// value at each offset. A run of many minutes leaves millions of records,
// hence the generous bound.
func finalLog(t *testing.T, seeds []string, topic string) map[tpo]string {
	t.Helper()
	cl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...))
	var ends map[int32]int64
	// A new leader answers OFFSET_NOT_AVAILABLE until its high watermark
	// reaches its epoch's start (KIP-207).
	waitForErr(t, time.Minute, topic+"'s end offsets", func() (err error) {
		ends, err = endOffsetsErr(cl, topic)
		return err
	})
	rd := newClient(t, seeds[0], kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testContext(t, 10*time.Minute)
	out := map[tpo]string{}
	next := map[int32]int64{}
	done := func() bool {
		for p, end := range ends {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d records up to %v of the ends %v before the timeout", topic, len(out), next, ends)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < ends[r.Partition] {
				out[tpo{r.Partition, r.Offset}] = string(r.Value)
			}
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		})
	}
	return out
}
