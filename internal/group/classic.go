package group

// The classic rebalance protocol: JoinGroup, SyncGroup, Heartbeat and
// LeaveGroup driving Kafka's group state machine
//
//	Empty --join--> PreparingRebalance --all joined / rebalance timeout-->
//	CompletingRebalance --leader's SyncGroup stored--> Stable
//
// with any membership change in CompletingRebalance or Stable going back to
// PreparingRebalance, and the last member leaving ending in Empty. Member
// metadata and assignments are opaque bytes: the client-side assignors
// (range, roundrobin, sticky, cooperative-sticky) talk to each other
// through them.

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// joinRequest is a JoinGroup with its derived settings.
type joinRequest struct {
	req       *kmsg.JoinGroupRequest
	client    clientInfo
	session   time.Duration
	rebalance time.Duration
}

// joinOutcome is what a join does next: answer now, wait for the
// rebalance, or store the group and then answer.
type joinOutcome struct {
	resp  *kmsg.JoinGroupResponse
	wait  chan *kmsg.JoinGroupResponse
	write *pendingWrite
}

// pendingWrite is a group-metadata snapshot to store before answering;
// done runs under g.mu with the append's result.
type pendingWrite struct {
	seq  uint64
	rec  kv
	done func(err error) *kmsg.JoinGroupResponse
}

func (c *Coordinator) joinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	c.logger.Debug("JoinGroup", "group", req.Group, "member_id", req.MemberID, "client_id", clientFrom(ctx).id, "instance", deref(req.InstanceID), "version", req.Version)
	if req.Group == "" {
		return joinError(req.Version, req.MemberID, kerr.InvalidGroupID.Code)
	}
	j := &joinRequest{req: req, client: clientFrom(ctx), session: ms(req.SessionTimeoutMillis), rebalance: ms(req.RebalanceTimeoutMillis)}
	if req.Version == 0 || req.RebalanceTimeoutMillis <= 0 {
		j.rebalance = j.session
	}
	if j.session < c.cfg.MinSessionTimeout || j.session > c.cfg.MaxSessionTimeout {
		return joinError(req.Version, req.MemberID, kerr.InvalidSessionTimeout.Code)
	}
	// MaxMetadataBytes: an oversized subscription is refused before the
	// member enters the group, so the group goes on without it.
	if c.cfg.MaxMetadataBytes > 0 {
		for _, p := range req.Protocols {
			if len(p.Metadata) > c.cfg.MaxMetadataBytes {
				c.logger.Info("refused join with oversized protocol metadata", "group", req.Group, "protocol", p.Name, "bytes", len(p.Metadata), "limit", c.cfg.MaxMetadataBytes)
				return joinError(req.Version, req.MemberID, kerr.InvalidRequest.Code)
			}
		}
	}
	g, code := c.lookup(req.Group, req.MemberID == "")
	if code != 0 {
		return joinError(req.Version, req.MemberID, code)
	}
	if g == nil {
		return joinError(req.Version, req.MemberID, kerr.UnknownMemberID.Code)
	}

	g.wmu.Lock()
	g.mu.Lock()
	out := c.join(g, j, c.mono())
	if w := out.write; w != nil {
		g.mu.Unlock()
		err := c.writeGroupLocked(ctx, g, w.seq, w.rec)
		g.mu.Lock()
		out.resp = w.done(err)
	}
	c.reschedule(g)
	g.mu.Unlock()
	g.wmu.Unlock()

	if out.resp != nil {
		return out.resp
	}
	select {
	case resp := <-out.wait:
		return resp
	case <-ctx.Done():
		// As in Kafka the member still counts as joining; the client
		// learns the outcome when it joins or heartbeats again.
		return joinError(req.Version, req.MemberID, kerr.RebalanceInProgress.Code)
	}
}

// join is GroupCoordinator.handleJoinGroup. The caller holds g.wmu and g.mu.
func (c *Coordinator) join(g *group, j *joinRequest, now time.Time) joinOutcome {
	req := j.req
	fail := func(code int16) joinOutcome { return joinOutcome{resp: joinError(req.Version, req.MemberID, code)} }
	switch {
	case g.unloaded:
		return fail(kerr.NotCoordinator.Code)
	case g.state == stateDead:
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	if g.kind == kindConsumer {
		if !g.isEmpty() {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
		// The empty consumer group's records go, as in Kafka's
		// conversion.
		g.queue(g.cimg.tombstones(g.id))
		g.cimg = cgImage{}
		c.flushConsumerAsync(g)
		g.toClassic(c.now())
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	if !g.acceptJoining(req.MemberID, c.cfg.MaxGroupSize) {
		if m := g.members[req.MemberID]; m != nil {
			c.removeMember(g, m, now, "the group is at group.max.size")
		}
		return joinOutcome{resp: joinError(req.Version, "", kerr.GroupMaxSizeReached.Code)}
	}

	if req.MemberID == "" {
		id := j.client.id + "-" + newUUID()
		if req.InstanceID != nil {
			return c.staticJoin(g, j, id, now)
		}
		if req.Version >= 4 {
			// KIP-394: hand out the ID; the member joins with it.
			g.pending[id] = now.Add(j.session)
			return joinOutcome{resp: joinError(req.Version, id, kerr.MemberIDRequired.Code)}
		}
		return c.addMember(g, j, id, now)
	}
	if _, ok := g.pending[req.MemberID]; ok {
		return c.addMember(g, j, req.MemberID, now)
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return fail(code)
	}
	m := g.members[req.MemberID]
	switch g.state {
	case statePreparingRebalance:
		return c.updateMember(g, m, j, now, "")
	case stateCompletingRebalance:
		if m.matches(req.Protocols) {
			// A retried join: answer with the generation being completed.
			return joinOutcome{resp: g.joinResponse(m, req.Version)}
		}
		return c.updateMember(g, m, j, now, "member "+m.id+" changed its protocols")
	case stateStable:
		if m.id != g.leader && m.matches(req.Protocols) {
			m.lastHeartbeat = now
			return joinOutcome{resp: g.joinResponse(m, req.Version)}
		}
		return c.updateMember(g, m, j, now, "member "+m.id+" rejoined")
	}
	return fail(kerr.UnknownMemberID.Code)
}

// staticJoin is a join with a group.instance.id and no member ID (KIP-345).
// A known instance gets a new member ID replacing the old one, keeping its
// assignment; in a Stable group whose protocol would not change, that
// happens without a rebalance, after the group is stored.
func (c *Coordinator) staticJoin(g *group, j *joinRequest, newID string, now time.Time) joinOutcome {
	req := j.req
	inst := *req.InstanceID
	oldID, ok := g.static[inst]
	m := g.members[oldID]
	if !ok || m == nil {
		return c.addMember(g, j, newID, now)
	}
	oldLeader := g.leader
	prev := *m
	c.replaceStatic(g, inst, oldID, newID)
	m.protocols = toProtocols(req.Protocols)
	m.rebalance, m.session = j.rebalance, j.session
	m.clientID, m.clientHost = j.client.id, j.client.host
	m.lastHeartbeat = now

	switch g.state {
	case stateStable:
		if g.selectProtocol() != g.protocol {
			return c.updateMember(g, m, j, now, "static member "+inst+" changed the group's protocol")
		}
		rec := g.metadataRecord(nil)
		version := req.Version
		return joinOutcome{write: &pendingWrite{seq: g.seq, rec: rec, done: func(err error) *kmsg.JoinGroupResponse {
			if err != nil {
				if g.members[newID] == m && !g.unloaded && g.state != stateDead {
					c.replaceStatic(g, inst, newID, oldID)
					m.protocols, m.rebalance, m.session = prev.protocols, prev.rebalance, prev.session
					m.clientID, m.clientHost = prev.clientID, prev.clientHost
				}
				c.logger.Warn("store group after static member rejoined", "group", g.id, "instance", inst, "err", err)
				return joinError(version, "", appendCode(err, kerr.UnknownServerError.Code))
			}
			c.logger.Info("static member rejoined without a rebalance", "group", g.id, "instance", inst,
				"member_id", newID, "client_id", m.clientID, "replaced", oldID, "generation", g.generation)
			resp := g.joinResponse(m, version)
			resp.Members = nil
			resp.LeaderID = oldLeader
			if g.leader == m.id && version >= 9 {
				// KIP-814: the leader learns it leads but must not
				// reassign a Stable group.
				full := g.joinResponse(m, version)
				resp.LeaderID, resp.Members, resp.SkipAssignment = m.id, full.Members, true
			}
			return resp
		}}}
	case stateCompletingRebalance:
		return c.updateMember(g, m, j, now, "static member "+inst+" rejoined during a rebalance")
	case statePreparingRebalance:
		return c.updateMember(g, m, j, now, "")
	}
	return joinOutcome{resp: joinError(req.Version, "", kerr.UnknownMemberID.Code)}
}

// replaceStatic moves a static member to a new member ID, fencing requests
// still waiting under the old one.
func (c *Coordinator) replaceStatic(g *group, inst, oldID, newID string) {
	m := g.members[oldID]
	c.failWaiters(g, m, kerr.FencedInstanceID.Code)
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[inst] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
}

// addMember adds a member that waits in JoinGroup, and starts or advances
// a rebalance.
func (c *Coordinator) addMember(g *group, j *joinRequest, id string, now time.Time) joinOutcome {
	req := j.req
	m := &member{
		id:            id,
		instanceID:    cloneString(req.InstanceID),
		clientID:      j.client.id,
		clientHost:    j.client.host,
		protocolType:  req.ProtocolType,
		protocols:     toProtocols(req.Protocols),
		rebalance:     j.rebalance,
		session:       j.session,
		isNew:         true,
		joinedAt:      now,
		lastHeartbeat: now,
	}
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	m.join, m.joinVersion = ch, req.Version
	if g.state == statePreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	if g.members[g.leader] == nil {
		g.leader = id
	}
	g.members[id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = id
	}
	delete(g.pending, id)
	if g.state == statePreparingRebalance {
		c.checkJoin(g, now)
	} else {
		c.prepareRebalance(g, now, "member "+id+" joined")
	}
	return joinOutcome{wait: ch}
}

// updateMember records a known member's rejoin and makes it wait for the
// rebalance, starting one if the group is not already preparing.
func (c *Coordinator) updateMember(g *group, m *member, j *joinRequest, now time.Time, reason string) joinOutcome {
	m.protocols = toProtocols(j.req.Protocols)
	m.rebalance, m.session = j.rebalance, j.session
	m.lastHeartbeat = now
	if m.join != nil {
		m.join <- joinError(m.joinVersion, m.id, kerr.RebalanceInProgress.Code)
	}
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	m.join, m.joinVersion = ch, j.req.Version
	if g.state == statePreparingRebalance {
		c.checkJoin(g, now)
	} else {
		c.prepareRebalance(g, now, reason)
	}
	return joinOutcome{wait: ch}
}

// prepareRebalance moves the group to PreparingRebalance. A group coming
// from Empty waits group.initial.rebalance.delay.ms (extended while new
// members keep arriving, up to the rebalance timeout) so that a whole
// group starting at once shares one generation.
func (c *Coordinator) prepareRebalance(g *group, now time.Time, reason string) {
	if g.state == stateCompletingRebalance {
		c.resetAssignment(g, kerr.RebalanceInProgress.Code)
	}
	rt := g.rebalanceTimeout()
	if delay := c.cfg.InitialRebalanceDelay; g.state == stateEmpty && delay > 0 {
		g.initialDelay = true
		g.joinDeadline = now.Add(delay)
		g.joinRemaining = max(rt-delay, 0)
	} else {
		g.initialDelay = false
		g.joinDeadline = now.Add(rt)
	}
	g.newMemberAdded = false
	g.pendingSync = nil
	g.transition(statePreparingRebalance, c.now())
	c.logger.Info("preparing to rebalance group", "group", g.id, "old_generation", g.generation,
		"topic", OffsetsTopic, "partition", g.part, "reason", reason)
	c.checkJoin(g, now)
}

// checkJoin completes the join phase once every member has rejoined and
// no KIP-394 member ID is outstanding (not during the initial delay).
func (c *Coordinator) checkJoin(g *group, now time.Time) {
	if g.state != statePreparingRebalance || g.initialDelay || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	c.completeJoin(g, now)
}

// joinTimeout ends a join phase whose deadline passed.
func (c *Coordinator) joinTimeout(g *group, now time.Time) {
	if g.initialDelay && g.newMemberAdded && g.joinRemaining > 0 {
		g.newMemberAdded = false
		d := min(c.cfg.InitialRebalanceDelay, g.joinRemaining)
		g.joinRemaining -= d
		g.joinDeadline = now.Add(d)
		return
	}
	g.initialDelay = false
	c.completeJoin(g, now)
}

// completeJoin is Kafka's onCompleteJoin: dynamic members that did not
// rejoin are dropped, the generation advances, and every joined member is
// answered, the leader with all members' metadata.
func (c *Coordinator) completeJoin(g *group, now time.Time) {
	for _, m := range g.sortedMembers() {
		if m.join == nil && m.instanceID == nil {
			c.logger.Info("removing member that did not rejoin in time", "group", g.id, "member_id", m.id, "client_id", m.clientID)
			c.dropMember(g, m, kerr.UnknownMemberID.Code)
		}
	}
	if len(g.members) > 0 {
		if l := g.members[g.leader]; l == nil || l.join == nil {
			leader := ""
			for _, m := range g.sortedMembers() {
				if m.join != nil {
					leader = m.id
					break
				}
			}
			if leader == "" {
				// Only static members that have not rejoined: wait for
				// them, or for their sessions to run out.
				c.logger.Info("group could not complete the rebalance: no member rejoined", "group", g.id)
				g.joinDeadline = now.Add(g.rebalanceTimeout())
				return
			}
			g.leader = leader
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.subscribed = g.computeSubscribed()
		g.transition(stateEmpty, c.now())
		c.logger.Info("group is empty", "group", g.id, "generation", g.generation)
		c.persistGroupAsync(g)
		return
	}
	g.protocol = g.selectProtocol()
	g.subscribed = g.computeSubscribed()
	g.transition(stateCompletingRebalance, c.now())
	g.pendingSync = make(map[string]bool, len(g.members))
	g.syncDeadline = now.Add(g.rebalanceTimeout())
	for _, m := range g.members {
		g.pendingSync[m.id] = true
		if m.join != nil {
			m.join <- g.joinResponse(m, m.joinVersion)
			m.join = nil
			m.isNew = false
			m.lastHeartbeat = now
		}
	}
	c.logger.Info("group completed its join phase", "group", g.id, "generation", g.generation,
		"protocol", g.protocol, "leader", g.leader, "members", len(g.members))
}

// resetAssignment answers members waiting in SyncGroup with code and
// clears every assignment.
func (c *Coordinator) resetAssignment(g *group, code int16) {
	for _, m := range g.members {
		if m.sync != nil {
			m.sync <- syncResult{code: code}
			m.sync = nil
		}
		m.assignment = nil
	}
}

// failWaiters answers the member's pending JoinGroup or SyncGroup with code.
func (c *Coordinator) failWaiters(g *group, m *member, code int16) {
	if m.join != nil {
		m.join <- joinError(m.joinVersion, m.id, code)
		m.join = nil
	}
	if m.sync != nil {
		m.sync <- syncResult{code: code}
		m.sync = nil
	}
}

// dropMember removes a member without changing the group's state.
func (c *Coordinator) dropMember(g *group, m *member, code int16) {
	c.failWaiters(g, m, code)
	delete(g.members, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	delete(g.pendingSync, m.id)
	if g.leader == m.id {
		g.leader = g.pickLeader()
	}
}

// pickLeader prefers a member waiting in JoinGroup, as Kafka does.
func (g *group) pickLeader() string {
	ms := g.sortedMembers()
	for _, m := range ms {
		if m.join != nil {
			return m.id
		}
	}
	if len(ms) > 0 {
		return ms[0].id
	}
	return ""
}

// removeMember removes a member (it left, expired, or misbehaved) and
// moves the group on: a rebalance, or completing the one under way.
func (c *Coordinator) removeMember(g *group, m *member, now time.Time, reason string) {
	c.logger.Info("removing member from group", "group", g.id, "member_id", m.id, "instance", deref(m.instanceID), "client_id", m.clientID, "reason", reason)
	c.dropMember(g, m, kerr.UnknownMemberID.Code)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		c.prepareRebalance(g, now, reason)
	case statePreparingRebalance:
		c.checkJoin(g, now)
	}
}

// classicTimers expires KIP-394 member IDs, sessions, the join phase and
// members that never synced.
func (c *Coordinator) classicTimers(g *group, now time.Time) {
	expired := false
	for id, at := range g.pending {
		if !at.After(now) {
			delete(g.pending, id)
			expired = true
		}
	}
	if expired {
		c.checkJoin(g, now)
	}
	for _, m := range g.sortedMembers() {
		if at, ok := m.expiry(); ok && !at.After(now) && g.members[m.id] == m {
			c.removeMember(g, m, now, "session timeout of member "+m.id+" expired")
		}
	}
	if g.state == statePreparingRebalance && !g.joinDeadline.After(now) {
		c.joinTimeout(g, now)
	}
	if len(g.pendingSync) > 0 && (g.state == stateCompletingRebalance || g.state == stateStable) && !g.syncDeadline.After(now) {
		var late []*member
		for id := range g.pendingSync {
			if m := g.members[id]; m != nil {
				late = append(late, m)
			}
		}
		g.pendingSync = nil
		for _, m := range late {
			if g.members[m.id] == m {
				c.removeMember(g, m, now, "member "+m.id+" did not sync within the rebalance timeout")
			}
		}
	}
}

func (c *Coordinator) syncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	c.logger.Debug("SyncGroup", "group", req.Group, "member_id", req.MemberID, "client_id", clientFrom(ctx).id, "generation", req.Generation, "version", req.Version)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(code int16) *kmsg.SyncGroupResponse {
		resp.ErrorCode = code
		return resp
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	g, code := c.lookup(req.Group, false)
	if code != 0 {
		return fail(code)
	}
	if g == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	tooBig := false
	if c.cfg.MaxMetadataBytes > 0 {
		for _, a := range req.GroupAssignment {
			tooBig = tooBig || len(a.MemberAssignment) > c.cfg.MaxMetadataBytes
		}
	}

	g.wmu.Lock()
	g.mu.Lock()
	unlock := func() {
		c.reschedule(g)
		g.mu.Unlock()
		g.wmu.Unlock()
	}
	now := c.mono()
	if code := g.checkSync(req); code != 0 {
		unlock()
		return fail(code)
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		unlock()
		return fail(kerr.UnknownMemberID.Code)
	case statePreparingRebalance:
		unlock()
		return fail(kerr.RebalanceInProgress.Code)
	case stateStable:
		delete(g.pendingSync, m.id)
		m.lastHeartbeat = now
		resp.ProtocolType, resp.Protocol = new(g.protocolType), new(g.protocol)
		resp.MemberAssignment = m.assignment
		unlock()
		return resp
	}

	// CompletingRebalance.
	leader := m.id == g.leader
	if leader && tooBig {
		// MaxMetadataBytes: the leader's assignment is refused and the
		// leader dropped, so that the others rebalance without it.
		c.removeMember(g, m, now, "the leader's assignment exceeds the metadata limit")
		unlock()
		return fail(kerr.InvalidRequest.Code)
	}
	ch := make(chan syncResult, 1)
	if m.sync != nil {
		m.sync <- syncResult{code: kerr.RebalanceInProgress.Code}
	}
	m.sync = ch
	delete(g.pendingSync, m.id)
	m.lastHeartbeat = now
	if leader {
		assign := make(map[string][]byte, len(g.members))
		for _, a := range req.GroupAssignment {
			if g.members[a.MemberID] != nil {
				assign[a.MemberID] = slices.Clone(a.MemberAssignment)
			}
		}
		for id := range g.members {
			if assign[id] == nil {
				assign[id] = []byte{}
			}
		}
		rec := g.metadataRecord(assign)
		seq, gen := g.seq, g.generation
		g.mu.Unlock()
		err := c.writeGroupLocked(ctx, g, seq, rec)
		g.mu.Lock()
		now = c.mono()
		if g.state == stateCompletingRebalance && g.generation == gen && !g.unloaded {
			if err != nil {
				c.logger.Warn("store group assignment", "group", g.id, "generation", gen, "err", err)
				c.resetAssignment(g, appendCode(err, kerr.UnknownServerError.Code))
				c.prepareRebalance(g, now, "storing the assignment failed")
			} else {
				for id, mm := range g.members {
					mm.assignment = assign[id]
					if mm.sync != nil {
						mm.sync <- syncResult{assignment: mm.assignment}
						mm.sync = nil
						mm.lastHeartbeat = now
					}
				}
				g.transition(stateStable, c.now())
				c.logger.Info("group rebalanced", "group", g.id, "generation", g.generation,
					"protocol", g.protocol, "leader", g.leader, "members", len(g.members))
			}
		}
	}
	protocolType, protocol := g.protocolType, g.protocol
	unlock()

	select {
	case r := <-ch:
		resp.ErrorCode = r.code
		if r.code == 0 {
			resp.ProtocolType, resp.Protocol = new(protocolType), new(protocol)
			resp.MemberAssignment = r.assignment
		}
		return resp
	case <-ctx.Done():
		return fail(kerr.RebalanceInProgress.Code)
	}
}

// checkSync is GroupCoordinator.validateSyncGroup. The caller holds g.mu.
func (g *group) checkSync(req *kmsg.SyncGroupRequest) int16 {
	switch {
	case g.unloaded:
		return kerr.NotCoordinator.Code
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case g.kind == kindConsumer:
		return kerr.UnknownMemberID.Code
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	if req.ProtocolType != nil && *req.ProtocolType != g.protocolType {
		return kerr.InconsistentGroupProtocol.Code
	}
	if req.Protocol != nil && *req.Protocol != g.protocol {
		return kerr.InconsistentGroupProtocol.Code
	}
	return 0
}

func (c *Coordinator) heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	c.logger.Debug("Heartbeat", "group", req.Group, "member_id", req.MemberID, "client_id", clientFrom(ctx).id, "generation", req.Generation)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeatCode(req)
	return resp
}

func (c *Coordinator) heartbeatCode(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g, code := c.lookup(req.Group, false)
	if code != 0 {
		return code
	}
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.unloaded:
		return kerr.NotCoordinator.Code
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case g.kind == kindConsumer:
		return kerr.UnknownMemberID.Code
	}
	if code := g.validateMember(req.MemberID, req.InstanceID); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID.Code
	case statePreparingRebalance:
		m.lastHeartbeat = c.mono()
		return kerr.RebalanceInProgress.Code
	}
	m.lastHeartbeat = c.mono()
	return 0
}

func (c *Coordinator) leaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	c.logger.Debug("LeaveGroup", "group", req.Group, "member_id", req.MemberID, "client_id", clientFrom(ctx).id, "members", len(req.Members))
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	codes := make([]int16, len(leaving))
	top := c.leave(req.Group, leaving, codes)
	if req.Version < 3 {
		if top == 0 {
			top = codes[0]
		}
		resp.ErrorCode = top
		return resp
	}
	resp.ErrorCode = top
	if top != 0 {
		return resp
	}
	for i, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = lm.MemberID, lm.InstanceID, codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// leave removes members, setting each one's code; it returns the
// request-level code.
func (c *Coordinator) leave(groupID string, leaving []kmsg.LeaveGroupRequestMember, codes []int16) int16 {
	if groupID == "" {
		return kerr.InvalidGroupID.Code
	}
	g, code := c.lookup(groupID, false)
	if code != 0 {
		return code
	}
	if g == nil {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.unloaded:
		return kerr.NotCoordinator.Code
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	}
	now := c.mono()
	for i, lm := range leaving {
		id := lm.MemberID
		if id == "" && lm.InstanceID != nil {
			id = g.static[*lm.InstanceID]
		}
		if _, ok := g.pending[id]; ok && id != "" {
			delete(g.pending, id)
			c.checkJoin(g, now)
			continue
		}
		if g.kind == kindConsumer {
			codes[i] = kerr.UnknownMemberID.Code
			continue
		}
		if code := g.validateMember(id, lm.InstanceID); code != 0 {
			codes[i] = code
			continue
		}
		reason := "member " + id + " left the group"
		if lm.Reason != nil {
			reason += ": " + *lm.Reason
		}
		c.removeMember(g, g.members[id], now, reason)
	}
	c.reschedule(g)
	return 0
}

// validateMember is Kafka's validateCurrentMember: a static member's
// instance ID must map to this member ID (KIP-345), and the member must
// be in the group. The caller holds g.mu.
func (g *group) validateMember(id string, instance *string) int16 {
	if instance != nil {
		cur, ok := g.static[*instance]
		switch {
		case !ok: // an instance the group does not know
			return kerr.UnknownMemberID.Code
		case cur != id:
			return kerr.FencedInstanceID.Code
		}
	}
	if g.members[id] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// supportsProtocols reports whether a joining member can be in the group,
// as Kafka's ClassicGroup.supportsProtocols: an Empty group takes any
// protocol type and protocols; otherwise the member must have the group's
// protocol type and share a protocol with every member, itself included
// (a member rejoining counts with the protocols it joined with before).
func (g *group) supportsProtocols(protocolType string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if g.state == stateEmpty {
		return protocolType != "" && len(ps) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range ps {
		all := true
		for _, m := range g.members {
			if !m.supports(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// acceptJoining is Kafka's group.max.size check.
func (g *group) acceptJoining(id string, maxSize int) bool {
	if maxSize <= 0 {
		return true
	}
	m := g.members[id]
	switch g.state {
	case stateEmpty, stateDead:
		return true
	case statePreparingRebalance:
		if m != nil && m.join != nil {
			return true
		}
		waiting := 0
		for _, o := range g.members {
			if o.join != nil {
				waiting++
			}
		}
		return waiting < maxSize
	}
	return m != nil || len(g.members) < maxSize
}

// selectProtocol is Kafka's selectProtocol: among the protocols every
// member supports, each member votes for the first in its own order of
// preference; the most votes wins, ties going to the leader's preference.
func (g *group) selectProtocol() string {
	ms := g.sortedMembers()
	if len(ms) == 0 {
		return ""
	}
	pref := g.members[g.leader]
	if pref == nil {
		pref = ms[0]
	}
	var cands []string
	for _, p := range pref.protocols {
		all := true
		for _, m := range ms {
			all = all && m.supports(p.name)
		}
		if all {
			cands = append(cands, p.name)
		}
	}
	votes := make(map[string]int, len(cands))
	for _, m := range ms {
		for _, p := range m.protocols {
			if slices.Contains(cands, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best := ""
	for _, name := range cands {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// computeSubscribed is the union of the members' subscribed topics for a
// "consumer" protocol group, or nil when unknown.
func (g *group) computeSubscribed() map[string]bool {
	if g.protocolType != "consumer" {
		return nil
	}
	topics := make(map[string]bool)
	if len(g.members) == 0 {
		return topics
	}
	if g.protocol == "" {
		return nil
	}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil
		}
		for _, t := range md.Topics {
			topics[t] = true
		}
	}
	return topics
}

func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalance)
	}
	return d
}

// joinResponse is the successful JoinGroup answer for the current
// generation; the leader gets every member's metadata.
func (g *group) joinResponse(m *member, version int16) *kmsg.JoinGroupResponse {
	resp := &kmsg.JoinGroupResponse{Version: version}
	resp.Default()
	resp.Generation = g.generation
	resp.ProtocolType, resp.Protocol = new(g.protocolType), new(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if m.id == g.leader {
		for _, o := range g.sortedMembers() {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = o.id, o.instanceID, o.metadataFor(g.protocol)
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

func joinError(version int16, memberID string, code int16) *kmsg.JoinGroupResponse {
	resp := &kmsg.JoinGroupResponse{Version: version}
	resp.Default()
	resp.ErrorCode = code
	resp.MemberID = memberID
	return resp
}

// toClassic makes an empty consumer group a new Empty classic group, as
// Kafka replaces the one with the other: no protocol type until a member
// joins, generation 0, and Empty since wall. Its offsets stay.
func (g *group) toClassic(wall time.Time) {
	g.kind = kindClassic
	g.cons = nil
	g.protocolType, g.protocol, g.leader = "", "", ""
	g.generation = 0
	g.subscribed = nil
	g.pendingSync = nil
	g.transition(stateEmpty, wall)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	return new(*s)
}
