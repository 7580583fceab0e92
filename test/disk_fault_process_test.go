package test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// faultBinary builds, once per test run, a sluice binary with the faultfs
// build tag: only such a build reads SLUICE_FAULTFS (package faultfs).
var faultBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sluice-faultfs-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sluice")
	out, err := exec.Command("go", "build", "-tags", "faultfs", "-o", bin, "../cmd/sluice").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build -tags faultfs: %v: %s", err, out)
	}
	return bin, nil
})

// A broker process built with the faultfs tag takes disk faults from the
// control file SLUICE_FAULTFS names, while it runs: an fsync failure
// written there takes its log directory offline (KAFKA_STORAGE_ERROR), and
// after kill -9 and a restart without the fault every record acknowledged
// before it is back in place. The release binary ignores the variable.
func TestDiskFaultInjectedIntoABrokerProcess(t *testing.T) {
	t.Parallel()
	bin, err := faultBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctl := filepath.Join(t.TempDir(), "faults")
	p := &process{t: t, dataDir: t.TempDir(), bin: bin, env: []string{"SLUICE_FAULTFS=" + ctl}}
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	p.start("127.0.0.1:0")
	const topic = "proc-faulty"
	createTopicWith(t, newClient(t, p.addr), topic, 1)
	cl := newClient(t, p.addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0), kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(10*time.Second))
	ctx := testContext(t, time.Minute)
	acks := newAckLog()
	for i := range 30 {
		r := &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v-%03d", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		acks.add(r)
	}
	if err := os.WriteFile(ctl, []byte("# a dying disk\nsync EIO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The broker looks at the file every few milliseconds: a record or two
	// may still be acknowledged (and must then be kept) before it fails.
	for i := 0; ; i++ {
		r := &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "maybe-%03d", i)}
		err := cl.ProduceSync(ctx, r).FirstErr()
		if err == nil {
			acks.add(r)
			if i > 100 {
				t.Fatal("the broker never read the fault from its control file")
			}
			continue
		}
		if !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("produce with fsync failing: %v, want KAFKA_STORAGE_ERROR", err)
		}
		break
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("later")}).FirstErr(); !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("produce to the offline directory: %v, want KAFKA_STORAGE_ERROR", err)
	}
	p.kill(syscall.SIGKILL)
	if err := os.Remove(ctl); err != nil {
		t.Fatal(err)
	}
	p.restart()
	checkAckedAt(t, []string{p.addr}, topic, acks)
}
