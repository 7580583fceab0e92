package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// readyz GETs /readyz and returns its status code and reasons; code 0
// means the listener did not answer.
func readyz(httpAddr string) (int, []string) {
	resp, err := http.Get("http://" + httpAddr + "/readyz")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var r struct {
		Ready   bool     `json:"ready"`
		Reasons []string `json:"reasons"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return resp.StatusCode, []string{"bad JSON: " + err.Error()}
	}
	return resp.StatusCode, r.Reasons
}

// TestClusterHealthAndReadyz runs three brokers as processes, each with
// its HTTP admin listener. A voter started alone answers /readyz 503
// ("starting") while the metadata quorum cannot form, and 200 once the
// others are up. `sluice cluster health` exits 0 on the healthy cluster;
// after a broker is killed it exits 1 naming the broker down and the
// under-replicated partitions, and the survivors' /metrics count the
// fenced broker and the under-replicated partitions they lead. A broker
// stopped with SIGTERM answers /readyz 503 while it shuts down.
func TestClusterHealthAndReadyz(t *testing.T) {
	t.Parallel()
	const n = 3
	tc, procs, listens, https := newObservedCluster(t, n)

	// One voter of three: it serves HTTP but is not ready.
	procs[0].launch(listens[0])
	waitForErr(t, 20*time.Second, "the lone voter's /readyz to answer 503 starting", func() error {
		code, reasons := readyz(https[0])
		if code == http.StatusServiceUnavailable && len(reasons) > 0 && strings.HasPrefix(reasons[0], "starting") {
			return nil
		}
		return fmt.Errorf("/readyz = %d %v", code, reasons)
	})
	for i := 1; i < n; i++ {
		procs[i].launch(listens[i])
	}
	for i, p := range procs {
		p.waitReady()
		tc.nodes[int32(i+1)] = p
	}
	c := tc.asCluster()
	for _, id := range c.ids() {
		waitReadyz(t, c.httpAddr(id))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.admin().CreateTopic(ctx, 3, 3, nil, "health"); err != nil {
		t.Fatal(err)
	}
	waitISR(c, "health", 1, 3, 20*time.Second)
	seeds := strings.Join(c.seeds(), ",")
	if r := runCLI(t, seeds, "", "cluster", "health"); r.code != 0 || !strings.Contains(r.stdout, "Healthy:                     true") {
		t.Fatalf("healthy cluster: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Before broker 3 goes: the survivors' ISR shrinks and leaderships.
	changesBefore := 0.0
	for _, a := range https[:2] {
		s := scrapeMetrics(t, a)
		changesBefore += s.must(t, "sluice_isr_shrinks_total") + s.must(t, "sluice_leader_elections_total")
	}

	// Kill broker 3: once the controller fences it, the cluster is
	// unhealthy: a broker down, partitions under-replicated.
	c.kill(3)
	seeds = strings.Join([]string{c.addr(1), c.addr(2)}, ",")
	var h clusterHealthJSON
	waitForErr(t, 30*time.Second, "cluster health to report broker 3 down", func() error {
		r := runCLI(t, seeds, "", "cluster", "health", "--json")
		h = clusterHealthJSON{}
		if err := json.Unmarshal([]byte(r.stdout), &h); err == nil && r.code == 1 &&
			slices.Equal(h.BrokersDown, []int32{3}) && slices.Contains(h.UnhealthyReasons, "under_replicated_partitions") {
			if h.Healthy || !strings.Contains(r.stderr, "cluster is unhealthy") {
				t.Fatalf("degraded cluster: %+v, stderr %q", h, r.stderr)
			}
			return nil
		}
		return fmt.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	})
	if !slices.Equal(h.Brokers, []int32{1, 2}) || len(h.UnderReplicated) == 0 {
		t.Errorf("degraded cluster: %+v", h)
	}
	r := runCLI(t, seeds, "", "cluster", "health")
	if r.code != 1 || !strings.Contains(r.stdout, "brokers_down") || !strings.Contains(r.stdout, "Brokers down:                3") {
		t.Errorf("degraded cluster, text: exit %d\n%s", r.code, r.stdout)
	}

	// The survivors' metrics: broker 3 fenced; the partitions they lead
	// of "health" (all three, now) have an ISR of two of three replicas.
	// Each of the three lost broker 3 from its ISR: a shrink where a
	// survivor led it, an election where broker 3 did.
	waitForErr(t, 20*time.Second, "the survivors' metrics to show broker 3 gone", func() error {
		var fenced, under, changes float64
		for _, a := range https[:2] {
			s := scrapeMetrics(t, a)
			if v, _ := s.value("sluice_brokers", "state", "fenced"); v > fenced {
				fenced = v
			}
			v, _ := s.value("sluice_partitions_under_replicated")
			under += v
			changes += s.must(t, "sluice_isr_shrinks_total") + s.must(t, "sluice_leader_elections_total")
		}
		if fenced == 1 && under >= 3 && changes-changesBefore >= 3 {
			return nil
		}
		return fmt.Errorf("fenced brokers %v, under-replicated partitions %v, ISR shrinks and elections %v; want 1, at least 3 and at least 3",
			fenced, under, changes-changesBefore)
	})

	// Raft on the survivors retried broker 3 for seconds with backoff; its
	// failures are logged when they change, not at every retry.
	for _, p := range procs[:2] {
		logs := p.logs()
		n := strings.Count(logs, "failed to heartbeat to") + strings.Count(logs, "failed to appendEntries to") +
			strings.Count(logs, "failed to make requestVote RPC")
		t.Logf("broker %s: %d lines about Raft failures to reach a peer", p.addr, n)
		if n > 6 {
			t.Errorf("%d lines about Raft failures to reach broker 3, want at most a few:\n%s", n, logs)
		}
	}

	// SIGTERM broker 2: it hands its leaderships to broker 1 (controlled
	// shutdown) before it stops, and /readyz answers 503 "shutting down"
	// from the start until the listener closes.
	var sawStopping bool
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			code, reasons := readyz(https[1])
			if code == 0 {
				return
			}
			if code == http.StatusServiceUnavailable && slices.Contains(reasons, "shutting down") {
				sawStopping = true
			}
		}
	}()
	c.stop(2)
	<-polled
	if !sawStopping {
		t.Errorf("broker 2's /readyz never answered 503 shutting down while it stopped:\n%s", procs[1].logs())
	}
}

// newObservedCluster prepares n voters with fastFailover settings, each
// with an HTTP admin listener (https[i]), without launching them: the
// caller launches procs[i] on listens[i] and adds them to c.nodes.
func newObservedCluster(t *testing.T, n int) (c *testCluster, procs []*process, listens, https []string) {
	t.Helper()
	c = &testCluster{t: t, settings: fastFailover, dir: t.TempDir(), nodes: map[int32]*process{}}
	listens, https = make([]string, n), make([]string, n)
	var voters []string
	for i := range n {
		listens[i], https[i] = freeLoopbackAddr(t), freeLoopbackAddr(t)
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, freeLoopbackAddr(t)))
	}
	c.voters = strings.Join(voters, ",")
	procs = make([]*process, n)
	for i := range n {
		procs[i] = c.newProcess(int32(i+1), "")
		procs[i].args = append(procs[i].args, "--http-listen", https[i])
	}
	return c, procs, listens, https
}

// clusterHealthJSON is `sluice cluster health --json`.
type clusterHealthJSON struct {
	Healthy          bool     `json:"healthy"`
	UnhealthyReasons []string `json:"unhealthy_reasons"`
	Controller       int32    `json:"controller_id"`
	Brokers          []int32  `json:"brokers"`
	BrokersDown      []int32  `json:"brokers_down"`
	Leaderless       []string `json:"leaderless_partitions"`
	UnderReplicated  []string `json:"under_replicated_partitions"`
}

func waitReadyz(t *testing.T, httpAddr string) {
	t.Helper()
	waitForErr(t, 30*time.Second, httpAddr+" /readyz to answer 200", func() error {
		if code, reasons := readyz(httpAddr); code != http.StatusOK {
			return fmt.Errorf("/readyz = %d %v", code, reasons)
		}
		return nil
	})
}
