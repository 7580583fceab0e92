package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

// InternalLog gives a coordinator the local partitions of its internal
// topic: __consumer_offsets for the group coordinator (group.Log),
// __transaction_state for the transaction coordinator (txn.Log). Only
// their leader writes: a broker that does not lead a partition answers
// NOT_LEADER_OR_FOLLOWER, which the coordinators turn into NOT_COORDINATOR.
// Writes are acks=all, so the state a client was told about survives a
// coordinator failover. Every error carries its Kafka code (kerr), mapped
// by errorCode as for any client request.
type InternalLog struct {
	Replicas *replica.Manager
	Topic    string
}

func (l InternalLog) partition(p int32) (*replica.Partition, error) {
	part, ok := l.Replicas.Partition(l.Topic, p)
	if !ok {
		return nil, fmt.Errorf("%s-%d is not hosted here: %w", l.Topic, p, kerr.NotLeaderForPartition)
	}
	return part, nil
}

// Append writes a batch as leader and waits, as acks=all does, until every
// ISR member has it (the high watermark passed it) and it is durable here.
// Too small an ISR is NOT_ENOUGH_REPLICAS (nothing written) or
// NOT_ENOUGH_REPLICAS_AFTER_APPEND.
func (l InternalLog) Append(ctx context.Context, p int32, batch []byte) (int64, error) {
	part, err := l.partition(p)
	if err != nil {
		return -1, err
	}
	h, err := record.Validate(batch)
	if err != nil {
		return -1, withCode(err)
	}
	minISR := part.MinInsyncReplicas()
	info, err := part.AppendAsLeader(batch, h, minISR)
	if err != nil {
		return -1, withCode(err)
	}
	if err := waitAcked(ctx, part, info, minISR); err != nil {
		return -1, withCode(err)
	}
	return info.BaseOffset, nil
}

// waitAcked waits until an append is replicated to the ISR and durable
// here: what acks=all answers after.
func waitAcked(ctx context.Context, part *replica.Partition, info replica.Appended, minISR int) error {
	if err := part.WaitReplicated(ctx, info.LastOffset+1, info.LeaderEpoch, minISR); err != nil {
		return err
	}
	return part.WaitDurable(ctx, info.LastOffset+1)
}

// withCode wraps err with the Kafka error its code maps to, for callers
// outside the broker that decide on kerr values.
func withCode(err error) error {
	if err == nil {
		return nil
	}
	if ke := kerr.ErrorForCode(errorCode(err)); ke != nil {
		return fmt.Errorf("%w: %w", ke, err)
	}
	return err
}

// Read returns batches from offset up to the log end offset: a new leader
// loads everything it has, as Kafka's coordinators do; what it has beyond
// the high watermark is what its followers are about to copy.
func (l InternalLog) Read(p int32, offset int64, maxBytes int) ([]byte, error) {
	part, err := l.partition(p)
	if err != nil {
		return nil, err
	}
	b, err := part.ReadToEnd(nil, offset, maxBytes)
	return b, withCode(err)
}

// Bounds returns the log start offset and the log end offset, the range a
// loading coordinator reads.
func (l InternalLog) Bounds(p int32) (int64, int64, error) {
	part, err := l.partition(p)
	if err != nil {
		return 0, 0, err
	}
	return part.LogStartOffset(), part.LogEndOffset(), nil
}
