package broker

// ListOffsets, versions 1-8. Special timestamps: -1 latest (the high
// watermark, or the last stable offset for read_committed), -2 earliest,
// -3 the record with the largest timestamp (KIP-734), -4 earliest local
// (KIP-1005; all of Sluice's log is local). Any other timestamp finds the
// first record at or after it, or answers offset -1 when there is none.
// Only the leader answers (NOT_LEADER_OR_FOLLOWER), after checking the
// client's current leader epoch (KIP-320). A follower asking (replica ID
// >= 0) sees up to the log end offset rather than the high watermark, as in
// Kafka. Looking records up by timestamp decompresses on the broker's
// decompression budget, as Produce does (decompression.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
)

func (b *Broker) listOffsets(ctx context.Context, _ *Client, req *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	img := b.cfg.Cluster.Image()
	// A partition listed more than once, under one topic entry or several,
	// is answered INVALID_REQUEST every time (Kafka's duplicatePartitions),
	// so no partition is looked up twice.
	type tp struct {
		topic     string
		partition int32
	}
	seen := map[tp]int{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			seen[tp{rt.Topic, rp.Partition}]++
		}
	}
	for _, rt := range req.Topics {
		if ctx.Err() != nil {
			return resp // the client left
		}
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := img.Topics.Value(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition, sp.Timestamp, sp.Offset, sp.LeaderEpoch = rp.Partition, -1, -1, -1
			var err error
			if seen[tp{rt.Topic, rp.Partition}] > 1 {
				err = kerrf(kerr.InvalidRequest, "partition %d is listed more than once", rp.Partition)
			} else {
				err = b.listOffset(ctx, img, t, req, &rp, &sp)
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) listOffset(ctx context.Context, img *cluster.Image, t *cluster.Topic, req *kmsg.ListOffsetsRequest, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	part, err := b.fetchPartition(t, 0, &kmsg.FetchRequestTopicPartition{Partition: rp.Partition, CurrentLeaderEpoch: rp.CurrentLeaderEpoch}, false)
	if err != nil {
		return err
	}
	// Batches looked into are decompressed on the decompression budget,
	// within the topic's max.message.bytes (decompression.go).
	limit := int(min(b.configsFor(img).topic(t).maxMessageBytes, maxDecompressed))
	epoch := part.LeaderEpoch()
	end := part.HighWatermark()
	// A new leader's high watermark may lag the one its predecessor
	// answered until its followers fetch again: a client would see the end
	// of the log move backwards. Kafka (KIP-207) answers OFFSET_NOT_AVAILABLE,
	// which clients retry, until it has caught up: for the latest offset,
	// and for a timestamp whose offset it cannot answer yet. The earliest
	// offsets it answers at once.
	var lagging error
	if req.ReplicaID < 0 && end < part.EpochStartOffset() {
		lagging = kerrf(kerr.OffsetNotAvailable, "the leader's high watermark %d has not reached the start of its epoch %d (%d)", end, epoch, part.EpochStartOffset())
	}
	switch {
	case req.ReplicaID >= 0:
		end = part.LogEndOffset()
	case req.IsolationLevel == 1:
		end = part.LastStableOffset()
	}
	// The offsets found come with the epoch that wrote them, as in Kafka;
	// the latest with the current one.
	switch rp.Timestamp {
	case -1:
		if lagging != nil {
			return lagging
		}
		sp.Offset, sp.LeaderEpoch = end, epoch
	case -2, -4:
		start := part.LogStartOffset()
		sp.Offset, sp.LeaderEpoch = start, part.Log().EpochForOffset(start)
	case -3:
		var ts, off int64
		err := b.searchDecompressing(ctx, limit, func(visit log.RecordVisitor) (err error) {
			ts, off, err = part.Log().MaxTimestampVisiting(visit)
			return err
		})
		if err != nil {
			return err
		}
		if off >= 0 && off < end {
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = ts, off, part.Log().EpochForOffset(off)
		} else if lagging != nil {
			return lagging
		}
	default:
		if rp.Timestamp < 0 {
			return kerrf(kerr.InvalidRequest, "timestamp %d is not a valid special timestamp", rp.Timestamp)
		}
		var off, ts int64
		var ok bool
		err := b.searchDecompressing(ctx, limit, func(visit log.RecordVisitor) (err error) {
			off, ts, ok, err = part.Log().OffsetForTimestampVisiting(rp.Timestamp, visit)
			return err
		})
		if err != nil {
			return err
		}
		if ok && off < end {
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = ts, off, part.Log().EpochForOffset(off)
		} else if lagging != nil {
			return lagging
		}
	}
	return nil
}
