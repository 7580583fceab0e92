package cluster

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A controller that closes hands the quorum's leadership to another voter
// first, so a new controller leads as soon as it is gone: without the
// handover the others notice only after Raft's heartbeat timeout (500 ms
// to 1 s here) and then elect one.
func TestQuorumLeaderHandsOverWhenClosed(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	old := q.leader()
	q.kill(old.ID())
	closed := time.Now()
	var next *Node
	for next == nil && time.Since(closed) < 10*time.Second {
		for _, n := range q.live() {
			if n.rs.raft.State() == raft.Leader {
				next = n
			}
		}
		time.Sleep(5 * time.Millisecond) // polling Raft's state, which has no notification
	}
	if next == nil {
		t.Fatal("no new Raft leader within 10s of the controller closing")
	}
	took := time.Since(closed)
	t.Logf("voter %d leads %v after voter %d closed", next.ID(), took, old.ID())
	if took > 450*time.Millisecond {
		t.Fatalf("a new leader %v after the old one closed: no handover", took)
	}
	if id := q.leader().ID(); id == old.ID() {
		t.Fatalf("controller still %d", id)
	}
}
