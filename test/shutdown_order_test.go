package test

import (
	"syscall"
	"testing"
	"time"
)

// Brokers stopped one by one, the metadata quorum's voters first: each
// stops promptly and cleanly, including the last broker, which has no
// quorum to commit a controlled shutdown with.
func TestStopQuorumFirst(t *testing.T) {
	c := startCluster(t, 3, fastFailover)
	c.addNode(4, freeLoopbackAddr(t))
	c.waitBrokers(4, 30*time.Second)
	for _, id := range []int32{1, 2, 3, 4} {
		p := c.node(id)
		start := time.Now()
		p.kill(syscall.SIGTERM)
		took := time.Since(start)
		t.Logf("node %d stopped in %s", id, took.Round(time.Millisecond))
		// A controlled shutdown that cannot commit gives up after 3s; the
		// rest of a stop takes well under a second, so waiting for a quorum that is gone shows here.
		if took > 8*time.Second {
			t.Errorf("node %d took %s to stop", id, took)
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("node %d exited with %d:\n%s", id, code, p.logs())
		}
	}
}
