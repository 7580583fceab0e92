package main

// The failover benchmark (-failover): three `sluice serve` processes, each
// a metadata voter and a broker, behind TCP fault proxies (internal/faultnet)
// on both of its listeners, Kafka and controller, so that a broker can be
// cut off from everyone. One topic of one partition, replication factor 3,
// min.insync.replicas 2. Each trial waits until the ISR is complete, takes
// the partition's leader as the victim and injects one fault:
//
//   - kill: SIGKILL of the leader (restarted on its data directory after);
//   - isolate: every connection to and from the leader is closed and new
//     ones refused, clients' and brokers' alike (healed after);
//   - pause: SIGSTOP of the leader (SIGCONT after).
//
// Unavailability is the time from the fault to the acknowledgement of the
// first acks=all write sent after it. Probes are one-record produces from
// fresh clients started every 100 ms, seeded with the brokers other than
// the victim (so that a client's own dial and request timeouts toward a
// dead or frozen host do not count: the figure is how soon the cluster
// can take writes again, not how soon a given client's timeouts notice).
// "Leader moved" is when a live broker's Metadata first names another
// leader. The broker settings are the defaults unless -sluice-config sets
// them.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/faultnet"
)

const (
	failoverTopic   = "failover"
	failoverBrokers = 3
	failoverProbe   = 100 * time.Millisecond
)

var failoverKinds = []string{"kill", "isolate", "pause"}

// failoverFlags are the -failover flags.
type failoverFlags struct {
	run    bool
	trials int
	faults string
}

func addFailoverFlags() *failoverFlags {
	f := &failoverFlags{}
	flag.BoolVar(&f.run, "failover", false, "run the failover benchmark instead: three `sluice serve` processes behind fault proxies; unavailability of a partition after kill -9, isolation and SIGSTOP of its leader (failover.go)")
	flag.IntVar(&f.trials, "failover-trials", 20, "trials per -failover fault")
	flag.StringVar(&f.faults, "failover-faults", strings.Join(failoverKinds, ","), "comma-separated -failover faults: kill,isolate,pause")
	return f
}

// FailoverTrial is one fault of one trial.
type FailoverTrial struct {
	Kind          string  `json:"kind"`
	Victim        int32   `json:"victim"`
	WasController bool    `json:"was_controller"`
	UnavailSec    float64 `json:"unavailable_sec"`
	LeaderSec     float64 `json:"leader_moved_sec"`
	Err           string  `json:"error,omitempty"`
}

// FailoverResults is one -failover run.
type FailoverResults struct {
	Config map[string]any  `json:"config"`
	Trials []FailoverTrial `json:"trials"`
}

// failoverNode is one broker and its two proxies.
type failoverNode struct {
	clusterNode
	listen      string // the broker's own Kafka listener
	kafka, ctrl *faultnet.Proxy
}

// failoverCluster is the benchmark's cluster.
type failoverCluster struct {
	bin    string
	nodes  []*failoverNode
	owners faultnet.Owners // labels connections with the node that opened them
}

func (c *failoverCluster) start(ctx context.Context, n *failoverNode) error {
	if err := n.start(ctx, c.bin, childReadyTimeout); err != nil {
		return err
	}
	c.owners.Set(n.b.Pid(), strconv.Itoa(int(n.id)))
	return nil
}

// isolate cuts n off from every other node and every client; heal undoes it.
func (c *failoverCluster) isolate(n *failoverNode) {
	n.kafka.Set(faultnet.Fault{Mode: faultnet.Cut})
	n.ctrl.Set(faultnet.Fault{Mode: faultnet.Cut})
	for _, o := range c.nodes {
		if o != n {
			o.kafka.SetFrom(strconv.Itoa(int(n.id)), faultnet.Fault{Mode: faultnet.Cut})
			o.ctrl.SetFrom(strconv.Itoa(int(n.id)), faultnet.Fault{Mode: faultnet.Cut})
		}
	}
}

func (c *failoverCluster) heal() {
	for _, o := range c.nodes {
		o.kafka.Heal()
		o.ctrl.Heal()
	}
}

func (c *failoverCluster) close() {
	for _, n := range c.nodes {
		if n.b != nil {
			n.b.cmd.Process.Signal(syscall.SIGCONT)
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			n.b.Stop(sctx)
			cancel()
		}
		if n.kafka != nil {
			n.kafka.Close()
		}
		if n.ctrl != nil {
			n.ctrl.Close()
		}
	}
}

func (c *failoverCluster) clusterNodes() []*clusterNode {
	out := make([]*clusterNode, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = &n.clusterNode
	}
	return out
}

// RunFailover runs the failover benchmark and prints its figures and a
// JSON line to opts.Out.
func RunFailover(ctx context.Context, opts Options, f *failoverFlags) error {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	kinds := splitList(f.faults)
	for _, k := range kinds {
		if !slices.Contains(failoverKinds, k) {
			return fmt.Errorf("-failover-faults: unknown fault %q (want %s)", k, strings.Join(failoverKinds, ","))
		}
	}
	if f.trials <= 0 || opts.SluiceBin == "" {
		return errors.New("-failover: want a positive trial count and a sluice binary")
	}
	out := opts.Out
	res := &FailoverResults{Config: map[string]any{
		"mode": "failover", "cpus": runtime.NumCPU(), "go": runtime.Version(), "trials": f.trials,
		"sluice_settings": opts.SluiceSettings, "loadavg_start": loadAvg(),
	}}
	fmt.Fprintf(out, "Sluice failover bench: %d brokers behind fault proxies, 1 partition RF 3, min.insync.replicas 2, %d trials of %s; settings %v; %d CPUs, load average at start %.2f\n",
		failoverBrokers, f.trials, strings.Join(kinds, ","), opts.SluiceSettings, runtime.NumCPU(), loadAvg())
	err := runFailover(ctx, opts, f.trials, kinds, res)
	res.Config["loadavg_end"] = loadAvg()
	for _, k := range kinds {
		fmt.Fprintln(out, failoverLine(k, res.Trials))
	}
	fmt.Fprintf(out, "load average at end %.2f\n", loadAvg())
	if !opts.NoJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(out, string(b))
	}
	return err
}

func runFailover(ctx context.Context, opts Options, trials int, kinds []string, res *FailoverResults) error {
	dir, err := os.MkdirTemp(opts.TmpDir, "sluice-bench-failover-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	c := &failoverCluster{bin: opts.SluiceBin}
	defer c.close()
	var voters []string
	for i := range failoverBrokers {
		n := &failoverNode{clusterNode: clusterNode{id: int32(i + 1)}}
		c.nodes = append(c.nodes, n)
		ctrlListen, err := freeLoopback()
		if err != nil {
			return err
		}
		if n.listen, err = freeLoopback(); err != nil {
			return err
		}
		if n.kafka, err = faultnet.Listen(n.listen, faultnet.WithSource(c.owners.Source)); err != nil {
			return err
		}
		if n.ctrl, err = faultnet.Listen(ctrlListen, faultnet.WithSource(c.owners.Source)); err != nil {
			return err
		}
		n.addr = n.kafka.Addr()
		voters = append(voters, fmt.Sprintf("%d@%s", n.id, n.ctrl.Addr()))
		n.args = []string{"serve", "--node-id", strconv.Itoa(int(n.id)), "--listen", n.listen, "--advertise", n.addr,
			"--controller-listen", ctrlListen, "--data-dir", filepath.Join(dir, fmt.Sprintf("node-%d", n.id)), "--log-level", cmp.Or(os.Getenv("SLUICE_BENCH_LOG_LEVEL"), "warn")}
		for k, v := range opts.SluiceSettings {
			n.args = append(n.args, "--config", k+"="+v)
		}
	}
	for _, n := range c.nodes {
		n.args = append(n.args, "--controller-voters", strings.Join(voters, ","))
	}
	errs := make(chan error, len(c.nodes))
	for _, n := range c.nodes {
		go func() { errs <- c.start(ctx, n) }()
	}
	for range c.nodes {
		if err := <-errs; err != nil {
			return err
		}
	}
	minISR := "2"
	if err := createTopics(ctx, c.nodes[0].addr, map[string]int{failoverTopic: 1}, failoverBrokers, map[string]*string{"min.insync.replicas": &minISR}, time.Minute); err != nil {
		return err
	}
	for _, kind := range kinds {
		for i := range trials {
			t, err := failoverTrial(ctx, c, kind)
			if err != nil {
				t.Err = err.Error()
			}
			res.Trials = append(res.Trials, t)
			fmt.Fprintf(opts.Out, "%s %d/%d: victim %d (controller %v): unavailable %.2fs, leader moved after %.2fs %s\n",
				kind, i+1, trials, t.Victim, t.WasController, t.UnavailSec, t.LeaderSec, t.Err)
			// A failed trial is reported and the next one runs: its
			// fault was undone, and it waits for a settled cluster.
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	for _, t := range res.Trials {
		if t.Err != "" {
			return fmt.Errorf("%s trial failed: %s", t.Kind, t.Err)
		}
	}
	return nil
}

// failoverTrial injects one fault into the partition's leader, measures,
// and undoes the fault.
func failoverTrial(ctx context.Context, c *failoverCluster, kind string) (FailoverTrial, error) {
	t := FailoverTrial{Kind: kind}
	nodes := c.clusterNodes()
	st, err := failoverSettled(ctx, c, 2*time.Minute)
	if err != nil {
		return t, err
	}
	t.Victim, t.WasController = st.leaders[0], st.leaders[0] == st.controller
	victim := c.nodes[t.Victim-1]
	var seeds []string
	for _, n := range c.nodes {
		if n != victim {
			seeds = append(seeds, n.addr)
		}
	}
	pctx, stopProbes := context.WithCancel(ctx)
	t0 := time.Now()
	pr := probeWrites(pctx, seeds)
	defer func() { stopProbes(); pr.wait() }()
	switch kind {
	case "kill":
		victim.b.Kill()
	case "isolate":
		c.isolate(victim)
	case "pause":
		victim.b.cmd.Process.Signal(syscall.SIGSTOP)
	}
	moved := make(chan time.Duration, 1)
	go func() {
		if waitCluster(pctx, nodes, []int32{t.Victim}, time.Minute, func(s clusterState) bool { return s.ledBy([]int32{t.Victim}) }) == nil {
			moved <- time.Since(t0)
		}
	}()
	select {
	case at := <-pr.first:
		t.UnavailSec = at.Sub(t0).Seconds()
	case <-time.After(time.Minute):
		err = fmt.Errorf("no write acknowledged within a minute of the fault (last probe: %v)", pr.err())
		for _, n := range c.nodes {
			if n.b != nil {
				err = fmt.Errorf("%w\nbroker %d's last lines:\n%s", err, n.id, n.b.output())
			}
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	select {
	case d := <-moved:
		t.LeaderSec = d.Seconds()
	case <-time.After(5 * time.Second):
	}
	switch kind {
	case "kill":
		if rerr := c.start(ctx, victim); rerr != nil {
			err = errors.Join(err, rerr)
		}
	case "isolate":
		c.heal()
	case "pause":
		victim.b.cmd.Process.Signal(syscall.SIGCONT)
	}
	return t, err
}

// failoverSettled waits until every broker's Metadata shows the same
// leader and a complete ISR, so that no broker's stale view names the
// victim.
func failoverSettled(ctx context.Context, c *failoverCluster, timeout time.Duration) (clusterState, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		var first clusterState
		agreed := true
		for i, n := range c.nodes {
			s, err := clusterMetadata(ctx, n.addr)
			if err != nil || !s.complete(failoverBrokers) || (i > 0 && s.leaders[0] != first.leaders[0]) {
				agreed = false
				last = fmt.Sprintf("broker %d: leaders %v ISR sizes %v err %v", n.id, s.leaders, s.isr, err)
				break
			}
			if i == 0 {
				first = s
			}
		}
		if agreed {
			return first, nil
		}
		select {
		case <-ctx.Done():
			return first, fmt.Errorf("brokers do not agree on a leader with a complete ISR: %s", last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// probes are one-record acks=all produces from fresh clients, started
// every failoverProbe until their context ends.
type probes struct {
	first   chan time.Time // the first acknowledgement's time
	wg      sync.WaitGroup
	once    sync.Once
	mu      sync.Mutex
	lastErr error
}

// probeWrites starts probes to seeds; wait waits for them once ctx ends.
func probeWrites(ctx context.Context, seeds []string) *probes {
	p := &probes{first: make(chan time.Time, 1)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(failoverProbe)
		defer tick.Stop()
		for {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.probe(ctx, seeds)
			}()
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return p
}

func (p *probes) probe(ctx context.Context, seeds []string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(failoverTopic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(), kgo.MetadataMinAge(50*time.Millisecond),
		kgo.RequestTimeoutOverhead(time.Second), kgo.ProduceRequestTimeout(2*time.Second))
	if err == nil {
		defer cl.Close()
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if err = cl.ProduceSync(rctx, &kgo.Record{Value: []byte("probe")}).FirstErr(); err == nil {
			at := time.Now()
			p.once.Do(func() { p.first <- at })
			return
		}
	}
	if ctx.Err() == nil {
		p.mu.Lock()
		p.lastErr = err
		p.mu.Unlock()
	}
}

func (p *probes) wait() { p.wg.Wait() }

func (p *probes) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// failoverLine summarises one fault's trials.
func failoverLine(kind string, trials []FailoverTrial) string {
	var unavail, moved []int64
	failed := 0
	for _, t := range trials {
		if t.Kind != kind {
			continue
		}
		if t.Err != "" {
			failed++
			continue
		}
		unavail = append(unavail, int64(t.UnavailSec*1000))
		moved = append(moved, int64(t.LeaderSec*1000))
	}
	slices.Sort(unavail)
	slices.Sort(moved)
	if len(unavail) == 0 {
		return fmt.Sprintf("%-8s no successful trial (%d failed)", kind+":", failed)
	}
	return fmt.Sprintf("%-8s %d trials: unavailable p50 %.2fs max %.2fs; leader moved p50 %.2fs max %.2fs; %d failed",
		kind+":", len(unavail), float64(percentile(unavail, 0.5))/1000, float64(unavail[len(unavail)-1])/1000,
		float64(percentile(moved, 0.5))/1000, float64(moved[len(moved)-1])/1000, failed)
}
