package cluster

// The control RPC: what a node asks of the controller (the Raft leader)
// besides Raft itself. One request per connection, after the 'C' byte:
//
//	request:  4-byte big-endian length, JSON rpcRequest
//	response: 4-byte big-endian length, JSON rpcResponse
//
// A node that is not the leader forwards a request once to the leader it
// knows (Forwarded set), so a node that knows nobody yet (a joining
// non-voter) can ask any voter. A response with Retry set means "no
// leader here now": the caller tries again, possibly elsewhere.
//
// Errors travel as codes of the exported Err* values (rpcErrors) plus the
// message, so errors.Is works on the caller's side.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

const (
	rpcTimeout    = 10 * time.Second // one request, when the caller's ctx has no sooner deadline
	rpcMaxMessage = 16 << 20
)

const (
	opPropose   = "propose"   // Data: an encoded command; the leader applies it
	opJoin      = "join"      // NodeID, Addr: add a non-voter
	opHeartbeat = "heartbeat" // NodeID, BrokerEpoch: a broker's heartbeat (KIP-631)
	opBarrier   = "barrier"   // the leader's applied index after a barrier
)

type rpcRequest struct {
	Op        string `json:"op"`
	Forwarded bool   `json:"forwarded,omitempty"`
	Data      []byte `json:"data,omitempty"`
	NodeID    int32  `json:"node_id,omitempty"`
	Addr      string `json:"addr,omitempty"`
	// BrokerEpoch is a heartbeat's Broker.Epoch; absent from a broker
	// older than broker epochs.
	BrokerEpoch int64 `json:"broker_epoch,omitempty"`
}

type rpcResponse struct {
	// Retry: this node could not serve the request now (no leader, leader
	// changing, shutting down); nothing was done.
	Retry bool       `json:"retry,omitempty"`
	Err   *wireError `json:"err,omitempty"`
	// Index is the Raft index of an applied command, or the leader's
	// applied index for a barrier.
	Index   uint64              `json:"index,omitempty"`
	Results []wireElectionError `json:"results,omitempty"`
	// ACLs are a DeleteAcls command's matches, per filter.
	ACLs [][]wireACL `json:"acls,omitempty"`
	// Items are a command of many items' results, per item.
	Items []*wireError `json:"items,omitempty"`
	// Body is an operation's answer of its own shape (voters.go).
	Body json.RawMessage `json:"body,omitempty"`
}

type wireError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

type wireElectionError struct {
	Topic     TopicID    `json:"topic"`
	Partition int32      `json:"partition"`
	Err       *wireError `json:"err,omitempty"`
}

// rpcErrors numbers the errors that keep their identity across the RPC.
// Codes are part of the wire format: append only.
var rpcErrors = []error{
	1:  ErrTopicExists,
	2:  ErrUnknownTopic,
	3:  ErrNotController,
	4:  ErrInvalidPartitions,
	5:  ErrInvalidReplication,
	6:  ErrClosed,
	7:  ErrFencedLeaderEpoch,
	8:  ErrInvalidUpdateVersion,
	9:  ErrIneligibleReplica,
	10: ErrUnknownPartition,
	11: ErrNoReassignment,
	12: ErrNotEligibleLeader,
	13: ErrElectionNotNeeded,
	14: ErrInvalidResource,
	15: ErrDuplicateVoter,
	16: ErrVoterNotFound,
	17: ErrInvalidVoter,
	18: ErrNoQuorumChange,
	19: ErrStaleBrokerEpoch,
	20: ErrNoLiveReplica,
	21: ErrBrokerNotRegistered,
}

func toWireError(err error) *wireError {
	if err == nil {
		return nil
	}
	for code, e := range rpcErrors {
		if e != nil && errors.Is(err, e) {
			return &wireError{Code: code, Msg: err.Error()}
		}
	}
	return &wireError{Msg: err.Error()}
}

func (w *wireError) err() error {
	if w == nil {
		return nil
	}
	var sentinel error
	if w.Code > 0 && w.Code < len(rpcErrors) {
		sentinel = rpcErrors[w.Code]
	}
	if sentinel != nil && w.Msg == sentinel.Error() {
		return sentinel
	}
	return &remoteError{msg: w.Msg, sentinel: sentinel}
}

// remoteError is an error returned by another node.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func writeMessage(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

func readMessage(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > rpcMaxMessage {
		return fmt.Errorf("cluster: control message of %d bytes exceeds %d", n, rpcMaxMessage)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// call sends one request to addr and returns its response.
func (n *node) call(ctx context.Context, addr string, req rpcRequest) (rpcResponse, error) {
	var resp rpcResponse
	deadline := time.Now().Add(rpcTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c, err := n.mux.dial(addr, muxControl, min(time.Until(deadline), raftTimeout))
	if err != nil {
		return resp, err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if err := writeMessage(c, req); err != nil {
		return resp, err
	}
	if err := readMessage(c, &resp); err != nil {
		if ctx.Err() != nil {
			return resp, ctx.Err()
		}
		return resp, err
	}
	return resp, nil
}

// serveControl serves one control connection.
func (n *node) serveControl(c net.Conn) {
	c.SetDeadline(time.Now().Add(rpcTimeout))
	var req rpcRequest
	if err := readMessage(c, &req); err != nil {
		n.logger.Debug("control RPC: bad request", "remote", c.RemoteAddr(), "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, rpcTimeout-time.Second)
	defer cancel()
	resp := n.handle(ctx, req)
	if err := writeMessage(c, resp); err != nil {
		n.logger.Debug("control RPC: write response", "remote", c.RemoteAddr(), "op", req.Op, "err", err)
	}
}

// handle serves a request here if this node leads, else forwards it once
// to the leader.
func (n *node) handle(ctx context.Context, req rpcRequest) rpcResponse {
	if resp, ok := n.handleLocal(req); ok {
		return resp
	}
	if req.Op == opConfirm {
		return n.confirmLeader(req.NodeID)
	}
	if n.rs.raft.State() != raft.Leader {
		addr, _ := n.rs.raft.LeaderWithID()
		if req.Forwarded || addr == "" {
			return rpcResponse{Retry: true}
		}
		req.Forwarded = true
		resp, err := n.call(ctx, string(addr), req)
		if err != nil {
			return rpcResponse{Retry: true}
		}
		return resp
	}
	switch req.Op {
	case opPropose:
		resp, index, err := n.applyLocal(ctx, req.Data)
		// Leadership lost, shutting down, or no commit within this
		// request's time (no quorum): the caller tries again until its own
		// context ends. (The entry may still commit: like Kafka's clients,
		// a retried CreateTopic can then see ErrTopicExists.)
		if errors.Is(err, ErrNotController) || errors.Is(err, ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
			return rpcResponse{Retry: true}
		}
		if err != nil {
			return rpcResponse{Err: toWireError(err)}
		}
		out := rpcResponse{Index: index}
		switch r := resp.(type) {
		case error:
			out.Err = toWireError(r)
		case electResults:
			for tp, e := range r {
				out.Results = append(out.Results, wireElectionError{Topic: tp.Topic, Partition: tp.Partition, Err: toWireError(e)})
			}
		case itemResults:
			out.Items = toWireItems(r)
		case aclDeleteResults:
			out.ACLs = make([][]wireACL, len(r))
			for i, bs := range r {
				out.ACLs[i] = toWireACLs(bs)
			}
		}
		return out
	case opJoin:
		if err := n.addNonvoter(ctx, req.NodeID, req.Addr); err != nil {
			if errors.Is(err, ErrNotController) || errors.Is(err, ErrClosed) {
				return rpcResponse{Retry: true}
			}
			return rpcResponse{Err: toWireError(err)}
		}
		return rpcResponse{}
	case opHeartbeat:
		// Retry tells the broker its heartbeat did not reach a
		// controller that could confirm it still leads: its session
		// is not extended (SessionExpiry, ackHeartbeat).
		return rpcResponse{Retry: !n.ackHeartbeat(ctx, req.NodeID, req.BrokerEpoch)}
	case opBarrier:
		if _, err := n.await(ctx, func(timeout time.Duration) raft.Future { return n.rs.raft.Barrier(timeout) }); err != nil {
			return rpcResponse{Retry: true}
		}
		return rpcResponse{Index: n.fsm.applied.get()}
	}
	if resp, ok := n.handleVoters(ctx, req); ok {
		return resp
	}
	return rpcResponse{Err: &wireError{Msg: fmt.Sprintf("cluster: unknown control operation %q", req.Op)}}
}

// addNonvoter adds a node to the Raft configuration as a non-voter, unless
// it is there already at that address.
func (n *node) addNonvoter(ctx context.Context, id int32, addr string) error {
	if id < 0 || addr == "" {
		return fmt.Errorf("cluster: join: node %d at %q", id, addr)
	}
	f := n.rs.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("cluster: join: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == serverID(id) && s.Address == raft.ServerAddress(addr) {
			return nil
		}
	}
	n.logger.Info("adding metadata non-voter", "broker", id, "addr", addr)
	_, err := n.await(ctx, func(timeout time.Duration) raft.Future {
		return n.rs.raft.AddNonvoter(serverID(id), raft.ServerAddress(addr), 0, timeout)
	})
	return err
}

// callLeader sends req to the leader (served in-process when this node
// leads), through any voter while no leader is known, until it is served
// or ctx ends.
func (n *node) callLeader(ctx context.Context, req rpcRequest) (rpcResponse, error) {
	backoff := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if n.rs.raft.State() == raft.Shutdown {
			return rpcResponse{}, ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return rpcResponse{}, err
		}
		var resp rpcResponse
		var err error
		addr, id := n.rs.raft.LeaderWithID()
		switch {
		case id == serverID(n.cfg.NodeID):
			resp = n.handle(ctx, req)
		case addr != "":
			resp, err = n.call(ctx, string(addr), req)
		case len(n.cfg.Voters) > 0:
			v := n.cfg.Voters[attempt%len(n.cfg.Voters)]
			if v.ID == n.cfg.NodeID {
				err = errors.New("no leader known")
				break
			}
			resp, err = n.call(ctx, v.Addr, req)
		default:
			err = errors.New("no leader known")
		}
		if err == nil && !resp.Retry {
			return resp, nil
		}
		if err != nil && ctx.Err() != nil {
			return rpcResponse{}, ctx.Err()
		}
		select {
		case <-time.After(backoff):
		case <-n.pub.changed():
		case <-ctx.Done():
			return rpcResponse{}, ctx.Err()
		case <-n.ctx.Done():
			return rpcResponse{}, ErrClosed
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}
