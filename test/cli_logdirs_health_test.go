package test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/faultfs"
	"github.com/sluice-io/sluice/internal/log"
)

// TestReadyzAndClusterHealthWithEveryLogDirOffline checks that a broker
// whose only log directory went offline (a failed fsync, KIP-112) answers
// /readyz 503 naming the directory, and that `sluice cluster health` exits
// 1 with log_dirs_offline.
func TestReadyzAndClusterHealthWithEveryLogDirOffline(t *testing.T) {
	t.Parallel()
	in := faultfs.NewInjector(nil)
	c := startFSCluster(t, 1, map[string]string{"sluice.http.listen": "127.0.0.1:0"}, func(int) log.FS { return in }).asCluster()
	httpAddr := c.node(0).HTTPAddr()
	waitReadyz(t, httpAddr)
	seeds := strings.Join(c.seeds(), ",")
	if r := runCLI(t, seeds, "", "cluster", "health"); r.code != 0 {
		t.Fatalf("cluster health before the fault: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	const topic = "doomed"
	createTopicIn(c, topic, 1, 1, nil)
	cl := c.client(kgo.RecordRetries(0), kgo.ProducerLinger(0), kgo.RecordDeliveryTimeout(10*time.Second))
	ctx := testContext(t, time.Minute)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("before")}).FirstErr(); err != nil {
		t.Fatalf("produce before the fault: %v", err)
	}
	rule := faultfs.Rule{Ops: faultfs.OpAnySync, Err: syscall.EIO}
	in.Inject(rule)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after")}).FirstErr(); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("produce after the fault: %v, want KAFKA_STORAGE_ERROR", err)
	}

	waitForErr(t, 20*time.Second, "/readyz to answer 503 for the offline log dir", func() error {
		code, reasons := readyz(httpAddr)
		if code != http.StatusServiceUnavailable || !strings.Contains(strings.Join(reasons, "; "), "every log directory is offline: /") {
			return fmt.Errorf("/readyz = %d %v", code, reasons)
		}
		return nil
	})
	r := runCLI(t, seeds, "", "cluster", "health", "--json")
	h := cliJSON[struct {
		Healthy bool     `json:"healthy"`
		Reasons []string `json:"unhealthy_reasons"`
		Offline []string `json:"log_dirs_offline"`
	}](t, "cluster health --json", r.stdout)
	if r.code != 1 || h.Healthy || !strings.Contains(strings.Join(h.Reasons, ","), "log_dirs_offline") || len(h.Offline) != 1 || !strings.HasPrefix(h.Offline[0], "1:/") {
		t.Fatalf("cluster health with the log dir offline: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
