package test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/faultnet"
)

// nemesisKind is one kind of fault of TestNemesis's schedule.
type nemesisKind struct {
	name string
	// lane is the scheduler lane that injects it: one fault at a time in
	// each lane, the two lanes side by side on different brokers (the
	// network lane's faults are undone by a heal of every network fault,
	// so two of them never overlap).
	lane   int
	weight int
	// heavy faults take a broker out of the ISRs or the metadata quorum
	// for a while (a kill, a failed disk, an isolation, a pause longer
	// than the session): the lane waits for every partition to have a
	// leader and two in-sync replicas before it injects one, so that the
	// two lanes take at most two brokers out at once, and the run spends
	// its time under faults rather than waiting out a pile of them.
	heavy bool
	// leader says the victim leads a partition (it is asked for), rather
	// than any broker.
	leader   bool
	min, max time.Duration // how long the fault is held
}

const (
	laneNetwork = iota
	laneProcess
	nemesisLanes
)

// nemesisKinds are the faults the scheduler mixes. The disk faults are
// nemesisDiskRules and a slow disk.
var nemesisKinds = []nemesisKind{
	{name: "isolate", lane: laneNetwork, weight: 2, heavy: true, min: 300 * time.Millisecond, max: 3500 * time.Millisecond},
	{name: "isolate-leader-from-peers", lane: laneNetwork, weight: 2, heavy: true, leader: true, min: 300 * time.Millisecond, max: 3500 * time.Millisecond},
	{name: "cut-leader-from-follower", lane: laneNetwork, weight: 2, leader: true, min: 200 * time.Millisecond, max: 2500 * time.Millisecond},
	{name: "flap", lane: laneNetwork, weight: 5, min: 50 * time.Millisecond, max: 600 * time.Millisecond},
	{name: "slow-network", lane: laneNetwork, weight: 2, min: 200 * time.Millisecond, max: 2 * time.Second},
	{name: "kill", lane: laneProcess, weight: 3, heavy: true, min: 100 * time.Millisecond, max: 2 * time.Second},
	{name: "pause", lane: laneProcess, weight: 5, min: 50 * time.Millisecond, max: 1500 * time.Millisecond},
	{name: "pause-past-session", lane: laneProcess, weight: 1, heavy: true, leader: true, min: 3500 * time.Millisecond, max: 6 * time.Second},
	{name: "disk-fsync-eio", lane: laneProcess, weight: 1, heavy: true, leader: true, min: 200 * time.Millisecond, max: 3 * time.Second},
	{name: "disk-full", lane: laneProcess, weight: 1, heavy: true, leader: true, min: 200 * time.Millisecond, max: 3 * time.Second},
	{name: "disk-short-writes", lane: laneProcess, weight: 1, heavy: true, leader: true, min: 200 * time.Millisecond, max: 3 * time.Second},
	{name: "disk-slow", lane: laneProcess, weight: 2, min: 300 * time.Millisecond, max: 2500 * time.Millisecond},
}

// nemesis is TestNemesis's scheduler: a lane of network faults and a lane
// of process and disk faults, each drawing its faults from a generator
// seeded from the run's seed, injecting one, holding it, undoing it, and
// drawing the next after a short gap.
type nemesis struct {
	c       cluster
	net     *netCluster
	brokers *nemesisBrokers
	topics  []string
	start   time.Time
	log     func(format string, args ...any)

	mu       sync.Mutex
	busy     map[int32]int // broker -> the lane whose fault it is under
	n        int
	injected map[string]int
	spans    []faultSpan
	errs     []error
}

// run drives both lanes until deadline and returns the errors that
// stopped a lane (a cluster that did not heal).
func (n *nemesis) run(ctx context.Context, seed uint64, deadline time.Time) error {
	n.busy, n.injected = map[int32]int{}, map[string]int{}
	var wg sync.WaitGroup
	for lane := range nemesisLanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(lane)+2))
			if err := n.lane(ctx, lane, rng, deadline); err != nil {
				n.mu.Lock()
				n.errs = append(n.errs, err)
				n.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(n.errs...)
}

func (n *nemesis) lane(ctx context.Context, lane int, rng *rand.Rand, deadline time.Time) error {
	var kinds []nemesisKind
	total := 0
	for _, k := range nemesisKinds {
		if k.lane == lane {
			kinds = append(kinds, k)
			total += k.weight
		}
	}
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var k nemesisKind
		w := rng.IntN(total)
		for _, k = range kinds {
			if w < k.weight {
				break
			}
			w -= k.weight
		}
		hold := k.min + time.Duration(rng.Int64N(int64(k.max-k.min)))
		if k.heavy {
			if err := n.waitHealthy(ctx, 2, 3*time.Minute); err != nil {
				return fmt.Errorf("%s lane, before %s: %w", laneName(lane), k.name, err)
			}
		}
		victim, peer, ok := n.pick(k, lane, rng)
		if !ok { // the other lane took the brokers this fault needs
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err := n.inject(k, victim, peer, hold, rng); err != nil {
			return err
		}
		n.release(victim, peer)
		time.Sleep(time.Duration(20+rng.IntN(280)) * time.Millisecond) // the gap between two faults of a lane
	}
	return nil
}

func laneName(lane int) string { return [...]string{"network", "process"}[lane] }

// pick chooses the fault's victim (and, for a cut between two brokers,
// its peer) among the brokers the other lane leaves alone, and marks
// them busy.
func (n *nemesis) pick(k nemesisKind, lane int, rng *rand.Rand) (victim, peer int32, ok bool) {
	free := n.free()
	if len(free) == 0 || (k.name == "cut-leader-from-follower" && len(free) < 2) {
		return 0, 0, false
	}
	victim = free[rng.IntN(len(free))]
	if k.leader {
		topic := n.topics[rng.IntN(len(n.topics))]
		if l := leaderOf(n.c, topic, int32(rng.IntN(3)), victim); slices.Contains(n.free(), l) {
			victim = l
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, taken := n.busy[victim]; taken {
		return 0, 0, false // the other lane took it meanwhile
	}
	n.busy[victim] = lane
	if k.name == "cut-leader-from-follower" {
		var rest []int32
		for _, id := range n.c.ids() {
			if _, taken := n.busy[id]; !taken {
				rest = append(rest, id)
			}
		}
		if len(rest) == 0 {
			delete(n.busy, victim)
			return 0, 0, false
		}
		peer = rest[rng.IntN(len(rest))]
		n.busy[peer] = lane
	}
	return victim, peer, true
}

// free are the brokers under no fault of either lane.
func (n *nemesis) free() []int32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.DeleteFunc(n.c.ids(), func(id int32) bool { _, taken := n.busy[id]; return taken })
}

func (n *nemesis) release(ids ...int32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range ids {
		delete(n.busy, id)
	}
}

// inject applies a fault to victim, holds it, and undoes it.
func (n *nemesis) inject(k nemesisKind, victim, peer int32, hold time.Duration, rng *rand.Rand) error {
	n.mu.Lock()
	n.n++
	no := n.n
	n.injected[k.name]++
	at := time.Since(n.start)
	n.spans = append(n.spans, faultSpan{at, k.name, victim})
	n.mu.Unlock()
	target := fmt.Sprintf("broker %d", victim)
	if peer != 0 {
		target = fmt.Sprintf("brokers %d and %d", victim, peer)
	}
	n.log("+%v fault %d: %s %s for %v", at.Round(time.Millisecond), no, k.name, target, hold.Round(time.Millisecond))
	wrap := func(err error) error {
		if err != nil {
			return fmt.Errorf("fault %d (%s %s): %w", no, k.name, target, err)
		}
		return nil
	}
	switch k.name {
	case "isolate", "flap":
		if err := n.c.isolate(victim); err != nil {
			return wrap(err)
		}
		time.Sleep(hold) // the fault's duration, not a synchronisation
		return wrap(n.c.heal())
	case "isolate-leader-from-peers":
		if err := n.c.partition([]int32{victim}, others(n.c, victim)); err != nil {
			return wrap(err)
		}
		time.Sleep(hold)
		return wrap(n.c.heal())
	case "cut-leader-from-follower":
		if err := n.c.partition([]int32{victim}, []int32{peer}); err != nil {
			return wrap(err)
		}
		time.Sleep(hold)
		return wrap(n.c.heal())
	case "slow-network":
		n.net.slow(victim, time.Duration(5+rng.IntN(95))*time.Millisecond)
		time.Sleep(hold)
		return wrap(n.c.heal())
	case "kill":
		n.brokers.kill9(victim)
		time.Sleep(hold)
		n.brokers.start(victim)
		return nil
	case "pause", "pause-past-session":
		if err := n.c.pause(victim); err != nil {
			return wrap(err)
		}
		time.Sleep(hold)
		return wrap(n.c.resume(victim))
	case "disk-slow":
		if err := n.brokers.setDisk(victim, nemesisSlowDisk); err != nil {
			return wrap(err)
		}
		time.Sleep(hold)
		return wrap(n.brokers.setDisk(victim, ""))
	default: // a failing disk, replaced by a restart
		if err := n.brokers.setDisk(victim, nemesisDiskRules[k.name]); err != nil {
			return wrap(err)
		}
		time.Sleep(hold)
		return wrap(n.brokers.restartHealthy(victim))
	}
}

// waitHealthy waits until every partition of the topics has a leader and
// isr replicas in sync, as a broker under no fault sees it.
func (n *nemesis) waitHealthy(ctx context.Context, isr int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := errors.New("not asked yet")
	for pause := 20 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		if last = n.healthy(ctx, isr); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no leader and %d in-sync replicas everywhere after %v: %w", isr, timeout, last)
		case <-time.After(pause):
		}
	}
}

func (n *nemesis) healthy(ctx context.Context, isr int) error {
	free := n.free()
	if len(free) == 0 {
		return errors.New("every broker is under a fault")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	via := free[0]
	md, err := metadataAt(ctx, n.c, via, n.topics...)
	if err != nil {
		return fmt.Errorf("metadata from broker %d: %w", via, err)
	}
	for _, topic := range n.topics {
		td := md.Topics[topic]
		if td.Err != nil || len(td.Partitions) == 0 {
			return fmt.Errorf("%s as broker %d sees it: %v", topic, via, td.Err)
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 || len(p.ISR) < isr {
				return fmt.Errorf("%s as broker %d sees it: %s", topic, via, describePartitions(td))
			}
		}
	}
	return nil
}

// summary is the faults injected, by kind, and their total.
func (n *nemesis) summary() (total int, kinds string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(n.injected)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, n.injected[k]))
		total += n.injected[k]
	}
	return total, strings.Join(parts, ", ")
}

// slow adds latency to every connection to broker id, Kafka and
// controller listeners alike, until heal.
func (c *netCluster) slow(id int32, d time.Duration) {
	f := faultnet.Fault{Mode: faultnet.Delay, Delay: d}
	c.kafka[id].Set(f)
	c.ctrl[id].Set(f)
}
