package replica

// Corruption on one replica (issue 15): a batch whose CRC32C does not
// match is never served (package log checks every batch it reads and at
// recovery). When another replica of the partition is in sync, the
// damaged replica repairs itself from it without an operator:
//
//   - At Open, a corrupt batch below the recovery point cuts the log there
//     (log.Options.RepairCorruption) instead of keeping the partition
//     offline.
//   - At a read, the log is cut at the damaged batch once the partition
//     no longer leads (a follower cuts at once, under its fetcher's
//     generation).
//
// Either way the replica then fetches the lost range again from the
// leader. Having lost records the high watermark may count, it leaves the
// ISR at once (leaveISR), before an election could make it leader without
// them, and it refuses leadership while it is still in the ISR. The
// leader does its part too: a follower in the ISR that fetches below the
// high watermark is taken out of it (isr.go). A replica that led the partition gives up leadership first: it
// stops serving at once (clients and followers get NOT_LEADER_OR_FOLLOWER
// and retry), moves itself to the end of the partition's replica list
// (a reassignment to the same replicas, completed at once) and asks for a
// preferred-leader election, which hands the partition to the in-sync
// replica now first. Its preferred-leader place is given up with it (an
// operator can reorder the replicas again). Until the image names another
// leader it does not take leadership back, even if the image still says it
// leads. With no other in-sync replica (a single broker, or the others
// gone) nothing is cut: the partition answers KAFKA_STORAGE_ERROR for the
// damaged range, as an offline log does.

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
)

// corruptionState is the Manager's record of partitions that lost a
// damaged range. Its zero value is ready; mu is a leaf lock.
type corruptionState struct {
	mu sync.Mutex
	// verify are the logs whose CRCs Open left unchecked, checked one at
	// a time by one goroutine (verifying is set while it runs), so that a
	// start with many partitions is not slowed by checking them all at
	// once.
	verify    []verifyItem
	verifying bool
	// resigning: this broker must not lead the partition until the image
	// names another leader.
	resigning map[TopicPartition]bool
	// proposing: a resignation is being proposed.
	proposing map[TopicPartition]bool
	// cutting: a cut after a read found damage is pending or running.
	cutting map[TopicPartition]bool
	// lost: this replica cut records the ISR may count; it must leave
	// the ISR, and lead nothing, until the image shows it out.
	lost map[TopicPartition]bool
}

// othersInSync reports whether a replica other than this broker is in the
// partition's ISR and may serve: only then is a damaged range cut and
// fetched again rather than kept offline.
func (m *Manager) othersInSync(isr []int32) bool {
	for _, id := range isr {
		if id != m.cfg.NodeID && (m.isrEligible.Load() == nil || m.eligibleForISR(id)) {
			return true
		}
	}
	return false
}

// noteRepaired is told, after Open, whether recovery cut the log at a
// corrupt batch: if so, the partition must not lead until the image names
// another leader.
func (m *Manager) noteRepaired(tp TopicPartition, l *log.Log) {
	m.queueVerify(tp, l)
	at, ok := l.CorruptionRepaired()
	if !ok {
		return
	}
	m.logger.Error("partition cut at a corrupt batch at open; fetching the rest from another replica",
		"topic", tp.Topic, "partition", tp.Partition, "offset", at)
	m.setResigning(tp, true)
	m.markLost(tp)
}

func (m *Manager) setResigning(tp TopicPartition, on bool) {
	c := &m.corruption
	c.mu.Lock()
	defer c.mu.Unlock()
	if !on {
		delete(c.resigning, tp)
		return
	}
	if c.resigning == nil {
		c.resigning = make(map[TopicPartition]bool)
	}
	c.resigning[tp] = true
}

// roleFor is the role the image gives the partition, except that a
// partition resigning after corruption does not lead: it follows nobody
// (so serves nobody) while its resignation is proposed. Once the image
// names another leader the resignation is over.
func (m *Manager) roleFor(p *Partition, tp TopicPartition, part *cluster.Partition) role {
	r := roleOf(part)
	c := &m.corruption
	c.mu.Lock()
	if c.lost[tp] && !slices.Contains(part.ISR, m.cfg.NodeID) {
		delete(c.lost, tp) // out of the ISR: it may be elected only once back in
	}
	if c.lost[tp] && r.leader == m.cfg.NodeID {
		// Elected while still in the ISR without records it may count.
		if c.resigning == nil {
			c.resigning = make(map[TopicPartition]bool)
		}
		c.resigning[tp] = true
	}
	resigning := c.resigning[tp]
	if resigning && r.leader != m.cfg.NodeID && r.leader >= 0 {
		delete(c.resigning, tp)
		resigning = false
	}
	c.mu.Unlock()
	if resigning && r.leader == m.cfg.NodeID {
		r.leader = -1
		m.proposeResignation(p, tp, part)
	}
	return r
}

// proposeResignation moves this broker to the end of the partition's
// replica list and asks for a preferred-leader election, in the
// background. One proposal runs at a time per partition.
func (m *Manager) proposeResignation(p *Partition, tp TopicPartition, part *cluster.Partition) {
	if m.cfg.Propose == nil {
		return
	}
	c := &m.corruption
	c.mu.Lock()
	if c.proposing[tp] {
		c.mu.Unlock()
		return
	}
	if c.proposing == nil {
		c.proposing = make(map[TopicPartition]bool)
	}
	c.proposing[tp] = true
	c.mu.Unlock()
	target := slices.DeleteFunc(slices.Clone(part.Replicas), func(id int32) bool { return id == m.cfg.NodeID })
	// The preferred-leader election elects the first replica only if it
	// is alive and in sync: put first one that is (the first may be the
	// broker whose death made this one leader).
	if i := slices.IndexFunc(target, func(id int32) bool { return slices.Contains(part.ISR, id) && m.eligibleForISR(id) }); i > 0 {
		target = append([]int32{target[i]}, slices.Delete(target, i, i+1)...)
	}
	target = append(target, m.cfg.NodeID)
	m.background(func(ctx context.Context) {
		defer func() {
			c.mu.Lock()
			delete(c.proposing, tp)
			c.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		m.logger.Warn("giving up leadership of a partition with a damaged range", "topic", tp.Topic, "partition", tp.Partition, "replicas", target)
		if err := m.cfg.Propose(ctx, cluster.Reassign{Topic: p.TopicID, Partition: tp.Partition, Target: target}); err != nil {
			m.logger.Error("reordering replicas to give up leadership", "topic", tp.Topic, "partition", tp.Partition, "err", err)
			return
		}
		err := m.cfg.Propose(ctx, cluster.ElectLeaders{Partitions: []cluster.TopicPartitionID{{Topic: p.TopicID, Partition: tp.Partition}}})
		if err != nil && !errors.Is(err, cluster.ErrElectionNotNeeded) {
			m.logger.Error("electing another leader after corruption", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		}
	})
}

// corruptionFound is told by a log that a read met a damaged batch at
// offset (log.Options.OnCorruption, under the log's locks: it only starts
// the work). With another replica in sync the partition stops leading, cuts
// its log there and fetches the rest again.
func (m *Manager) corruptionFound(tp TopicPartition, offset int64) {
	c := &m.corruption
	c.mu.Lock()
	if c.cutting[tp] {
		c.mu.Unlock()
		return
	}
	if c.cutting == nil {
		c.cutting = make(map[TopicPartition]bool)
	}
	c.cutting[tp] = true
	c.mu.Unlock()
	m.background(func(context.Context) {
		defer func() {
			c.mu.Lock()
			delete(c.cutting, tp)
			c.mu.Unlock()
		}()
		m.cutDamaged(tp, offset)
	})
}

func (m *Manager) cutDamaged(tp TopicPartition, offset int64) {
	p, ok := m.Partition(tp.Topic, tp.Partition)
	if !ok || !m.othersInSync(p.ISR()) {
		return // alone with the data: the range stays unreadable (KAFKA_STORAGE_ERROR)
	}
	if p.IsLeader() {
		m.setResigning(tp, true)
		m.reconcileMu.Lock()
		if img := m.reconciled; img != nil {
			if t := img.Topics.Value(tp.Topic); t != nil && int(tp.Partition) < len(t.Partitions) {
				part := &t.Partitions[tp.Partition]
				r := roleOf(part)
				r.leader, r.leaderEpoch = -1, max(r.leaderEpoch, p.LeaderEpoch())
				p.becomeFollower(r) // serves nobody from here on
				if m.cfg.OnResign != nil {
					m.cfg.OnResign(p)
				}
				m.proposeResignation(p, tp, part)
			}
		}
		m.reconcileMu.Unlock()
		if p.IsLeader() {
			return // not in the image: nothing to hand over
		}
	}
	_, _, gen, _ := p.followState()
	if err := p.truncateAsFollower(gen, offset); err != nil {
		m.logger.Error("cutting a damaged range", "topic", tp.Topic, "partition", tp.Partition, "offset", offset, "err", err)
		return
	}
	m.logger.Warn("cut the log at a damaged batch; fetching the rest from the leader", "topic", tp.Topic, "partition", tp.Partition, "offset", offset)
	m.markLost(tp)
}

// markLost notes that this replica of tp cut records the ISR may count
// and has it leave the ISR.
func (m *Manager) markLost(tp TopicPartition) {
	c := &m.corruption
	c.mu.Lock()
	if c.lost == nil {
		c.lost = make(map[TopicPartition]bool)
	}
	was := c.lost[tp]
	c.lost[tp] = true
	c.mu.Unlock()
	if !was {
		m.background(func(ctx context.Context) { m.leaveISR(ctx, tp) })
	}
}

// leaveRetry is how long leaveISR waits before it tries again.
const leaveRetry = 200 * time.Millisecond

// leaveISR takes this broker out of tp's ISR after it lost records there.
// A follower cannot send AlterPartition in Kafka; here it proposes the
// leader's own change, the image's ISR without itself, at the image's
// leader and partition epochs, which the controller checks as for the
// leader's (a change of the leader's in between makes it try again on the
// newer image). It gives up when the image shows it out of the ISR, after
// 30 s, or when the partition is gone. While the image names this broker
// leader it waits: roleFor refuses that leadership and hands it over.
func (m *Manager) leaveISR(ctx context.Context, tp TopicPartition) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		c := &m.corruption
		c.mu.Lock()
		lost := c.lost[tp]
		c.mu.Unlock()
		if !lost || m.cfg.Propose == nil {
			return
		}
		m.reconcileMu.Lock()
		img := m.reconciled
		m.reconcileMu.Unlock()
		var t *cluster.Topic
		if img != nil {
			t = img.Topics.Value(tp.Topic)
		}
		if img != nil && (t == nil || int(tp.Partition) >= len(t.Partitions)) {
			return // deleted
		}
		if t != nil {
			part := t.Partitions[tp.Partition]
			if !slices.Contains(part.ISR, m.cfg.NodeID) {
				c.mu.Lock()
				delete(c.lost, tp)
				c.mu.Unlock()
				m.logger.Info("out of the ISR until caught up again after losing a damaged range", "topic", tp.Topic, "partition", tp.Partition)
				return
			}
			if part.Leader >= 0 && part.Leader != m.cfg.NodeID {
				isr := slices.DeleteFunc(slices.Clone(part.ISR), func(id int32) bool { return id == m.cfg.NodeID })
				err := m.cfg.Propose(ctx, cluster.AlterPartition{Topic: t.ID, Partition: tp.Partition, Leader: part.Leader,
					LeaderEpoch: part.LeaderEpoch, PartitionEpoch: part.PartitionEpoch, ISR: isr})
				if err == nil {
					m.logger.Warn("left the ISR after losing a damaged range; back once caught up", "topic", tp.Topic, "partition", tp.Partition, "isr", isr)
					c.mu.Lock()
					delete(c.lost, tp)
					c.mu.Unlock()
					return
				}
				m.logger.Debug("leaving the ISR after losing a damaged range", "topic", tp.Topic, "partition", tp.Partition, "err", err)
			}
		}
		retry := time.NewTimer(leaveRetry)
		select {
		case <-retry.C:
		case <-ctx.Done():
			retry.Stop()
			if m.bgCtx.Err() == nil {
				m.logger.Error("could not leave the ISR after losing a damaged range", "topic", tp.Topic, "partition", tp.Partition)
			}
			return
		}
	}
}

// background runs fn on a goroutine the Manager owns (stopped and waited
// for by Close), unless the Manager is stopping.
func (m *Manager) background(fn func(ctx context.Context)) {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.bgCtx.Err() != nil {
		return
	}
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		fn(m.bgCtx)
	}()
}

type verifyItem struct {
	tp TopicPartition
	l  *log.Log
}

// queueVerify has the CRCs Open left for later (below the recovery point
// of the active segment) checked in the background, one log after another,
// once the partitions being opened with it are open (startVerify); damage
// found there takes the same path as damage found by any read.
func (m *Manager) queueVerify(tp TopicPartition, l *log.Log) {
	c := &m.corruption
	c.mu.Lock()
	c.verify = append(c.verify, verifyItem{tp, l})
	c.mu.Unlock()
}

// verifyRest is how long the background check rests after each read, in
// multiples of the time the read took: it uses at most a quarter of the
// disk's time (and of a core), and never delays the partitions opening
// before it.
const verifyRest = 3

// startVerify starts checking the queued logs unless a check runs. Opening
// calls it when the partitions it opened are all open: at start-up they
// would otherwise wait for disk reads of the check (gigabytes below the
// recovery points) before their first request is served.
func (m *Manager) startVerify() {
	c := &m.corruption
	c.mu.Lock()
	start := !c.verifying && len(c.verify) > 0
	c.verifying = c.verifying || start
	c.mu.Unlock()
	if !start {
		return
	}
	m.background(func(ctx context.Context) {
		for {
			c.mu.Lock()
			if len(c.verify) == 0 || ctx.Err() != nil {
				c.verify, c.verifying = nil, false
				c.mu.Unlock()
				return
			}
			it := c.verify[0]
			c.verify = c.verify[1:]
			c.mu.Unlock()
			if err := it.l.VerifyUnchecked(ctx, verifyRest); err != nil && !errors.Is(err, log.ErrCorruption) && ctx.Err() == nil &&
				!errors.Is(err, log.ErrClosed) && !errors.Is(err, log.ErrOffline) {
				m.logger.Warn("checking the batches recovery read header-only", "topic", it.tp.Topic, "partition", it.tp.Partition, "err", err)
			}
		}
	})
}
