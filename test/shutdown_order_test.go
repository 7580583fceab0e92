package test

import (
	"testing"
	"time"
)

// Brokers stopped one by one, the metadata quorum's voters first: each
// stops promptly and cleanly, including the last broker, which has no
// quorum to commit a controlled shutdown with; on processes and on
// in-process brokers.
func TestStopQuorumFirst(t *testing.T) {
	forEachKind(t, 3, fastFailover, stopQuorumFirst)
}

func stopQuorumFirst(t *testing.T, c cluster) {
	mustFault(t, c.add(4))
	waitBrokersIn(c, 4, 30*time.Second)
	for _, id := range c.ids() {
		if !c.up(id) {
			t.Fatalf("node %d does not run before its stop", id)
		}
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
		if err := c.exitErr(id); err != nil {
			t.Errorf("node %d: %v", id, err)
		}
	}
}
