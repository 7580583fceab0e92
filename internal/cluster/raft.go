package cluster

import (
	"os"
	"path/filepath"

	"errors"
	"fmt"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Raft timing. A single voter waits one randomized heartbeat timeout
// (between heartbeatTimeout and twice that) before it elects itself, so it
// leads 200-400ms after start. A multi-node quorum uses LAN timings:
// followers notice a dead leader within 0.5-1s and elect another at once
// (pre-vote keeps a node that was cut off from disrupting the others). A
// leader that hears from no majority for the lease steps down; the lease
// is as long as Raft allows (the heartbeat timeout). With one voter of
// three down, the leader keeps its place only while the single remaining
// follower answers within the lease: a 250 ms lease made the quorum change
// leaders again and again on a loaded machine, and as each new controller
// gives every broker a new session, a broker cut off from the others was
// fenced only once the leadership settled, tens of seconds later.
const (
	heartbeatTimeout   = 200 * time.Millisecond
	electionTimeout    = 200 * time.Millisecond
	leaderLeaseTimeout = 100 * time.Millisecond

	quorumHeartbeatTimeout   = 500 * time.Millisecond
	quorumElectionTimeout    = 500 * time.Millisecond
	quorumLeaderLeaseTimeout = 500 * time.Millisecond

	snapshotsRetained = 2
)

// raftStack is a running Raft instance and the stores it owns.
type raftStack struct {
	raft   *raft.Raft
	store  logStore
	layer  *raftLayer // nil for the in-memory transport
	logger *slog.Logger
}

// logStore is Raft's log and stable store in one.
type logStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// serverID is this node's Raft server ID: its broker ID in decimal.
func serverID(nodeID int32) raft.ServerID {
	return raft.ServerID(strconv.FormatInt(int64(nodeID), 10))
}

// nodeIDOf is the inverse of serverID.
func nodeIDOf(id raft.ServerID) (int32, bool) {
	n, err := strconv.ParseInt(string(id), 10, 32)
	return int32(n), err == nil
}

func raftConfig(cfg Config, logger *slog.Logger) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = serverID(cfg.NodeID)
	c.HeartbeatTimeout = heartbeatTimeout
	c.ElectionTimeout = electionTimeout
	c.LeaderLeaseTimeout = leaderLeaseTimeout
	if len(cfg.Voters) > 0 {
		c.HeartbeatTimeout = quorumHeartbeatTimeout
		c.ElectionTimeout = quorumElectionTimeout
		c.LeaderLeaseTimeout = quorumLeaderLeaseTimeout
	}
	c.Logger = newHCLog(logger, "raft", nil)
	return c
}

// openLogStore opens Raft's log and stable store in <dir>/wal, using
// hashicorp's raft-wal: segment files with checksummed, fsynced appends
// and a bbolt metadata file that also keeps two nodes from sharing it.
func openLogStore(dir string, logger *slog.Logger) (logStore, error) {
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: create %s: %w", walDir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	// The WAL does not close the metadata store it opens itself, so it
	// gets one this package owns and closes.
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(walDir, wal.WithMetaStore(meta), wal.WithSegmentSize(walSegmentSize))
	if err != nil {
		meta.Close()
		lock.Close()
		return nil, fmt.Errorf("cluster: open raft log in %s: %w", walDir, err)
	}
	logger.Debug("opened raft log", "dir", walDir)
	return &lockedStore{WAL: w, meta: meta, lock: lock}, nil
}

// walSegmentSize is the size of the Raft log's preallocated segment files.
// Metadata commands are small; raft-wal's 64 MiB default would take a
// large share of a small data disk before the first topic exists.
const walSegmentSize = 4 << 20

// lockedStore is the WAL with the directory lock it holds.
type lockedStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
	lock *os.File
}

func (s *lockedStore) Close() error {
	return errors.Join(s.WAL.Close(), s.meta.Close(), s.lock.Close())
}

// newTransport is the one place that decides how Raft nodes talk. A single
// node needs no network: an in-memory transport at "node-<id>". A quorum
// talks TCP through the mux's Raft stream layer.
func newTransport(cfg Config, conf *raft.Config, m *mux) (raft.ServerAddress, raft.Transport) {
	if m == nil {
		return raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("node-%d", cfg.NodeID)))
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  m.raft,
		MaxPool: 3,
		Timeout: raftTimeout,
		Logger:  conf.Logger.Named("transport"),
	})
	return raft.ServerAddress(m.advertise.String()), trans
}

// bootstrapConfiguration is the Raft configuration a node with no Raft
// state starts from, and false for a non-voter, which starts from nothing
// and is added by the leader.
func bootstrapConfiguration(cfg Config, local raft.ServerID, addr raft.ServerAddress) (raft.Configuration, bool) {
	if len(cfg.Voters) == 0 {
		return raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: local, Address: addr}}}, true
	}
	var c raft.Configuration
	voter := false
	for _, v := range cfg.Voters {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: serverID(v.ID), Address: raft.ServerAddress(v.Addr)})
		voter = voter || v.ID == cfg.NodeID
	}
	return c, voter
}

// startRaft opens the stores in cfg.Dir, bootstraps (a one-voter cluster,
// or cfg.Voters on a voter) if they hold no state yet, and starts Raft with
// fsm. tune, if set, adjusts the Raft config (tests use it to force
// snapshots). m is the network for a quorum, nil for one in-memory voter.
func startRaft(cfg Config, logger *slog.Logger, fsm raft.FSM, tune func(*raft.Config), m *mux) (*raftStack, error) {
	conf := raftConfig(cfg, logger)
	if tune != nil {
		tune(conf)
	}
	if err := raft.ValidateConfig(conf); err != nil {
		return nil, fmt.Errorf("cluster: raft config: %w", err)
	}
	store, err := openLogStore(cfg.Dir, logger)
	if err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotsRetained, conf.Logger.Named("snapshot"))
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("cluster: raft snapshot store: %w", err)
	}
	addr, trans := newTransport(cfg, conf, m)
	fail := func(err error) (*raftStack, error) {
		if c, ok := trans.(io.Closer); ok {
			c.Close()
		}
		return nil, errors.Join(err, store.Close())
	}
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fail(fmt.Errorf("cluster: read raft state: %w", err))
	}
	if voters, ok := bootstrapConfiguration(cfg, conf.LocalID, addr); !existing && ok {
		if err := raft.BootstrapCluster(conf, store, store, snaps, trans, voters); err != nil {
			return fail(fmt.Errorf("cluster: bootstrap raft: %w", err))
		}
		logger.Info("bootstrapped metadata cluster", "dir", cfg.Dir, "voters", len(voters.Servers))
	}
	r, err := newRaft(conf, fsm, store, snaps, trans)
	if err != nil {
		return fail(fmt.Errorf("cluster: start raft: %w", err))
	}
	rs := &raftStack{raft: r, store: store, logger: logger}
	if m != nil {
		rs.layer = m.raft
	}
	return rs, nil
}

// newRaft is raft.NewRaft with its start-up panic turned into an error:
// Raft panics when it cannot read an entry of its own log while it
// replays the log's configuration changes. Nothing has started by then, so
// the node can report the unreadable log and exit instead of crashing.
func newRaft(conf *raft.Config, fsm raft.FSM, store logStore, snaps raft.SnapshotStore, trans raft.Transport) (r *raft.Raft, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = nil, fmt.Errorf("the raft log cannot be read (%v); this node's metadata log needs repair or, on a voter of a healthy quorum, removal so that it catches up from the leader", p)
		}
	}()
	return raft.NewRaft(conf, fsm, store, store, snaps, trans)
}

// resign hands the quorum's leadership to another voter when this node
// leads it, as a Kafka controller that shuts down resigns: the others then
// have a new controller at once instead of after an election timeout and
// an election (1-1.5 s under load), during which nothing commits, no
// broker is fenced and no ISR changes. Raft bounds the handover by about
// two election timeouts; if it fails, the others elect as before.
func (s *raftStack) resign() {
	if s.raft.State() != raft.Leader {
		return
	}
	start := time.Now()
	if err := s.raft.LeadershipTransfer().Error(); err != nil {
		s.logger.Info("metadata quorum leadership not handed over before stopping", "err", err)
		return
	}
	s.logger.Info("metadata quorum leadership handed over before stopping", "took", time.Since(start).Round(time.Millisecond))
}

// stop shuts Raft down (which closes the transport) and then the store.
func (s *raftStack) stop() error {
	if s.layer != nil {
		s.layer.endRedials() // Raft's shutdown waits for its dials
		s.resign()
	}
	err := s.raft.Shutdown().Error()
	return errors.Join(err, s.store.Close())
}
