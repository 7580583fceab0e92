package cluster

// The controller is the Raft leader. While this node leads, a goroutine
// (lead) keeps broker liveness in memory, from heartbeats (never a Raft
// write per heartbeat), and proposes what liveness implies (KIP-631):
//
//   - a broker silent for SessionTimeout is fenced (fenceBroker);
//   - a fenced broker that heartbeats again is unfenced (unfenceBroker),
//     if the heartbeat is of the broker epoch it registered last: the
//     last heartbeats of a process that has since restarted, or arrive
//     late, do not unfence the new one;
//   - a broker that rejoined (it keeps its leaderships, election.go) and
//     sends no heartbeat for SessionTimeout is fenced again, which moves
//     them;
//   - every LeaderImbalanceCheck, partitions whose preferred replica is
//     live, in sync and not leading elect it (ElectLeaders), as Kafka's
//     auto.leader.rebalance with leader.imbalance.per.broker.percentage 0;
//   - partitions without a leader where unclean leader election is
//     enabled elect a live replica (ElectLeaders, Unclean), once enabling
//     unclean.leader.election.enable commits (electUnclean).
//
// Fencing needs a quorum (Config.Voters): in the one-voter cluster only
// this broker could heartbeat, so nothing is fenced there.
//
// After becoming leader the controller has not heard from anyone yet.
// The previous controller heartbeated to itself, but its Raft heartbeats
// reached this node until it went silent, so its session runs from that
// last contact: when the controller's process dies, its partitions get
// new leaders a session timeout after its last sign of life, not after
// that plus the Raft election. Until that contact the previous controller
// was also hearing the other brokers' heartbeats and would have fenced a
// silent one, so their sessions run from there too, but each gets at
// least half a session (and three heartbeat intervals) after this term
// starts to find the new controller: a broker cut off together with the
// controller (a rack, a network split) is fenced about a session timeout
// after the split, not after the election plus a full session. With no
// previous controller known (this node's first term, or it leads again
// after an election nobody else won) every broker gets a full session.
// What each
// command does to leaders and ISRs is decided in election.go, in the FSM.
// Reassignments complete in the FSM too, when the AlterPartition (or the
// Reassign) that puts the last target replica in the ISR applies.

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The defaults of broker.session.timeout.ms and broker.heartbeat.interval.ms:
// shorter than Kafka's (9 s and 2 s), so that a dead broker's partitions
// are writable again within about 3.5 s. A heartbeat is a small message on
// a connection of its own, sent by a goroutine that does no disk I/O, and
// the controller only notes it in memory: an fsync stall or a GC pause
// does not delay it, and a session of six intervals tolerates five lost
// or late heartbeats in a row before fencing a broker.
const (
	defaultSessionTimeout    = 3 * time.Second
	defaultHeartbeatInterval = 500 * time.Millisecond
)

func (n *node) sessionTimeout() time.Duration {
	return cmp.Or(n.cfg.SessionTimeout, defaultSessionTimeout)
}

func (n *node) heartbeatInterval() time.Duration {
	return cmp.Or(n.cfg.HeartbeatInterval, defaultHeartbeatInterval)
}

// liveness is the controller's memory of heartbeats, valid for one term of
// leadership (heard is nil while this node does not lead).
type liveness struct {
	mu    sync.Mutex
	heard map[int32]heartbeat
	wake  chan struct{} // a fenced broker heartbeated
	// prevLeader is the last Raft leader other than this node, and
	// prevContact when it last contacted this node over Raft (set by the
	// leader watcher when the leader changes).
	prevLeader  int32
	prevContact time.Time
	// confirmedLeader is the leader that last had this node confirm its
	// leadership (confirm.go), at confirmedAt.
	confirmedLeader int32
	confirmedAt     time.Time
}

// leaderLost notes that id, the Raft leader until now, last contacted
// this node over Raft at contact; a later confirmation of its leadership
// here counts as its last contact instead.
func (l *liveness) leaderLost(id int32, contact time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.confirmedLeader == id && l.confirmedAt.After(contact) {
		contact = l.confirmedAt
	}
	l.prevLeader, l.prevContact = id, contact
}

// leaderConfirmed notes that this node confirmed leader id's leadership at.
func (l *liveness) leaderConfirmed(id int32, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.confirmedLeader, l.confirmedAt = id, at
}

// takePreviousLeader returns the last leader other than this node and
// when it last contacted this node, and forgets them; ok is false when
// none is known. A term of leadership takes them once: in a later term
// of this node's, that leader's last contact is stale (it has heartbeated
// to this node as a broker since), and a session counted from it would
// fence a healthy broker.
func (l *liveness) takePreviousLeader() (id int32, contact time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id, contact, ok = l.prevLeader, l.prevContact, !l.prevContact.IsZero()
	l.prevLeader, l.prevContact = 0, time.Time{}
	return id, contact, ok
}

// heartbeat is the last heartbeat the controller recorded of a broker:
// when it arrived and the broker epoch it carried.
type heartbeat struct {
	at    time.Time
	epoch int64
}

func (l *liveness) reset(leading bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.heard = nil
	if leading {
		l.heard = map[int32]heartbeat{}
	}
}

// lastHeard returns when broker b last heartbeated at its registered
// epoch; a heartbeat of an earlier start of it does not count.
func (l *liveness) lastHeard(b Broker) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.heard[b.ID]
	if !ok || !epochMatches(b, h.epoch) {
		return time.Time{}, false
	}
	return h.at, true
}

// epochMatches reports whether a heartbeat of epoch speaks for broker b
// as registered: a broker registered without an epoch (before Sluice
// kept them) takes any.
func epochMatches(b Broker, epoch int64) bool {
	return b.Epoch == 0 || b.Epoch == epoch
}

// heartbeatReceived records a broker's heartbeat of the given epoch on the
// controller and reports whether it was recorded: a node that does not
// act as the controller (yet, or any more) does not count it, nor a
// heartbeat whose epoch is not the one the broker registered last
// (Kafka's STALE_BROKER_EPOCH). A heartbeat of a broker that registered
// since this controller's image was built is refused until the image
// shows the registration; the broker sends another.
func (n *node) heartbeatReceived(id int32, epoch int64) bool {
	b, registered := n.pub.image().Brokers[id]
	if registered && !epochMatches(b, epoch) {
		n.logger.Debug("heartbeat of a stale broker epoch refused", "broker", id, "epoch", epoch, "registered_epoch", b.Epoch)
		return false
	}
	n.live.mu.Lock()
	recorded := n.live.heard != nil
	if recorded {
		n.live.heard[id] = heartbeat{at: time.Now(), epoch: epoch}
	}
	n.live.mu.Unlock()
	if registered && b.Fenced {
		select {
		case n.live.wake <- struct{}{}:
		default:
		}
	}
	return recorded
}

// runController runs lead while this node is the Raft leader, until Close.
func (n *node) runController() {
	defer n.wg.Done()
	leaderCh := n.rs.raft.LeaderCh()
	var stopLeading func()
	defer func() {
		if stopLeading != nil {
			stopLeading()
		}
	}()
	for {
		select {
		case leading := <-leaderCh:
			if stopLeading != nil {
				stopLeading()
				stopLeading = nil
			}
			if leading {
				ctx, cancel := context.WithCancel(n.ctx)
				done := make(chan struct{})
				go func() {
					defer close(done)
					n.lead(ctx)
				}()
				stopLeading = func() { cancel(); <-done }
			}
		case <-n.stop:
			return
		}
	}
}

// lead is the controller's loop for one term of leadership.
func (n *node) lead(ctx context.Context) {
	// Act on an image that holds everything committed by earlier leaders.
	if _, err := n.await(ctx, func(timeout time.Duration) raft.Future { return n.rs.raft.Barrier(timeout) }); err != nil {
		n.logger.Debug("controller: barrier failed", "err", err)
		return
	}
	n.logger.Info("controller active", "session_timeout", n.sessionTimeout(), "heartbeat_interval", n.heartbeatInterval())
	since := time.Now()
	n.live.reset(true)
	defer n.live.reset(false)
	// The previous controller's session runs from its last Raft contact;
	// the other brokers' from there too, with a grace to find this node.
	sessionFrom := map[int32]time.Time{}
	othersFrom := since
	if id, at, ok := n.live.takePreviousLeader(); ok && id != n.cfg.NodeID && at.Before(since) {
		sessionFrom[id] = at
		othersFrom = at
		if least := since.Add(n.takeoverGrace() - n.sessionTimeout()); least.After(at) {
			othersFrom = least
		}
		n.logger.Info("previous controller last heard over Raft", "broker", id, "ago", since.Sub(at).Round(time.Millisecond),
			"others_fenced_if_silent_for", othersFrom.Add(n.sessionTimeout()).Sub(since).Round(time.Millisecond))
	}

	tick := time.NewTicker(max(n.heartbeatInterval()/2, 20*time.Millisecond))
	defer tick.Stop()
	var rebalance <-chan time.Time
	if n.cfg.LeaderImbalanceCheck > 0 {
		t := time.NewTicker(n.cfg.LeaderImbalanceCheck)
		defer t.Stop()
		rebalance = t.C
	}
	fenced := map[int32]*fencedBroker{}
	var uncleanSeen uint64 // the image electUnclean last looked at; 0: none yet
	for {
		// A one-voter cluster has no other member that could heartbeat:
		// brokers registered there besides this one (tests) stay as they
		// are, as before the quorum existed.
		if n.mux != nil {
			n.checkBrokers(ctx, othersFrom, sessionFrom, fenced)
		}
		uncleanSeen = n.electUnclean(ctx, uncleanSeen)
		select {
		case <-tick.C:
		case <-n.live.wake:
		case <-rebalance:
			n.rebalance(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// fencedBroker is what the controller remembers, for one term, of a fenced
// broker: when it first saw it fenced, and whether it has looked for
// leaderships the broker kept (a rejoin keeps them until the broker's
// first heartbeat, election.go).
type fencedBroker struct {
	since   time.Time
	checked bool
}

// takeoverGrace is the least time a new controller leaves a broker to
// send it a first heartbeat: half a session, and at least three heartbeat
// intervals.
func (n *node) takeoverGrace() time.Duration {
	return min(n.sessionTimeout(), max(n.sessionTimeout()/2, 3*n.heartbeatInterval()))
}

// checkBrokers fences brokers silent for the session timeout and unfences
// fenced brokers that heartbeat again. A broker's silence counts from
// since (this term's start), or from sessionFrom when that is known. A
// fenced broker that still leads partitions (it rejoined and has not
// heartbeated since) and stays silent for the session timeout after the
// controller first saw it fenced is fenced again, which moves them; fenced
// tracks those brokers.
func (n *node) checkBrokers(ctx context.Context, since time.Time, sessionFrom map[int32]time.Time, fenced map[int32]*fencedBroker) {
	img := n.pub.image()
	ids := make([]int32, 0, len(img.Brokers))
	for id := range img.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	session := n.sessionTimeout()
	for _, id := range ids {
		b := img.Brokers[id]
		heard, ok := n.live.lastHeard(b)
		last := since
		if at, known := sessionFrom[id]; known {
			last = at
		}
		if ok && heard.After(last) {
			last = heard
		}
		now := time.Now()
		f := fenced[id]
		switch {
		case !b.Fenced:
			delete(fenced, id)
		case f == nil:
			f = &fencedBroker{since: now}
			fenced[id] = f
		}
		var cmd Command
		switch {
		case !b.Fenced && now.Sub(last) > session:
			n.logger.Warn("fencing broker: no heartbeat within the session timeout", "broker", id, "silent_for", now.Sub(last).Round(time.Millisecond))
			cmd = fenceBroker{ID: id, Epoch: b.Epoch}
		case b.Fenced && ok && now.Sub(heard) < session:
			n.logger.Info("unfencing broker: heartbeat received", "broker", id)
			cmd = unfenceBroker{ID: id, Epoch: b.Epoch}
		case b.Fenced && !f.checked && now.Sub(f.since) > session && (!ok || now.Sub(heard) > session):
			f.checked = true
			if !leadsAny(img, id) {
				continue
			}
			n.logger.Warn("fencing broker again: it rejoined but sent no heartbeat within the session timeout; its leaderships move", "broker", id)
			cmd = fenceBroker{ID: id, Epoch: b.Epoch}
		default:
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, session)
		err := n.propose(pctx, cmd)
		cancel()
		if err != nil {
			n.logger.Warn("controller: proposal failed", "command", cmd, "err", err)
			return
		}
	}
}

// leadsAny reports whether broker id leads a partition in img.
func leadsAny(img *Image, id int32) bool {
	for _, t := range img.Topics.All() {
		for _, p := range t.Partitions {
			if p.Leader == id {
				return true
			}
		}
	}
	return false
}

// rebalance elects preferred leaders where they are live and in sync.
func (n *node) rebalance(ctx context.Context) {
	img := n.pub.image()
	var parts []TopicPartitionID
	for _, t := range img.Topics.All() {
		for _, p := range t.Partitions {
			if len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0 {
				continue
			}
			pref := p.Replicas[0]
			if p.Leader != pref && isLive(img.Brokers, pref) && slices.Contains(p.ISR, pref) && !slices.Contains(p.OfflineReplicas, pref) {
				parts = append(parts, TopicPartitionID{Topic: t.ID, Partition: p.Index})
			}
		}
	}
	if len(parts) == 0 {
		return
	}
	sortPartitions(parts)
	pctx, cancel := context.WithTimeout(ctx, n.sessionTimeout())
	defer cancel()
	n.logger.Info("controller: electing preferred leaders", "partitions", len(parts))
	if _, err := n.electLeaders(pctx, ElectLeaders{Partitions: parts}); err != nil {
		n.logger.Warn("controller: preferred leader election failed", "err", err)
	}
}

// electUnclean elects a leader for each partition left without one where
// unclean leader election is enabled and a live replica, not offline, can
// lead. The FSM elects so already when a broker is fenced, unfenced or
// reports offline replicas; this is what enabling
// unclean.leader.election.enable does to a partition already offline, as
// Kafka's controller does it. Where neither the topic nor the cluster-wide
// dynamic configs set it, the controller's static setting
// (Config.UncleanLeaderElection) decides, which the metadata log's own
// elections cannot read: then this is how a partition fenced out of its
// ISR gets a live replica, and it also looks again when a broker comes
// back. It looks at the topics changed since the image at index since
// (every topic at a term's start, after a change of the cluster-wide
// configs, or when the changes are not known), and returns the index of
// the image it looked at, or since again when the election failed, to
// look again at the next tick.
func (n *node) electUnclean(ctx context.Context, since uint64) uint64 {
	img := n.pub.image()
	changes, known := img.ChangesSince(since)
	brokers := n.cfg.UncleanLeaderElection && changes.Brokers
	if known && len(changes.Topics) == 0 && !changes.BrokerConfigs && !brokers {
		return img.Index
	}
	var parts []TopicPartitionID
	look := func(t *Topic) {
		if !uncleanAllowed(t, img.BrokerConfigs, n.cfg.UncleanLeaderElection) {
			return
		}
		for _, p := range t.Partitions {
			if p.Leader == noLeader && slices.ContainsFunc(p.Replicas, func(r int32) bool {
				return isLive(img.Brokers, r) && !slices.Contains(p.OfflineReplicas, r)
			}) {
				parts = append(parts, TopicPartitionID{Topic: t.ID, Partition: p.Index})
			}
		}
	}
	if !known || changes.BrokerConfigs || brokers {
		for _, t := range img.Topics.All() {
			look(t)
		}
	} else {
		for name := range changes.Topics {
			if t := img.Topics.Value(name); t != nil {
				look(t)
			}
		}
	}
	if len(parts) == 0 {
		return img.Index
	}
	sortPartitions(parts)
	pctx, cancel := context.WithTimeout(ctx, n.sessionTimeout())
	defer cancel()
	n.logger.Warn("controller: unclean leader election: partitions without a leader elect a replica out of sync (unclean.leader.election.enable); records acknowledged by the old leader may be lost",
		"partitions", len(parts))
	if _, err := n.electLeaders(pctx, ElectLeaders{Partitions: parts, Unclean: true}); err != nil {
		n.logger.Warn("controller: unclean leader election failed", "err", err)
		return since
	}
	return img.Index
}

// sortPartitions orders partitions by topic ID, then index.
func sortPartitions(parts []TopicPartitionID) {
	slices.SortFunc(parts, func(x, y TopicPartitionID) int {
		if c := slices.Compare(x.Topic[:], y.Topic[:]); c != 0 {
			return c
		}
		return cmp.Compare(x.Partition, y.Partition)
	})
}

// heartbeat runs this broker's heartbeats to the controller until Close.
func (n *node) heartbeat() {
	defer n.wg.Done()
	interval := n.heartbeatInterval()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n.sendHeartbeat(interval)
		n.reregisterIfRemoved()
		select {
		case <-t.C:
		case <-n.stop:
			return
		}
	}
}

func (n *node) sendHeartbeat(timeout time.Duration) {
	if n.pauseHeartbeats.Load() {
		return
	}
	addr, id := n.rs.raft.LeaderWithID()
	sent := time.Now()
	switch {
	case id == serverID(n.cfg.NodeID):
		ctx, cancel := context.WithTimeout(n.ctx, timeout)
		defer cancel()
		if n.ackHeartbeat(ctx, n.cfg.NodeID, n.epoch.Load()) {
			n.session.acked(sent)
		}
	case addr != "" && n.mux != nil:
		ctx, cancel := context.WithTimeout(n.ctx, timeout)
		defer cancel()
		resp, err := n.call(ctx, string(addr), rpcRequest{Op: opHeartbeat, NodeID: n.cfg.NodeID, BrokerEpoch: n.epoch.Load()})
		if err != nil || resp.Retry {
			n.logger.Debug("heartbeat not delivered", "controller", id, "err", err)
			return
		}
		n.session.acked(sent)
	}
}

// session is this broker's side of its session with the controller: when
// it sent the last heartbeat the controller recorded.
type session struct {
	mu   sync.Mutex
	sent time.Time
}

func (s *session) acked(sent time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sent.After(s.sent) {
		s.sent = sent
	}
}

func (s *session) lastAcked() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// sessionExpiry is SessionExpiry. Only heartbeats a controller confirmed
// it still led after they arrived count (ackHeartbeat), so the session
// ends no later than a new controller may fence this broker.
func (n *node) sessionExpiry() (time.Time, bool) {
	if n.mux == nil {
		return time.Time{}, false
	}
	sent := n.session.lastAcked()
	if sent.IsZero() {
		return sent, true
	}
	return sent.Add(n.sessionTimeout()), true
}

func (n *node) electLeaders(ctx context.Context, cmd ElectLeaders) (map[TopicPartitionID]error, error) {
	res, err := n.proposeResult(ctx, cmd)
	if err != nil {
		return nil, err
	}
	out, _ := res.(electResults)
	if out == nil {
		out = electResults{}
	}
	return out, nil
}

// controlledShutdown proposes this broker's controlled shutdown; Propose
// returns once the local image shows its leaderships moved.
func (n *node) controlledShutdown(ctx context.Context) error {
	return n.propose(ctx, shutdownBroker{ID: n.cfg.NodeID})
}

func (n *node) quorum() QuorumInfo {
	q := QuorumInfo{Leader: n.pub.image().ControllerID}
	f := n.rs.raft.GetConfiguration()
	if f.Error() != nil {
		return q
	}
	for _, s := range f.Configuration().Servers {
		id, ok := nodeIDOf(s.ID)
		if !ok {
			continue
		}
		v := Voter{ID: id, Addr: string(s.Address)}
		if s.Suffrage == raft.Voter {
			q.Voters = append(q.Voters, v)
		} else {
			q.NonVoters = append(q.NonVoters, v)
		}
	}
	return q
}
