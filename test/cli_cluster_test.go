package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCLIDescribeLeaderless: after a broker dies, topic describe and group
// describe still work and show the partition it held with leader -1, its
// offline replica and unknown offsets, and every other partition as usual;
// on processes and on in-process brokers.
func TestCLIDescribeLeaderless(t *testing.T) {
	t.Parallel()
	forEachKind(t, 3, fastFailover, describeLeaderless)
}

func describeLeaderless(t *testing.T, c cluster) {
	waitBrokersIn(c, 3, 30*time.Second)
	seeds := strings.Join(c.seeds(), ",")
	cli(t, seeds, "", "topic", "create", "solo", "-p", "3", "-r", "1")
	td := waitISR(c, "solo", 1, 1, 30*time.Second)
	cl := c.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(3) {
		for i := range int(p) + 1 {
			if err := cl.ProduceSync(testContext(t, 15*time.Second), &kgo.Record{Topic: "solo", Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)}).FirstErr(); err != nil {
				t.Fatalf("produce to solo/%d: %v", p, err)
			}
		}
	}
	// The group has committed 1 on every partition.
	cli(t, seeds, "", "group", "reset-offsets", "g", "--topic", "solo", "--to", "offset:1")

	// Kill the broker that leads partition 2 (three records); it is not
	// the one we ask.
	victim := td.Partitions[2].Leader
	c.kill(victim)
	var live []string
	for _, id := range others(c, victim) {
		live = append(live, c.addr(id))
	}
	via := strings.Join(live, ",")
	// The CLI may ask either live broker: both must have seen the change.
	for _, id := range others(c, victim) {
		waitTopic(c, "solo", id, 30*time.Second, "partition 2 without a leader", func(td kadm.TopicDetail) bool {
			return td.Partitions[2].Leader == -1
		})
	}

	out := cli(t, via, "", "topic", "describe", "solo", "--output", "json")
	var desc struct {
		Partitions []struct {
			Partition int32   `json:"partition"`
			Leader    int32   `json:"leader"`
			Replicas  []int32 `json:"replicas"`
			Offline   []int32 `json:"offline_replicas"`
			LogStart  int64   `json:"log_start_offset"`
			LogEnd    int64   `json:"log_end_offset"`
			Error     string  `json:"error"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(out), &desc); err != nil || len(desc.Partitions) != 3 {
		t.Fatalf("describe printed %s (%v)", out, err)
	}
	for _, p := range desc.Partitions {
		switch p.Partition {
		case 2:
			if p.Leader != -1 || fmt.Sprint(p.Offline) != fmt.Sprintf("[%d]", victim) || p.LogStart != -1 || p.LogEnd != -1 || !strings.Contains(p.Error, "no leader") {
				t.Fatalf("leaderless partition described as %+v", p)
			}
		default:
			if p.Leader < 0 || p.Leader == victim || len(p.Offline) != 0 || p.LogStart != 0 || p.LogEnd != int64(p.Partition)+1 || p.Error != "" {
				t.Fatalf("partition described as %+v, want its leader and offsets 0..%d", p, p.Partition+1)
			}
		}
	}
	table := cli(t, via, "", "topic", "describe", "solo")
	if !regexp.MustCompile(`(?m)^2\s+-1\s+` + fmt.Sprint(victim) + `\s+\S+\s+` + fmt.Sprint(victim) + `\s+-\s+-\s+no leader`).MatchString(table) {
		t.Fatalf("describe table:\n%s\nwant partition 2 with leader -1, offline %d and unknown offsets", table, victim)
	}

	// group describe: the lag of the partitions that can be read, unknown
	// (not zero) for the one that cannot.
	var gd struct {
		Partitions []struct {
			Partition int32  `json:"partition"`
			Committed int64  `json:"committed"`
			End       int64  `json:"end"`
			Lag       int64  `json:"lag"`
			Error     string `json:"error"`
		} `json:"partitions"`
	}
	waitFor(t, 30*time.Second, "group describe to answer", func() bool {
		r := runCLI(t, via, "", "group", "describe", "g", "--output", "json")
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &gd) == nil && len(gd.Partitions) == 3
	})
	for _, p := range gd.Partitions {
		want := fmt.Sprintf("committed 1 end %d lag %d", p.Partition+1, p.Partition)
		if p.Partition == 2 {
			want = "committed 1 end -1 lag -1"
			if !strings.Contains(p.Error, "no leader") {
				t.Fatalf("group describe partition 2: %+v", p)
			}
		}
		if got := fmt.Sprintf("committed %d end %d lag %d", p.Committed, p.End, p.Lag); got != want {
			t.Fatalf("group describe partition %d: %s, want %s", p.Partition, got, want)
		}
	}
	if out := cli(t, via, "", "group", "describe", "g"); !regexp.MustCompile(`(?m)^solo\s+2\s+1\s+-\s+-\s+no leader`).MatchString(out) {
		t.Fatalf("group describe table:\n%s", out)
	}

	// consume reads the partitions that have a leader and says which it
	// skipped.
	r := runCLI(t, via, "", "consume", "solo", "-e", "--format", "%v")
	got := strings.Fields(r.stdout)
	sort.Strings(got)
	if r.code != 0 || strings.Join(got, " ") != "0-0 1-0 1-1" ||
		!strings.Contains(r.stderr, "sluice: consume solo: skipping partition 2, with no leader") {
		t.Fatalf("consume with a leaderless partition: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
}

// devClusterRun is a running `sluice dev-cluster` and what it printed.
type devClusterRun struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	done   chan error
	mu     sync.Mutex
	lines  []string // stderr
	change chan struct{}
}

func startDevCluster(t *testing.T, args ...string) *devClusterRun {
	t.Helper()
	d := &devClusterRun{done: make(chan error, 1), change: make(chan struct{}, 1)}
	d.cmd = exec.Command(sluiceBin, append([]string{"dev-cluster", "--base-port", "0", "--data-dir", filepath.Join(t.TempDir(), "dev")}, args...)...)
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.stdout = bufio.NewReader(stdout)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.lines = append(d.lines, sc.Text())
			d.mu.Unlock()
			select {
			case d.change <- struct{}{}:
			default:
			}
		}
		d.done <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		for _, pid := range d.pids() { // children left by a failed test
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return d
}

// waitLine waits for a stderr line matching re and returns its submatches.
func (d *devClusterRun) waitLine(t *testing.T, re string, nth int) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(60 * time.Second)
	for {
		d.mu.Lock()
		seen := 0
		for _, l := range d.lines {
			if m := rx.FindStringSubmatch(l); m != nil {
				if seen++; seen == nth {
					d.mu.Unlock()
					return m
				}
			}
		}
		d.mu.Unlock()
		select {
		case <-d.change:
		case <-deadline:
			t.Fatalf("no line %q (#%d) in 60s:\n%s", re, nth, d.output())
		}
	}
}

func (d *devClusterRun) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.lines, "\n")
}

// pids are the node processes the dev cluster said it started.
func (d *devClusterRun) pids() []int {
	rx := regexp.MustCompile(`^sluice: node \d+ started \(pid (\d+)\)`)
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int
	for _, l := range d.lines {
		if m := rx.FindStringSubmatch(l); m != nil {
			pid, _ := strconv.Atoi(m[1])
			out = append(out, pid)
		}
	}
	return out
}

// TestCLIDevCluster: the bootstrap servers on stdout, an HTTP listener per
// node, a killed node reported and restarted, and Ctrl-C stopping it all
// within 5 seconds.
func TestCLIDevCluster(t *testing.T) {
	t.Parallel()
	d := startDevCluster(t, "--nodes", "2", "--restart-on-exit")
	lineCh := make(chan string, 1)
	go func() {
		l, _ := d.stdout.ReadString('\n')
		lineCh <- l
	}()
	var bootstrap string
	select {
	case bootstrap = <-lineCh:
	case <-time.After(60 * time.Second):
		t.Fatalf("no bootstrap line on stdout in 60s:\n%s", d.output())
	}
	bootstrap = strings.TrimSpace(bootstrap)
	seeds := strings.Split(bootstrap, ",")
	if len(seeds) != 2 {
		t.Fatalf("stdout line %q, want two host:port", bootstrap)
	}
	// Each node has its own HTTP admin listener, and it answers.
	https := map[string]bool{}
	for id := 1; id <= 2; id++ {
		m := d.waitLine(t, fmt.Sprintf(`^sluice: node %d: Kafka (\S+), controller \S+, HTTP (\S+)$`, id), 1)
		if m[1] != seeds[id-1] {
			t.Fatalf("node %d Kafka %s, bootstrap %s", id, m[1], bootstrap)
		}
		https[m[2]] = true
		resp, err := http.Get("http://" + m[2] + "/healthz")
		if err != nil {
			t.Fatalf("node %d /healthz: %v", id, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("node %d /healthz: %s", id, resp.Status)
		}
	}
	if len(https) != 2 {
		t.Fatalf("nodes share an HTTP address: %v", https)
	}
	md, err := brokerMetadataAt(testContext(t, 10*time.Second), seeds[0])
	if err != nil || len(md.Brokers) != 2 {
		t.Fatalf("metadata of the dev cluster: %v %v", md.Brokers, err)
	}

	// Kill node 2: it is reported, restarted and serves again.
	pid, _ := strconv.Atoi(d.waitLine(t, `^sluice: node 2 started \(pid (\d+)\)`, 1)[1])
	syscall.Kill(pid, syscall.SIGKILL)
	d.waitLine(t, fmt.Sprintf(`^sluice: node 2 \(pid %d\) exited: signal: killed$`, pid), 1)
	d.waitLine(t, `^sluice: restarting node 2 in 1s$`, 1)
	d.waitLine(t, `^sluice: node 2 started \(pid \d+\)`, 2)
	d.waitLine(t, `^\[node 2\] sluice: serving Kafka on `, 2)
	waitFor(t, 30*time.Second, "the restarted node to serve", func() bool {
		md, err := brokerMetadataAt(testContext(t, 5*time.Second), seeds[1])
		return err == nil && len(md.Brokers) == 2
	})

	// Ctrl-C stops everything within 5 seconds.
	start := time.Now()
	d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("dev-cluster exited with %v:\n%s", err, d.output())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("dev-cluster still running 10s after SIGINT:\n%s", d.output())
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("dev-cluster took %v to stop after SIGINT, want at most 5s", took)
	}
	for _, pid := range d.pids() {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Fatalf("node process %d still runs after dev-cluster stopped", pid)
		}
	}
	t.Logf("dev-cluster stopped %v after SIGINT", time.Since(start).Round(time.Millisecond))
}

// TestCLIDevClusterNodeExit: without --restart-on-exit a node that exits
// is reported and the others keep running.
func TestCLIDevClusterNodeExit(t *testing.T) {
	t.Parallel()
	d := startDevCluster(t, "--nodes", "1", "--http-base-port", "-1")
	if l, err := d.stdout.ReadString('\n'); err != nil || !strings.HasPrefix(l, "127.0.0.1:") {
		t.Fatalf("stdout %q %v:\n%s", l, err, d.output())
	}
	d.waitLine(t, `^sluice: node 1: Kafka \S+, controller \S+, HTTP off$`, 1)
	pid, _ := strconv.Atoi(d.waitLine(t, `^sluice: node 1 started \(pid (\d+)\)`, 1)[1])
	syscall.Kill(pid, syscall.SIGKILL)
	d.waitLine(t, `^sluice: node 1 is down; the others keep running \(--restart-on-exit restarts a node that exits\)$`, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("dev-cluster exited with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("dev-cluster did not stop after SIGINT")
	}
}
