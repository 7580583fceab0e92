package mirror

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluice-io/sluice/internal/config"
)

// PartitionStatus is one mirrored partition: how far the target is behind
// the source.
type PartitionStatus struct {
	SourceTopic string `json:"source_topic"`
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	// SourceEnd is the source's high watermark, TargetEnd the mirror
	// topic's; Lag is their difference (offsets, not records: a
	// compacted or transactional log has gaps). -1 is unknown.
	SourceEnd int64  `json:"source_end"`
	TargetEnd int64  `json:"target_end"`
	Lag       int64  `json:"lag"`
	State     string `json:"state"`
	Error     string `json:"error,omitempty"`
	// Records and Bytes are what this mirror process copied.
	Records int64 `json:"records,omitempty"`
	Bytes   int64 `json:"bytes,omitempty"`
}

// Status reports the running mirror: its topics and, for each mirrored
// partition, its lag as this process last saw it.
func (m *Mirror) Status() ([]TopicStatus, []PartitionStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var topics []TopicStatus
	for _, ts := range m.topics {
		topics = append(topics, ts)
	}
	slices.SortFunc(topics, func(a, b TopicStatus) int { return strings.Compare(a.SourceTopic, b.SourceTopic) })
	var parts []PartitionStatus
	for _, p := range m.parts {
		ps := PartitionStatus{SourceTopic: p.srcTopic, Topic: p.dstTopic, Partition: p.index,
			SourceEnd: p.srcEnd, TargetEnd: p.next, Lag: -1, State: StateMirroring, Error: p.err,
			Records: p.records, Bytes: p.bytes}
		if p.srcEnd >= 0 && p.next >= 0 {
			ps.Lag = max(p.srcEnd-p.next, 0)
		}
		if p.stopped != "" {
			ps.State, ps.Error = "stopped", p.stopped
		}
		parts = append(parts, ps)
	}
	for k, reason := range m.translateStops {
		parts = append(parts, PartitionStatus{SourceTopic: k.topic, Topic: m.cfg.targetName(k.topic), Partition: k.part,
			SourceEnd: -1, TargetEnd: -1, Lag: -1, State: "stopped", Error: reason})
	}
	sortParts(parts)
	return topics, parts
}

func sortParts(parts []PartitionStatus) {
	slices.SortFunc(parts, func(a, b PartitionStatus) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
}

// Lag compares the mirror topics on a target with their source, for
// `sluice mirror status`: every target topic with sluice.mirror.source set
// (of any state), its end offsets, and the source's when src is not nil
// and answers. topics, when not nil, keeps only the mirror topics it
// matches.
func Lag(ctx context.Context, src, dst *kadm.Client, topics func(string) bool) ([]PartitionStatus, error) {
	dmd, err := dst.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("target metadata: %w", err)
	}
	var names []string
	for _, t := range dmd.Topics.Sorted() {
		if t.Err == nil && !t.IsInternal && (topics == nil || topics(t.Topic)) {
			names = append(names, t.Topic)
		}
	}
	cfgs, err := topicConfigs(ctx, dst, names)
	if err != nil {
		return nil, fmt.Errorf("target topic configs: %w", err)
	}
	type mirrored struct{ topic, srcTopic, state string }
	var ms []mirrored
	var dstTopics, srcTopics []string
	for _, name := range names {
		source := configValue(cfgs[name], config.MirrorSourceConfig)
		if source == "" {
			continue
		}
		parts := strings.Split(source, "/")
		srcTopic := ""
		if len(parts) == 3 {
			srcTopic = parts[1]
		}
		ms = append(ms, mirrored{name, srcTopic, configValue(cfgs[name], config.MirrorStateConfig)})
		dstTopics = append(dstTopics, name)
		if srcTopic != "" {
			srcTopics = append(srcTopics, srcTopic)
		}
	}
	if len(ms) == 0 {
		return nil, nil
	}
	dstEnds, err := dst.ListEndOffsets(ctx, dstTopics...)
	if err != nil {
		return nil, fmt.Errorf("target end offsets: %w", err)
	}
	var srcEnds kadm.ListedOffsets
	var srcErr error
	if src != nil && len(srcTopics) > 0 {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		srcEnds, srcErr = src.ListEndOffsets(sctx, srcTopics...)
		cancel()
	}
	var out []PartitionStatus
	for _, mt := range ms {
		for _, p := range dmd.Topics[mt.topic].Partitions.Sorted() {
			ps := PartitionStatus{SourceTopic: mt.srcTopic, Topic: mt.topic, Partition: p.Partition,
				SourceEnd: -1, TargetEnd: -1, Lag: -1, State: mt.state}
			if o, ok := dstEnds.Lookup(mt.topic, p.Partition); ok && o.Err == nil {
				ps.TargetEnd = o.Offset
			}
			switch {
			case src == nil:
			case srcErr != nil:
				ps.Error = fmt.Sprintf("source: %v", srcErr)
			default:
				if o, ok := srcEnds.Lookup(mt.srcTopic, p.Partition); ok && o.Err == nil {
					ps.SourceEnd = o.Offset
				} else if ok {
					ps.Error = fmt.Sprintf("source: %v", o.Err)
				} else {
					ps.Error = "source: no such partition"
				}
			}
			if ps.SourceEnd >= 0 && ps.TargetEnd >= 0 {
				ps.Lag = max(ps.SourceEnd-ps.TargetEnd, 0)
			}
			out = append(out, ps)
		}
	}
	sortParts(out)
	return out, nil
}
