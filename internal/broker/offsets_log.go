package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

// OffsetsLog gives the group coordinator the local partitions of
// __consumer_offsets (group.Log). Only their leader writes: a broker that
// does not lead a partition answers NOT_LEADER_OR_FOLLOWER, which the
// coordinator turns into NOT_COORDINATOR. Writes are acks=all, so the group
// state a client was told about survives a coordinator failover.
type OffsetsLog struct {
	Replicas *replica.Manager
}

func (l OffsetsLog) partition(p int32) (*replica.Partition, error) {
	part, ok := l.Replicas.Partition(group.OffsetsTopic, p)
	if !ok {
		return nil, fmt.Errorf("%s-%d is not hosted here: %w", group.OffsetsTopic, p, kerr.NotLeaderForPartition)
	}
	return part, nil
}

// Append writes a batch as leader and waits, as acks=all does, until every
// ISR member has it (the high watermark passed it) and it is durable here.
// Too small an ISR is NOT_ENOUGH_REPLICAS (nothing written) or
// NOT_ENOUGH_REPLICAS_AFTER_APPEND.
func (l OffsetsLog) Append(ctx context.Context, p int32, batch []byte) (int64, error) {
	part, err := l.partition(p)
	if err != nil {
		return -1, err
	}
	h, err := record.Validate(batch)
	if err != nil {
		return -1, err
	}
	minISR := part.MinInsyncReplicas()
	info, err := part.AppendAsLeader(batch, h, minISR)
	if err != nil {
		return -1, offsetsLogError(err)
	}
	if err := part.WaitReplicated(ctx, info.LastOffset+1, info.LeaderEpoch, minISR); err != nil {
		return -1, offsetsLogError(err)
	}
	if err := part.WaitDurable(ctx, info.LastOffset+1); err != nil {
		return -1, err
	}
	return info.BaseOffset, nil
}

// offsetsLogError gives replication errors the Kafka code the coordinator
// maps (appendCode).
func offsetsLogError(err error) error {
	switch {
	case errors.Is(err, replica.ErrNotLeader):
		return fmt.Errorf("%w: %w", kerr.NotLeaderForPartition, err)
	case errors.Is(err, replica.ErrNotEnoughReplicas):
		return fmt.Errorf("%w: %w", kerr.NotEnoughReplicas, err)
	case errors.Is(err, replica.ErrNotEnoughReplicasAfterAppend):
		return fmt.Errorf("%w: %w", kerr.NotEnoughReplicasAfterAppend, err)
	}
	return err
}

// Read returns batches from offset up to the log end offset: a new leader
// loads everything it has, as Kafka's coordinator does; what it has beyond
// the high watermark is what its followers are about to copy.
func (l OffsetsLog) Read(p int32, offset int64, maxBytes int) ([]byte, error) {
	part, err := l.partition(p)
	if err != nil {
		return nil, err
	}
	return part.ReadToEnd(nil, offset, maxBytes)
}

// Bounds returns the log start offset and the log end offset, the range a
// loading coordinator reads.
func (l OffsetsLog) Bounds(p int32) (int64, int64, error) {
	part, err := l.partition(p)
	if err != nil {
		return 0, 0, err
	}
	return part.LogStartOffset(), part.LogEndOffset(), nil
}
