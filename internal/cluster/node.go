package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// node is the implementation behind Node.
type node struct {
	cfg    Config
	logger *slog.Logger
	pub    *publisher
	rs     *raftStack

	// The leader watcher: a goroutine that turns Raft's leader observations
	// into the image's ControllerID. Close stops it through stop and waits.
	obs  *raft.Observer
	stop chan struct{}
	wg   sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// open is Open with an optional Raft config hook for tests.
func open(ctx context.Context, cfg Config, tune func(*raft.Config)) (*Node, error) {
	start := time.Now()
	if cfg.Dir == "" {
		return nil, errors.New("cluster: open: no directory")
	}
	if cfg.NodeID < 0 {
		return nil, fmt.Errorf("cluster: open: negative node ID %d", cfg.NodeID)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("node_id", cfg.NodeID)
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: open: %w", err)
	}
	pub := newPublisher()
	rs, err := startRaft(cfg, logger, newFSM(logger, pub), tune)
	if err != nil {
		return nil, err
	}
	n := &Node{node{cfg: cfg, logger: logger, pub: pub, rs: rs, stop: make(chan struct{})}}
	n.watchLeader()
	if err := n.join(ctx); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	img := n.Image()
	logger.Info("metadata node ready", "cluster_id", img.ClusterID, "controller", img.ControllerID,
		"index", img.Index, "topics", len(img.Topics), "took", time.Since(start).Round(time.Millisecond))
	return n, nil
}

// join waits until this node leads and the image holds everything committed
// before, then makes sure the cluster has an ID and this broker is
// registered as configured.
func (n *node) join(ctx context.Context) error {
	if err := n.waitController(ctx); err != nil {
		return err
	}
	if _, err := n.await(ctx, func(timeout time.Duration) raft.Future { return n.rs.raft.Barrier(timeout) }); err != nil {
		return fmt.Errorf("cluster: catch up with the metadata log: %w", err)
	}
	if n.pub.image().ClusterID == "" {
		if err := n.propose(ctx, setClusterID{ClusterID: newClusterID()}); err != nil {
			return fmt.Errorf("cluster: set cluster ID: %w", err)
		}
	}
	self := Broker{ID: n.cfg.NodeID, Host: n.cfg.Host, Port: n.cfg.Port, Rack: n.cfg.Rack}
	if cur, ok := n.pub.image().Brokers[self.ID]; !ok || cur != self {
		if err := n.propose(ctx, RegisterBroker{Broker: self}); err != nil {
			return fmt.Errorf("cluster: register broker %d: %w", self.ID, err)
		}
	}
	return nil
}

// waitController waits until the image names this node as the controller.
// With one voter that is this node's first election.
func (n *node) waitController(ctx context.Context) error {
	for {
		changed := n.pub.changed()
		if n.pub.image().ControllerID == n.cfg.NodeID {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("cluster: wait for leadership: %w", ctx.Err())
		}
	}
}

// watchLeader starts the leader watcher. Observations are only a wake-up:
// the watcher reads the current leader from Raft, so a dropped observation
// (the channel is non-blocking) loses nothing that a later one would not
// bring.
func (n *node) watchLeader() {
	ch := make(chan raft.Observation, 16)
	n.obs = raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.rs.raft.RegisterObserver(n.obs)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			n.updateController()
			select {
			case <-ch:
			case <-n.stop:
				return
			}
		}
	}()
}

func (n *node) updateController() {
	id := int32(noController)
	if _, sid := n.rs.raft.LeaderWithID(); sid != "" {
		if v, ok := nodeIDOf(sid); ok {
			id = v
		}
	}
	if n.pub.setController(id) {
		n.logger.Info("metadata controller changed", "controller", id)
	}
}

// propose is Propose: encode, apply through Raft on the leader, and return
// the command's own error.
func (n *node) propose(ctx context.Context, cmd Command) error {
	if c, ok := cmd.(CreateTopic); ok && c.ID == (TopicID{}) {
		c.ID = newUUID()
		cmd = c
	}
	data, err := encodeCommand(cmd)
	if err != nil {
		return err
	}
	switch n.rs.raft.State() {
	case raft.Leader:
	case raft.Shutdown:
		return ErrClosed
	default:
		return ErrNotController
	}
	resp, err := n.await(ctx, func(timeout time.Duration) raft.Future { return n.rs.raft.Apply(data, timeout) })
	if err != nil {
		return err
	}
	if err, ok := resp.(error); ok {
		return err
	}
	return nil
}

// await starts a Raft operation with a timeout taken from ctx and waits
// for it or for ctx. It returns the future's response (for an
// ApplyFuture, what the FSM returned) and Raft's errors as ours.
//
// The waiting goroutine ends when Raft resolves the future, which it does
// for every future except one committed but not yet applied when Raft shuts
// down; that goroutine is left behind, holding only the future.
func (n *node) await(ctx context.Context, start func(timeout time.Duration) raft.Future) (any, error) {
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	type result struct {
		resp any
		err  error
	}
	done := make(chan result, 1)
	go func() {
		f := start(timeout)
		err := f.Error()
		var resp any
		if af, ok := f.(raft.ApplyFuture); ok && err == nil {
			resp = af.Response()
		}
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		switch {
		case r.err == nil:
			return r.resp, nil
		case errors.Is(r.err, raft.ErrRaftShutdown):
			return nil, ErrClosed
		case errors.Is(r.err, raft.ErrNotLeader), errors.Is(r.err, raft.ErrLeadershipLost),
			errors.Is(r.err, raft.ErrLeadershipTransferInProgress):
			return nil, fmt.Errorf("%w: %w", ErrNotController, r.err)
		case errors.Is(r.err, raft.ErrEnqueueTimeout) && ctx.Err() != nil:
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cluster: raft: %w", r.err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// close is Close; later calls return the first call's result.
func (n *node) close() error {
	n.closeOnce.Do(func() {
		n.rs.raft.DeregisterObserver(n.obs)
		close(n.stop)
		n.wg.Wait()
		n.closeErr = n.rs.stop()
		n.pub.setController(noController)
		n.logger.Info("metadata node closed")
	})
	return n.closeErr
}
