package broker

import (
	"context"
	"fmt"

	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

// OffsetsLog gives the group coordinator the local partitions of
// __consumer_offsets (group.Log).
type OffsetsLog struct {
	Replicas *replica.Manager
}

func (l OffsetsLog) partition(p int32) (*replica.Partition, error) {
	part, ok := l.Replicas.Partition(group.OffsetsTopic, p)
	if !ok {
		return nil, fmt.Errorf("%s-%d is not hosted here", group.OffsetsTopic, p)
	}
	return part, nil
}

// Append writes a batch and waits until it is durable.
func (l OffsetsLog) Append(ctx context.Context, p int32, batch []byte) (int64, error) {
	part, err := l.partition(p)
	if err != nil {
		return -1, err
	}
	h, err := record.Validate(batch)
	if err != nil {
		return -1, err
	}
	info, err := part.Append(batch, h)
	if err != nil {
		return -1, err
	}
	if err := part.WaitDurable(ctx, info.LastOffset+1); err != nil {
		return -1, err
	}
	return info.BaseOffset, nil
}

// Read returns batches from offset below the high watermark.
func (l OffsetsLog) Read(p int32, offset int64, maxBytes int) ([]byte, error) {
	part, err := l.partition(p)
	if err != nil {
		return nil, err
	}
	return part.Read(offset, maxBytes)
}

// Bounds returns the log start offset and the high watermark.
func (l OffsetsLog) Bounds(p int32) (int64, int64, error) {
	part, err := l.partition(p)
	if err != nil {
		return 0, 0, err
	}
	return part.LogStartOffset(), part.HighWatermark(), nil
}
