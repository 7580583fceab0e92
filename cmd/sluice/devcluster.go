package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// devStopTimeout bounds how long Ctrl-C takes: nodes still running after it
// are killed (what they acknowledged is on disk already).
const devStopTimeout = 4 * time.Second

func newDevClusterCommand() *cobra.Command {
	var (
		nodes, basePort, httpBase int
		dataDir                   string
		settings                  []string
		restart                   bool
	)
	cmd := &cobra.Command{
		Use:   "dev-cluster",
		Short: "Run a local multi-broker cluster for development",
		Long: `Run a cluster of --nodes brokers on this machine, each a separate
'sluice serve' process with its own data directory under --data-dir. Every node
is a metadata voter. Broker i listens on 127.0.0.1:(base-port+i-1), its
controller on base-port+1000+i-1 and its HTTP admin listener (/metrics,
/healthz, /readyz) on http-base-port+i-1; --base-port 0 picks free ports for
all three, and --http-base-port -1 turns HTTP off.

Once every node serves, the bootstrap servers are printed on stdout, one
line (everything else goes to stderr, each node's lines prefixed with its
ID), so a script can read them:

  B=$(sluice dev-cluster --nodes 3 | head -1) ...

A node that exits is reported; with --restart-on-exit it is started again
(after 1 s, backing off to 30 s while it keeps failing). Ctrl-C stops every
node within 5 seconds. Data survives restarts of the dev cluster.`,
		Example: `  sluice dev-cluster --nodes 3
  sluice dev-cluster --nodes 3 --restart-on-exit -c default.replication.factor=3 -c min.insync.replicas=2
  sluice dev-cluster --nodes 3 --base-port 0 --data-dir /tmp/dev`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 1 || nodes > 64 {
				return usageError{fmt.Errorf("--nodes %d: want 1 to 64", nodes)}
			}
			if basePort < 0 || basePort+1000+nodes > 65535 {
				return usageError{fmt.Errorf("--base-port %d: out of range", basePort)}
			}
			if httpBase < -1 || httpBase+nodes > 65535 {
				return usageError{fmt.Errorf("--http-base-port %d: out of range (-1 turns HTTP off)", httpBase)}
			}
			if basePort == 0 && !cmd.Flags().Changed("http-base-port") {
				httpBase = 0
			}
			for _, kv := range settings {
				if k, _, ok := strings.Cut(kv, "="); !ok || strings.TrimSpace(k) == "" {
					return usageError{fmt.Errorf("--config %q: want name=value", kv)}
				}
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			dc := &devCluster{self: self, restart: restart, stdout: cmd.OutOrStdout(), stderr: cmd.ErrOrStderr()}
			if err := dc.plan(nodes, basePort, httpBase, dataDir, settings); err != nil {
				return err
			}
			return dc.run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 3, "number of brokers")
	f.IntVar(&basePort, "base-port", 9092, "Kafka port of node 1; 0 picks free ports")
	f.IntVar(&httpBase, "http-base-port", 9644, "HTTP admin port of node 1; 0 picks free ports, -1 turns HTTP off")
	f.StringVar(&dataDir, "data-dir", "./sluice-dev-cluster", "parent of the nodes' data directories")
	f.StringArrayVarP(&settings, "config", "c", nil, "broker setting for every node as name=value (repeatable)")
	f.BoolVar(&restart, "restart-on-exit", false, "start a node again when it exits")
	return cmd
}

// devCluster runs and supervises the nodes of a dev cluster.
type devCluster struct {
	self    string
	restart bool
	stdout  io.Writer
	stderr  io.Writer
	nodes   []*devNode

	outMu sync.Mutex // one line at a time on stderr
}

// devNode is one broker of a dev cluster and its current process.
type devNode struct {
	id                       int
	listen, controller, http string
	args                     []string

	mu       sync.Mutex
	proc     *os.Process   // nil while not running
	exited   chan struct{} // closed when proc has exited
	stopping bool          // set once the cluster stops: no more starts
}

// plan picks every node's addresses and arguments.
func (dc *devCluster) plan(count, basePort, httpBase int, dataDir string, settings []string) error {
	picked := map[string]bool{} // free ports are drawn at random: never one twice
	pick := func(base, i int) (string, error) {
		switch {
		case base < 0:
			return "", nil
		case base == 0:
			return freeAddr(picked)
		}
		return "127.0.0.1:" + strconv.Itoa(base+i), nil
	}
	var voters []string
	for i := range count {
		n := &devNode{id: i + 1}
		var err error
		if n.listen, err = pick(basePort, i); err != nil {
			return err
		}
		ctrlBase := basePort + 1000
		if basePort == 0 {
			ctrlBase = 0
		}
		if n.controller, err = pick(ctrlBase, i); err != nil {
			return err
		}
		if n.http, err = pick(httpBase, i); err != nil {
			return err
		}
		voters = append(voters, fmt.Sprintf("%d@%s", n.id, n.controller))
		dc.nodes = append(dc.nodes, n)
	}
	for _, n := range dc.nodes {
		n.args = []string{"serve", "--node-id", strconv.Itoa(n.id), "--listen", n.listen,
			"--data-dir", filepath.Join(dataDir, fmt.Sprintf("node-%d", n.id)),
			"--controller-voters", strings.Join(voters, ","), "--controller-listen", n.controller,
			"--http-listen", n.http}
		for _, kv := range settings {
			n.args = append(n.args, "-c", kv)
		}
	}
	return nil
}

// say writes one line to stderr.
func (dc *devCluster) say(format string, args ...any) {
	dc.outMu.Lock()
	defer dc.outMu.Unlock()
	fmt.Fprintf(dc.stderr, format+"\n", args...)
}

func (dc *devCluster) run(ctx context.Context) error {
	ready := make(chan int, len(dc.nodes)*4)
	gaveUp := make(chan int, len(dc.nodes))
	var wg sync.WaitGroup
	for _, n := range dc.nodes {
		http := n.http
		if http == "" {
			http = "off"
		}
		dc.say("sluice: node %d: Kafka %s, controller %s, HTTP %s", n.id, n.listen, n.controller, http)
	}
	superviseCtx, stopSupervising := context.WithCancel(ctx)
	defer stopSupervising()
	for _, n := range dc.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dc.supervise(superviseCtx, n, ready, gaveUp)
		}()
	}
	stop := func() {
		stopSupervising()
		dc.stopAll()
		wg.Wait()
	}
	// The bootstrap line comes once every node serves, so a script can
	// wait for it.
	serving := map[int]bool{}
	for len(serving) < len(dc.nodes) {
		select {
		case id := <-ready:
			serving[id] = true
		case id := <-gaveUp:
			stop()
			return fmt.Errorf("node %d exited before the cluster was serving (see its lines above)", id)
		case <-ctx.Done():
			stop()
			return nil
		}
	}
	bootstrap := make([]string, len(dc.nodes))
	for i, n := range dc.nodes {
		bootstrap[i] = n.listen
	}
	dc.say("sluice: dev cluster of %s; bootstrap servers %s", plural(len(dc.nodes), "node"), strings.Join(bootstrap, ","))
	fmt.Fprintln(dc.stdout, strings.Join(bootstrap, ","))
	for {
		select {
		case <-ready: // a restarted node serves again; supervise said so
		case <-gaveUp:
		case <-ctx.Done():
			dc.say("sluice: stopping %s", plural(len(dc.nodes), "node"))
			stop()
			return nil
		}
	}
}

// supervise runs one node until ctx ends, restarting it when it exits if
// the cluster was asked to. It sends the node's ID on ready each time it
// serves, and on gaveUp when it exits for good.
func (dc *devCluster) supervise(ctx context.Context, n *devNode, ready, gaveUp chan<- int) {
	backoff := time.Second
	for {
		started := time.Now()
		err := dc.runNode(ctx, n, ready)
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, errNodeExited) {
			dc.say("sluice: node %d: %v", n.id, err)
		}
		if !dc.restart {
			dc.say("sluice: node %d is down; the others keep running (--restart-on-exit restarts a node that exits)", n.id)
			gaveUp <- n.id
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		dc.say("sluice: restarting node %d in %s", n.id, backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

var errNodeExited = errors.New("node exited")

// runNode starts the node's process, forwards its output and waits for it.
func (dc *devCluster) runNode(ctx context.Context, n *devNode, ready chan<- int) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	p := exec.Command(dc.self, n.args...)
	// Children get their own process group, so a Ctrl-C reaches them
	// through us, in order, and not twice.
	p.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.Stdout, p.Stderr = pw, pw
	n.mu.Lock()
	if n.stopping || ctx.Err() != nil {
		n.mu.Unlock()
		pw.Close()
		return ctx.Err()
	}
	err = p.Start()
	exited := make(chan struct{})
	if err == nil {
		n.proc, n.exited = p.Process, exited
	}
	n.mu.Unlock()
	pw.Close()
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	dc.say("sluice: node %d started (pid %d)", n.id, p.Process.Pid)
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		dc.say("[node %d] %s", n.id, line)
		if servingKafka(line) {
			select {
			case ready <- n.id:
			default:
			}
		}
	}
	err = p.Wait()
	n.mu.Lock()
	n.proc = nil
	n.mu.Unlock()
	close(exited)
	if ctx.Err() == nil {
		dc.say("sluice: node %d (pid %d) exited: %s", n.id, p.Process.Pid, errOrOK(err))
	}
	return errNodeExited
}

// stopAll stops the nodes one at a time, so that each hands its
// leaderships to the ones still running, and the controller last, so that
// every other node's shutdown is committed while there is a quorum to
// commit it; whatever still runs after devStopTimeout is killed.
func (dc *devCluster) stopAll() {
	deadline := time.Now().Add(devStopTimeout)
	for _, n := range dc.stopOrder() {
		n.mu.Lock()
		n.stopping = true
		p, exited := n.proc, n.exited
		n.mu.Unlock()
		if p == nil {
			continue
		}
		p.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Until(deadline)):
		}
	}
	for _, n := range dc.nodes {
		n.mu.Lock()
		if n.proc != nil {
			dc.say("sluice: node %d did not stop within %s; killing it", n.id, devStopTimeout)
			n.proc.Kill()
		}
		n.mu.Unlock()
	}
}

// stopOrder is the nodes with the controller last, as far as one of them
// can tell within a second.
func (dc *devCluster) stopOrder() []*devNode {
	var seeds []string
	for _, n := range dc.nodes {
		seeds = append(seeds, n.listen)
	}
	controller := int32(-1)
	if cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DialTimeout(time.Second)); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if md, err := kadm.NewClient(cl).BrokerMetadata(ctx); err == nil {
			controller = md.Controller
		}
		cancel()
		cl.Close()
	}
	order := make([]*devNode, 0, len(dc.nodes))
	var last *devNode
	for _, n := range dc.nodes {
		if int32(n.id) == controller {
			last = n
			continue
		}
		order = append(order, n)
	}
	if last != nil {
		order = append(order, last)
	}
	return order
}

func errOrOK(err error) string {
	if err == nil {
		return "exit 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	return err.Error()
}

// freeAddr returns a loopback address with a port that was free a moment
// ago and is not in picked, and adds it there. It is taken below Linux's
// ephemeral port range (32768-60999), where outgoing connections made
// before the node binds it cannot land.
func freeAddr(picked map[string]bool) (string, error) {
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if picked[addr] {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		picked[addr] = true
		return addr, nil
	}
	return "", errors.New("no free loopback port between 20000 and 32000")
}
