package broker

// DeleteRecords, versions 0-2: the leader of each partition moves its log
// start offset up to the offset asked for (-1: the high watermark), as
// kafka-delete-records.sh, kadm's DeleteRecords and Kafka Streams' purge
// of repartition topics ask; whole segments below it go with the next
// retention pass. The answer waits, up to the request's timeout, until
// the low watermark (the lowest log start of the leader and its ISR,
// replica.Partition.LowWatermark) reaches the offset, as Kafka's does: the
// followers learn the new log start from their next fetch.
//
// As in Kafka: DELETE on the topic, internal topics are refused
// (INVALID_TOPIC_EXCEPTION), so are topics whose cleanup.policy lacks
// delete (POLICY_VIOLATION), and an offset past the high watermark is
// OFFSET_OUT_OF_RANGE. A read-only mirror topic is refused too: its log
// start follows its source's.

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/replica"
)

// deleteRecordsPoll is how often a waiting DeleteRecords looks at the low
// watermarks of its partitions.
const deleteRecordsPoll = 10 * time.Millisecond

// deleteRecordsWait is a partition whose log start moved, waiting for its
// low watermark.
type deleteRecordsWait struct {
	topic, partition int // indexes into the response
	part             *replica.Partition
	offset           int64
}

func (b *Broker) deleteRecords(ctx context.Context, c *Client, r kmsg.Request) Reply {
	req := r.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	img := b.cfg.Cluster.Image()
	configs := b.configsFor(img)
	var waits []deleteRecordsWait
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := img.Topics.Value(rt.Topic)
		allowed := b.authz == nil || b.allowed(ctx, c, img.ACLs, acl.OpDelete, acl.ResourceTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			var part *replica.Partition
			switch {
			case !allowed:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case isInternalTopic(t.Name), isMirroring(t): // a mirror follows its source's log start
				sp.ErrorCode = kerr.InvalidTopicException.Code
			case !slices.Contains(configs.topic(t).cfg.List("cleanup.policy"), "delete"):
				sp.ErrorCode = kerr.PolicyViolation.Code
			default:
				var ok bool
				if part, ok = b.leaderPartition(ctx, t, rp.Partition); !ok {
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
				} else if start, err := part.DeleteRecords(rp.Offset); err != nil {
					sp.ErrorCode = errorCode(err)
				} else {
					// -1 asked for the high watermark, where the log now starts.
					offset := rp.Offset
					if offset == -1 {
						offset = start
					}
					waits = append(waits, deleteRecordsWait{len(resp.Topics), len(st.Partitions), part, offset})
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(waits) == 0 {
		return Reply{Response: resp}
	}
	deadline := time.Now().Add(time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond)
	return Reply{Wait: func(wctx context.Context) kmsg.Response {
		waitLowWatermarks(wctx, resp, waits, deadline)
		return resp
	}}
}

// waitLowWatermarks fills in each waiting partition's low watermark once
// it reaches the offset, or REQUEST_TIMED_OUT with the last one seen at
// the deadline.
func waitLowWatermarks(ctx context.Context, resp *kmsg.DeleteRecordsResponse, waits []deleteRecordsWait, deadline time.Time) {
	tick := time.NewTicker(deleteRecordsPoll)
	defer tick.Stop()
	for {
		pending := waits[:0]
		for _, w := range waits {
			sp := &resp.Topics[w.topic].Partitions[w.partition]
			low, err := w.part.LowWatermark()
			switch {
			case err != nil:
				sp.ErrorCode, sp.LowWatermark = errorCode(err), -1
			case low >= w.offset:
				sp.LowWatermark = low
			default:
				sp.LowWatermark = low
				pending = append(pending, w)
			}
		}
		waits = pending
		if len(waits) == 0 {
			return
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			for _, w := range waits {
				resp.Topics[w.topic].Partitions[w.partition].ErrorCode = kerr.RequestTimedOut.Code
			}
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
}
