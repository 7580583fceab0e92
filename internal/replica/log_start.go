package replica

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/log"
)

// DeleteRecords moves the log start offset up to offset, or to the high
// watermark when offset is -1 (Kafka's DeleteRecords), as this
// partition's leader, and returns the log start offset. An offset past the
// high watermark is out of range. Followers follow the leader's log start
// as for any partition; LowWatermark tells when they have.
func (p *Partition) DeleteRecords(offset int64) (int64, error) {
	if !p.leading.Load() {
		return 0, ErrNotLeader
	}
	hw := p.HighWatermark()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return 0, fmt.Errorf("%w: delete records before %d, the high watermark is %d", log.ErrOffsetOutOfRange, offset, hw)
	}
	return p.moveLogStart(offset)
}

// moveLogStart moves the log start offset up to offset if it is below.
func (p *Partition) moveLogStart(offset int64) (int64, error) {
	if offset > p.log.LogStartOffset() {
		if err := p.log.DeleteRecordsBefore(offset); err != nil {
			return p.log.LogStartOffset(), err
		}
	}
	return p.log.LogStartOffset(), nil
}

// LowWatermark is the lowest log start offset of the leader and the
// followers in its ISR on live brokers (not fenced or shutting down), as
// each last reported it in a fetch (-1 for one that has not fetched yet):
// Kafka's DeleteRecords answers once it reaches the offset asked for.
// Replicas out of the ISR catch up from the leader's log start.
func (p *Partition) LowWatermark() (int64, error) {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	if !p.leading.Load() {
		return 0, ErrNotLeader
	}
	low := p.log.LogStartOffset()
	for _, id := range p.isr {
		if f := p.followers[id]; f != nil && (p.eligible == nil || p.eligible(id)) {
			low = min(low, f.logStart)
		}
	}
	return low, nil
}
