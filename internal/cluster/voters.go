package cluster

// Changing the metadata quorum's voters while it runs (KIP-853): describe
// the quorum as the leader sees it, add a running node as a voter, remove
// a voter. Every request goes to the Raft leader through the control RPC
// (rpc.go); the leader asks each member for its own log position with
// opStatus, which a node always answers itself and never forwards.
//
// Raft keeps its configuration in its log, so a change survives restarts.
// controller.quorum.voters only seeds the first start and names where a
// node with no known leader looks for one.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Errors of voter changes. The broker maps them to Kafka error codes.
var (
	ErrDuplicateVoter = errors.New("cluster: already a voter")               // DUPLICATE_VOTER
	ErrVoterNotFound  = errors.New("cluster: not a voter")                   // VOTER_NOT_FOUND
	ErrInvalidVoter   = errors.New("cluster: invalid voter change")          // INVALID_REQUEST
	ErrNoQuorumChange = errors.New("cluster: this cluster has fixed voters") // INVALID_REQUEST
)

const (
	opQuorum      = "quorum"       // the leader describes the quorum (Body: QuorumState)
	opAddVoter    = "add_voter"    // NodeID, Addr: make a running node a voter
	opRemoveVoter = "remove_voter" // NodeID: take a voter out
	opStatus      = "status"       // this node's own log position (Body: memberStatus); never forwarded
)

// statusTimeout bounds the leader's question to one member: a member that
// does not answer in time is described with unknown positions.
const statusTimeout = time.Second

// QuorumState is the metadata quorum as its leader sees it, in Kafka's
// DescribeQuorum terms: Raft's term is the epoch, its commit index the
// high watermark.
type QuorumState struct {
	LeaderID      int32          `json:"leader_id"`
	Epoch         int64          `json:"epoch"`
	HighWatermark int64          `json:"high_watermark"`
	Voters        []QuorumMember `json:"voters"`
	Observers     []QuorumMember `json:"observers"`
}

// QuorumMember is one voter or observer (a non-voter) of the quorum. A
// position or time that is unknown (the member did not answer) is -1.
type QuorumMember struct {
	ID   int32  `json:"id"`
	Addr string `json:"addr"`
	// LogEndOffset is the member's last Raft log index.
	LogEndOffset int64 `json:"log_end_offset"`
	// LastFetchMs is when (Unix ms) the member last heard from the leader;
	// LastCaughtUpMs is the same time if the member's log then reached the
	// leader's high watermark, else -1.
	LastFetchMs    int64 `json:"last_fetch_ms"`
	LastCaughtUpMs int64 `json:"last_caught_up_ms"`
}

// memberStatus is what opStatus answers.
type memberStatus struct {
	NodeID    int32  `json:"node_id"`
	LastIndex uint64 `json:"last_index"`
	// SinceContactMs is how long ago this node last heard from a leader, -1
	// if never.
	SinceContactMs int64 `json:"since_contact_ms"`
}

// DescribeQuorum describes the metadata quorum, asking the leader.
func (n *Node) DescribeQuorum(ctx context.Context) (QuorumState, error) {
	var q QuorumState
	if n.mux == nil {
		return n.describeQuorum(ctx), nil
	}
	resp, err := n.callLeader(ctx, rpcRequest{Op: opQuorum})
	if err == nil {
		err = resp.Err.err()
	}
	if err != nil {
		return q, err
	}
	if err := json.Unmarshal(resp.Body, &q); err != nil {
		return q, fmt.Errorf("cluster: describe quorum: %w", err)
	}
	return q, nil
}

// AddVoter makes node id, running and serving the metadata quorum at addr
// (its controller address), a voter. It must not be one already.
func (n *Node) AddVoter(ctx context.Context, id int32, addr string) error {
	return n.changeVoters(ctx, rpcRequest{Op: opAddVoter, NodeID: id, Addr: addr})
}

// RemoveVoter takes node id out of the voters. A node that still runs
// stays an observer (a non-voter) and keeps its metadata current; one
// that does not answer leaves the configuration.
func (n *Node) RemoveVoter(ctx context.Context, id int32) error {
	return n.changeVoters(ctx, rpcRequest{Op: opRemoveVoter, NodeID: id})
}

func (n *Node) changeVoters(ctx context.Context, req rpcRequest) error {
	if n.mux == nil {
		return fmt.Errorf("%w: a one-node cluster without controller.quorum.voters cannot change its voters", ErrNoQuorumChange)
	}
	resp, err := n.callLeader(ctx, req)
	if err != nil {
		return err
	}
	return resp.Err.err()
}

// handleLocal answers the operations a node serves itself, leader or not.
func (n *node) handleLocal(req rpcRequest) (rpcResponse, bool) {
	if req.Op != opStatus {
		return rpcResponse{}, false
	}
	return bodyResponse(n.status()), true
}

// handleVoters serves the voter operations on the leader.
func (n *node) handleVoters(ctx context.Context, req rpcRequest) (rpcResponse, bool) {
	var err error
	switch req.Op {
	case opQuorum:
		return bodyResponse(n.describeQuorum(ctx)), true
	case opAddVoter:
		err = n.addVoter(ctx, req.NodeID, req.Addr)
	case opRemoveVoter:
		err = n.removeVoter(ctx, req.NodeID)
	default:
		return rpcResponse{}, false
	}
	if errors.Is(err, ErrNotController) || errors.Is(err, ErrClosed) {
		return rpcResponse{Retry: true}, true
	}
	return rpcResponse{Err: toWireError(err)}, true
}

func bodyResponse(v any) rpcResponse {
	b, err := json.Marshal(v)
	if err != nil {
		return rpcResponse{Err: toWireError(err)}
	}
	return rpcResponse{Body: b}
}

func (n *node) status() memberStatus {
	st := memberStatus{NodeID: n.cfg.NodeID, LastIndex: n.rs.raft.LastIndex(), SinceContactMs: -1}
	if n.rs.raft.State() == raft.Leader {
		st.SinceContactMs = 0
	} else if t := n.rs.raft.LastContact(); !t.IsZero() {
		st.SinceContactMs = time.Since(t).Milliseconds()
	}
	return st
}

// askStatus asks the node at addr for its status.
func (n *node) askStatus(ctx context.Context, addr string) (memberStatus, error) {
	var st memberStatus
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	resp, err := n.call(ctx, addr, rpcRequest{Op: opStatus})
	if err == nil {
		err = resp.Err.err()
	}
	if err == nil && resp.Body == nil {
		err = errors.New("no status in the answer")
	}
	if err == nil {
		err = json.Unmarshal(resp.Body, &st)
	}
	return st, err
}

// describeQuorum is the quorum as this node sees it: positions of other
// members are asked of them, at once and in parallel.
func (n *node) describeQuorum(ctx context.Context) QuorumState {
	stats := n.rs.raft.Stats()
	term, _ := strconv.ParseInt(stats["term"], 10, 64)
	commit, _ := strconv.ParseInt(stats["commit_index"], 10, 64)
	q := QuorumState{LeaderID: noController, Epoch: term, HighWatermark: commit, Voters: []QuorumMember{}, Observers: []QuorumMember{}}
	if _, sid := n.rs.raft.LeaderWithID(); sid != "" {
		if id, ok := nodeIDOf(sid); ok {
			q.LeaderID = id
		}
	}
	f := n.rs.raft.GetConfiguration()
	if f.Error() != nil {
		return q
	}
	servers := f.Configuration().Servers
	members := make([]QuorumMember, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		id, _ := nodeIDOf(s.ID)
		members[i] = QuorumMember{ID: id, Addr: string(s.Address), LogEndOffset: -1, LastFetchMs: -1, LastCaughtUpMs: -1}
		if id == n.cfg.NodeID || n.mux == nil {
			n.fillMember(&members[i], n.status(), commit, time.Now())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, err := n.askStatus(ctx, string(s.Address)); err == nil && st.NodeID == id {
				n.fillMember(&members[i], st, commit, time.Now())
			}
		}()
	}
	wg.Wait()
	for i, s := range servers {
		if s.Suffrage == raft.Voter {
			q.Voters = append(q.Voters, members[i])
		} else {
			q.Observers = append(q.Observers, members[i])
		}
	}
	return q
}

func (n *node) fillMember(m *QuorumMember, st memberStatus, commit int64, now time.Time) {
	m.LogEndOffset = int64(st.LastIndex)
	if st.SinceContactMs < 0 {
		return
	}
	m.LastFetchMs = now.UnixMilli() - st.SinceContactMs
	if m.LogEndOffset >= commit {
		m.LastCaughtUpMs = m.LastFetchMs
	}
}

// voterConfig is the leader's current Raft configuration.
func (n *node) voterConfig() ([]raft.Server, error) {
	if n.rs.raft.State() != raft.Leader {
		return nil, ErrNotController
	}
	f := n.rs.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("cluster: raft configuration: %w", err)
	}
	return f.Configuration().Servers, nil
}

func (n *node) addVoter(ctx context.Context, id int32, addr string) error {
	if id < 0 {
		return fmt.Errorf("%w: negative node ID %d", ErrInvalidVoter, id)
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" || port == "0" {
		return fmt.Errorf("%w: node %d: address %q is not host:port", ErrInvalidVoter, id, addr)
	}
	servers, err := n.voterConfig()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(servers, func(s raft.Server) bool { return s.ID == serverID(id) && s.Suffrage == raft.Voter }) {
		return fmt.Errorf("%w: node %d", ErrDuplicateVoter, id)
	}
	// The new voter must run and answer at addr as node id, or the quorum
	// would count a member that cannot vote.
	st, err := n.askStatus(ctx, addr)
	if err != nil {
		return fmt.Errorf("%w: node %d does not answer at %s: %v", ErrInvalidVoter, id, addr, err)
	}
	if st.NodeID != id {
		return fmt.Errorf("%w: %s is node %d, not node %d", ErrInvalidVoter, addr, st.NodeID, id)
	}
	n.logger.Info("adding metadata voter", "node", id, "addr", addr)
	_, err = n.await(ctx, func(timeout time.Duration) raft.Future {
		return n.rs.raft.AddVoter(serverID(id), raft.ServerAddress(addr), 0, timeout)
	})
	return err
}

func (n *node) removeVoter(ctx context.Context, id int32) error {
	servers, err := n.voterConfig()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(servers, func(s raft.Server) bool { return s.ID == serverID(id) && s.Suffrage == raft.Voter })
	if i < 0 {
		return fmt.Errorf("%w: node %d", ErrVoterNotFound, id)
	}
	voters := 0
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	if voters == 1 {
		return fmt.Errorf("%w: node %d is the only voter", ErrInvalidVoter, id)
	}
	// A member that still runs stays as an observer, so its broker keeps
	// receiving metadata; a dead one leaves the configuration, so the
	// leader stops replicating to it.
	live := id == n.cfg.NodeID
	if !live {
		_, err := n.askStatus(ctx, string(servers[i].Address))
		live = err == nil
	}
	n.logger.Info("removing metadata voter", "node", id, "keep_as_observer", live)
	_, err = n.await(ctx, func(timeout time.Duration) raft.Future {
		if live {
			return n.rs.raft.DemoteVoter(serverID(id), 0, timeout)
		}
		return n.rs.raft.RemoveServer(serverID(id), 0, timeout)
	})
	return err
}
