package main

// The cluster-scale benchmark (-cluster-scale N): three `sluice serve`
// processes form one cluster (each a metadata voter and a broker, as the
// single binary runs), N partitions of replication factor 3 are created
// (ten topics of N/10), and then, each step bounded by -scale-step-timeout:
//
//  1. the controller (the Raft leader) is killed with SIGKILL; timed until
//     a live broker's Metadata shows a new controller, and until every
//     partition has a leader among the live brokers;
//  2. it is started again on the same data directory and addresses; timed
//     until it listens and until every partition's ISR holds all three
//     replicas again;
//  3. the same for a broker that is not the controller.
//
// Times run from the kill (or the start) to the first Metadata answer that
// shows the state, polled every 50 ms from a live broker. The broker
// settings are Sluice's defaults (broker.session.timeout.ms 3000,
// broker.heartbeat.interval.ms 500) unless -sluice-config changes them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// ClusterKill is one SIGKILL of a broker and its restart.
type ClusterKill struct {
	Broker     int32 `json:"broker"`
	Controller bool  `json:"was_controller"`
	LeaderOf   int   `json:"leader_of"` // partitions it led when killed
	// NewControllerSec: from the kill until Metadata names another
	// controller (controller kills only).
	NewControllerSec float64 `json:"new_controller_sec,omitempty"`
	// LedSec: from the kill until every partition has a live leader.
	LedSec float64 `json:"all_led_sec"`
	// ListenSec: from the restart until the broker listens; RejoinSec
	// until every partition is led and every ISR is complete again.
	ListenSec float64 `json:"restart_listen_sec"`
	RejoinSec float64 `json:"restart_isr_complete_sec"`
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
	args []string
	b    *childBroker
}

func (n *clusterNode) start(ctx context.Context, bin string, ready time.Duration) error {
	b, err := startChild(ctx, bin, n.args, nil, sluiceReadyPrefix, ready)
	if err != nil {
		return fmt.Errorf("broker %d: %w", n.id, err)
	}
	n.b = b
	return nil
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
	n := opts.ClusterScaleN
	res := &ClusterScaleResults{N: n, Config: map[string]any{
		"mode": "cluster-scale", "cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(),
		"brokers": clusterScaleBrokers, "replication_factor": clusterScaleBrokers, "loadavg_start": loadAvg(),
		"sluice_settings": opts.SluiceSettings,
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
		nodes[i] = &clusterNode{id: int32(i + 1), addr: addr}
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, ctrl))
	}
	for i, nd := range nodes {
		nd.args = []string{"serve", "--node-id", strconv.Itoa(int(nd.id)), "--listen", nd.addr,
			"--data-dir", filepath.Join(dir, fmt.Sprintf("node-%d", i+1)), "--log-level", "warn",
			"--controller-voters", strings.Join(voters, ",")}
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

	for _, killController := range []bool{true, false} {
		var st clusterState
		if err := waitCluster(ctx, nodes, nil, step, func(s clusterState) bool { st = s; return s.controller > 0 }); err != nil {
			return fmt.Errorf("find the controller: %w", err)
		}
		// The controller, or else the broker leading the most partitions.
		var victim *clusterNode
		for _, nd := range nodes {
			switch {
			case (nd.id == st.controller) != killController:
			case victim == nil || st.leads(nd.id) > st.leads(victim.id):
				victim = nd
			}
		}
		k := ClusterKill{Broker: victim.id, Controller: killController, LeaderOf: st.leads(victim.id)}
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
	return nil
}

// clusterKill kills victim, times the failover, restarts it and times its
// return.
func clusterKill(ctx context.Context, nodes []*clusterNode, victim *clusterNode, opts Options, k *ClusterKill) error {
	step := opts.ScaleStepTimeout
	victim.b.Kill()
	victim.b = nil
	t0 := time.Now()
	dead := []int32{victim.id}
	if k.Controller {
		if err := waitCluster(ctx, nodes, dead, step, func(s clusterState) bool {
			return s.controller > 0 && s.controller != victim.id
		}); err != nil {
			return fmt.Errorf("new controller: %w", err)
		}
		k.NewControllerSec = time.Since(t0).Seconds()
	}
	if err := waitCluster(ctx, nodes, dead, step, func(s clusterState) bool { return s.ledBy(dead) }); err != nil {
		return fmt.Errorf("leaders after the kill: %w", err)
	}
	k.LedSec = time.Since(t0).Seconds()

	t1 := time.Now()
	if err := victim.start(ctx, opts.SluiceBin, step); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	k.ListenSec = time.Since(t1).Seconds()
	if err := waitCluster(ctx, nodes, nil, step, func(s clusterState) bool { return s.complete(len(nodes)) }); err != nil {
		return fmt.Errorf("ISRs after the restart: %w", err)
	}
	k.RejoinSec = time.Since(t1).Seconds()
	// Give the restarted broker its preferred leaderships back (as
	// auto.leader.rebalance would, later), so that the next kill finds
	// the leaders spread.
	// Best effort: the next kill picks the broker leading the most
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
	what := fmt.Sprintf("kill -9 broker %d (leader of %d)", k.Broker, k.LeaderOf)
	if k.Controller {
		what = fmt.Sprintf("kill -9 controller (broker %d, leader of %d)", k.Broker, k.LeaderOf)
	}
	s := what + ":"
	if k.Controller {
		s += fmt.Sprintf(" new controller after %.2fs;", k.NewControllerSec)
	}
	s += fmt.Sprintf(" every partition led after %.2fs; restart: listening after %.2fs, every ISR complete after %.2fs", k.LedSec, k.ListenSec, k.RejoinSec)
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
	leaders    []int32 // per partition; -1 when leaderless or in error
	preferred  []int32 // first replica per partition
	isr        []int   // ISR size per partition
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
	for _, n := range s.isr {
		if n < replicas {
			return false
		}
	}
	return true
}

// waitCluster polls Metadata on a live broker (not in dead) every 50 ms
// until done accepts the answer, for at most timeout.
func waitCluster(ctx context.Context, nodes []*clusterNode, dead []int32, timeout time.Duration, done func(clusterState) bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var live []string
	for _, nd := range nodes {
		if nd.b != nil && !slices.Contains(dead, nd.id) {
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
			s.isr = append(s.isr, len(p.ISR))
			pref := int32(-1)
			if len(p.Replicas) > 0 {
				pref = p.Replicas[0]
			}
			s.preferred = append(s.preferred, pref)
		}
	}
	return s, nil
}
