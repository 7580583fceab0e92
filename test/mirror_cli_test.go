package test

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sluiceCLI runs the sluice binary and returns its output and exit code.
func sluiceCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(sluiceBin, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("run sluice %v: %v", args, err)
	return "", 0
}

// The mirror's command line: status shows each mirror partition's source
// and target ends and lag, promote makes a topic writable, and misuse
// (a root TLS flag that names no cluster, promote with neither topics nor
// --all) exits 2 with a message saying what to do.
func TestMirrorCommandLine(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	dst := startBroker(t, nil)
	src.createTopic("audit", 2, nil)
	cl := src.client(kgo.DefaultProduceTopic("audit"))
	for i := range 40 {
		produceSync(t, cl, &kgo.Record{Key: []byte{byte(i)}, Value: []byte("a")})
	}
	mp := startMirrorProcess(t, "--source", src.addr, "--target", dst.addr, "--refresh-interval", "300ms")
	waitCaughtUp(t, src.admin(), kadm.NewClient(newClient(t, dst.addr)), func(s string) string { return s }, "audit")

	out, code := sluiceCLI(t, "mirror", "status", "--source", src.addr, "--target", dst.addr, "--output", "json")
	if code != 0 {
		t.Fatalf("mirror status: exit %d:\n%s", code, out)
	}
	var parts []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		SourceEnd int64  `json:"source_end"`
		TargetEnd int64  `json:"target_end"`
		Lag       int64  `json:"lag"`
		State     string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &parts); err != nil {
		t.Fatalf("mirror status json: %v\n%s", err, out)
	}
	var total int64
	for _, p := range parts {
		if p.Topic != "audit" || p.Lag != 0 || p.State != "mirroring" || p.SourceEnd != p.TargetEnd {
			t.Errorf("status: %+v", p)
		}
		total += p.TargetEnd
	}
	if len(parts) != 2 || total != 40 {
		t.Fatalf("status: %d partitions holding %d records, want 2 holding 40:\n%s", len(parts), total, out)
	}
	out, code = sluiceCLI(t, "mirror", "status", "--source", src.addr, "--target", dst.addr)
	if code != 0 || !strings.Contains(out, "SOURCE-END") || !strings.Contains(out, "audit") {
		t.Fatalf("mirror status table: exit %d:\n%s", code, out)
	}

	out, code = sluiceCLI(t, "mirror", "--source", src.addr, "--target", dst.addr, "--tls")
	if code != 2 || !strings.Contains(out, "--source-tls or --target-tls") {
		t.Fatalf("mirror --tls: exit %d:\n%s", code, out)
	}
	out, code = sluiceCLI(t, "mirror", "promote", "--target", dst.addr)
	if code != 2 || !strings.Contains(out, "--all") {
		t.Fatalf("promote with no topics: exit %d:\n%s", code, out)
	}
	out, code = sluiceCLI(t, "mirror", "promote", "--target", dst.addr, "nosuch")
	if code != 1 || !strings.Contains(out, "nosuch") {
		t.Fatalf("promote of an unknown topic: exit %d:\n%s", code, out)
	}

	out, code = sluiceCLI(t, "mirror", "promote", "--target", dst.addr, "audit")
	if code != 0 || !strings.Contains(out, "promoted audit") {
		t.Fatalf("promote: exit %d:\n%s", code, out)
	}
	produceSync(t, newClient(t, dst.addr, kgo.DefaultProduceTopic("audit")), &kgo.Record{Value: []byte("written on the target")})
	// The running mirror leaves the promoted topic alone.
	produceSync(t, cl, &kgo.Record{Value: []byte("after promotion")})
	waitState(t, 30*time.Second, "the mirror notes the promotion", func() (bool, string) {
		return strings.Contains(mp.logs(), "promoted"), tail(mp.logs(), 1000)
	})
	out, _ = sluiceCLI(t, "mirror", "status", "--target", dst.addr)
	if !strings.Contains(out, "promoted") {
		t.Fatalf("status after promote:\n%s", out)
	}
}
