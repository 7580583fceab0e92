package cluster

import (
	"context"
	"errors"
)

// Placeholders until the controller lands; replaced by the real
// implementation.

var errNotImplemented = errors.New("cluster: not implemented yet")

func (n *node) electLeaders(ctx context.Context, cmd ElectLeaders) (map[TopicPartitionID]error, error) {
	return nil, errNotImplemented
}

func (n *node) controlledShutdown(ctx context.Context) error { return nil }

func (n *node) quorum() QuorumInfo { return QuorumInfo{Leader: n.pub.image().ControllerID} }

// PlaceReplicas chooses replicas for count new partitions numbered from
// first, rf each, over the unfenced brokers of img not shutting down:
// leaders and replicas spread evenly, racks alternated when brokers set
// broker.rack. It fails with ErrInvalidReplication when rf exceeds the
// brokers available.
func PlaceReplicas(img *Image, count, rf, first int) ([][]int32, error) {
	return nil, errNotImplemented
}
