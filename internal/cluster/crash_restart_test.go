package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Environment of a crashNode child process (TestCrashRestartWithSnapshots).
const (
	crashChildEnv  = "SLUICE_CLUSTER_CRASH_CHILD" // node ID
	crashDirEnv    = "SLUICE_CLUSTER_CRASH_DIR"
	crashVotersEnv = "SLUICE_CLUSTER_CRASH_VOTERS" // id=addr,...
)

// crashTune makes Raft snapshot and compact its log all the time, and
// send snapshots to followers that fall a few entries behind.
func crashTune(c *raft.Config) {
	c.SnapshotThreshold = 32
	c.SnapshotInterval = 30 * time.Millisecond
	c.TrailingLogs = 16
}

// TestCrashRestartWithSnapshots: voters of a three-node quorum, each a
// process of its own that proposes commands as fast as it can while Raft
// snapshots, compacts its log (deleting whole segments) and installs
// snapshots on laggards every few commands, are killed with SIGKILL one after another and started again on
// their directories; every start must open its metadata node (no panic
// in Raft's start-up, no error) and the quorum must keep committing.
func TestCrashRestartWithSnapshots(t *testing.T) {
	if id := os.Getenv(crashChildEnv); id != "" {
		runCrashChild(t, id)
		return
	}
	if testing.Short() {
		t.Skip("starts processes for about 20 s")
	}
	const voters = 3
	// Every listener stays open until all ports are chosen, so no two
	// voters get the same port.
	var addrs []string
	var lns []net.Listener
	for range voters {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	var vs []string
	for i, a := range addrs {
		vs = append(vs, fmt.Sprintf("%d=%s", i+1, a))
	}
	base := t.TempDir()
	children := make([]*crashChild, voters)
	start := func(i int) {
		t.Helper()
		c, err := startCrashChild(i+1, fmt.Sprintf("%s/n%d", base, i+1), strings.Join(vs, ","))
		if err != nil {
			t.Fatal(err)
		}
		children[i] = c
	}
	for i := range children {
		start(i)
	}
	defer func() {
		for _, c := range children {
			if c != nil {
				c.kill()
			}
		}
	}()
	for i := range children {
		if err := children[i].waitReady(60 * time.Second); err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for round := 0; time.Now().Before(deadline) || round < 6; round++ {
		i := round % voters
		// Let the node run (and the others snapshot past it) for a
		// moment, then kill it and start it again.
		time.Sleep(time.Duration(100+round*37%300) * time.Millisecond)
		children[i].kill()
		start(i)
		if err := children[i].waitReady(60 * time.Second); err != nil {
			t.Fatalf("round %d: node %d after SIGKILL: %v", round, i+1, err)
		}
	}
	// The premise: Raft snapshotted on every node.
	for i := range children {
		snaps, err := os.ReadDir(fmt.Sprintf("%s/n%d/snapshots", base, i+1))
		if err != nil || len(snaps) == 0 {
			t.Errorf("node %d has no snapshot: %v", i+1, err)
		}
	}
}

// crashChild is one node process.
type crashChild struct {
	cmd   *exec.Cmd
	ready chan struct{}
	done  chan struct{}
	out   strings.Builder // its stderr, for a panic's text
	err   error           // set when done: how it ended
}

func startCrashChild(id int, dir, voters string) (*crashChild, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRestartWithSnapshots$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+strconv.Itoa(id), crashDirEnv+"="+dir, crashVotersEnv+"="+voters)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &crashChild{cmd: cmd, ready: make(chan struct{}), done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		b, _ := io.ReadAll(io.LimitReader(pr, 1<<20))
		c.out.Write(b)
		io.Copy(io.Discard, pr)
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		readied := false
		for sc.Scan() {
			if !readied && sc.Text() == "crash-child-ready" {
				readied = true
				close(c.ready)
			}
		}
		c.err = cmd.Wait()
		pw.Close()
		<-errDone
		close(c.done)
	}()
	return c, nil
}

func (c *crashChild) waitReady(d time.Duration) error {
	select {
	case <-c.ready:
		return nil
	case <-c.done:
		out := c.out.String()
		if i := strings.Index(out, "panic:"); i >= 0 {
			out = out[i:]
		}
		if len(out) > 3000 {
			out = out[:3000]
		}
		return fmt.Errorf("exited before it was ready (%v):\n%s", c.err, out)
	case <-time.After(d):
		return fmt.Errorf("not ready after %v", d)
	}
}

func (c *crashChild) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// runCrashChild is the body of a child process: open the node, say so,
// then propose until killed.
func runCrashChild(t *testing.T, idText string) {
	id, err := strconv.Atoi(idText)
	if err != nil {
		t.Fatal(err)
	}
	var voters []Voter
	self := ""
	for _, v := range strings.Split(os.Getenv(crashVotersEnv), ",") {
		k, addr, _ := strings.Cut(v, "=")
		vid, _ := strconv.Atoi(k)
		voters = append(voters, Voter{ID: int32(vid), Addr: addr})
		if vid == id {
			self = addr
		}
	}
	ctx := context.Background()
	cfg := Config{NodeID: int32(id), Dir: os.Getenv(crashDirEnv), Host: "127.0.0.1", Port: int32(9000 + id),
		Voters: voters, RaftAddr: self, SessionTimeout: 3 * time.Second, HeartbeatInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	openCtx, cancel := context.WithTimeout(ctx, 50*time.Second)
	n, err := open(openCtx, cfg, crashTune)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	fmt.Println("crash-child-ready")
	// Entries of 16 KiB fill the log's 4 MiB segments every 256 entries,
	// so segments are sealed, rotated and deleted whole by compaction.
	pad := strings.Repeat("x", 16<<10)
	for i := 0; ; i++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v := strconv.Itoa(i) + pad
		n.Propose(pctx, AlterConfigs{ResourceType: resourceBroker, Name: strconv.Itoa(id), Set: map[string]*string{"x": &v}})
		cancel()
	}
}
