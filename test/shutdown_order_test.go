package test

import (
	"testing"
	"time"
)

// Brokers stopped one by one, the metadata quorum's voters first: each
// stops promptly and cleanly, including the last broker, which has no
// quorum to commit a controlled shutdown with. (Processes: their exit
// status says whether they stopped cleanly.)
func TestStopQuorumFirst(t *testing.T) {
	tc := startCluster(t, 3, fastFailover)
	c := tc.asCluster()
	mustFault(t, c.add(4))
	waitBrokersIn(c, 4, 30*time.Second)
	for _, id := range c.ids() {
		start := time.Now()
		c.stop(id)
		took := time.Since(start)
		t.Logf("node %d stopped in %s", id, took.Round(time.Millisecond))
		// A controlled shutdown that cannot commit gives up after 3s; the
		// rest of a stop takes well under a second, so waiting for a
		// quorum that is gone shows here.
		if took > 8*time.Second {
			t.Errorf("node %d took %s to stop", id, took)
		}
		if p := tc.node(id); p.cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("node %d exited with %d:\n%s", id, p.cmd.ProcessState.ExitCode(), p.logs())
		}
	}
}
