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
// AlterPartitionManager sends them: at most one proposal in flight per
// broker, carrying every change queued while the previous one was in
// flight (cluster.AlterPartitions, one metadata command). A broker that
// comes back after a restart and catches up on thousands of partitions
// therefore rejoins their ISRs in a few metadata commands, not one per
// partition.

// maxAlterBatch bounds the changes of one proposal.
const maxAlterBatch = 5000

// alterQueue holds the ISR changes waiting for the next proposal.
type alterQueue struct {
	mu      sync.Mutex
	pending []alterItem
	sending bool // a sender goroutine runs; it takes pending when done
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
	start := !q.sending
	q.sending = true
	q.mu.Unlock()
	if start {
		m.bg.Add(1)
		go m.sendAlters()
	}
}

// sendAlters proposes the queued changes, a batch at a time, until none
// is left.
func (m *Manager) sendAlters() {
	defer m.bg.Done()
	q := &m.alters
	for {
		q.mu.Lock()
		batch := q.pending[:min(len(q.pending), maxAlterBatch)]
		q.pending = q.pending[len(batch):]
		if len(batch) == 0 {
			q.pending = nil
			q.sending = false
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
