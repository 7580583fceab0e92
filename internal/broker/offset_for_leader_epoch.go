package broker

// OffsetForLeaderEpoch, versions 2-4 (KIP-101, KIP-279, KIP-320): the end
// offset of the largest leader epoch at or below the one asked for. Clients
// use it to detect log truncation after a leader change; followers (replica
// ID >= 0, v3+) to truncate before fetching. Only the leader answers
// (NOT_LEADER_OR_FOLLOWER), after checking the asker's current leader epoch:
// older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) offsetForLeaderEpoch(_ context.Context, _ *Client, req *kmsg.OffsetForLeaderEpochRequest) *kmsg.OffsetForLeaderEpochResponse {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	img := b.cfg.Cluster.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := img.Topics.Value(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition, sp.LeaderEpoch, sp.EndOffset = rp.Partition, -1, -1
			part, err := b.fetchPartition(t, 0, &kmsg.FetchRequestTopicPartition{Partition: rp.Partition, CurrentLeaderEpoch: rp.CurrentLeaderEpoch}, false)
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else {
				sp.LeaderEpoch, sp.EndOffset = part.Log().EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
