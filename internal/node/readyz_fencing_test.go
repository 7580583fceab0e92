package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReadyzFlipsWhileFenced runs three brokers in this process. Once the
// third stops heartbeating, the controller fences it and its /readyz
// answers 503 naming the fencing while it keeps running; when its
// heartbeats resume it is unfenced and /readyz answers 200 again.
func TestReadyzFlipsWhileFenced(t *testing.T) {
	t.Parallel()
	// Every listener stays open until all three ports are chosen, so no
	// two voters get the same port.
	var voters []string
	var lns []net.Listener
	for id := 1; id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		voters = append(voters, fmt.Sprintf("%d@%s", id, ln.Addr()))
	}
	for _, ln := range lns {
		ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nodes := make([]*Node, 3)
	errs := make(chan error, 3)
	for i := range nodes {
		go func() {
			n, err := Start(ctx, Config{NodeID: int32(i + 1), Listen: "127.0.0.1:0", DataDir: t.TempDir(), Settings: map[string]string{
				"controller.quorum.voters":     strings.Join(voters, ","),
				"sluice.http.listen":           "127.0.0.1:0",
				"broker.session.timeout.ms":    "2000",
				"broker.heartbeat.interval.ms": "200",
			}})
			nodes[i] = n
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		t.Cleanup(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer scancel()
			n.Shutdown(sctx)
		})
	}
	victim := nodes[2]
	waitReadyz := func(what string, want int, reason string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, reasons := getReadyz(t, victim.HTTPAddr())
			if code == want && (reason == "" || slices.ContainsFunc(reasons, func(r string) bool { return strings.HasPrefix(r, reason) })) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: /readyz = %d %v, want %d %q", what, code, reasons, want, reason)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitReadyz("all three up", http.StatusOK, "")
	victim.cluster.PauseHeartbeats(true)
	waitReadyz("heartbeats paused", http.StatusServiceUnavailable, "fenced by the controller")
	victim.cluster.PauseHeartbeats(false)
	waitReadyz("heartbeats resumed", http.StatusOK, "")
}

// getReadyz GETs /readyz: its status and reasons.
func getReadyz(t *testing.T, addr string) (int, []string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	var r struct {
		Reasons []string `json:"reasons"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return resp.StatusCode, r.Reasons
}
