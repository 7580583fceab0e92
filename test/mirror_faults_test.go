package test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// mirrorProcess is `sluice mirror` running as a separate process.
type mirrorProcess struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	out  strings.Builder
}

// startMirrorProcess runs `sluice mirror` with args until the test ends or
// it is killed.
func startMirrorProcess(t *testing.T, args ...string) *mirrorProcess {
	t.Helper()
	mp := &mirrorProcess{t: t, args: args}
	mp.start()
	t.Cleanup(func() { mp.kill(syscall.SIGKILL) })
	return mp
}

func (mp *mirrorProcess) start() {
	mp.t.Helper()
	cmd := exec.Command(sluiceBin, append([]string{"mirror", "--log-level", "info"}, mp.args...)...)
	cmd.Stdout, cmd.Stderr = mp, mp
	if err := cmd.Start(); err != nil {
		mp.t.Fatalf("start sluice mirror: %v", err)
	}
	mp.cmd, mp.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(mp.done) }()
}

// Write collects the process's output.
func (mp *mirrorProcess) Write(p []byte) (int, error) {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	return mp.out.Write(p)
}

func (mp *mirrorProcess) logs() string {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	return mp.out.String()
}

// kill sends sig and waits for the process to end.
func (mp *mirrorProcess) kill(sig syscall.Signal) {
	select {
	case <-mp.done:
		return
	default:
	}
	mp.cmd.Process.Signal(sig)
	<-mp.done
}

// targetTotal is the sum of the end offsets of topic's partitions.
func targetTotal(ctx context.Context, adm *kadm.Client, topic string) int64 {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return -1
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

// Issue 17's faults: while producers write to the source, the mirror
// process is killed with SIGKILL and started again, then the source broker
// and then the target broker are killed and restarted. Every record the
// source acknowledged is on the target exactly once, at its source
// offset, and both logs hold the same records.
func TestMirrorSurvivesKill9OfMirrorSourceAndTarget(t *testing.T) {
	t.Parallel()
	src := startProcess(t, t.TempDir(), "127.0.0.1:0")
	dst := startProcess(t, t.TempDir(), "127.0.0.1:0")
	const topic = "events"
	createTopicWith(t, newClient(t, src.addr), topic, 3)

	acks := newAckLog()
	pcl := newClient(t, src.addr, kgo.RecordDeliveryTimeout(2*time.Minute))
	ctx := testContext(t, 5*time.Minute)
	stopProducing := produceLoop(ctx, pcl, topic, acks)
	args := []string{"--source", src.addr, "--target", dst.addr, "--refresh-interval", "300ms"}
	mp := startMirrorProcess(t, args...)

	dstAdm := kadm.NewClient(newClient(t, dst.addr))
	// progress waits until the target holds n more records than now.
	progress := func(what string, n int64) {
		t.Helper()
		start := targetTotal(ctx, dstAdm, topic)
		waitState(t, 90*time.Second, what, func() (bool, string) {
			got := targetTotal(ctx, dstAdm, topic)
			return got >= start+n, "target holds " + strconv.FormatInt(got, 10) + "; mirror output:\n" + tail(mp.logs(), 2000)
		})
	}
	progress("first records mirrored", 2000)

	mp.kill(syscall.SIGKILL)
	acks.waitFor(t, acks.len()+2000, time.Minute)
	mp.start()
	progress("mirroring after the mirror's kill -9", 2000)

	src.kill(syscall.SIGKILL)
	src.restart()
	progress("mirroring after the source's kill -9", 2000)

	dst.kill(syscall.SIGKILL)
	dst.restart()
	progress("mirroring after the target's kill -9", 2000)

	mp.kill(syscall.SIGKILL)
	mp.start()
	progress("mirroring after a second kill -9 of the mirror", 1000)

	stopProducing()
	srcAdm := kadm.NewClient(newClient(t, src.addr))
	same := func(s string) string { return s }
	waitCaughtUp(t, srcAdm, dstAdm, same, topic)
	checkAckedAt(t, []string{dst.addr}, topic, acks)
	sameRecords(t, topic, readAll(t, []string{dst.addr}, topic, false), readAll(t, []string{src.addr}, topic, false))
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
