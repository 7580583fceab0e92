package replica

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
)

// ISR changes go to the controller in batches, as Kafka's
// AlterPartitionManager sends them: a proposal carries every change queued
// while the previous ones were in flight (cluster.AlterPartitions, one
// metadata command). A broker that comes back after a restart and catches
// up on thousands of partitions therefore rejoins their ISRs in a few
// metadata commands, not one per partition.
//
// Two things keep those few commands from running one after the other
// while the leader is still taking in the follower's first fetches (which
// name every partition, and queue their changes over tens or hundreds of
// milliseconds on a loaded machine), each waiting out a Raft commit, i.e.
// fsyncs on a majority of voters (0.4-1.4 s apiece under load):
//   - a proposal waits alterLinger before it takes the queue, so that
//     changes queued together go together;
//   - up to maxAltersInFlight proposals are in flight at once, so changes
//     queued during a commit need not wait for it (Raft commits proposals
//     that arrive together with one write). A partition has at most one
//     change in flight whatever the batches, and the controller checks
//     each against the partition's current epochs, so the order of
//     proposals does not matter.

// maxAlterBatch bounds the changes of one proposal.
const maxAlterBatch = 5000

// maxAltersInFlight bounds the proposals of ISR changes a broker has in
// flight at once.
const maxAltersInFlight = 2

// alterLinger is how long a proposal waits for more changes before it
// takes fewer than maxAlterBatch of them.
const alterLinger = 20 * time.Millisecond

// alterQueue holds the ISR changes waiting for the next proposal.
type alterQueue struct {
	mu      sync.Mutex
	pending []alterItem
	senders int // sender goroutines running, at most maxAltersInFlight
}

type alterItem struct {
	p   *Partition
	cmd cluster.AlterPartition
	seq uint64
}

// alter queues an AlterPartition for p; a refusal or a failure ends the
// pending change, and the leader tries again after a while (or when the
// next image changes the partition).
func (m *Manager) alter(p *Partition, cmd cluster.AlterPartition, seq uint64) {
	m.bgMu.Lock()
	defer m.bgMu.Unlock()
	if m.bgCtx.Err() != nil {
		return // stopping: no new background work (bg.Wait may be running)
	}
	m.logger.Debug("queueing ISR change", "topic", p.Topic, "partition", p.Index, "isr", cmd.ISR,
		"leader_epoch", cmd.LeaderEpoch, "partition_epoch", cmd.PartitionEpoch)
	q := &m.alters
	q.mu.Lock()
	q.pending = append(q.pending, alterItem{p: p, cmd: cmd, seq: seq})
	start := q.senders < maxAltersInFlight
	if start {
		q.senders++
	}
	q.mu.Unlock()
	if start {
		m.bg.Add(1)
		go m.sendAlters()
	}
}

// sendAlters proposes the queued changes, a batch at a time, until none
// is left; up to maxAltersInFlight of them run.
func (m *Manager) sendAlters() {
	defer m.bg.Done()
	q := &m.alters
	for {
		q.mu.Lock()
		full := len(q.pending) >= maxAlterBatch
		q.mu.Unlock()
		if !full {
			t := time.NewTimer(alterLinger)
			select {
			case <-t.C:
			case <-m.bgCtx.Done(): // stopping: send what is queued at once
				t.Stop()
			}
		}
		q.mu.Lock()
		batch := q.pending[:min(len(q.pending), maxAlterBatch)]
		q.pending = q.pending[len(batch):]
		if len(batch) == 0 {
			q.pending = nil
			q.senders--
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		m.proposeAlters(batch)
	}
}

// proposeAlters sends one batch and ends each refused change.
func (m *Manager) proposeAlters(batch []alterItem) {
	ctx, cancel := context.WithTimeout(m.bgCtx, 30*time.Second)
	defer cancel()
	cmd := cluster.AlterPartitions{Items: make([]cluster.AlterPartition, len(batch))}
	for i, it := range batch {
		cmd.Items[i] = it.cmd
	}
	m.logger.Info("proposing ISR changes", "partitions", len(batch))
	errs := cluster.ItemErrorsOf(m.cfg.Propose(ctx, cmd), len(batch))
	retry := m.cfg.Now().Add(time.Second)
	for i, err := range errs {
		if err == nil {
			continue // the image brings the new ISR to Reconcile
		}
		it := batch[i]
		level := slog.LevelWarn
		if errors.Is(err, cluster.ErrFencedLeaderEpoch) || errors.Is(err, cluster.ErrInvalidUpdateVersion) || errors.Is(err, cluster.ErrIneligibleReplica) {
			level = slog.LevelInfo // stale: the next image says what is true
		}
		m.logger.Log(ctx, level, "ISR change not applied", "topic", it.p.Topic, "partition", it.p.Index, "isr", it.cmd.ISR, "err", err)
		it.p.alterFailed(it.seq, retry)
	}
}
