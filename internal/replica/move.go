package replica

// Moving a partition between log directories (AlterReplicaLogDirs,
// KIP-113). The move runs in the background, owned by the Manager: the
// partition's *log.Log relocates itself (log.Log.Relocate) while it keeps
// serving, so every holder of the Partition or its log is unaffected. The
// Manager stops moves when its Run context ends and in Close. The copy is
// paced by replica.alter.log.dirs.io.max.bytes.per.second, over all moves
// of the broker (throttle.go).

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/sluice-io/sluice/internal/log"
)

// Errors of MoveToDir. The broker maps them to Kafka codes.
var (
	// ErrLogDirNotFound: the directory is not one of log.dirs
	// (LOG_DIR_NOT_FOUND).
	ErrLogDirNotFound = errors.New("replica: not a log directory of this broker")
	// ErrNotHosted: this broker has no replica of the partition
	// (REPLICA_NOT_AVAILABLE).
	ErrNotHosted = errors.New("replica: partition not hosted on this broker")
	// ErrLogDirOffline: the directory failed (KAFKA_STORAGE_ERROR); it
	// wraps log.ErrOffline.
	ErrLogDirOffline = fmt.Errorf("replica: log directory offline: %w", log.ErrOffline)
)

// Dir is the log directory (one of log.dirs) the partition lives in. It
// changes when a move to another directory finishes.
func (p *Partition) Dir() string { return filepath.Dir(p.log.Dir()) }

// moveState is the Manager's moves in progress. Its zero value is ready.
type moveState struct {
	mu      sync.Mutex
	running map[TopicPartition]*move
	ctx     context.Context // parent of every move; made on first use
	cancel  context.CancelFunc
	stopped bool
	wg      sync.WaitGroup
}

// move is one partition's move in progress.
type move struct {
	target string // the log directory it moves to
	cancel context.CancelFunc
	done   chan struct{}
}

// MoveToDir starts moving a hosted partition to dir, one of log.dirs
// (compared as absolute paths), and returns at once: the move runs in the
// background while the partition serves, and the partition's Dir changes
// when it is done. Moving to the directory the partition is in cancels a
// move in progress; a move to another directory replaces it.
func (m *Manager) MoveToDir(ctx context.Context, tp TopicPartition, dir string) error {
	root, ok := m.findLogDir(dir)
	if !ok {
		return fmt.Errorf("%w: %s", ErrLogDirNotFound, dir)
	}
	if err := m.LogDirOffline(root); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrLogDirOffline, root, err)
	}
	p, ok := m.Partition(tp.Topic, tp.Partition)
	if !ok {
		return fmt.Errorf("%w: %s-%d", ErrNotHosted, tp.Topic, tp.Partition)
	}
	if err := m.LogDirOffline(p.Dir()); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrLogDirOffline, p.Dir(), err)
	}

	ms := &m.moves
	ms.mu.Lock()
	for {
		if ms.stopped {
			ms.mu.Unlock()
			return log.ErrClosed
		}
		cur := ms.running[tp]
		if cur == nil {
			break
		}
		if cur.target == root {
			ms.mu.Unlock()
			return nil
		}
		// Kafka drops the future replica and starts another.
		cur.cancel()
		ms.mu.Unlock()
		select {
		case <-cur.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		ms.mu.Lock()
	}
	if p.Dir() == root {
		ms.mu.Unlock()
		return nil
	}
	if ms.ctx == nil {
		ms.ctx, ms.cancel = context.WithCancel(context.Background())
		ms.running = map[TopicPartition]*move{}
	}
	mctx, cancel := context.WithCancel(ms.ctx)
	mv := &move{target: root, cancel: cancel, done: make(chan struct{})}
	ms.running[tp] = mv
	ms.wg.Add(1)
	ms.mu.Unlock()
	go m.runMove(mctx, tp, p, mv)
	return nil
}

func (m *Manager) runMove(ctx context.Context, tp TopicPartition, p *Partition, mv *move) {
	defer m.moves.wg.Done()
	defer func() {
		m.moves.mu.Lock()
		if m.moves.running[tp] == mv {
			delete(m.moves.running, tp)
		}
		m.moves.mu.Unlock()
		mv.cancel()
		close(mv.done)
	}()
	from := p.Dir()
	logger := m.logger.With("topic", tp.Topic, "partition", tp.Partition, "from", from, "to", mv.target)
	logger.Info("moving partition to another log directory")
	err := p.log.Relocate(ctx, filepath.Join(mv.target, filepath.Base(p.log.Dir())), paceMoves(m.throttles.alterLogDirs))
	switch {
	case err == nil:
		logger.Info("moved partition to another log directory")
		m.mu.Lock()
		if p.countedDir == from {
			m.dirCount[from]--
			m.dirCount[mv.target]++
			p.countedDir = mv.target
		}
		m.mu.Unlock()
		if cause := m.LogDirOffline(mv.target); cause != nil {
			// The target failed meanwhile, and its failure skipped this
			// partition, still moving: it goes offline as the
			// directory's other partitions did, out of its fetcher and
			// reported to the controller, so its leadership moves.
			p.log.MarkOffline(cause)
			m.unfollow([]*Partition{p})
			m.reportOffline(mv.target, []*Partition{p})
		}
	case ctx.Err() != nil:
		logger.Info("partition move cancelled", "err", err)
	default:
		logger.Warn("partition move failed; the partition stays where it is", "err", err)
	}
}

// cancelMove stops a partition's move, if any, without waiting.
func (m *Manager) cancelMove(tp TopicPartition) {
	m.moves.mu.Lock()
	if mv := m.moves.running[tp]; mv != nil {
		mv.cancel()
	}
	m.moves.mu.Unlock()
}

// stopMoves cancels every move, refuses new ones and waits for them.
func (m *Manager) stopMoves() {
	m.moves.mu.Lock()
	m.moves.stopped = true
	if m.moves.cancel != nil {
		m.moves.cancel()
	}
	m.moves.mu.Unlock()
	m.moves.wg.Wait()
}

// findLogDir returns the entry of log.dirs that dir names, comparing
// cleaned absolute paths.
func (m *Manager) findLogDir(dir string) (string, bool) {
	want := absPath(dir)
	for _, root := range m.cfg.LogDirs {
		if root == dir || absPath(root) == want {
			return root, true
		}
	}
	return "", false
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return filepath.Clean(p)
}
