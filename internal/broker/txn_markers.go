package broker

// WriteTxnMarkers, versions 0-2: a transaction coordinator asks the leader
// of each partition of a transaction to write the COMMIT or ABORT control
// batch that ends it there (KIP-98; also the abort path of
// kafka-transactions.sh, KIP-664). Each marker is written as leader with
// acks=all and answered once every in-sync replica has it and it is
// durable. A marker written to __consumer_offsets also completes the
// producer's transactional offset commits in the group coordinator.
//
// Markers is the sending side: the transaction coordinator's way to reach
// those leaders, writing locally when this broker leads a partition and
// sending WriteTxnMarkers to the leader otherwise, retrying across leader
// changes until every partition has its marker.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/txn"
)

func (b *Broker) writeTxnMarkers(ctx context.Context, _ *Client, req *kmsg.WriteTxnMarkersRequest) *kmsg.WriteTxnMarkersResponse {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	now := b.cfg.Now().UnixMilli()
	var writes []*markerWrite
	for _, rm := range req.Markers {
		sm := kmsg.NewWriteTxnMarkersResponseMarker()
		sm.ProducerID = rm.ProducerID
		m := log.Marker{ProducerID: rm.ProducerID, ProducerEpoch: rm.ProducerEpoch, Commit: rm.Committed, CoordinatorEpoch: rm.CoordinatorEpoch, Timestamp: now}
		for _, rt := range rm.Topics {
			st := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			st.Topic = rt.Topic
			st.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(rt.Partitions))
			for i, p := range rt.Partitions {
				st.Partitions[i] = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				st.Partitions[i].Partition = p
				writes = append(writes, &markerWrite{topic: rt.Topic, partition: p, marker: m, code: &st.Partitions[i].ErrorCode})
			}
			sm.Topics = append(sm.Topics, st)
		}
		resp.Markers = append(resp.Markers, sm)
	}
	b.writeMarkers(ctx, writes)
	for _, w := range writes {
		*w.code = errorCode(w.err)
	}
	return resp
}

// markerWrite is one marker for one partition this broker leads.
type markerWrite struct {
	topic     string
	partition int32
	marker    log.Marker
	code      *int16 // where the answer goes, if anywhere
	err       error
}

// writeMarkers appends every marker first and then waits for each to be
// replicated and durable, so the partitions' fsyncs overlap. A marker
// written to __consumer_offsets then completes the producer's
// transactional offset commits in the group coordinator.
func (b *Broker) writeMarkers(ctx context.Context, writes []*markerWrite) {
	type appended struct {
		w      *markerWrite
		part   *replica.Partition
		info   replica.Appended
		minISR int
	}
	img := b.cfg.Cluster.Image()
	var waits []appended
	for _, w := range writes {
		t := img.Topics.Value(w.topic)
		if t == nil || w.partition < 0 || int(w.partition) >= len(t.Partitions) {
			w.err = kerr.UnknownTopicOrPartition
			continue
		}
		if isMirroring(t) {
			continue // the source's markers arrive with its batches; ours would move its offsets
		}
		part, ok := b.cfg.Replicas.Partition(w.topic, w.partition)
		if !ok {
			w.err = kerr.NotLeaderForPartition
			continue
		}
		if w.topic == group.OffsetsTopic {
			// Offset writes verified before this marker come before it
			// in the log, or are refused (KIP-890).
			b.cfg.Groups.TxnEnding(w.partition, w.marker.ProducerID, w.marker.ProducerEpoch)
		}
		minISR := part.MinInsyncReplicas()
		info, err := part.AppendMarker(w.marker, minISR)
		if err != nil {
			w.err = err
			continue
		}
		waits = append(waits, appended{w, part, info, minISR})
	}
	for _, a := range waits {
		if a.w.err = waitAcked(ctx, a.part, a.info, a.minISR); a.w.err != nil {
			continue
		}
		if a.w.topic == group.OffsetsTopic {
			b.cfg.Groups.CompleteTxn(a.w.partition, a.w.marker.ProducerID, a.w.marker.Commit, a.w.marker.ProducerEpoch)
		}
	}
}

// Markers delivers transaction markers for the transaction coordinator
// (txn.Markers), through the broker's connections to its peers.
type Markers struct {
	b      *Broker
	logger *slog.Logger
}

// NewMarkers returns the marker writer of broker b.
func NewMarkers(b *Broker) *Markers {
	return &Markers{b: b, logger: b.logger}
}

// markerRetryBackoff spaces the retries of markers whose leader moved or
// is not available.
const markerRetryBackoff = 100 * time.Millisecond

// Write returns once every partition of r has its marker or ctx ends.
func (m *Markers) Write(ctx context.Context, r txn.MarkerRequest) error {
	todo := make(map[string]map[int32]bool, len(r.Partitions))
	for topic, ps := range r.Partitions {
		todo[topic] = make(map[int32]bool, len(ps))
		for _, p := range ps {
			todo[topic][p] = true
		}
	}
	marker := log.Marker{ProducerID: r.ProducerID, ProducerEpoch: r.ProducerEpoch, Commit: r.Commit, CoordinatorEpoch: r.CoordinatorEpoch}
	for attempt := 0; ; attempt++ {
		err := m.writeOnce(ctx, todo, marker)
		if err == nil && len(todo) == 0 {
			return nil
		}
		if fatal := fatalMarkerError(err); fatal != nil {
			return fatal
		}
		if attempt%50 == 49 {
			m.logger.Warn("transaction markers still not written", "producer_id", r.ProducerID, "partitions", len(todo), "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("write transaction markers: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(markerRetryBackoff):
		}
	}
}

// fatalMarkerError picks out the errors retrying cannot fix: the producer
// or the coordinator was fenced.
func fatalMarkerError(err error) error {
	var ke *kerr.Error
	if err != nil && errors.As(err, &ke) {
		switch ke {
		case kerr.InvalidProducerEpoch, kerr.ProducerFenced, kerr.TransactionCoordinatorFenced:
			return err
		}
	}
	return nil
}

// writeOnce writes the markers still to do, grouped by leader, removing
// from todo those written (or whose topic or partition no longer exists).
// It returns the last error seen.
func (m *Markers) writeOnce(ctx context.Context, todo map[string]map[int32]bool, marker log.Marker) error {
	img := m.b.cfg.Cluster.Image()
	byLeader := map[int32]map[string][]int32{}
	for topic, ps := range todo {
		t := img.Topics.Value(topic)
		for p := range ps {
			if t == nil || int(p) >= len(t.Partitions) {
				delete(ps, p) // deleted: nothing left to end
				continue
			}
			leader := t.Partitions[p].Leader
			if byLeader[leader] == nil {
				byLeader[leader] = map[string][]int32{}
			}
			byLeader[leader][topic] = append(byLeader[leader][topic], p)
		}
		if len(ps) == 0 {
			delete(todo, topic)
		}
	}
	var last error
	done := func(topic string, p int32) {
		delete(todo[topic], p)
		if len(todo[topic]) == 0 {
			delete(todo, topic)
		}
	}
	for leader, parts := range byLeader {
		if leader == m.b.cfg.NodeID {
			marker.Timestamp = m.b.cfg.Now().UnixMilli()
			var writes []*markerWrite
			for topic, ps := range parts {
				for _, p := range ps {
					writes = append(writes, &markerWrite{topic: topic, partition: p, marker: marker})
				}
			}
			m.b.writeMarkers(ctx, writes)
			for _, w := range writes {
				if w.err == nil || errorCode(w.err) == kerr.UnknownTopicOrPartition.Code {
					done(w.topic, w.partition)
					continue
				}
				last = withCode(w.err)
			}
			continue
		}
		br, ok := img.Brokers[leader]
		if !ok || br.Fenced {
			last = fmt.Errorf("leader %d of a transaction partition is not available: %w", leader, kerr.NotLeaderForPartition)
			continue
		}
		resp, err := m.send(ctx, br, parts, marker)
		if err != nil {
			last = err
			continue
		}
		for _, rm := range resp.Markers {
			for _, rt := range rm.Topics {
				for _, rp := range rt.Partitions {
					switch err := kerr.ErrorForCode(rp.ErrorCode); err {
					case nil, kerr.UnknownTopicOrPartition:
						done(rt.Topic, rp.Partition)
					default:
						last = err
					}
				}
			}
		}
	}
	return last
}

// send asks another broker to write markers to the partitions it leads.
func (m *Markers) send(ctx context.Context, br cluster.Broker, parts map[string][]int32, marker log.Marker) (*kmsg.WriteTxnMarkersResponse, error) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	rm := kmsg.NewWriteTxnMarkersRequestMarker()
	rm.ProducerID, rm.ProducerEpoch, rm.Committed, rm.CoordinatorEpoch = marker.ProducerID, marker.ProducerEpoch, marker.Commit, marker.CoordinatorEpoch
	for topic, ps := range parts {
		rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		rt.Topic, rt.Partitions = topic, ps
		rm.Topics = append(rm.Topics, rt)
	}
	req.Markers = append(req.Markers, rm)
	resp, err := m.b.peers.request(ctx, br, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.WriteTxnMarkersResponse), nil
}
