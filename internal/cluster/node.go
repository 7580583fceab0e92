package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// node is the implementation behind Node.
type node struct {
	cfg    Config
	logger *slog.Logger
	pub    *publisher
	fsm    *fsm
	rs     *raftStack
	mux    *mux // nil for the one-voter in-memory cluster

	// ctx ends when Close starts; it bounds control RPCs served here.
	ctx    context.Context
	cancel context.CancelFunc

	// Goroutines owned by the node, stopped through stop and waited for by
	// Close: the leader watcher (Raft leader -> the image's ControllerID),
	// the controller (controller.go) and the heartbeat sender.
	obs  *raft.Observer
	stop chan struct{}
	wg   sync.WaitGroup
	live liveness
	// session is when this broker's last recorded heartbeat was sent.
	session session
	// confirm groups the controller's confirmations of its leadership
	// before it acknowledges heartbeats (confirm.go).
	confirm confirmer
	// pauseHeartbeats stops this broker's heartbeats (tests).
	pauseHeartbeats atomic.Bool
	// hadLog is whether the metadata log held anything when the node
	// opened: only then may the broker rejoin (RegisterBroker.Rejoin).
	hadLog bool
	// epoch is this start's Broker.Epoch, which its heartbeats carry
	// (set before they start; tests change it).
	epoch atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// open is Open with an optional Raft config hook for tests.
func open(ctx context.Context, cfg Config, tune func(*raft.Config)) (*Node, error) {
	return openWith(ctx, cfg, tune, nil)
}

// openWith is open with an optional listener already bound to cfg.RaftAddr
// (tests bind 127.0.0.1:0 first and keep the listener, so no port is lost
// to a race between choosing it and binding it).
func openWith(ctx context.Context, cfg Config, tune func(*raft.Config), ln net.Listener) (*Node, error) {
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
	var m *mux
	if len(cfg.Voters) > 0 {
		var err error
		if m, err = listen(cfg, ln, logger); err != nil {
			return nil, err
		}
	}
	pub := newPublisher()
	f := newFSM(logger, pub)
	// A node whose metadata log is new (a first start, or a wiped data
	// directory) does not rejoin: its partitions' data may be gone too.
	walFiles, _ := os.ReadDir(filepath.Join(cfg.Dir, "wal")) // openLogStore's directory
	rs, err := startRaft(cfg, logger, f, tune, m)
	if err != nil {
		if m != nil {
			m.close()
		}
		return nil, err
	}
	n := &Node{node{cfg: cfg, logger: logger, pub: pub, fsm: f, rs: rs, mux: m, stop: make(chan struct{}), hadLog: len(walFiles) > 0}}
	n.live.wake = make(chan struct{}, 1)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if m != nil {
		m.control = n.serveControl
		m.serve()
	}
	n.watchLeader()
	n.wg.Add(1)
	go n.runController()
	if err := n.joinUnlessHalted(ctx); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	img := n.Image()
	logger.Info("metadata node ready", "cluster_id", img.ClusterID, "controller", img.ControllerID,
		"index", img.Index, "topics", img.Topics.Len(), "voters", len(cfg.Voters), "took", time.Since(start).Round(time.Millisecond))
	return n, nil
}

// listen binds cfg.RaftAddr (unless ln is given) and decides the address
// this node advertises to its peers: its own entry in Voters, else the
// bound address, with cfg.Host when bound to all interfaces.
func listen(cfg Config, ln net.Listener, logger *slog.Logger) (*mux, error) {
	if ln == nil {
		if cfg.RaftAddr == "" {
			return nil, errors.New("cluster: open: controller voters are set but no Raft address")
		}
		var err error
		if ln, err = net.Listen("tcp", cfg.RaftAddr); err != nil {
			return nil, fmt.Errorf("cluster: listen on %s: %w", cfg.RaftAddr, err)
		}
	}
	advertise := ln.Addr().String()
	if host, port, err := net.SplitHostPort(advertise); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() && cfg.Host != "" {
			advertise = net.JoinHostPort(cfg.Host, port)
		}
	}
	for _, v := range cfg.Voters {
		if v.ID == cfg.NodeID {
			advertise = v.Addr
		}
	}
	logger.Info("metadata quorum listening", "addr", ln.Addr().String(), "advertise", advertise)
	m := newMux(ln, tcpAddr(advertise), logger)
	m.serverTLS, m.clientTLS = cfg.ServerTLS, cfg.ClientTLS
	return m, nil
}

// isVoter reports whether this node is one of cfg.Voters.
func (n *node) isVoter() bool {
	return slices.ContainsFunc(n.cfg.Voters, func(v Voter) bool { return v.ID == n.cfg.NodeID })
}

// join brings this node into service. A one-voter cluster waits until this
// node leads. In a multi-node cluster a non-voter first asks to be added;
// every node then catches up with the leader's log. Then the cluster gets
// its ID if it has none, and this broker registers: in a multi-node
// cluster always, Fenced until its first heartbeat reaches the controller
// (KIP-631), which join waits for.
func (n *node) join(ctx context.Context) error {
	if n.mux == nil {
		if err := n.waitController(ctx); err != nil {
			return err
		}
		if _, err := n.await(ctx, func(timeout time.Duration) raft.Future { return n.rs.raft.Barrier(timeout) }); err != nil {
			return fmt.Errorf("cluster: catch up with the metadata log: %w", err)
		}
	} else {
		if !n.isVoter() {
			if _, err := n.callLeader(ctx, rpcRequest{Op: opJoin, NodeID: n.cfg.NodeID, Addr: n.mux.advertise.String()}); err != nil {
				return fmt.Errorf("cluster: join the metadata quorum as a non-voter: %w", err)
			}
		}
		resp, err := n.callLeader(ctx, rpcRequest{Op: opBarrier})
		if err == nil {
			err = n.fsm.applied.wait(ctx, n.stop, resp.Index)
		}
		if err != nil {
			return fmt.Errorf("cluster: catch up with the metadata log: %w", err)
		}
	}
	if n.pub.image().ClusterID == "" {
		// Voters starting together may race; the first ID committed wins.
		if err := n.propose(ctx, setClusterID{ClusterID: newClusterID()}); err != nil && n.pub.image().ClusterID == "" {
			return fmt.Errorf("cluster: set cluster ID: %w", err)
		}
	}
	img := n.pub.image()
	self := n.selfBroker(img)
	cur, ok := img.Brokers[self.ID]
	if ok && n.mux == nil {
		// The one-voter cluster's broker registers again only when it
		// changed; its heartbeats are its own to count.
		self.Epoch = cur.Epoch
	}
	n.epoch.Store(self.Epoch)
	if !ok || !reflect.DeepEqual(cur, self) || n.mux != nil {
		// A broker the cluster knows, back with its own state (metadata
		// log and log directories), rejoins: if it stopped without a
		// controlled shutdown, it keeps its ISR places and leaderships.
		rejoin := ok && n.mux != nil && n.hadLog && !n.cfg.NewLogDirs
		lost := ok && n.mux != nil && n.cfg.LostLogs
		if err := n.propose(ctx, RegisterBroker{Broker: self, Rejoin: rejoin, LostLogs: lost}); err != nil {
			return fmt.Errorf("cluster: register broker %d: %w", self.ID, err)
		}
	}
	n.wg.Add(1)
	go n.heartbeat()
	if n.mux != nil {
		if err := n.waitUnfenced(ctx); err != nil {
			return err
		}
	}
	return nil
}

// selfBroker is this broker's registration for a new start, against img:
// a new broker epoch, Fenced until its first heartbeat in a multi-node
// cluster (KIP-631).
func (n *node) selfBroker(img *Image) Broker {
	self := Broker{ID: n.cfg.NodeID, Host: n.cfg.Host, Port: n.cfg.Port, Rack: n.cfg.Rack, Endpoints: n.cfg.Endpoints,
		Epoch: newBrokerEpoch(), Level: commandLevel, Fenced: n.mux != nil}
	if img.commandLevelAs(self.ID) < 2 {
		// A broker of older software still runs (a rolling upgrade): it
		// would drop the epoch from the registration it applies, and a
		// snapshot it writes would hold none, so that metadata replicas
		// would check epochs differently. This start registers none;
		// the next one, once every broker is upgraded, does.
		self.Epoch = 0
	}
	return self
}

// newBrokerEpoch returns a random positive broker epoch (Broker.Epoch).
func newBrokerEpoch() int64 {
	for {
		id := newUUID()
		if e := int64(binary.BigEndian.Uint64(id[:8]) >> 1); e != 0 {
			return e
		}
	}
}

// waitUnfenced waits until the image shows this broker unfenced.
func (n *node) waitUnfenced(ctx context.Context) error {
	for {
		changed := n.pub.changed()
		if b, ok := n.pub.image().Brokers[n.cfg.NodeID]; ok && !b.Fenced {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("cluster: wait for the controller to unfence broker %d: %w", n.cfg.NodeID, ctx.Err())
		}
	}
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
	if old := n.pub.image().ControllerID; old != noController && old != id && old != n.cfg.NodeID {
		// Raft's last contact is the old leader's last heartbeat to this
		// node: when this node takes over, that leader's session runs
		// from there (controller.go).
		n.live.leaderLost(old, n.rs.raft.LastContact())
	}
	if n.pub.setController(id) {
		n.logger.Info("metadata controller changed", "controller", id)
	}
}

// propose is Propose.
func (n *node) propose(ctx context.Context, cmd Command) error {
	_, err := n.proposeResult(ctx, cmd)
	return err
}

// proposeResult commits cmd through the leader (this node, or another over
// the control RPC, retrying across leader changes until ctx ends), waits
// until the local image has applied it, and returns the command's result
// and error.
func (n *node) proposeResult(ctx context.Context, cmd Command) (any, error) {
	if c, ok := cmd.(CreateTopic); ok && c.ID == (TopicID{}) {
		c.ID = newUUID()
		cmd = c
	}
	if c, ok := cmd.(CreateTopics); ok {
		c.Topics = slices.Clone(c.Topics)
		for i := range c.Topics {
			if c.Topics[i].ID == (TopicID{}) {
				c.Topics[i].ID = newUUID()
			}
		}
		cmd = c
	}
	data, err := encodeCommandAt(cmd, n.pub.image().CommandLevel())
	if err != nil {
		return nil, err
	}
	if n.rs.raft.State() == raft.Shutdown {
		return nil, ErrClosed
	}
	resp, err := n.callLeader(ctx, rpcRequest{Op: opPropose, Data: data})
	if err != nil {
		return nil, err
	}
	if resp.Index > 0 {
		if err := n.fsm.applied.wait(ctx, n.stop, resp.Index); err != nil {
			return nil, err
		}
	}
	if err := resp.Err.err(); err != nil {
		if c, ok := cmd.(CreateTopic); ok && errors.Is(err, ErrTopicExists) {
			// A proposal retried across a leader change may have
			// committed the first time; the topic ID, chosen before the
			// first try, tells our own topic from somebody else's.
			if t := n.pub.image().Topics.Value(c.Name); t != nil && t.ID == c.ID {
				return nil, nil
			}
		}
		return nil, err
	}
	if len(resp.Items) > 0 {
		var own func(int) bool
		if c, ok := cmd.(CreateTopics); ok {
			img := n.pub.image()
			own = func(i int) bool {
				if i >= len(c.Topics) {
					return false
				}
				t := img.Topics.Value(c.Topics[i].Name)
				return t != nil && t.ID == c.Topics[i].ID
			}
		}
		return nil, itemErrorsFrom(resp.Items, own)
	}
	if _, ok := cmd.(DeleteAcls); ok {
		out := make(aclDeleteResults, len(resp.ACLs))
		for i, ws := range resp.ACLs {
			out[i] = fromWireACLs(ws)
		}
		return out, nil
	}
	var results electResults
	if _, ok := cmd.(ElectLeaders); ok {
		results = electResults{}
		for _, r := range resp.Results {
			results[TopicPartitionID{Topic: r.Topic, Partition: r.Partition}] = r.Err.err()
		}
		return results, nil
	}
	return nil, nil
}

// applyLocal applies an encoded command through Raft on this node, the
// leader, and returns what the FSM returned and the command's index.
func (n *node) applyLocal(ctx context.Context, data []byte) (any, uint64, error) {
	return n.awaitIndex(ctx, func(timeout time.Duration) raft.Future { return n.rs.raft.Apply(data, timeout) })
}

// await starts a Raft operation with a timeout taken from ctx and waits
// for it or for ctx. It returns the future's response (for an
// ApplyFuture, what the FSM returned) and Raft's errors as ours.
//
// The waiting goroutine ends when Raft resolves the future, which it does
// for every future except one committed but not yet applied when Raft shuts
// down; that goroutine is left behind, holding only the future.
func (n *node) await(ctx context.Context, start func(timeout time.Duration) raft.Future) (any, error) {
	resp, _, err := n.awaitIndex(ctx, start)
	return resp, err
}

// awaitIndex is await that also returns an ApplyFuture's log index.
func (n *node) awaitIndex(ctx context.Context, start func(timeout time.Duration) raft.Future) (any, uint64, error) {
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, 0, context.DeadlineExceeded
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	type result struct {
		resp  any
		index uint64
		err   error
	}
	done := make(chan result, 1)
	go func() {
		f := start(timeout)
		err := f.Error()
		var (
			resp  any
			index uint64
		)
		if af, ok := f.(raft.ApplyFuture); ok && err == nil {
			resp, index = af.Response(), af.Index()
		}
		done <- result{resp, index, err}
	}()
	select {
	case r := <-done:
		switch {
		case r.err == nil:
			return r.resp, r.index, nil
		case errors.Is(r.err, raft.ErrRaftShutdown):
			return nil, 0, ErrClosed
		case errors.Is(r.err, raft.ErrNotLeader), errors.Is(r.err, raft.ErrLeadershipLost),
			errors.Is(r.err, raft.ErrLeadershipTransferInProgress):
			return nil, 0, fmt.Errorf("%w: %w", ErrNotController, r.err)
		case errors.Is(r.err, raft.ErrEnqueueTimeout) && ctx.Err() != nil:
			return nil, 0, ctx.Err()
		}
		return nil, 0, fmt.Errorf("cluster: raft: %w", r.err)
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// close is Close; later calls return the first call's result.
func (n *node) close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		n.rs.raft.DeregisterObserver(n.obs)
		close(n.stop)
		n.wg.Wait()
		n.closeErr = n.rs.stop()
		if n.mux != nil {
			n.closeErr = errors.Join(n.closeErr, n.mux.close())
		}
		n.pub.setController(noController)
		n.logger.Info("metadata node closed")
	})
	return n.closeErr
}

// sync is Sync. A one-voter cluster is its own controller: its image is
// current.
func (n *node) sync(ctx context.Context) error {
	if n.mux == nil {
		return nil
	}
	resp, err := n.callLeader(ctx, rpcRequest{Op: opBarrier})
	if err != nil {
		return err
	}
	return n.fsm.applied.wait(ctx, n.stop, resp.Index)
}
