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
)

// go test ./test -run TestNemesis -nemesis.duration=30m runs it longer;
// -nemesis.seed replays a run's schedule of faults.
var (
	nemesisDuration = flag.Duration("nemesis.duration", 45*time.Second, "how long TestNemesis injects faults")
	nemesisSeed     = flag.Uint64("nemesis.seed", 0, "seed of TestNemesis's fault schedule (0: from the clock)")
)

const (
	nemesisTopic = "nemesis"
	nemesisGroup = "nemesis-group"
)

// nemesisFaults are the faults the scheduler mixes; each is applied to a
// broker and undone after a while.
var nemesisFaults = []string{"kill", "pause", "isolate", "isolate-leader-from-peers"}

// TestNemesis runs an idempotent acks=all producer and a consumer group on
// a three-broker cluster behind fault proxies while a seeded scheduler
// kills (-9) and restarts brokers, pauses them (SIGSTOP/SIGCONT), isolates
// them from everyone, and cuts a partition's leader off from its peers
// while clients still reach it, one fault at a time. Then it checks that
// every acknowledged record is in the log exactly once, at its offset and
// in order; that committed group offsets and high watermarks, as clients
// saw them, never moved backwards; and that every record the consumer
// read is still in the log at the offset it was read at.
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
	c := startNetCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "3"})
	ctx := testContext(t, *nemesisDuration+5*time.Minute)
	adm := kadm.NewClient(c.client(kgo.SeedBrokers(c.clientSeeds()...)))
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, nemesisTopic); err != nil {
		t.Fatal(err)
	}
	c.waitHealthy(nemesisTopic, 1, 3, time.Minute)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var wg sync.WaitGroup
	acks := newAckLog()
	gaps := &ackGaps{start: time.Now()}
	producer := c.client(kgo.SeedBrokers(c.clientSeeds()...), kgo.MaxBufferedRecords(2000), kgo.MetadataMinAge(200*time.Millisecond))
	wg.Add(1)
	go func() {
		defer wg.Done()
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
	consumed := &readLog{at: map[tpo]string{}}
	consumer := c.client(kgo.SeedBrokers(c.clientSeeds()...), kgo.ConsumerGroup(nemesisGroup), kgo.ConsumeTopics(nemesisTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(200*time.Millisecond))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for runCtx.Err() == nil {
			fs := consumer.PollFetches(runCtx)
			fs.EachRecord(consumed.add)
		}
	}()
	watch := &monotonic{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		watch.run(runCtx, kadm.NewClient(c.client(kgo.SeedBrokers(c.clientSeeds()...))))
	}()

	// The schedule: one fault at a time, each held 1-5 s, then undone,
	// then a wait until every partition has a leader again.
	injected := map[string]int{}
	deadline := time.Now().Add(*nemesisDuration)
	for n := 1; time.Now().Before(deadline); n++ {
		kind := nemesisFaults[rng.IntN(len(nemesisFaults))]
		victim := int32(rng.IntN(3) + 1)
		hold := time.Duration(1000+rng.IntN(4000)) * time.Millisecond
		if kind == "isolate-leader-from-peers" {
			victim = c.leaderOf(nemesisTopic, int32(rng.IntN(3)), victim)
		}
		t.Logf("+%v fault %d: %s broker %d for %v", time.Since(gaps.start).Round(time.Millisecond), n, kind, victim, hold)
		injected[kind]++
		switch kind {
		case "kill":
			c.kill9(victim)
			time.Sleep(hold) // the fault's duration, not a synchronisation
			c.restart(victim)
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
		}
		c.waitHealthy(nemesisTopic, victim%3+1, 2, 2*time.Minute)
	}
	c.waitHealthy(nemesisTopic, 1, 3, 2*time.Minute)
	// Let the producer and consumer reach the end of a healthy log.
	acked := acks.len()
	acks.waitFor(t, acked+100, time.Minute)
	stopRun()
	fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if err := producer.Flush(fctx); err != nil {
		t.Errorf("flush: %v", err)
	}
	cancel()
	wg.Wait()

	checkAckedAt(t, c.clientSeeds(), nemesisTopic, acks)
	final := finalLog(t, c.clientSeeds(), nemesisTopic)
	consumed.mu.Lock()
	for at, v := range consumed.at {
		if final[at] != v {
			t.Errorf("the consumer read %s at %v; the log now holds %q there", v, at, final[at])
		}
	}
	nConsumed := len(consumed.at)
	consumed.mu.Unlock()
	watch.mu.Lock()
	for _, e := range watch.errs {
		t.Error(e)
	}
	hwChecks, offsetChecks := watch.hwChecks, watch.offsetChecks
	watch.mu.Unlock()

	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(injected)) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, injected[k]))
	}
	windows, longest := gaps.summary()
	t.Logf("nemesis summary (seed %d, %v): faults %s; %d records acknowledged, %d distinct offsets consumed, all in place; "+
		"%d high-watermark and %d committed-offset observations, none backwards; %d unavailability windows over 1 s (longest %v): %s",
		seed, *nemesisDuration, strings.Join(kinds, ", "), acks.len(), nConsumed, hwChecks, offsetChecks, len(windows), longest.Round(time.Millisecond), strings.Join(windows, " "))
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

func (g *ackGaps) summary() (out []string, longest time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range g.windows {
		out = append(out, fmt.Sprintf("%v@+%v", w.length.Round(10*time.Millisecond), w.from.Round(100*time.Millisecond)))
		longest = max(longest, w.length)
	}
	return out, longest
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

// monotonic watches, from a client, that partitions' high watermarks and
// the group's committed offsets never move backwards.
type monotonic struct {
	mu                     sync.Mutex
	hw, committed          map[int32]int64
	hwChecks, offsetChecks int
	errs                   []string
}

func (m *monotonic) run(ctx context.Context, adm *kadm.Client) {
	m.hw, m.committed = map[int32]int64{}, map[int32]int64{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ends, err := adm.ListEndOffsets(rctx, nemesisTopic)
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Err == nil {
					m.observe("high watermark", m.hw, o.Partition, o.Offset, &m.hwChecks)
				}
			})
		}
		offs, err := adm.FetchOffsets(rctx, nemesisGroup)
		if err == nil {
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Err == nil && o.Topic == nemesisTopic {
					m.observe("committed offset", m.committed, o.Partition, o.At, &m.offsetChecks)
				}
			})
		}
		cancel()
	}
}

func (m *monotonic) observe(what string, seen map[int32]int64, p int32, v int64, checks *int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	*checks++
	if prev, ok := seen[p]; ok && v < prev {
		m.errs = append(m.errs, fmt.Sprintf("%s of partition %d moved backwards: %d after %d", what, p, v, prev))
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
