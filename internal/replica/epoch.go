package replica

import (
	"fmt"

	"github.com/sluice-io/sluice/internal/log"
)

// A follower truncates before it fetches from a new leader, so that its log
// is a prefix of the leader's: it asks the leader (OffsetForLeaderEpoch)
// where the follower's latest epoch ends in the leader's log and cuts its
// own there (KIP-101). When the leader answers with an older epoch the
// follower does not have, it cuts to where its own largest epoch below that
// ends and asks again (KIP-279).

// epochLog is what truncation reads of the follower's log.
type epochLog interface {
	EndOffsetForEpoch(epoch int32) (int32, int64)
	LogEndOffset() int64
}

// truncationPoint decides where a follower truncates, given the leader's
// answer (leaderEpoch, leaderEnd) to OffsetForLeaderEpoch for the
// follower's latest epoch, and the follower's high watermark hw. done is
// false when the follower must ask again for its new latest epoch (Kafka's
// AbstractFetcherThread.getOffsetTruncationState).
func truncationPoint(l epochLog, hw, leaderEnd int64, leaderEpoch int32) (offset int64, done bool) {
	leo := l.LogEndOffset()
	switch {
	case leaderEnd < 0:
		// The leader knows no such epoch: fall back to the high watermark,
		// which was committed (KIP-101).
		return min(hw, leo), true
	case leaderEpoch < 0:
		// An old leader that answers offsets only.
		return min(leaderEnd, leo), true
	}
	epoch, end := l.EndOffsetForEpoch(leaderEpoch)
	switch {
	case epoch < 0 || end < 0:
		// The follower keeps no epochs (its log is empty): nothing of its
		// own to compare.
		return min(leaderEnd, leo), true
	case epoch != leaderEpoch:
		// The follower does not know the leader's epoch: cut to the end
		// of its own largest epoch below it, and ask again.
		return min(end, leo), false
	default:
		return min(end, leaderEnd, leo), true
	}
}

// followState is what a fetcher needs to know about a partition it
// follows. A partition whose log is offline follows nobody: it could append
// nothing it fetched.
func (p *Partition) followState() (leader, epoch int32, gen uint64, following bool) {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	following = !p.leading.Load() && p.leaderID >= 0 && p.leaderID != p.nodeID && p.log.Offline() == nil
	return p.leaderID, p.leaderEpoch.Load(), p.fetchGen, following
}

// errStaleFetch: the partition's role moved on since the fetcher's work
// began; the result is dropped.
var errStaleFetch = fmt.Errorf("replica: partition no longer follows that leader at that epoch")

// asFollower runs fn while the partition still follows at generation gen,
// holding off role changes and the other follower writes: the fetcher's
// appends and truncations run on its goroutine, but a damaged range is cut
// on another (corruption.go), and must not fall between what fn reads of
// the log and what it writes.
func (p *Partition) asFollower(gen uint64, fn func() error) error {
	p.roleMu.RLock()
	defer p.roleMu.RUnlock()
	p.followMu.Lock()
	defer p.followMu.Unlock()
	p.stateMu.Lock()
	ok := !p.leading.Load() && p.fetchGen == gen
	p.stateMu.Unlock()
	if !ok {
		return errStaleFetch
	}
	return fn()
}

// truncateAsFollower truncates the follower's log to offset and lowers its
// high watermark with it.
func (p *Partition) truncateAsFollower(gen uint64, offset int64) error {
	return p.asFollower(gen, func() error {
		// At or past the log end this cuts no record but still drops an
		// epoch entry left at the end without records.
		if err := p.log.Truncate(offset); err != nil {
			return err
		}
		p.setHW(min(p.hw.Load(), p.log.LogEndOffset()))
		return nil
	})
}

// restartAsFollower empties the follower's log and starts it at offset,
// the leader's log start offset (the follower fell behind it).
func (p *Partition) restartAsFollower(gen uint64, offset int64) error {
	return p.asFollower(gen, func() error {
		if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
			return err
		}
		p.setHW(offset)
		return nil
	})
}

// appendFetched appends batches fetched from the leader at offset from,
// then takes the leader's high watermark (up to the follower's log end
// offset, and never below the one it has) and log start offset. When the log no longer ends at from (a
// damaged range was cut meanwhile, corruption.go) the answer is dropped
// and the next fetch asks from the new end, as Kafka's follower refuses a
// fetch whose offset is not its log end offset: appended, its batches would
// leave a gap in the log (the log accepts one, as compaction on the leader
// leaves gaps), and the follower, its log end past the cut records, would
// never fetch them again. asFollower keeps a cut out from between the check
// and the append.
func (p *Partition) appendFetched(gen uint64, from int64, batches []byte, leaderHW, leaderLogStart int64) error {
	return p.asFollower(gen, func() error {
		if p.log.LogEndOffset() != from {
			return nil
		}
		if len(batches) > 0 {
			if err := p.ensureMetadata(); err != nil {
				return err
			}
			if err := p.log.AppendAsFollower(batches); err != nil {
				return err
			}
		}
		leo := p.log.LogEndOffset()
		if leaderHW >= 0 {
			// Only up: a leader restarted in the same epoch (no other
			// replica could take over) starts from its checkpointed high
			// watermark, which lags; what this follower already knew
			// committed stays committed. Only a truncation lowers it.
			p.setHW(max(p.hw.Load(), min(leaderHW, leo)))
		}
		if leaderLogStart > p.log.LogStartOffset() {
			if err := p.log.DeleteRecordsBefore(min(leaderLogStart, leo)); err != nil {
				return err
			}
		}
		return nil
	})
}

var _ epochLog = (*log.Log)(nil)
