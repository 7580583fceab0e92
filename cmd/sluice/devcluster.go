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
)

func newDevClusterCommand() *cobra.Command {
	var (
		nodes, basePort int
		dataDir         string
		settings        []string
	)
	cmd := &cobra.Command{
		Use:   "dev-cluster",
		Short: "Run a local multi-broker cluster for development",
		Long: `Run a cluster of --nodes brokers on this machine, each a separate
'sluice serve' process with its own data directory under --data-dir. Every node
is a metadata voter. Broker i listens on 127.0.0.1:(base-port+i-1) and its
controller on base-port+1000+i-1; --base-port 0 picks free ports. Ctrl-C stops
all of them. Data survives restarts of the dev cluster.`,
		Example: `  sluice dev-cluster --nodes 3
  sluice dev-cluster --nodes 3 -c default.replication.factor=3 -c min.insync.replicas=2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 1 || nodes > 64 {
				return usageError{fmt.Errorf("--nodes %d: want 1 to 64", nodes)}
			}
			if basePort < 0 || basePort+1000+nodes > 65535 {
				return usageError{fmt.Errorf("--base-port %d: out of range", basePort)}
			}
			for _, kv := range settings {
				if k, _, ok := strings.Cut(kv, "="); !ok || strings.TrimSpace(k) == "" {
					return usageError{fmt.Errorf("--config %q: want name=value", kv)}
				}
			}
			return runDevCluster(cmd.Context(), nodes, basePort, dataDir, settings)
		},
	}
	f := cmd.Flags()
	f.IntVar(&nodes, "nodes", 3, "number of brokers")
	f.IntVar(&basePort, "base-port", 9092, "Kafka port of node 1; 0 picks free ports")
	f.StringVar(&dataDir, "data-dir", "./sluice-dev-cluster", "parent of the nodes' data directories")
	f.StringArrayVarP(&settings, "config", "c", nil, "broker setting for every node as name=value (repeatable)")
	return cmd
}

// devNode is one broker of a dev cluster.
type devNode struct {
	id                 int
	listen, controller string
}

func runDevCluster(ctx context.Context, count, basePort int, dataDir string, settings []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	nodes := make([]devNode, count)
	for i := range nodes {
		nodes[i].id = i + 1
		if basePort == 0 {
			if nodes[i].listen, err = freeAddr(); err != nil {
				return err
			}
			if nodes[i].controller, err = freeAddr(); err != nil {
				return err
			}
			continue
		}
		nodes[i].listen = "127.0.0.1:" + strconv.Itoa(basePort+i)
		nodes[i].controller = "127.0.0.1:" + strconv.Itoa(basePort+1000+i)
	}
	voters := make([]string, count)
	bootstrap := make([]string, count)
	for i, n := range nodes {
		voters[i] = fmt.Sprintf("%d@%s", n.id, n.controller)
		bootstrap[i] = n.listen
	}

	ready := make(chan int, count)
	exited := make(chan int, count)
	var wg sync.WaitGroup
	var out sync.Mutex
	var procs []*exec.Cmd
	var dones []chan struct{} // closed when the node's process has exited
	// stopAll stops the nodes one at a time, so that each hands its
	// leaderships to the ones still running; one that does not stop within
	// 30 seconds is killed.
	stopAll := func() {
		for i, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			select {
			case <-dones[i]:
			case <-time.After(30 * time.Second):
				p.Process.Kill()
				<-dones[i]
			}
		}
		wg.Wait()
	}
	for _, n := range nodes {
		args := []string{"serve", "--node-id", strconv.Itoa(n.id), "--listen", n.listen,
			"--data-dir", filepath.Join(dataDir, fmt.Sprintf("node-%d", n.id)),
			"--controller-voters", strings.Join(voters, ","), "--controller-listen", n.controller}
		for _, kv := range settings {
			args = append(args, "-c", kv)
		}
		p := exec.Command(self, args...)
		// Children get their own process group, so a Ctrl-C reaches them
		// through us, in order, and not twice.
		p.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		stderr, err := p.StderrPipe()
		if err != nil {
			stopAll()
			return err
		}
		p.Stdout = os.Stdout
		if err := p.Start(); err != nil {
			stopAll()
			return fmt.Errorf("start node %d: %w", n.id, err)
		}
		procs = append(procs, p)
		done := make(chan struct{})
		dones = append(dones, done)
		wg.Add(1)
		go func(id int, r io.Reader) {
			defer wg.Done()
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				line := sc.Text()
				out.Lock()
				fmt.Fprintf(os.Stderr, "[node %d] %s\n", id, line)
				out.Unlock()
				if strings.HasPrefix(line, "sluice: serving Kafka on ") {
					ready <- id
				}
			}
			err := p.Wait()
			close(done)
			exited <- id
			if ctx.Err() == nil {
				out.Lock()
				fmt.Fprintf(os.Stderr, "sluice: node %d exited: %v\n", id, errOrOK(err))
				out.Unlock()
			}
		}(n.id, stderr)
	}
	// The bootstrap line comes once every node serves, so a script can
	// wait for it.
	for serving := 0; serving < count; {
		select {
		case <-ready:
			serving++
		case id := <-exited:
			stopAll()
			return fmt.Errorf("node %d exited before it was serving", id)
		case <-ctx.Done():
			stopAll()
			return nil
		}
	}
	out.Lock()
	fmt.Fprintf(os.Stderr, "sluice: dev cluster of %d nodes; bootstrap servers %s\n", count, strings.Join(bootstrap, ","))
	out.Unlock()
	<-ctx.Done()
	stopAll()
	return nil
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
// ago. It is taken below Linux's ephemeral port range (32768-60999), where
// outgoing connections made before the node binds it cannot land.
func freeAddr() (string, error) {
	for range 200 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000)))
		if err != nil {
			continue
		}
		defer ln.Close()
		return ln.Addr().String(), nil
	}
	return "", errors.New("no free loopback port between 20000 and 32000")
}
