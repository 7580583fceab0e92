package replica

import "github.com/sluice-io/sluice/internal/log"

// AppendMirrored appends batches copied from another cluster at their own
// offsets (log.AppendMirrored), as this partition's leader: they carry the
// current leader epoch, followers copy them as any other batch, and the
// high watermark advances as the ISR allows. minISR works as for
// AppendAsLeader. With nothing new to append (a retried copy), the
// Appended offsets are -1.
func (p *Partition) AppendMirrored(batches []byte, minISR int) (Appended, error) {
	return p.appendAsLeader(minISR, func(epoch int32) (log.AppendInfo, error) {
		return p.log.AppendMirrored(batches, epoch)
	})
}

// MirrorLogStart moves the log start offset of a mirror topic's partition
// up to its source's, as this partition's leader, and returns the log
// start offset. Below the log end offset it moves as far as the high
// watermark (DeleteRecords' limit). At or past the log end and the high
// watermark (the source's records before it expired before they were
// copied), the log starts over there, empty, as a Kafka follower does when
// it falls behind its leader's log start: its end, log start and high
// watermark become offset, and the next copy lands there. Followers
// follow the leader's log start as for any partition; one whose log ends
// below it is answered OFFSET_OUT_OF_RANGE and starts over at it too
// (fetcher.go).
func (p *Partition) MirrorLogStart(offset int64) (int64, error) {
	if offset > p.HighWatermark() && offset >= p.log.LogEndOffset() {
		return p.mirrorRestartAt(offset)
	}
	return p.moveLogStart(min(offset, p.HighWatermark()))
}

// mirrorRestartAt empties the leader's log and starts it at offset. The
// role lock, held exclusively, keeps appends and role changes out.
func (p *Partition) mirrorRestartAt(offset int64) (int64, error) {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	if !p.leading.Load() {
		return 0, ErrNotLeader
	}
	if offset <= p.HighWatermark() || offset < p.log.LogEndOffset() {
		return p.moveLogStart(min(offset, p.HighWatermark())) // appended to meanwhile
	}
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return p.log.LogStartOffset(), err
	}
	p.advance(offset)
	p.wake()
	return p.log.LogStartOffset(), nil
}
