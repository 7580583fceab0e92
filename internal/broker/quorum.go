package broker

// DescribeQuorum (versions 0-2), AddRaftVoter (0-1) and RemoveRaftVoter
// (0): the metadata quorum and changes to its voters (KIP-595, KIP-853).
// Any broker answers: the request goes to the Raft leader of the metadata
// quorum, as Kafka's brokers forward these to the active controller.
//
// Sluice's quorum is hashicorp/raft: the epoch is Raft's term, the high
// watermark its commit index, and a member's log end offset its last Raft
// index. A member's last fetch time is when it last heard from the leader;
// its last caught-up time is that time if its log then reached the high
// watermark, else -1. Replica directory IDs are not kept (all zero). A
// voter's one listener, "CONTROLLER", is its Raft address, and
// AddRaftVoter takes the new voter's Raft address from its first listener.
// RemoveRaftVoter keeps a voter that still runs as an observer and drops
// one that does not answer.

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
)

const (
	metadataTopic        = "__cluster_metadata"
	quorumListener       = "CONTROLLER"
	quorumRequestTimeout = 10 * time.Second
)

func (b *Broker) describeQuorum(ctx context.Context, _ *Client, req *kmsg.DescribeQuorumRequest) *kmsg.DescribeQuorumResponse {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr("DescribeQuorum names exactly one partition: __cluster_metadata-0")
		return resp
	}
	rt := kmsg.NewDescribeQuorumResponseTopic()
	rt.Topic = req.Topics[0].Topic
	rp := kmsg.NewDescribeQuorumResponseTopicPartition()
	rp.Partition = req.Topics[0].Partitions[0].Partition
	defer func() {
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
	}()
	if rt.Topic != metadataTopic || rp.Partition != 0 {
		rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return resp
	}
	ctx, cancel := context.WithTimeout(ctx, quorumRequestTimeout)
	defer cancel()
	q, err := b.cfg.Cluster.DescribeQuorum(ctx)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = quorumError(err)
		return resp
	}
	rp.LeaderID = q.LeaderID
	rp.LeaderEpoch = int32(min(q.Epoch, 1<<31-1))
	rp.HighWatermark = q.HighWatermark
	rp.CurrentVoters = replicaStates(q.Voters)
	rp.Observers = replicaStates(q.Observers)
	for _, v := range q.Voters {
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = v.ID
		if host, port, err := net.SplitHostPort(v.Addr); err == nil {
			p, _ := strconv.ParseUint(port, 10, 16)
			l := kmsg.NewDescribeQuorumResponseNodeListener()
			l.Name, l.Host, l.Port = quorumListener, host, uint16(p)
			n.Listeners = append(n.Listeners, l)
		}
		resp.Nodes = append(resp.Nodes, n)
	}
	return resp
}

func replicaStates(ms []cluster.QuorumMember) []kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	out := make([]kmsg.DescribeQuorumResponseTopicPartitionReplicaState, 0, len(ms))
	for _, m := range ms {
		s := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		s.ReplicaID, s.LogEndOffset = m.ID, m.LogEndOffset
		s.LastFetchTimestamp, s.LastCaughtUpTimestamp = m.LastFetchMs, m.LastCaughtUpMs
		out = append(out, s)
	}
	return out
}

func (b *Broker) addRaftVoter(ctx context.Context, _ *Client, req *kmsg.AddRaftVoterRequest) *kmsg.AddRaftVoterResponse {
	resp := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
	if code, msg := b.checkClusterID(req.ClusterID); code != 0 {
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp
	}
	if len(req.Listeners) == 0 || req.Listeners[0].Host == "" || req.Listeners[0].Port == 0 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr("AddRaftVoter needs the new voter's listener (its controller host and port)")
		return resp
	}
	l := req.Listeners[0]
	ctx, cancel := requestTimeout(ctx, req.TimeoutMillis)
	defer cancel()
	addr := net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
	resp.ErrorCode, resp.ErrorMessage = quorumError(b.cfg.Cluster.AddVoter(ctx, req.VoterID, addr))
	return resp
}

func (b *Broker) removeRaftVoter(ctx context.Context, _ *Client, req *kmsg.RemoveRaftVoterRequest) *kmsg.RemoveRaftVoterResponse {
	resp := req.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
	if code, msg := b.checkClusterID(req.ClusterID); code != 0 {
		resp.ErrorCode, resp.ErrorMessage = code, msg
		return resp
	}
	ctx, cancel := context.WithTimeout(ctx, quorumRequestTimeout)
	defer cancel()
	resp.ErrorCode, resp.ErrorMessage = quorumError(b.cfg.Cluster.RemoveVoter(ctx, req.VoterID))
	return resp
}

// checkClusterID refuses a request for another cluster (a nil ID is any).
func (b *Broker) checkClusterID(id *string) (int16, *string) {
	if id != nil && *id != b.cfg.Cluster.Image().ClusterID {
		return kerr.InconsistentClusterID.Code, kmsg.StringPtr("cluster ID " + *id + " is not this cluster's")
	}
	return 0, nil
}

// quorumError maps a quorum operation's error to a Kafka code and message.
func quorumError(err error) (int16, *string) {
	var code int16
	switch {
	case err == nil:
		return 0, nil
	case errors.Is(err, cluster.ErrDuplicateVoter):
		code = kerr.DuplicateVoter.Code
	case errors.Is(err, cluster.ErrVoterNotFound):
		code = kerr.VoterNotFound.Code
	case errors.Is(err, cluster.ErrInvalidVoter), errors.Is(err, cluster.ErrNoQuorumChange):
		code = kerr.InvalidRequest.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = kerr.RequestTimedOut.Code
	case errors.Is(err, cluster.ErrNotController), errors.Is(err, cluster.ErrClosed):
		code = kerr.NotController.Code
	default:
		code = errorCode(err)
	}
	return code, kmsg.StringPtr(err.Error())
}
