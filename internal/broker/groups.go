package broker

// FindCoordinator v0-v5 and the group APIs, which the group coordinator
// (internal/group) answers: OffsetCommit v0-v9, OffsetFetch v0-v9,
// JoinGroup v0-v9, Heartbeat v0-v4, LeaveGroup v0-v5, SyncGroup v0-v5,
// DescribeGroups v0-v5, ListGroups v0-v5, DeleteGroups v0-v2, OffsetDelete
// v0, and the KIP-848 ConsumerGroupHeartbeat v0-v1 and
// ConsumerGroupDescribe v0-v1. The coordinator of a group is the leader of the __consumer_offsets
// partition its ID hashes to; the topic is created on the first
// FindCoordinator, with offsets.topic.num.partitions partitions, compacted,
// and a replication factor of offsets.topic.replication.factor capped at
// the number of brokers. Transaction coordinators (key type 1) are found in
// txn.go.

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/group"
)

func (b *Broker) findCoordinator(ctx context.Context, cl *Client, req *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		err := b.findOneCoordinator(ctx, req.CoordinatorType, key, &c)
		if err == nil {
			err = coordinatorListener(b.cfg.Cluster.Image(), cl.Listener, &c)
		}
		c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
		if req.Version < 4 {
			resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
			resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
			if req.Version == 0 {
				resp.ErrorMessage = nil
			}
			return resp
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp
}

func (b *Broker) findOneCoordinator(ctx context.Context, typ int8, key string, c *kmsg.FindCoordinatorResponseCoordinator) error {
	switch typ {
	case 0:
	case 1:
		return b.txnCoordinator(ctx, key, c) // txn.go
	default:
		return kerrf(kerr.InvalidRequest, "unknown coordinator type %d", typ)
	}
	if key == "" {
		return kerrf(kerr.InvalidRequest, "empty group ID")
	}
	img, err := b.ensureOffsetsTopic(ctx)
	if err != nil {
		return err
	}
	return coordinatorAt(img, group.OffsetsTopic, b.cfg.Groups.PartitionFor(key), c)
}

// ensureOffsetsTopic creates __consumer_offsets if it does not exist.
func (b *Broker) ensureOffsetsTopic(ctx context.Context) (*cluster.Image, error) {
	return b.ensureInternalTopic(ctx, group.OffsetsTopic, func(_ *cluster.Image, bcfg *config.Broker) internalTopic {
		return internalTopic{
			partitions: int32(bcfg.Int64("offsets.topic.num.partitions")),
			rf:         int(bcfg.Int64("offsets.topic.replication.factor")),
			configs: map[string]string{
				"cleanup.policy":   "compact",
				"compression.type": "producer",
				"segment.bytes":    strconv.FormatInt(bcfg.Int64("offsets.topic.segment.bytes"), 10),
			},
		}
	})
}

func (b *Broker) joinGroup(ctx context.Context, c *Client, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	return b.cfg.Groups.JoinGroup(group.WithClient(ctx, c.ID, c.Addr), req)
}

func (b *Broker) syncGroup(ctx context.Context, c *Client, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	return b.cfg.Groups.SyncGroup(group.WithClient(ctx, c.ID, c.Addr), req)
}

func (b *Broker) heartbeat(ctx context.Context, c *Client, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	return b.cfg.Groups.Heartbeat(group.WithClient(ctx, c.ID, c.Addr), req)
}

func (b *Broker) leaveGroup(ctx context.Context, c *Client, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	return b.cfg.Groups.LeaveGroup(group.WithClient(ctx, c.ID, c.Addr), req)
}

func (b *Broker) offsetCommit(ctx context.Context, c *Client, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	return b.cfg.Groups.OffsetCommit(group.WithClient(ctx, c.ID, c.Addr), req)
}

func (b *Broker) offsetFetch(ctx context.Context, c *Client, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	return b.cfg.Groups.OffsetFetch(group.WithClient(ctx, c.ID, c.Addr), req)
}

func (b *Broker) offsetDelete(ctx context.Context, c *Client, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	return b.cfg.Groups.OffsetDelete(group.WithClient(ctx, c.ID, c.Addr), req)
}

func (b *Broker) describeGroups(ctx context.Context, c *Client, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	return b.cfg.Groups.DescribeGroups(group.WithClient(ctx, c.ID, c.Addr), req)
}

func (b *Broker) listGroups(ctx context.Context, c *Client, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	return b.cfg.Groups.ListGroups(group.WithClient(ctx, c.ID, c.Addr), req)
}

func (b *Broker) deleteGroups(ctx context.Context, c *Client, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	return b.cfg.Groups.DeleteGroups(group.WithClient(ctx, c.ID, c.Addr), req)
}

func (b *Broker) consumerGroupHeartbeat(ctx context.Context, c *Client, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	ctx = group.WithClient(ctx, c.ID, c.Addr)
	if b.authz != nil {
		// A regex subscription resolves only to topics the principal may
		// describe, under the ACLs current when the group is reassigned.
		ctx = group.WithDescribeCheck(ctx, func(topic string) bool {
			return b.visible(c, b.currentACLs(), acl.OpDescribe, acl.ResourceTopic, topic)
		})
	}
	return b.cfg.Groups.ConsumerGroupHeartbeat(ctx, req)
}

func (b *Broker) consumerGroupDescribe(ctx context.Context, c *Client, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	return b.cfg.Groups.ConsumerGroupDescribe(group.WithClient(ctx, c.ID, c.Addr), req)
}
