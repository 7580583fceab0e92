package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluice-io/sluice/internal/node"
)

const (
	brokerSluice       = "sluice"
	brokerKfakeMem     = "kfake-mem"
	brokerKfakeDurable = "kfake-durable"
	// brokerSluiceCluster is three Sluice brokers in this process, each
	// on its own loopback ports and data directory, with topics of
	// replication factor 3 and min.insync.replicas 2.
	brokerSluiceCluster = "sluice-cluster3"
)

var allBrokers = []string{brokerSluice, brokerKfakeMem, brokerKfakeDurable, brokerSluiceCluster}

// runningBroker is one broker started for one run.
type runningBroker interface {
	Addr() string
	Stop(ctx context.Context) error
	// CPU is the CPU time used by a broker in a child process so far;
	// 0 for one in this process (whose CPU is this process's).
	CPU() time.Duration
}

// brokerSpec says how to start a broker on an empty data directory.
type brokerSpec struct {
	name      string
	inProcess bool
	start     func(ctx context.Context, dir string) (runningBroker, error)
	// replicas is the replication factor of the benchmark topics (1 when 0)
	// and topicConfigs their configs.
	replicas     int16
	topicConfigs map[string]*string
}

func brokerSpecs(opts Options) ([]brokerSpec, error) {
	var specs []brokerSpec
	for _, name := range opts.Brokers {
		var s brokerSpec
		switch name {
		case brokerSluice:
			if opts.SluiceBin != "" {
				bin := opts.SluiceBin
				settings := opts.SluiceSettings
				s = brokerSpec{name: name, start: func(ctx context.Context, dir string) (runningBroker, error) {
					return asRunning(startSluiceChild(ctx, bin, dir, "127.0.0.1:0", settings, childReadyTimeout))
				}}
			} else {
				settings := opts.SluiceSettings
				s = brokerSpec{name: name, inProcess: true, start: func(ctx context.Context, dir string) (runningBroker, error) {
					return startSluice(ctx, dir, settings)
				}}
			}
		case brokerSluiceCluster:
			settings := opts.SluiceSettings
			minISR := "2"
			s = brokerSpec{name: name, inProcess: true, replicas: 3, topicConfigs: map[string]*string{"min.insync.replicas": &minISR},
				start: func(ctx context.Context, dir string) (runningBroker, error) {
					return startSluiceCluster(ctx, dir, 3, settings)
				}}
		case brokerKfakeMem, brokerKfakeDurable:
			durable := name == brokerKfakeDurable
			if opts.KfakeSubprocess {
				s = brokerSpec{name: name, start: func(ctx context.Context, dir string) (runningBroker, error) {
					return asRunning(startKfakeChild(ctx, dir, durable, 0, childReadyTimeout))
				}}
			} else {
				s = brokerSpec{name: name, inProcess: true, start: func(ctx context.Context, dir string) (runningBroker, error) {
					return startKfake(dir, durable)
				}}
			}
		default:
			return nil, fmt.Errorf("unknown broker %q (want %s)", name, strings.Join(allBrokers, ", "))
		}
		specs = append(specs, s)
	}
	if len(specs) == 0 {
		return nil, errors.New("no brokers selected")
	}
	return specs, nil
}

// Sluice in this process.

type sluiceBroker struct{ n *node.Node }

func startSluice(ctx context.Context, dir string, settings map[string]string) (runningBroker, error) {
	s := map[string]string{}
	for k, v := range settings {
		s[k] = v
	}
	n, err := node.Start(ctx, node.Config{
		NodeID:   1,
		Listen:   "127.0.0.1:0",
		DataDir:  dir,
		Settings: s,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("start sluice: %w", err)
	}
	return sluiceBroker{n}, nil
}

// sluiceCluster is several Sluice nodes in this process forming one
// cluster over loopback.
type sluiceCluster struct{ nodes []*node.Node }

// startSluiceCluster starts count nodes. Their controller ports are
// picked free and then bound by the nodes, so another process may take one
// in between: such a start is retried with fresh ports and directories.
func startSluiceCluster(ctx context.Context, dir string, count int, settings map[string]string) (runningBroker, error) {
	for attempt := 1; ; attempt++ {
		c, err := tryStartSluiceCluster(ctx, filepath.Join(dir, fmt.Sprintf("try-%d", attempt)), count, settings)
		if err == nil || attempt == 3 || !errors.Is(err, syscall.EADDRINUSE) {
			return c, err
		}
	}
}

func tryStartSluiceCluster(ctx context.Context, dir string, count int, settings map[string]string) (runningBroker, error) {
	var voters []string
	for i := range count {
		addr, err := freeLoopback()
		if err != nil {
			return nil, err
		}
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, addr))
	}
	type started struct {
		n   *node.Node
		err error
	}
	results := make([]chan started, count)
	for i := range count {
		s := map[string]string{"controller.quorum.voters": strings.Join(voters, ",")}
		for k, v := range settings {
			s[k] = v
		}
		results[i] = make(chan started, 1)
		go func() {
			n, err := node.Start(ctx, node.Config{
				NodeID:   int32(i + 1),
				Listen:   "127.0.0.1:0",
				DataDir:  filepath.Join(dir, fmt.Sprintf("node-%d", i+1)),
				Settings: s,
				Logger:   slog.New(slog.DiscardHandler),
			})
			results[i] <- started{n, err}
		}()
	}
	c := &sluiceCluster{}
	var errs []error
	for _, ch := range results {
		r := <-ch
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		c.nodes = append(c.nodes, r.n)
	}
	if err := errors.Join(errs...); err != nil {
		c.Stop(context.Background())
		return nil, fmt.Errorf("start sluice cluster: %w", err)
	}
	return c, nil
}

func (c *sluiceCluster) Addr() string       { return c.nodes[0].Addr() }
func (c *sluiceCluster) CPU() time.Duration { return 0 }

// Stop shuts the brokers down one at a time, as an operator would: each
// hands its leaderships to the ones still running.
func (c *sluiceCluster) Stop(ctx context.Context) error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (b sluiceBroker) Addr() string                   { return b.n.Addr() }
func (b sluiceBroker) Stop(ctx context.Context) error { return b.n.Shutdown(ctx) }
func (b sluiceBroker) CPU() time.Duration             { return 0 }

// kfake in this process.

type kfakeBroker struct{ c *kfake.Cluster }

// kfakeOpts configures one kfake broker; port 0 picks a free one.
func kfakeOpts(dir string, durable bool, port int) []kfake.Opt {
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	if durable {
		opts = append(opts, kfake.DataDir(dir), kfake.SyncWrites())
	}
	return opts
}

func startKfake(dir string, durable bool) (runningBroker, error) {
	c, err := kfake.NewCluster(kfakeOpts(dir, durable, 0)...)
	if err != nil {
		return nil, fmt.Errorf("start kfake: %w", err)
	}
	return kfakeBroker{c}, nil
}

func (b kfakeBroker) Addr() string       { return b.c.ListenAddrs()[0] }
func (b kfakeBroker) CPU() time.Duration { return 0 }
func (b kfakeBroker) Stop(context.Context) error {
	b.c.Close()
	return nil
}

// A broker in a child process: `sluice serve`, or this program re-executed
// as a kfake server. The child prints "<prefix>ADDR[ ...]" on stderr once it
// listens; it is stopped with SIGTERM (and its stdin closed), killed if it
// does not exit within the context.

const (
	kfakeChildEnv     = "SLUICE_BENCH_KFAKE"
	kfakeChildDirEnv  = "SLUICE_BENCH_KFAKE_DIR"
	kfakeChildPortEnv = "SLUICE_BENCH_KFAKE_PORT"
	kfakeReadyPrefix  = "kfake: serving Kafka on "
	sluiceReadyPrefix = "sluice: serving Kafka on "

	// childReadyTimeout bounds how long a child broker of the throughput
	// workloads may take to listen.
	childReadyTimeout = 60 * time.Second
)

// startSluiceChild runs `bin serve` on dir, listening on listen
// ("127.0.0.1:0" for any free port).
func startSluiceChild(ctx context.Context, bin, dir, listen string, settings map[string]string, ready time.Duration) (*childBroker, error) {
	args := []string{"serve", "--listen", listen, "--data-dir", dir, "--log-level", "warn"}
	for k, v := range settings {
		args = append(args, "--config", k+"="+v)
	}
	return startChild(ctx, bin, args, nil, sluiceReadyPrefix, ready)
}

// startKfakeChild runs this program again as a kfake server on dir,
// listening on 127.0.0.1:port (0 for any free port).
func startKfakeChild(ctx context.Context, dir string, durable bool, port int, ready time.Duration) (*childBroker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	mode := "mem"
	if durable {
		mode = "durable"
	}
	env := []string{kfakeChildEnv + "=" + mode, kfakeChildDirEnv + "=" + dir, kfakeChildPortEnv + "=" + strconv.Itoa(port)}
	return startChild(ctx, exe, nil, env, kfakeReadyPrefix, ready)
}

type childBroker struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
	done  chan struct{}
	mu    sync.Mutex
	tail  []string // last lines of stderr, for errors
	// crash holds the first lines of a Go panic or fatal error on
	// stderr, whose top the last lines of a long stack leave out.
	crash []string
}

// startChild starts bin and waits up to ready for its listening line.
func startChild(ctx context.Context, bin string, args, env []string, readyPrefix string, ready time.Duration) (*childBroker, error) {
	return startChildLogged(ctx, bin, args, env, readyPrefix, ready, nil)
}

// startChildLogged is startChild that also copies every line of the
// child's stderr to logTo when it is not nil.
func startChildLogged(ctx context.Context, bin string, args, env []string, readyPrefix string, ready time.Duration, logTo io.Writer) (*childBroker, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	setParentDeathSignal(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	b := &childBroker{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if logTo != nil {
				fmt.Fprintln(logTo, line)
			}
			b.mu.Lock()
			b.tail = append(b.tail, line)
			if len(b.tail) > 20 {
				b.tail = b.tail[1:]
			}
			if (len(b.crash) > 0 || strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:")) && len(b.crash) < 12 {
				b.crash = append(b.crash, line)
			}
			b.mu.Unlock()
			if rest, ok := strings.CutPrefix(line, readyPrefix); ok {
				addr, _, _ := strings.Cut(rest, " ")
				select {
				case addrCh <- addr:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(b.done) }()
	timer := time.NewTimer(ready)
	defer timer.Stop()
	select {
	case b.addr = <-addrCh:
		return b, nil
	case <-b.done:
		return nil, fmt.Errorf("%s exited before listening: %s", filepath.Base(bin), b.output())
	case <-timer.C:
		b.Stop(context.Background())
		return nil, fmt.Errorf("%s did not listen within %v: %s", filepath.Base(bin), ready, b.output())
	case <-ctx.Done():
		b.Stop(context.Background())
		return nil, ctx.Err()
	}
}

func (b *childBroker) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.crash) > 0 {
		return strings.Join(b.crash, "\n") + "\n...\n" + strings.Join(b.tail, "\n")
	}
	return strings.Join(b.tail, "\n")
}

func (b *childBroker) Addr() string       { return b.addr }
func (b *childBroker) CPU() time.Duration { return processCPU(b.cmd.Process.Pid) }

// asRunning turns a started child into a runningBroker, keeping a failed
// start a nil interface rather than one holding a nil pointer.
func asRunning(b *childBroker, err error) (runningBroker, error) {
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Pid is the child's process ID.
func (b *childBroker) Pid() int { return b.cmd.Process.Pid }

// Kill ends the child with SIGKILL, as a crash would, and waits until it
// has exited.
func (b *childBroker) Kill() {
	b.cmd.Process.Kill()
	<-b.done
}

func (b *childBroker) Stop(ctx context.Context) error {
	b.stdin.Close()
	b.cmd.Process.Signal(sigterm)
	select {
	case <-b.done:
	case <-ctx.Done():
		b.cmd.Process.Kill()
		<-b.done
		return fmt.Errorf("broker did not stop in time; killed")
	}
	if st := b.cmd.ProcessState; st != nil && !st.Success() {
		return fmt.Errorf("broker exited with %v: %s", st, b.output())
	}
	return nil
}

// serveKfakeChild runs kfake if this process was started as a kfake child
// (by -kfake-subprocess), and reports whether it did. It stops when its
// stdin closes (the parent stopped it or died) or on SIGTERM.
func serveKfakeChild() bool {
	mode := os.Getenv(kfakeChildEnv)
	if mode == "" {
		return false
	}
	port, _ := strconv.Atoi(os.Getenv(kfakeChildPortEnv)) // unset: 0, any free port
	c, err := kfake.NewCluster(kfakeOpts(os.Getenv(kfakeChildDirEnv), mode == "durable", port)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "%s%s\n", kfakeReadyPrefix, c.ListenAddrs()[0])
	stopped := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stopped) }()
	waitTerm(stopped)
	c.Close()
	return true
}

// buildSluice builds ./cmd/sluice into a temporary directory.
func buildSluice(ctx context.Context) (string, func(), error) {
	dir, err := os.MkdirTemp("", "sluice-bench-bin-*")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "sluice")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sluice-io/sluice/cmd/sluice")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build sluice: %w", err)
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}
