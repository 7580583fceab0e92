package test

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
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

// nemesisFaults are the faults the scheduler mixes; each is applied to a
// broker and undone after a while. The disk faults are nemesisDiskRules
// and a slow disk.
var nemesisFaults = []string{"kill", "pause", "isolate", "isolate-leader-from-peers",
	"disk-fsync-eio", "disk-full", "disk-short-writes", "disk-slow"}

// TestNemesis runs, on a three-broker cluster behind fault proxies, an
// idempotent acks=all producer, a transactional producer that commits
// most transactions and aborts some, and two consumer groups (the second
// read_committed), while a seeded scheduler kills (-9) and restarts
// brokers, pauses them (SIGSTOP/SIGCONT), isolates them from everyone,
// cuts a partition's leader off from its peers while clients still reach
// it, and fails a broker's disk (EIO on fsync, ENOSPC, short writes: its
// log directory goes offline, its partitions fail over, and it is
// restarted on a healthy disk) or slows its fsyncs, one fault at a time.
// Then it checks that every acknowledged record is in the log exactly
// once, at its offset and in order; that every committed transaction is
// read_committed exactly once and whole, no aborted one ever, and any
// other whole or not at all; that committed group offsets and high
// watermarks as clients saw them, and every replica's own high watermark
// (GET /v1/replicas), never moved backwards; and that every record a
// consumer read is still in the log at the offset it was read at.
func TestNemesis(t *testing.T) {
	seed := *nemesisSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with: go test ./test -run TestNemesis -nemesis.seed=%d -nemesis.duration=%v", seed, *nemesisDuration)
		}
	})
	rng := rand.New(rand.NewPCG(seed, seed))
	c := startNetCluster(t, 3, map[string]string{
		"offsets.topic.num.partitions":                                "3",
		"transaction.state.log.num.partitions":                        "3",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
	})
	brokers := onFaultBuild(t, c)
	ctx := testContext(t, *nemesisDuration+8*time.Minute)
	adm := kadm.NewClient(c.client(kgo.SeedBrokers(c.clientSeeds()...)))
	minISR := map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}
	if _, err := adm.CreateTopic(ctx, 3, 3, minISR, nemesisTopic); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 3, 3, minISR, nemesisTxnTopic); err != nil {
		t.Fatal(err)
	}
	waitTopicsHealthy := func(via int32, isr int) {
		c.waitHealthy(nemesisTopic, via, isr, 2*time.Minute)
		c.waitHealthy(nemesisTxnTopic, via, isr, 2*time.Minute)
	}
	waitTopicsHealthy(1, 3)

	// Producers stop first; consumers go on until they have read the log
	// the checks read at the end.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	var producing, reading sync.WaitGroup
	acks := newAckLog()
	gaps := &ackGaps{start: time.Now()}
	producer := c.client(kgo.SeedBrokers(c.clientSeeds()...), kgo.MaxBufferedRecords(2000), kgo.MetadataMinAge(200*time.Millisecond))
	producing.Add(1)
	go func() {
		defer producing.Done()
		for i := 0; runCtx.Err() == nil; i++ {
			v := fmt.Sprintf("n-%08d", i)
			producer.Produce(runCtx, &kgo.Record{Topic: nemesisTopic, Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err == nil {
					acks.add(r)
					gaps.ack(time.Now())
				}
			})
			if i%100 == 99 {
				time.Sleep(10 * time.Millisecond) // a steady load, not a flood on a shared machine
			}
		}
	}()
	txns := newNemesisTxns(nemesisTxnTopic, seed, func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.clientSeeds()...), kgo.TransactionalID("nemesis-txn"),
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
		cl := c.client(append([]kgo.Opt{kgo.SeedBrokers(c.clientSeeds()...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
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
	replicas := &replicaWatch{brokers: brokers, topics: []string{nemesisTopic, nemesisTxnTopic}}
	producing.Add(2)
	go func() {
		defer producing.Done()
		watch.run(runCtx, c.client(kgo.SeedBrokers(c.clientSeeds()...)))
	}()
	go func() {
		defer producing.Done()
		replicas.run(runCtx)
	}()

	// The schedule: one fault at a time, each held 1-5 s, then undone,
	// then a wait until every partition has a leader again.
	injected := map[string]int{}
	var spans []faultSpan
	deadline := time.Now().Add(*nemesisDuration)
	for n := 1; time.Now().Before(deadline); n++ {
		kind := nemesisFaults[rng.IntN(len(nemesisFaults))]
		victim := int32(rng.IntN(3) + 1)
		hold := time.Duration(1000+rng.IntN(4000)) * time.Millisecond
		_, disk := nemesisDiskRules[kind]
		if kind == "isolate-leader-from-peers" || disk {
			victim = c.leaderOf(nemesisTopic, int32(rng.IntN(3)), victim)
		}
		t.Logf("+%v fault %d: %s broker %d for %v", time.Since(gaps.start).Round(time.Millisecond), n, kind, victim, hold)
		injected[kind]++
		spans = append(spans, faultSpan{time.Since(gaps.start), kind, victim})
		switch kind {
		case "kill":
			brokers.kill9(victim)
			time.Sleep(hold) // the fault's duration, not a synchronisation
			brokers.restart(victim)
		case "pause":
			c.node(victim).signal(syscall.SIGSTOP)
			time.Sleep(hold)
			c.node(victim).signal(syscall.SIGCONT)
		case "isolate":
			c.isolate(victim)
			time.Sleep(hold)
			c.heal()
		case "isolate-leader-from-peers":
			c.isolateFromPeers(victim)
			time.Sleep(hold)
			c.heal()
		case "disk-slow":
			brokers.setDisk(t, victim, nemesisSlowDisk)
			time.Sleep(hold)
			brokers.setDisk(t, victim, "")
		default: // a failing disk, replaced by a restart
			brokers.setDisk(t, victim, nemesisDiskRules[kind])
			time.Sleep(hold)
			brokers.restartHealthy(t, victim)
		}
		waitTopicsHealthy(victim%3+1, 2)
	}
	waitTopicsHealthy(1, 3)
	// Let the producers reach the end of a healthy log.
	acks.waitFor(t, acks.len()+100, time.Minute)
	txns.waitCommits(t, 3, time.Minute)
	stopRun()
	fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if err := producer.Flush(fctx); err != nil {
		t.Errorf("flush: %v", err)
	}
	cancel()
	producing.Wait()

	checkAckedAt(t, c.clientSeeds(), nemesisTopic, acks)
	final := finalLog(t, c.clientSeeds(), nemesisTopic)
	finalTxn := txns.check(t, c.clientSeeds())
	ends := map[topicPartition]int64{}
	for _, topic := range []string{nemesisTopic, nemesisTxnTopic} {
		for p, end := range endOffsets(t, c.client(kgo.SeedBrokers(c.clientSeeds()...)), topic) {
			ends[topicPartition{topic, p}] = end
		}
	}
	waitFor(t, time.Minute, "the consumer groups to read the whole log", func() bool {
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

	var kinds []string
	total := 0
	for _, k := range slices.Sorted(maps.Keys(injected)) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, injected[k]))
		total += injected[k]
	}
	windows, longest, byKind := gaps.summary(spans)
	txnWindows, txnLongest, _ := txns.gaps.summary(spans)
	txns.mu.Lock()
	committed, aborted, unknown := len(txns.committed), len(txns.aborted), txns.unknown
	txns.mu.Unlock()
	t.Logf("nemesis summary (seed %d, %v): %d faults: %s. "+
		"Idempotent producer: %d records acknowledged, each once in place; %d distinct offsets consumed, all in place. "+
		"Transactions: %d committed (each read_committed whole, once), %d aborted (none read), %d of unknown outcome (whole or absent). "+
		"%d client high-watermark and %d committed-offset observations, %d replica high-watermark samples: none backwards "+
		"(%d high watermarks answered by a deposed leader, up to %d behind). "+
		"Unavailability (no write acknowledged for over 1 s): %d windows, longest %v; the longest after each kind of fault: %s; all: %s; "+
		"between transaction commits: %d gaps over 1 s, longest %v: %s.",
		seed, *nemesisDuration, total, strings.Join(kinds, ", "),
		acks.len(), len(final),
		committed, aborted, unknown,
		hwChecks, offsetChecks, replicaSamples, stale, staleBehind,
		len(windows), longest.Round(time.Millisecond), byKind, strings.Join(windows, " "),
		len(txnWindows), txnLongest.Round(time.Millisecond), strings.Join(txnWindows, " "))
}

// leaderOf is the leader of a partition of topic as node via sees it, or
// fallback when it has none.
func (c *netCluster) leaderOf(topic string, partition, fallback int32) int32 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := c.metadata(ctx, fallback, topic)
	if err != nil {
		return fallback
	}
	if p, ok := md.Topics[topic].Partitions[partition]; ok && p.Leader > 0 {
		return p.Leader
	}
	return fallback
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
	g.last = at
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

// finalLog reads every record of topic: the value at each offset.
func finalLog(t *testing.T, seeds []string, topic string) map[tpo]string {
	t.Helper()
	cl := newClient(t, seeds[0], kgo.SeedBrokers(seeds...))
	ctx := testContext(t, time.Minute)
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	out := map[tpo]string{}
	for _, r := range consumeFrom(t, seeds, topic, int(total)) {
		out[tpo{r.Partition, r.Offset}] = string(r.Value)
	}
	return out
}
