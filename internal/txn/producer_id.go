package txn

import (
	"context"
	"sync"
)

// BlockSize is how many producer IDs are reserved from the cluster
// metadata at a time (Kafka's AllocateProducerIds hands out 1000).
const BlockSize = 1000

// Allocator reserves count producer IDs durably (through the cluster
// metadata, so IDs are never reused across restarts or brokers) and returns
// the first.
type Allocator func(ctx context.Context, count int64) (first int64, err error)

// ProducerIDs hands out producer IDs from blocks reserved by an Allocator.
type ProducerIDs struct {
	allocate Allocator
	floor    func() int64

	mu   sync.Mutex
	next int64
	end  int64
}

// NewProducerIDs returns a producer ID source.
func NewProducerIDs(allocate Allocator) *ProducerIDs {
	return &ProducerIDs{allocate: allocate}
}

// WithFloor makes p skip every ID below floor(): when the next ID of
// its block is, the rest of the block is dropped and a new one reserved
// (the cluster's reserved producer IDs, cluster.ReserveProducerIDs).
func (p *ProducerIDs) WithFloor(floor func() int64) *ProducerIDs {
	p.floor = floor
	return p
}

// Next returns a producer ID never handed out before.
func (p *ProducerIDs) Next(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.floor != nil && p.next < p.floor() {
		p.next = p.end
	}
	if p.next >= p.end {
		first, err := p.allocate(ctx, BlockSize)
		if err != nil {
			return -1, err
		}
		p.next, p.end = first, first+BlockSize
	}
	id := p.next
	p.next++
	return id, nil
}
