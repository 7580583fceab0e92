package cluster

// A controller acknowledges a heartbeat, which extends the broker's
// session (sessionExpiry), only once a majority of the voters has
// confirmed, after the heartbeat arrived, that it still leads.
//
// The invariant: a broker stops acting on its session (naming itself
// leader in Metadata, waiting for acks=all, acting as transaction
// coordinator) no later than the moment a controller may fence it. A new
// controller counts the previous controller's session, and the other
// brokers', from its last contact with it (lead): over Raft, or a
// confirmation here. A controller cut off from the other voters still
// believes it leads until its Raft leader lease runs out (0.5-1 s), and
// would meanwhile acknowledge its own heartbeats and those of brokers
// that still reach it: sessions ending up to a second after the new
// controller may fence them. A confirmed heartbeat was sent before the
// confirming voters last heard from the controller, so its session ends
// no later than a new controller among them may fence the broker.
//
// Raft's VerifyLeader would do without the extra round, but it counts
// the answers of non-voters too: a controller cut off together with
// brokers that are not voters (a rack) would go on confirming itself.
// Heartbeats that arrive while a round runs share the next one.

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

const opConfirm = "confirm" // NodeID: the controller asks a voter whether it still follows it

// confirmer groups the controller's confirmation rounds: one runs at a
// time; started counts them.
type confirmer struct {
	mu      sync.Mutex
	started uint64
	running *confirmRound
}

type confirmRound struct {
	seq  uint64
	done chan struct{}
	ok   bool // set before done closes
}

// ackHeartbeat records the heartbeat of broker id at epoch on the
// controller and reports whether the broker may extend its session by it.
func (n *node) ackHeartbeat(ctx context.Context, id int32, epoch int64) bool {
	if !n.heartbeatReceived(id, epoch) {
		return false
	}
	if n.mux == nil {
		return true
	}
	return n.confirmLeadership(ctx)
}

// confirmLeadership reports whether a majority of the voters confirmed
// this node's leadership in a round that started after the call. The
// caller that finds no round running runs one; the others wait for it,
// and take its answer if it started after they came.
func (n *node) confirmLeadership(ctx context.Context) bool {
	c := &n.confirm
	c.mu.Lock()
	after := c.started
	for c.running != nil {
		r := c.running
		c.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return false
		}
		if r.seq > after {
			return r.ok
		}
		c.mu.Lock()
	}
	c.started++
	r := &confirmRound{seq: c.started, done: make(chan struct{})}
	c.running = r
	c.mu.Unlock()
	r.ok = n.confirmRound()
	c.mu.Lock()
	c.running = nil
	c.mu.Unlock()
	close(r.done)
	if !r.ok {
		n.logger.Debug("heartbeats not acknowledged: no majority of the voters confirmed this controller")
	}
	return r.ok
}

// confirmRound asks every other voter whether it still follows this node,
// for up to a heartbeat interval, and reports whether a majority of the
// voters (this one included) does. The askers left when a majority has
// answered end with the round's context.
func (n *node) confirmRound() bool {
	if n.rs.raft.State() != raft.Leader {
		return false
	}
	f := n.rs.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	var others []raft.ServerAddress
	voters, need := 0, 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if s.ID == serverID(n.cfg.NodeID) {
			need-- // a voter follows itself
		} else {
			others = append(others, s.Address)
		}
	}
	if need += voters/2 + 1; voters == 0 || need <= 0 {
		return voters > 0
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.heartbeatInterval())
	defer cancel()
	answers := make(chan bool, len(others))
	for _, addr := range others {
		go func() {
			resp, err := n.call(ctx, string(addr), rpcRequest{Op: opConfirm, NodeID: n.cfg.NodeID})
			answers <- err == nil && !resp.Retry
		}()
	}
	for range others {
		select {
		case yes := <-answers:
			if yes {
				if need--; need == 0 {
					return true
				}
			}
		case <-ctx.Done():
			return false
		}
	}
	return false
}

// confirmLeader answers a controller's confirmation request on a voter:
// yes (no Retry) if its Raft leader is that controller, which it then
// counts as a contact with it (liveness.leaderLost).
func (n *node) confirmLeader(id int32) rpcResponse {
	if _, leader := n.rs.raft.LeaderWithID(); leader != serverID(id) {
		return rpcResponse{Retry: true}
	}
	n.live.leaderConfirmed(id, time.Now())
	return rpcResponse{}
}
