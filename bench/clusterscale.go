package main

// The cluster-scale benchmark (-cluster-scale N): three `sluice serve`
// processes form one cluster (each a metadata voter and a broker, as the
// single binary runs), N partitions of replication factor 3 are created
// (ten topics of N/10), and then each step of -cluster-scale-steps runs,
// each bounded by -scale-step-timeout:
//
//   - kill-controller: the controller (the Raft leader) is killed with
//     SIGKILL; timed until a live broker's Metadata shows a new
//     controller, and until every partition has a leader among the live
//     brokers;
//   - kill-broker: the same for the broker, other than the controller,
//     leading the most partitions;
//   - term-broker, term-controller: the same with SIGTERM, so the broker
//     moves its leaderships away (controlled shutdown) before it exits;
//     also timed until it has exited.
//
// After each, the broker is started again on the same data directory and
// addresses, and timed until it listens, until it is back in the first of
// the ISRs it belongs to, in half, in 90% and in all of them (every
// partition led and every ISR complete). -cluster-scale-reps repeats the
// steps.
//
// Times run from the signal (or the start) to the first Metadata answer
// that shows the state, polled every 50 ms from the brokers other than the
// one stopped. The broker settings are Sluice's defaults
// (broker.session.timeout.ms 3000, broker.heartbeat.interval.ms 500)
// unless -sluice-config changes them. With -cluster-scale-logs DIR each
// broker's log (level info) goes to DIR/node-<id>.log, with a line marking
// each signal and start, and its HTTP admin listener serves pprof.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const clusterScaleBrokers = 3

// The -cluster-scale steps.
const (
	stepKillController = "kill-controller"
	stepKillBroker     = "kill-broker"
	stepTermBroker     = "term-broker"
	stepTermController = "term-controller"
)

// clusterScaleSteps are the steps -cluster-scale-steps accepts, in their
// default order.
var clusterScaleSteps = []string{stepKillController, stepKillBroker, stepTermBroker, stepTermController}

// ClusterKill is one stop of a broker (SIGKILL or SIGTERM) and its restart.
type ClusterKill struct {
	Step       string  `json:"step"`
	Broker     int32   `json:"broker"`
	Controller bool    `json:"was_controller"`
	LeaderOf   int     `json:"leader_of"` // partitions it led when stopped
	LoadAvg    float64 `json:"loadavg"`   // when stopped
	// StopSec: from the SIGTERM until the process exited (term steps).
	StopSec float64 `json:"stop_sec,omitempty"`
	// NewControllerSec: from the signal until Metadata names another
	// controller (controller steps).
	NewControllerSec float64 `json:"new_controller_sec,omitempty"`
	// LedSec: from the signal until every partition has a live leader.
	LedSec float64 `json:"all_led_sec"`
	// ListenSec: from the restart until the broker listens. ISRFirstSec,
	// ISRHalfSec and ISR90Sec: until it is back in one, half and 90% of
	// the ISRs it belongs to (its replicas); RejoinSec until every
	// partition is led and every ISR is complete again.
	ListenSec   float64 `json:"restart_listen_sec"`
	ISRFirstSec float64 `json:"restart_isr_first_sec"`
	ISRHalfSec  float64 `json:"restart_isr_half_sec"`
	ISR90Sec    float64 `json:"restart_isr_90_sec"`
	RejoinSec   float64 `json:"restart_isr_complete_sec"`
	// PreferredSec: from the ElectLeaders (preferred) sent after the
	// rejoin until every partition is led by its first replica; 0 when
	// that did not happen within 30 s.
	PreferredSec float64 `json:"preferred_leaders_sec"`
	Err          string  `json:"error,omitempty"`
}

// ClusterScaleResults is one -cluster-scale run.
type ClusterScaleResults struct {
	Config     map[string]any `json:"config"`
	N          int            `json:"n"`
	CreateSec  float64        `json:"create_sec"`
	SettledSec float64        `json:"isr_complete_after_create_sec"`
	Kills      []ClusterKill  `json:"kills"`
	Err        string         `json:"error,omitempty"`
}

// clusterNode is one broker of the benchmark cluster.
type clusterNode struct {
	id   int32
	addr string
	http string
	args []string
	b    *childBroker
	log  *os.File // nil unless -cluster-scale-logs
}

// mark writes a line into the broker's kept log, if any.
func (n *clusterNode) mark(format string, a ...any) {
	if n.log != nil {
		fmt.Fprintf(n.log, "=== bench %s: %s\n", time.Now().UTC().Format(time.RFC3339Nano), fmt.Sprintf(format, a...))
	}
}

func (n *clusterNode) start(ctx context.Context, bin string, ready time.Duration) error {
	n.mark("starting broker %d", n.id)
	var logTo io.Writer
	if n.log != nil {
		logTo = n.log
	}
	b, err := startChildLogged(ctx, bin, n.args, nil, sluiceReadyPrefix, ready, logTo)
	if err != nil {
		return fmt.Errorf("broker %d: %w", n.id, err)
	}
	n.b = b
	return nil
}

// term stops the broker with SIGTERM and waits up to timeout for it to
// exit, then kills it.
func (n *clusterNode) term(timeout time.Duration) error {
	b := n.b
	n.b = nil
	n.mark("SIGTERM to broker %d", n.id)
	b.cmd.Process.Signal(sigterm)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-b.done:
	case <-t.C:
		b.Kill()
		return fmt.Errorf("broker %d did not exit within %v of SIGTERM; killed", n.id, timeout)
	}
	if st := b.cmd.ProcessState; st != nil && !st.Success() {
		return fmt.Errorf("broker %d exited with %v after SIGTERM: %s", n.id, st, b.output())
	}
	return nil
}

func (n *clusterNode) kill() {
	n.mark("SIGKILL to broker %d", n.id)
	n.b.Kill()
	n.b = nil
}

// RunClusterScale runs the cluster-scale benchmark and prints its figures
// and a JSON line to opts.Out.
func RunClusterScale(ctx context.Context, opts Options) (*ClusterScaleResults, error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.ClusterScaleN <= 0 || opts.ScaleStepTimeout <= 0 || opts.SluiceBin == "" {
		return nil, errors.New("-cluster-scale: want a positive partition count, a step timeout and a sluice binary")
	}
	if len(opts.ClusterScaleSteps) == 0 {
		opts.ClusterScaleSteps = clusterScaleSteps
	}
	for _, s := range opts.ClusterScaleSteps {
		if !slices.Contains(clusterScaleSteps, s) {
			return nil, fmt.Errorf("-cluster-scale-steps: unknown step %q (want %s)", s, strings.Join(clusterScaleSteps, ","))
		}
	}
	opts.ClusterScaleReps = max(opts.ClusterScaleReps, 1)
	n := opts.ClusterScaleN
	res := &ClusterScaleResults{N: n, Config: map[string]any{
		"mode": "cluster-scale", "cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(),
		"brokers": clusterScaleBrokers, "replication_factor": clusterScaleBrokers, "loadavg_start": loadAvg(),
		"sluice_settings": opts.SluiceSettings, "steps": opts.ClusterScaleSteps, "reps": opts.ClusterScaleReps,
	}}
	out := opts.Out
	fmt.Fprintf(out, "Sluice cluster-scale bench: %d brokers (sluice serve, each a metadata voter), %d partitions of RF %d (10 topics x %d); %d CPUs, load average at start %.2f\n",
		clusterScaleBrokers, n, clusterScaleBrokers, n/10, runtime.NumCPU(), loadAvg())
	err := runClusterScale(ctx, opts, res)
	if err != nil {
		res.Err = err.Error()
		fmt.Fprintf(out, "failed: %v\n", err)
	}
	res.Config["loadavg_end"] = loadAvg()
	fmt.Fprintf(out, "load average at end %.2f\n", loadAvg())
	if !opts.NoJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(out, string(b))
	}
	if err != nil && ctx.Err() == nil {
		return res, err
	}
	return res, ctx.Err()
}

func runClusterScale(ctx context.Context, opts Options, res *ClusterScaleResults) error {
	out, step := opts.Out, opts.ScaleStepTimeout
	dir, err := os.MkdirTemp(opts.TmpDir, "sluice-bench-cluster-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	nodes := make([]*clusterNode, clusterScaleBrokers)
	var voters []string
	for i := range nodes {
		addr, err := freeLoopback()
		if err != nil {
			return err
		}
		ctrl, err := freeLoopback()
		if err != nil {
			return err
		}
		httpAddr, err := freeLoopback()
		if err != nil {
			return err
		}
		nodes[i] = &clusterNode{id: int32(i + 1), addr: addr, http: httpAddr}
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, ctrl))
	}
	level := "warn"
	if opts.ClusterScaleLogs != "" {
		level = "info"
		if err := os.MkdirAll(opts.ClusterScaleLogs, 0o755); err != nil {
			return err
		}
	}
	for i, nd := range nodes {
		nd.args = []string{"serve", "--node-id", strconv.Itoa(int(nd.id)), "--listen", nd.addr,
			"--data-dir", filepath.Join(dir, fmt.Sprintf("node-%d", i+1)), "--log-level", level,
			"--controller-voters", strings.Join(voters, ","), "--http-listen", nd.http}
		if opts.ClusterScaleLogs != "" {
			nd.args = append(nd.args, "--http-pprof")
			f, err := os.OpenFile(filepath.Join(opts.ClusterScaleLogs, fmt.Sprintf("node-%d.log", nd.id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			nd.log = f
			fmt.Fprintf(out, "broker %d: kafka %s, http %s (pprof), log %s\n", nd.id, nd.addr, nd.http, f.Name())
		}
		for k, v := range opts.SluiceSettings {
			nd.args = append(nd.args, "--config", k+"="+v)
		}
	}
	defer func() {
		for _, nd := range nodes {
			if nd.b != nil {
				sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				nd.b.Stop(sctx)
				cancel()
			}
		}
	}()
	errs := make(chan error, len(nodes))
	for _, nd := range nodes {
		go func() { errs <- nd.start(ctx, opts.SluiceBin, step) }()
	}
	for range nodes {
		if err := <-errs; err != nil {
			return err
		}
	}

	topics := scaleTopics(opts.ClusterScaleN, 0, false)
	delete(topics, scaleTopic) // ten topics of N/10, no produce topic
	t0 := time.Now()
	sctx, cancel := context.WithTimeout(ctx, step)
	err = createTopics(sctx, nodes[0].addr, topics, clusterScaleBrokers, nil, step)
	cancel()
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	res.CreateSec = time.Since(t0).Seconds()
	if err := waitCluster(ctx, nodes, nil, step, func(s clusterState) bool { return s.complete(len(nodes)) }); err != nil {
		return fmt.Errorf("ISRs after create: %w", err)
	}
	res.SettledSec = time.Since(t0).Seconds()
	fmt.Fprintf(out, "create %d partitions: %.2fs (every ISR complete after %.2fs)\n", opts.ClusterScaleN, res.CreateSec, res.SettledSec)

	for range opts.ClusterScaleReps {
		for _, name := range opts.ClusterScaleSteps {
			onController := name == stepKillController || name == stepTermController
			var st clusterState
			if err := waitCluster(ctx, nodes, nil, step, func(s clusterState) bool { st = s; return s.controller > 0 }); err != nil {
				return fmt.Errorf("find the controller: %w", err)
			}
			// The controller, or else the broker leading the most partitions.
			var victim *clusterNode
			for _, nd := range nodes {
				switch {
				case (nd.id == st.controller) != onController:
				case victim == nil || st.leads(nd.id) > st.leads(victim.id):
					victim = nd
				}
			}
			k := ClusterKill{Step: name, Broker: victim.id, Controller: onController, LeaderOf: st.leads(victim.id), LoadAvg: loadAvg()}
			err := clusterKill(ctx, nodes, victim, opts, &k)
			if err != nil {
				k.Err = err.Error()
			}
			res.Kills = append(res.Kills, k)
			fmt.Fprintln(out, clusterKillLine(k))
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// clusterKill stops victim as k.Step says, times the failover, restarts
// it and times its return.
func clusterKill(ctx context.Context, nodes []*clusterNode, victim *clusterNode, opts Options, k *ClusterKill) error {
	step := opts.ScaleStepTimeout
	stopped := []int32{victim.id}
	t0 := time.Now()
	if strings.HasPrefix(k.Step, "term-") {
		err := victim.term(step)
		k.StopSec = time.Since(t0).Seconds()
		if err != nil {
			return err
		}
	} else {
		victim.kill()
	}
	if k.Controller {
		if err := waitCluster(ctx, nodes, stopped, step, func(s clusterState) bool {
			return s.controller > 0 && s.controller != victim.id
		}); err != nil {
			return fmt.Errorf("new controller: %w", err)
		}
		k.NewControllerSec = time.Since(t0).Seconds()
	}
	if err := waitCluster(ctx, nodes, stopped, step, func(s clusterState) bool { return s.ledBy(stopped) }); err != nil {
		return fmt.Errorf("leaders after the stop: %w", err)
	}
	k.LedSec = time.Since(t0).Seconds()

	t1 := time.Now()
	if err := victim.start(ctx, opts.SluiceBin, step); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	k.ListenSec = time.Since(t1).Seconds()
	// Asked of the other brokers, which lead the partitions meanwhile.
	if err := waitCluster(ctx, nodes, stopped, step, func(s clusterState) bool {
		in, of := s.inISR(victim.id)
		since := time.Since(t1).Seconds()
		if in > 0 && k.ISRFirstSec == 0 {
			k.ISRFirstSec = since
		}
		if of > 0 && 2*in >= of && k.ISRHalfSec == 0 {
			k.ISRHalfSec = since
		}
		if of > 0 && 10*in >= 9*of && k.ISR90Sec == 0 {
			k.ISR90Sec = since
		}
		return s.complete(len(nodes))
	}); err != nil {
		return fmt.Errorf("ISRs after the restart: %w", err)
	}
	k.RejoinSec = time.Since(t1).Seconds()
	// Give the restarted broker its preferred leaderships back (as
	// auto.leader.rebalance would, later), so that the next step finds
	// the leaders spread.
	// Best effort: the next step picks the broker leading the most
	// partitions either way.
	t2 := time.Now()
	if err := electPreferred(ctx, victim.addr, step); err == nil {
		err = waitCluster(ctx, nodes, nil, min(step, 30*time.Second), func(s clusterState) bool { return s.complete(len(nodes)) && s.preferredLead() })
		if err == nil {
			k.PreferredSec = time.Since(t2).Seconds()
		}
	}
	return nil
}

// electPreferred asks for a preferred leader election of every partition.
func electPreferred(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrElectLeadersRequest()
	req.TimeoutMillis = int32(timeout / time.Millisecond)
	_, err = req.RequestWith(ctx, cl) // partitions already led by their preferred replica answer an error
	return err
}

func clusterKillLine(k ClusterKill) string {
	sig, stopped := "kill -9", ""
	if strings.HasPrefix(k.Step, "term-") {
		sig, stopped = "SIGTERM", fmt.Sprintf(" exited after %.2fs;", k.StopSec)
	}
	what := fmt.Sprintf("%s broker %d (leader of %d, load %.1f):", sig, k.Broker, k.LeaderOf, k.LoadAvg)
	if k.Controller {
		what = fmt.Sprintf("%s controller (broker %d, leader of %d, load %.1f):", sig, k.Broker, k.LeaderOf, k.LoadAvg)
	}
	s := what + stopped
	if k.Controller {
		s += fmt.Sprintf(" new controller after %.2fs;", k.NewControllerSec)
	}
	s += fmt.Sprintf(" every partition led after %.2fs; restart: listening after %.2fs, back in its first ISR after %.2fs, half %.2fs, 90%% %.2fs, every ISR complete after %.2fs",
		k.LedSec, k.ListenSec, k.ISRFirstSec, k.ISRHalfSec, k.ISR90Sec, k.RejoinSec)
	if k.PreferredSec > 0 {
		s += fmt.Sprintf(", preferred leaders back %.2fs after ElectLeaders", k.PreferredSec)
	} else if k.Err == "" {
		s += ", preferred leaders not all back within 30s of ElectLeaders"
	}
	if k.Err != "" {
		s += " (failed: " + k.Err + ")"
	}
	return s
}

// clusterState is what one Metadata answer shows.
type clusterState struct {
	controller int32
	partitions int
	leaders    []int32   // per partition; -1 when leaderless or in error
	preferred  []int32   // first replica per partition
	replicas   [][]int32 // per partition
	isr        [][]int32 // per partition
}

// leads counts the partitions id leads.
func (s clusterState) leads(id int32) int {
	n := 0
	for _, l := range s.leaders {
		if l == id {
			n++
		}
	}
	return n
}

// inISR counts the partitions whose ISR holds id, and those of which id
// is a replica.
func (s clusterState) inISR(id int32) (in, of int) {
	for i, r := range s.replicas {
		if slices.Contains(r, id) {
			of++
			if slices.Contains(s.isr[i], id) {
				in++
			}
		}
	}
	return in, of
}

// preferredLead reports whether every partition is led by its first
// replica.
func (s clusterState) preferredLead() bool {
	return slices.Equal(s.leaders, s.preferred)
}

// ledBy reports whether every partition has a leader outside dead.
func (s clusterState) ledBy(dead []int32) bool {
	if s.partitions == 0 {
		return false
	}
	for _, l := range s.leaders {
		if l < 0 || slices.Contains(dead, l) {
			return false
		}
	}
	return true
}

// complete reports whether every partition has a leader and an ISR of
// size replicas.
func (s clusterState) complete(replicas int) bool {
	if !s.ledBy(nil) {
		return false
	}
	for _, isr := range s.isr {
		if len(isr) < replicas {
			return false
		}
	}
	return true
}

// waitCluster polls Metadata on the running brokers not in skip, in turn,
// every 50 ms until done accepts the answer, for at most timeout.
func waitCluster(ctx context.Context, nodes []*clusterNode, skip []int32, timeout time.Duration, done func(clusterState) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var live []string
	for _, nd := range nodes {
		if nd.b != nil && !slices.Contains(skip, nd.id) {
			live = append(live, nd.addr)
		}
	}
	if len(live) == 0 {
		return errors.New("no live broker")
	}
	var lastErr error
	for i := 0; ; i++ {
		s, err := clusterMetadata(ctx, live[i%len(live)])
		if err == nil && done(s) {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
			}
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// clusterMetadata asks the broker at addr, and only it, for the metadata
// of every topic.
func clusterMetadata(ctx context.Context, addr string) (clusterState, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
	if err != nil {
		return clusterState{}, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := cl.SeedBrokers()[0].RetriableRequest(rctx, req)
	if err != nil {
		return clusterState{}, err
	}
	m := resp.(*kmsg.MetadataResponse)
	s := clusterState{controller: m.ControllerID}
	for _, t := range m.Topics {
		if t.Topic != nil && strings.HasPrefix(*t.Topic, "__") {
			continue
		}
		for _, p := range t.Partitions {
			s.partitions++
			leader := p.Leader
			if p.ErrorCode != 0 && p.Leader < 0 {
				leader = -1
			}
			s.leaders = append(s.leaders, leader)
			s.isr = append(s.isr, p.ISR)
			s.replicas = append(s.replicas, p.Replicas)
			pref := int32(-1)
			if len(p.Replicas) > 0 {
				pref = p.Replicas[0]
			}
			s.preferred = append(s.preferred, pref)
		}
	}
	return s, nil
}
