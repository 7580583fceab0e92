package broker

// Partition leadership and placement admin: ElectLeaders v0-2 (KIP-183,
// KIP-460), AlterPartitionReassignments v0-1 and ListPartitionReassignments
// v0 (KIP-455). Any broker answers them; the changes are committed through
// the controller, which elects leaders and completes reassignments once the
// target replicas are in sync.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
)

// adminTimeout bounds an admin request by its TimeoutMillis (Kafka's
// default 60 s when unset).
func adminTimeout(ctx context.Context, ms int32) (context.Context, context.CancelFunc) {
	if ms <= 0 {
		ms = 60000
	}
	return context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
}

func (b *Broker) electLeaders(ctx context.Context, _ *Client, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	if req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	img := b.cfg.Cluster.Image()
	type tp struct {
		topic string
		part  int32
	}
	var order []tp
	results := map[tp]int16{}
	var cmd cluster.ElectLeaders
	cmd.Unclean = req.ElectionType == 1
	ids := map[tp]cluster.TopicPartitionID{}
	add := func(t *cluster.Topic, name string, part int32) {
		k := tp{name, part}
		if _, dup := results[k]; dup {
			return
		}
		order = append(order, k)
		if t == nil || part < 0 || int(part) >= len(t.Partitions) {
			results[k] = kerr.UnknownTopicOrPartition.Code
			return
		}
		id := cluster.TopicPartitionID{Topic: t.ID, Partition: part}
		ids[k] = id
		cmd.Partitions = append(cmd.Partitions, id)
		results[k] = 0
	}
	all := req.Topics == nil
	if all {
		for _, t := range img.Topics.All() {
			for _, p := range t.Partitions {
				add(t, t.Name, p.Index)
			}
		}
	}
	for _, rt := range req.Topics {
		t := img.Topics.Value(rt.Topic)
		for _, p := range rt.Partitions {
			add(t, rt.Topic, p)
		}
	}
	if len(cmd.Partitions) > 0 {
		ctx, cancel := adminTimeout(ctx, req.TimeoutMillis)
		defer cancel()
		errs, err := b.cfg.Cluster.ElectLeaders(ctx, cmd)
		for k, id := range ids {
			switch {
			case err != nil:
				results[k] = errorCode(err)
			case errs[id] == nil:
			case cmd.Unclean && errors.Is(errs[id], cluster.ErrNotEligibleLeader):
				results[k] = kerr.EligibleLeadersNotAvailable.Code
			default:
				results[k] = errorCode(errs[id])
			}
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].topic != order[j].topic {
			return order[i].topic < order[j].topic
		}
		return order[i].part < order[j].part
	})
	for _, k := range order {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != k.topic {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = k.topic
			resp.Topics = append(resp.Topics, rt)
		}
		if all && results[k] == kerr.ElectionNotNeeded.Code {
			// Asked for every partition, Kafka lists the topic but not
			// the partitions already led by their preferred replica.
			continue
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition, rp.ErrorCode = k.part, results[k]
		rt := &resp.Topics[len(resp.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	return resp
}

func (b *Broker) alterPartitionReassignments(ctx context.Context, _ *Client, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	ctx, cancel := adminTimeout(ctx, req.TimeoutMillis)
	defer cancel()
	for _, rt := range req.Topics {
		out := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		out.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			op.Partition = rp.Partition
			if err := b.reassign(ctx, rt.Topic, rp.Partition, rp.Replicas, req.Version < 1 || req.AllowReplicationFactorChange); err != nil {
				op.ErrorCode = errorCode(err)
				msg := err.Error()
				op.ErrorMessage = &msg
			}
			out.Partitions = append(out.Partitions, op)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

// reassign validates and proposes one partition's reassignment; nil
// replicas cancel the one in progress.
func (b *Broker) reassign(ctx context.Context, topic string, part int32, replicas []int32, allowRFChange bool) error {
	img := b.cfg.Cluster.Image()
	t := img.Topics.Value(topic)
	if t == nil || part < 0 || int(part) >= len(t.Partitions) {
		return kerrf(kerr.UnknownTopicOrPartition, "no partition %s-%d", topic, part)
	}
	cur := t.Partitions[part]
	if replicas == nil {
		if len(cur.AddingReplicas) == 0 && len(cur.RemovingReplicas) == 0 {
			return kerrf(kerr.NoReassignmentInProgress, "no reassignment of %s-%d in progress", topic, part)
		}
		return b.cfg.Cluster.Propose(ctx, cluster.Reassign{Topic: t.ID, Partition: part})
	}
	if len(replicas) == 0 {
		return kerrf(kerr.InvalidReplicaAssignment, "empty replica list")
	}
	for i, r := range replicas {
		if _, ok := img.Brokers[r]; !ok {
			return kerrf(kerr.InvalidReplicaAssignment, "broker %d is not registered", r)
		}
		if slices.Contains(replicas[:i], r) {
			return kerrf(kerr.InvalidReplicaAssignment, "broker %d listed twice", r)
		}
	}
	original := cur.Replicas
	if len(cur.AddingReplicas) > 0 || len(cur.RemovingReplicas) > 0 {
		original = slices.DeleteFunc(slices.Clone(cur.Replicas), func(r int32) bool { return slices.Contains(cur.AddingReplicas, r) })
	}
	if !allowRFChange && len(replicas) != len(original) {
		return kerrf(kerr.InvalidReplicationFactor, "reassignment would change the replication factor from %d to %d", len(original), len(replicas))
	}
	if err := b.cfg.Cluster.Propose(ctx, cluster.Reassign{Topic: t.ID, Partition: part, Target: slices.Clone(replicas)}); err != nil {
		return fmt.Errorf("reassign %s-%d: %w", topic, part, err)
	}
	return nil
}

func (b *Broker) listPartitionReassignments(_ context.Context, _ *Client, req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	img := b.cfg.Cluster.Image()
	listed := func(name string, parts []int32) {
		t := img.Topics.Value(name)
		if t == nil {
			return
		}
		out := kmsg.NewListPartitionReassignmentsResponseTopic()
		out.Topic = name
		for _, p := range t.Partitions {
			if len(p.AddingReplicas) == 0 && len(p.RemovingReplicas) == 0 {
				continue
			}
			if parts != nil && !slices.Contains(parts, p.Index) {
				continue
			}
			op := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			op.Partition = p.Index
			op.Replicas = slices.Clone(p.Replicas)
			op.AddingReplicas = slices.Clone(p.AddingReplicas)
			op.RemovingReplicas = slices.Clone(p.RemovingReplicas)
			out.Partitions = append(out.Partitions, op)
		}
		if len(out.Partitions) > 0 {
			resp.Topics = append(resp.Topics, out)
		}
	}
	if req.Topics == nil {
		names := make([]string, 0, img.Topics.Len())
		for name := range img.Topics.All() {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			listed(name, nil)
		}
		return resp
	}
	for _, rt := range req.Topics {
		listed(rt.Topic, rt.Partitions)
	}
	return resp
}
