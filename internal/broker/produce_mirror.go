package broker

// Mirror topics (internal/mirror): a topic whose sluice.mirror.state is
// "mirroring" holds another cluster's partitions at their source offsets.
//
// Clients read it as any topic; their produce requests are refused with
// INVALID_TOPIC_EXCEPTION and a message naming the promotion step, as Kafka
// refuses writes to its internal topics: the code is not retriable, so a
// producer fails at once instead of retrying until its delivery timeout,
// and clients that show only the code's text (franz-go, librdkafka) say
// "operation on an invalid topic" rather than INVALID_REQUEST's "malformed
// request".
//
// The mirror writes with Produce (v9 and later) carrying the tagged field
// config.MirrorAppendTag. Each partition's records are whole batches as
// the source stored them; they are appended at their own offsets
// (replica.Partition.AppendMirrored) by the partition's leader, so
// followers, the high watermark and acks=-1 work as for any write. Batches
// already in the log (a retried copy) are skipped but still waited for, so
// a success always means the copied range is replicated and durable. A
// partition may also carry the source's log start offset
// (config.MirrorLogStartTag), alone or with batches: the leader moves its
// log start up to it, as far as the high watermark, or, when it is at or
// past the log end (the source's records expired before they were copied),
// starts the log over there (replica.Partition.MirrorLogStart). The writer
// needs WRITE and ALTER on the topic.

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
)

// isMirrorAppend reports whether a Produce request is a mirror's copy.
func isMirrorAppend(req *kmsg.ProduceRequest) bool {
	found := false
	req.UnknownTags.Each(func(key uint32, _ []byte) {
		if key == config.MirrorAppendTag {
			found = true
		}
	})
	return found
}

// isMirroring reports whether t is a mirror topic not yet promoted.
func isMirroring(t *cluster.Topic) bool {
	return t != nil && t.Configs[config.MirrorStateConfig] == config.MirrorStateMirroring
}

// refuseMirrorProduce is the error for a client's produce to a mirror
// topic, nil for any other topic.
func refuseMirrorProduce(t *cluster.Topic) error {
	if !isMirroring(t) {
		return nil
	}
	return kerrf(kerr.InvalidTopicException, "topic %s is a read-only mirror (of %s); promote it with `sluice mirror promote %s` to write to it",
		t.Name, t.Configs[config.MirrorSourceConfig], t.Name)
}

// produceMirrored appends a mirror's copied batches.
func (b *Broker) produceMirrored(ctx context.Context, c *Client, req *kmsg.ProduceRequest) Reply {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	img := b.cfg.Cluster.Image()
	configs := b.configsFor(img)
	var waits []durableWait
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := img.Topics.Value(rt.Topic)
		var denied error
		if b.authz != nil && (!b.allowed(ctx, c, img.ACLs, acl.OpWrite, acl.ResourceTopic, rt.Topic) ||
			!b.allowed(ctx, c, img.ACLs, acl.OpAlter, acl.ResourceTopic, rt.Topic)) {
			denied = kerr.TopicAuthorizationFailed
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp, sp := &rt.Partitions[j], &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			w, err := b.appendMirrored(ctx, req, t, configs, rp, denied)
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
				continue
			}
			sp.BaseOffset, sp.LogStartOffset = w.base, w.logStart
			if req.Acks == -1 && w.part != nil { // nil: only the log start moved
				w.resp = sp
				waits = append(waits, w.durableWait)
			}
		}
	}
	if req.Acks == 0 {
		return acksZeroReply(resp) // a failure closes the connection, as for a client's produce
	}
	if len(waits) == 0 {
		return Reply{Response: resp}
	}
	return awaitDurable(ctx, waits, time.Duration(req.TimeoutMillis)*time.Millisecond, b.cfg.Cluster.SessionExpiry, resp, &b.waiting.produce)
}

// reserveMirroredProducerIDs keeps this cluster from ever handing out a
// producer ID up to pid, the largest in a mirror's copied batches: after
// promotion, a new producer given one of the source's IDs would collide
// with the producer state the copies left (a false duplicate or an
// out-of-order sequence). The reservation is proposed before the append,
// so it is durable before the copy is acknowledged, and only when pid is
// above what is already reserved.
func (b *Broker) reserveMirroredProducerIDs(ctx context.Context, pid int64) error {
	if pid < 0 || pid > cluster.MaxReservableProducerID || pid < b.cfg.Cluster.Image().ProducerIDFloor {
		return nil
	}
	if err := b.cfg.Cluster.Propose(ctx, cluster.ReserveProducerIDs{Above: pid}); err != nil {
		return kerrf(kerr.RequestTimedOut, "reserve mirrored producer ID %d: %v", pid, err)
	}
	return nil
}

// mirrorAppended is one partition's mirror append: where its copied range
// starts and what an acks=-1 answer waits for.
type mirrorAppended struct {
	durableWait
	base, logStart int64
}

// appendMirrored checks and appends one partition of a mirror append.
func (b *Broker) appendMirrored(ctx context.Context, req *kmsg.ProduceRequest, t *cluster.Topic, configs *imageConfigs, rp *kmsg.ProduceRequestTopicPartition, denied error) (mirrorAppended, error) {
	if denied != nil {
		return mirrorAppended{}, denied
	}
	if t == nil || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
		return mirrorAppended{}, kerr.UnknownTopicOrPartition
	}
	if !isMirroring(t) {
		return mirrorAppended{}, kerrf(kerr.InvalidTopicException, "topic %s is not a mirror topic (%s is %q)", t.Name, config.MirrorStateConfig, t.Configs[config.MirrorStateConfig])
	}
	if req.Acks != 1 && req.Acks != -1 {
		return mirrorAppended{}, kerrf(kerr.InvalidRequiredAcks, "mirror appends need acks 1 or -1, got %d", req.Acks)
	}
	// The copied range, for the answer and the wait, and the largest
	// producer ID in it.
	base, end, maxPID := int64(-1), int64(-1), int64(-1)
	if err := record.Batches(rp.Records, false, func(h record.Header, _ []byte) error {
		if base < 0 {
			base = h.BaseOffset
		}
		end = h.LastOffset() + 1
		maxPID = max(maxPID, h.ProducerID)
		return nil
	}); err != nil {
		return mirrorAppended{}, err
	}
	logStart, hasLogStart, err := mirrorLogStartOf(rp)
	if err != nil {
		return mirrorAppended{}, err
	}
	if base < 0 && !hasLogStart {
		return mirrorAppended{}, kerrf(kerr.InvalidRecord, "a mirror append needs at least one batch per partition, or the source's log start offset")
	}
	part, ok := b.leaderPartition(ctx, t, rp.Partition)
	if !ok {
		return mirrorAppended{}, kerr.NotLeaderForPartition
	}
	if base < 0 {
		// Only the source's log start moved.
		start, err := part.MirrorLogStart(logStart)
		return mirrorAppended{base: -1, logStart: start}, err
	}
	if err := b.reserveMirroredProducerIDs(ctx, maxPID); err != nil {
		return mirrorAppended{}, err
	}
	ts := configs.topic(t)
	minISR := 0
	if req.Acks == -1 {
		minISR = ts.minISR
	}
	info, err := part.AppendMirrored(rp.Records, minISR)
	if errors.Is(err, log.ErrMirrorOverlap) {
		return mirrorAppended{}, kerrf(kerr.InvalidRecord, "%v", err)
	}
	if err != nil {
		return mirrorAppended{}, err
	}
	start := part.LogStartOffset()
	if hasLogStart {
		if start, err = part.MirrorLogStart(logStart); err != nil {
			return mirrorAppended{}, err
		}
	}
	return mirrorAppended{
		durableWait: durableWait{part: part, end: end, epoch: info.LeaderEpoch, minISR: ts.minISR},
		base:        base,
		logStart:    start,
	}, nil
}

// mirrorLogStartOf reads a mirror append partition's
// config.MirrorLogStartTag, if it carries one.
func mirrorLogStartOf(rp *kmsg.ProduceRequestTopicPartition) (int64, bool, error) {
	var v []byte
	found := false
	rp.UnknownTags.Each(func(key uint32, val []byte) {
		if key == config.MirrorLogStartTag {
			v, found = val, true
		}
	})
	if !found {
		return 0, false, nil
	}
	if len(v) != 8 {
		return 0, false, kerrf(kerr.InvalidRequest, "the mirror's log start offset tag holds %d bytes, want 8", len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}
