package replica

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
)

// Partition is one hosted partition.
type Partition struct {
	Topic   string
	TopicID cluster.TopicID
	Index   int32
	// Root is the log directory the partition lives in.
	Root string

	log *log.Log

	hw          atomic.Int64
	leaderEpoch atomic.Int32

	mu     sync.Mutex
	notify chan struct{} // closed and replaced when the high watermark moves
}

func newPartition(topic string, id cluster.TopicID, index int32, l *log.Log, epoch int32) *Partition {
	p := &Partition{Topic: topic, TopicID: id, Index: index, log: l, notify: make(chan struct{})}
	p.hw.Store(l.LogEndOffset())
	p.leaderEpoch.Store(epoch)
	return p
}

// Log is the partition's log.
func (p *Partition) Log() *log.Log { return p.log }

// LeaderEpoch is the partition's current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.leaderEpoch.Load() }

// HighWatermark is the offset below which records are visible to consumers.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// LogStartOffset is the first offset in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// Append appends one validated batch, stamping the current leader epoch,
// and publishes the new high watermark.
func (p *Partition) Append(batch []byte, h record.Header) (log.AppendInfo, error) {
	info, err := p.log.Append(batch, h, p.leaderEpoch.Load())
	if err != nil {
		return info, err
	}
	p.advance(p.log.LogEndOffset())
	return info, nil
}

func (p *Partition) advance(hw int64) {
	p.mu.Lock()
	if hw > p.hw.Load() {
		p.hw.Store(hw)
		close(p.notify)
		p.notify = make(chan struct{})
	}
	p.mu.Unlock()
}

// Changed returns a channel closed when the high watermark next moves.
func (p *Partition) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notify
}

// Read returns batches from offset, never past the high watermark.
func (p *Partition) Read(offset int64, maxBytes int) ([]byte, error) {
	return p.log.Read(offset, maxBytes, p.hw.Load())
}

// ReadInto is Read into buf's memory when it is large enough.
func (p *Partition) ReadInto(buf []byte, offset int64, maxBytes int) ([]byte, error) {
	return p.log.ReadInto(buf, offset, maxBytes, p.hw.Load())
}

// WaitDurable waits until everything below offset is fsynced.
func (p *Partition) WaitDurable(ctx context.Context, offset int64) error {
	return p.log.WaitDurable(ctx, offset)
}
