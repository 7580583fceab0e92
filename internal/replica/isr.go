package replica

import (
	"slices"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
)

// The leader's bookkeeping of its followers, Kafka's way: every follower
// fetch reports the follower's log end offset (its fetch offset); the high
// watermark is the smallest log end offset over the ISR; a follower that
// reaches the high watermark (and the start of the current leader epoch)
// is proposed into the ISR, and one that has not caught up for
// replica.lag.time.max.ms is proposed out of it. ISR changes go to the
// controller as AlterPartition (KIP-497) and take effect when the image
// carries them; while one is in flight no other is sent, and the high
// watermark counts the maximal ISR.

// role is what the image says this broker is for a partition.
type role struct {
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	replicas       []int32
	isr            []int32
}

func roleOf(part *cluster.Partition) role {
	return role{leader: part.Leader, leaderEpoch: part.LeaderEpoch, partitionEpoch: part.PartitionEpoch,
		replicas: part.Replicas, isr: part.ISR}
}

// roleChange says what applyRole did.
type roleChange int

const (
	roleSame        roleChange = iota
	roleLeader                 // became leader
	roleResigned               // stopped leading
	roleNewLeader              // follows a new leader or epoch (truncate, fetch)
	roleLeaderEpoch            // leads again at a newer epoch
)

// applyRole moves the partition to the role the image gives it. An image
// older than what the partition knows (a smaller leader epoch) is ignored.
func (p *Partition) applyRole(r role, now time.Time) (roleChange, error) {
	if r.leaderEpoch < p.leaderEpoch.Load() {
		return roleSame, nil
	}
	wasLeader := p.leading.Load()
	if r.leader == p.nodeID {
		if wasLeader && r.leaderEpoch == p.leaderEpoch.Load() {
			p.updateISR(r, now)
			return roleSame, nil
		}
		if err := p.becomeLeader(r, now); err != nil {
			return roleSame, err
		}
		if p.stats != nil {
			p.stats.LeaderElections.Add(1)
		}
		if wasLeader {
			return roleLeaderEpoch, nil
		}
		return roleLeader, nil
	}
	p.stateMu.Lock()
	same := !wasLeader && p.leaderID == r.leader && p.leaderEpoch.Load() == r.leaderEpoch
	p.stateMu.Unlock()
	if same {
		p.stateMu.Lock()
		p.isr, p.replicas, p.partitionEpoch = slices.Clone(r.isr), slices.Clone(r.replicas), r.partitionEpoch
		p.stateMu.Unlock()
		return roleSame, nil
	}
	p.becomeFollower(r)
	if wasLeader {
		return roleResigned, nil
	}
	return roleNewLeader, nil
}

// becomeLeader makes this broker the leader at r.leaderEpoch: the epoch
// starts at the log end offset (recorded in the leader-epoch cache so
// OffsetForLeaderEpoch answers at once), the ISR is the image's, and
// follower progress starts unknown. The high watermark never goes back.
func (p *Partition) becomeLeader(r role, now time.Time) error {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	leo := p.log.LogEndOffset()
	if err := p.log.AssignEpoch(r.leaderEpoch, leo); err != nil {
		return err
	}
	p.stateMu.Lock()
	wasLeader := p.leading.Load()
	p.leaderID = p.nodeID
	p.leaderEpoch.Store(r.leaderEpoch)
	p.isr, p.replicas, p.partitionEpoch = slices.Clone(r.isr), slices.Clone(r.replicas), r.partitionEpoch
	p.epochStart = leo
	p.syncAsked.Store(0)
	p.pending = nil
	p.alterAfter = time.Time{}
	old := p.followers
	p.followers = make(map[int32]*follower)
	for _, id := range union(r.replicas, r.isr) {
		if id == p.nodeID {
			continue
		}
		if f, ok := old[id]; ok && wasLeader {
			p.followers[id] = f // still leading: keep what we know
			continue
		}
		f := &follower{leo: -1, logStart: -1, lastFetchLeaderLEO: -1}
		if slices.Contains(r.isr, id) {
			f.lastCaughtUp = now
		}
		p.followers[id] = f
	}
	p.leading.Store(true)
	p.maybeAdvanceHWLocked(now)
	p.stateMu.Unlock()
	p.wake()
	return nil
}

// becomeFollower stops leading (if it did) and follows r.leader.
func (p *Partition) becomeFollower(r role) {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	p.stateMu.Lock()
	p.leading.Store(false)
	p.leaderID = r.leader
	p.leaderEpoch.Store(r.leaderEpoch)
	p.isr, p.replicas, p.partitionEpoch = slices.Clone(r.isr), slices.Clone(r.replicas), r.partitionEpoch
	p.followers = nil
	p.pending = nil
	p.fetchGen++
	p.stateMu.Unlock()
	p.wake()
}

// updateISR takes a newer committed ISR from the image while leading at
// the same epoch. It ends any AlterPartition in flight: the image now says
// what happened to it. A change the controller refused may be proposed
// again at once: the refusal was for the older partition epoch (as Kafka's
// leader retries on the next metadata update).
func (p *Partition) updateISR(r role, now time.Time) {
	p.stateMu.Lock()
	if r.partitionEpoch <= p.partitionEpoch {
		p.stateMu.Unlock()
		return
	}
	{
		p.stats.countISRChange(p.isr, r.isr)
		p.isr, p.replicas, p.partitionEpoch = slices.Clone(r.isr), slices.Clone(r.replicas), r.partitionEpoch
		p.pending = nil
		p.alterAfter = time.Time{}
		for _, id := range union(r.replicas, r.isr) {
			if _, ok := p.followers[id]; !ok && id != p.nodeID {
				p.followers[id] = &follower{leo: -1, logStart: -1, lastFetchLeaderLEO: -1}
			}
		}
		for id := range p.followers {
			if !slices.Contains(r.replicas, id) && !slices.Contains(r.isr, id) {
				delete(p.followers, id)
			}
		}
		p.maybeAdvanceHWLocked(now)
	}
	p.stateMu.Unlock()
	p.wake()
}

// FollowerFetched records a fetch by follower replica at fetchOffset (its
// log end offset) with its log start offset, at now. It updates the
// follower's caught-up time as Kafka does (caught up when it fetches at the
// leader's log end offset, or at the end the leader had at its previous
// fetch), may propose adding it to the ISR, and advances the high
// watermark. A fetch offset outside the leader's log changes nothing: the
// read answers OFFSET_OUT_OF_RANGE.
func (p *Partition) FollowerFetched(replica int32, brokerEpoch, fetchOffset, logStart int64, now time.Time) error {
	p.stateMu.Lock()
	if !p.leading.Load() {
		p.stateMu.Unlock()
		return ErrNotLeader
	}
	f := p.followers[replica]
	if f == nil {
		p.stateMu.Unlock()
		return ErrUnknownReplica
	}
	if brokerEpoch > 0 && brokerEpoch != f.brokerEpoch {
		// Another start of the follower: it knows the high watermark it
		// checkpointed, not what this leader told its previous start.
		f.brokerEpoch, f.toldHW = brokerEpoch, -1
	}
	leo := p.log.LogEndOffset()
	if fetchOffset > leo || fetchOffset < p.log.LogStartOffset() {
		p.stateMu.Unlock()
		return nil
	}
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUp = later(f.lastCaughtUp, now)
	case fetchOffset >= f.lastFetchLeaderLEO && f.lastFetchLeaderLEO >= 0:
		f.lastCaughtUp = later(f.lastCaughtUp, f.lastFetch)
	}
	f.leo, f.logStart = fetchOffset, logStart
	f.lastFetchLeaderLEO, f.lastFetch = leo, now
	if fetchOffset < p.hw.Load() && slices.Contains(p.isr, replica) {
		p.dropLostLocked(replica, f)
	}
	p.maybeExpandISRLocked(replica, f)
	p.maybeAdvanceHWLocked(now)
	p.stateMu.Unlock()
	return nil
}

// dropLostLocked takes out of the ISR at once a follower that fetches
// below the high watermark: its log lacks records the high watermark
// counted (it cut a damaged range, or lost what it had not synced), and
// elected leader it would lose them. A follower in the ISR never fetches
// there otherwise: it truncates only above the high watermark (KIP-101).
// With another change in flight, ShrinkISR takes it out next, as it no
// longer counts as caught up. The caller holds stateMu.
func (p *Partition) dropLostLocked(id int32, f *follower) {
	f.lastCaughtUp = time.Time{}
	if p.pending != nil {
		return
	}
	isr := slices.DeleteFunc(slices.Clone(p.isr), func(r int32) bool { return r == id })
	p.proposeLocked(isr, slices.Clone(p.isr))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// maximalISRLocked is the ISR the high watermark counts: the committed one
// joined with a change in flight.
func (p *Partition) maximalISRLocked() []int32 {
	if p.pending != nil {
		return p.pending.maximal
	}
	return p.isr
}

// maybeAdvanceHWLocked moves the high watermark to the smallest log end
// offset among the leader and the followers of the maximal ISR, and of
// followers outside it that are caught up (as Kafka does, so one about to
// join does not find the high watermark past it). A follower whose log end
// offset is not yet known holds it. It never moves back, and it stays
// while the committed ISR is smaller than min.insync.replicas: records
// written with acks=0 or 1 then are not committed, and consumers do not
// see them (Kafka's maybeIncrementLeaderHW, KAFKA-15583).
//
// With other replicas, the leader's own fsynced end holds it too, and a
// sync is asked for when it does: so every record below the high
// watermark is on the disk of every ISR member, the leader included, as
// follower_sync.go keeps for the followers. A leader whose machine lost
// power and comes back leading (a rejoin keeps its leaderships) then has
// every committed record, and its followers truncate nothing a consumer
// has read. Kafka counts the leader's log end offset whether fsynced or
// not. The caller holds stateMu and leads.
func (p *Partition) maybeAdvanceHWLocked(now time.Time) bool {
	if len(p.isr) < p.effectiveMinISRLocked(int(p.minISR.Load())) {
		return false
	}
	leo := p.log.LogEndOffset()
	hw := leo
	maximal := p.maximalISRLocked()
	lag := time.Duration(p.lagMaxMs.Load()) * time.Millisecond
	for id, f := range p.followers {
		eligible := p.eligible == nil || p.eligible(id)
		if !eligible {
			// Fenced or shutting down: when its broker comes back it may be
			// far behind, and it must not hold the high watermark with
			// the caught-up time of its previous life (as Kafka's
			// broker-epoch check on fetch state keeps a restarted
			// follower from counting, KIP-903) until it catches up anew.
			f.lastCaughtUp = time.Time{}
		}
		if f.leo >= hw {
			continue
		}
		// A caught-up follower outside the ISR holds the high watermark
		// only if it may join (Kafka's shouldWaitForReplicaToJoinIsr): one
		// fenced or shutting down has left for good.
		joining := f.leo >= 0 && f.caughtUp(leo, now, lag) && eligible
		if slices.Contains(maximal, id) || joining {
			hw = f.leo
		}
	}
	if len(p.replicas) > 1 {
		if durable := p.log.DurableOffset(); hw > durable {
			if hw > p.syncAsked.Load() {
				// Appended with acks=0 or 1, which wait for no sync.
				p.ExpectWaitDurable()
				p.StartSyncs()
			}
			hw = durable
		}
	}
	if hw <= p.hw.Load() {
		return false
	}
	p.advance(hw)
	return true
}

// setMinISR takes the topic's min.insync.replicas. A lower one may let
// the high watermark rise at once, with no fetch or produce to come.
func (p *Partition) setMinISR(v int32, now time.Time) {
	if p.minISR.Swap(v) > v {
		p.recheckHW(now)
	}
}

// durableMoved is the log's OnDurable: a sync may let a leader's high
// watermark rise.
func (p *Partition) durableMoved() { p.recheckHW(p.now()) }

// recheckHW moves a leader's high watermark if it may rise
// (maybeAdvanceHWLocked).
func (p *Partition) recheckHW(now time.Time) {
	if !p.leading.Load() {
		return
	}
	p.stateMu.Lock()
	if p.leading.Load() {
		p.maybeAdvanceHWLocked(now)
	}
	p.stateMu.Unlock()
}

// maybeExpandISRLocked proposes adding a follower that is not in the ISR
// once it has caught up: its log end offset is at or past the high
// watermark and the start of this leader epoch (Kafka's isFollowerInSync).
func (p *Partition) maybeExpandISRLocked(id int32, f *follower) {
	if p.pending != nil || slices.Contains(p.isr, id) || !slices.Contains(p.replicas, id) {
		return
	}
	// KIP-841: a fenced or shutting-down broker cannot join; the
	// controller would refuse it.
	if p.eligible != nil && !p.eligible(id) {
		return
	}
	if f.leo < p.hw.Load() || f.leo < p.epochStart {
		return
	}
	isr := append(slices.Clone(p.isr), id)
	p.proposeLocked(isr, isr)
}

// ShrinkISR proposes removing the followers of the ISR that have not
// caught up within replica.lag.time.max.ms; the leader loop calls it every
// half of that. It reports the followers it proposed to remove.
func (p *Partition) ShrinkISR(now time.Time) []int32 {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	if !p.leading.Load() || p.pending != nil {
		return nil
	}
	leo := p.log.LogEndOffset()
	lag := time.Duration(p.lagMaxMs.Load()) * time.Millisecond
	var out []int32
	isr := make([]int32, 0, len(p.isr))
	for _, id := range p.isr {
		if f := p.followers[id]; id != p.nodeID && (f == nil || !f.caughtUp(leo, now, lag)) {
			out = append(out, id)
			continue
		}
		isr = append(isr, id)
	}
	if len(out) == 0 {
		return nil
	}
	if !slices.Contains(isr, p.nodeID) {
		isr = append(isr, p.nodeID)
	}
	// Until the shrink commits, the leaving followers still count.
	if !p.proposeLocked(isr, slices.Clone(p.isr)) {
		return nil
	}
	return out
}

// proposeLocked starts an AlterPartition to isr, counting maximal for the
// high watermark meanwhile. The caller holds stateMu.
func (p *Partition) proposeLocked(isr, maximal []int32) bool {
	if p.alter == nil || p.now().Before(p.alterAfter) {
		return false
	}
	p.pendingSeq++
	p.pending = &isrChange{isr: isr, maximal: maximal, seq: p.pendingSeq}
	cmd := cluster.AlterPartition{
		Topic:          p.TopicID,
		Partition:      p.Index,
		Leader:         p.nodeID,
		LeaderEpoch:    p.leaderEpoch.Load(),
		PartitionEpoch: p.partitionEpoch,
		ISR:            slices.Clone(isr),
		BrokerEpochs:   p.isrEpochsLocked(isr),
	}
	p.alter(p, cmd, p.pendingSeq)
	return true
}

// isrEpochsLocked are the broker epochs of isr's members as this leader
// knows them (KIP-903): its own, and each follower's from its last fetch,
// zero where none came; nil when it knows none (a broker epoch this
// software predates), which asks the controller to check none. The caller
// holds stateMu.
func (p *Partition) isrEpochsLocked(isr []int32) []int64 {
	epochs := make([]int64, len(isr))
	known := false
	for i, id := range isr {
		switch f := p.followers[id]; {
		case id == p.nodeID && p.brokerEpoch != nil:
			epochs[i] = p.brokerEpoch()
		case f != nil:
			epochs[i] = f.brokerEpoch
		}
		known = known || epochs[i] != 0
	}
	if !known {
		return nil
	}
	return epochs
}

// alterFailed ends AlterPartition seq that the controller refused or that
// never reached it. The next one waits until after retry, or for an image
// that changes the partition.
func (p *Partition) alterFailed(seq uint64, retry time.Time) {
	p.stateMu.Lock()
	if p.pending != nil && p.pending.seq == seq {
		p.pending = nil
		p.alterAfter = retry
	}
	p.stateMu.Unlock()
}

// leadsOthers reports whether this broker leads the partition with other
// replicas, whose ISR membership it must check.
func (p *Partition) leadsOthers() bool {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	return p.leading.Load() && len(union(p.replicas, p.isr)) > 1
}

// PendingISR is the ISR of the AlterPartition in flight, nil when none is.
func (p *Partition) PendingISR() []int32 {
	p.stateMu.Lock()
	defer p.stateMu.Unlock()
	if p.pending == nil {
		return nil
	}
	return slices.Clone(p.pending.isr)
}

func union(a, b []int32) []int32 {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
