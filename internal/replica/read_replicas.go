package replica

import (
	"slices"
	"time"
)

// A ReadReplica is a follower a consumer could fetch from instead of the
// leader (KIP-392), as the leader last heard from it.
type ReadReplica struct {
	ID int32
	// LEO is the follower's log end offset at its last fetch.
	LEO int64
	// SinceCaughtUp is how long ago it was last caught up.
	SinceCaughtUp time.Duration
}

// ReadReplicas appends to dst the followers a consumer at fetchOffset
// could read from: those in the ISR whose log holds fetchOffset (their log
// start at or below it, their log end at or above it). A follower out of
// the ISR may lag further and further, and a consumer sent to it would
// never catch up, so it is left out, as Kafka leaves it. None when this
// replica does not lead.
func (p *Partition) ReadReplicas(fetchOffset int64, now time.Time, dst []ReadReplica) []ReadReplica {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	if !p.leading.Load() {
		return dst
	}
	for id, f := range p.followers {
		if !slices.Contains(p.isr, id) || f.leo < fetchOffset || f.logStart > fetchOffset {
			continue
		}
		dst = append(dst, ReadReplica{ID: id, LEO: f.leo, SinceCaughtUp: now.Sub(f.lastCaughtUp)})
	}
	return dst
}

// FollowerLacksHW reports whether follower replica has not been told hw,
// this leader's high watermark, in an answer to its fetches (ToldHW).
// Where consumers read from followers, the leader answers such a fetch at
// once instead of waiting for new records, so that the follower's
// consumers see what is committed without waiting out
// replica.fetch.wait.max.ms.
func (p *Partition) FollowerLacksHW(replica int32, hw int64) bool {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	f := p.followers[replica]
	return f != nil && p.leading.Load() && f.toldHW < hw
}

// ToldHW records that follower replica was answered with high watermark
// hw.
func (p *Partition) ToldHW(replica int32, hw int64) {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	if f := p.followers[replica]; f != nil {
		f.toldHW = max(f.toldHW, hw)
	}
}
