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
// up to its source's, as far as the high watermark (DeleteRecords'
// limit), and returns the log start offset. Followers follow the leader's
// log start as for any partition.
func (p *Partition) MirrorLogStart(offset int64) (int64, error) {
	return p.moveLogStart(min(offset, p.HighWatermark()))
}
