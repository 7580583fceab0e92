package test

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// `sluice serve` with sluice.mirror.* settings pulls from another cluster
// with no extra process: topics matching sluice.mirror.topics appear on it
// as mirror topics with the source's records at the source's offsets. A
// Its /metrics exports the mirror's lag and what it copied. SIGTERM stops the mirror and waits for it before serve exits 0. A
// misspelt mirror setting stops serve with a message naming the known ones.
func TestServeRunsAMirrorFromItsSettings(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	src.createTopic("metrics", 2, nil)
	src.createTopic("private", 1, nil)
	cl := src.client()
	for i := range 100 {
		produceSync(t, cl, &kgo.Record{Topic: "metrics", Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("m%d", i))},
			&kgo.Record{Topic: "private", Value: []byte(fmt.Sprintf("p%d", i))})
	}
	dst := startProcess(t, t.TempDir(), "127.0.0.1:0",
		"-c", "sluice.mirror.source.bootstrap.servers="+src.addr,
		"-c", "sluice.mirror.topics=^metrics$",
		"-c", "sluice.mirror.refresh.interval.ms=300", "--http-listen", "127.0.0.1:0")
	srcAdm, dstAdm := src.admin(), kadm.NewClient(newClient(t, dst.addr))
	waitCaughtUp(t, srcAdm, dstAdm, func(s string) string { return s }, "metrics")
	sameRecords(t, "metrics", readAll(t, []string{dst.addr}, "metrics", false), readAll(t, []string{src.addr}, "metrics", false))
	topics, err := dstAdm.ListTopics(testContext(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("private") {
		t.Fatalf("a topic outside sluice.mirror.topics was mirrored")
	}

	// The node's /metrics shows the mirror: no lag on either partition
	// once caught up, and the 100 records it copied.
	httpAddr := httpAddrOf(t, dst)
	var last scrape
	waitFor(t, 20*time.Second, "mirror metrics caught up", func() bool {
		last = scrapeMetrics(t, httpAddr)
		for _, part := range []string{"0", "1"} {
			lag, ok := last.value("sluice_mirror_lag_records", "source_topic", "metrics", "topic", "metrics", "partition", part)
			if !ok || lag != 0 {
				return false
			}
		}
		copied, _ := last.value("sluice_mirror_copied_records_total", "source_topic", "metrics", "topic", "metrics")
		return copied == 100
	})
	if b := last.must(t, "sluice_mirror_copied_bytes_total", "topic", "metrics"); b < 100*float64(len("m99")) {
		t.Fatalf("sluice_mirror_copied_bytes_total = %v for 100 records", b)
	}
	if _, ok := last.value("sluice_mirror_copied_records_total", "topic", "private"); ok {
		t.Fatalf("metrics show a topic that is not mirrored")
	}

	// SIGTERM with the mirror running: serve stops the mirror, waits for
	// it, then shuts the node down and exits 0.
	dst.kill(syscall.SIGTERM)
	if code := dst.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("serve with a mirror exited %d on SIGTERM:\n%s", code, dst.logs())
	}
	logs := dst.logs()
	stopped := strings.Index(logs, `msg="mirror stopped"`)
	if stopped < 0 || strings.Contains(logs, `msg="mirror stopped" err=`) {
		t.Fatalf("serve did not log the mirror's clean stop:\n%s", logs)
	}
	// The signal ends the mirror's context and serve's wait together, so
	// "shutting down" may come on either side of "mirror stopped"; the
	// node's shutdown must come after it.
	if closed := strings.Index(logs, `msg="metadata node closed"`); closed < 0 || closed < stopped {
		t.Fatalf("the node shut down before the mirror stopped:\n%s", logs)
	}

	out, err := exec.Command(sluiceBin, "serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--http-listen", "",
		"-c", "sluice.mirror.source.bootstrap.server="+src.addr).CombinedOutput()
	bad := string(out)
	if err == nil {
		t.Fatalf("serve with a misspelt mirror setting started:\n%s", bad)
	}
	if !strings.Contains(bad, "unknown setting sluice.mirror.source.bootstrap.server") || !strings.Contains(bad, "sluice.mirror.source.bootstrap.servers") {
		t.Fatalf("serve with a misspelt mirror setting said:\n%s", bad)
	}
}
