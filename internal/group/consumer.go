package group

// KIP-848 consumer groups: ConsumerGroupHeartbeat and ConsumerGroupDescribe.
//
// The coordinator owns the assignment. Every change of membership,
// subscriptions or subscribed topics' partitions bumps the group epoch; the
// server-side assignor (assignor.go) then computes a target assignment for
// that epoch. Each member moves toward its target on its own heartbeats,
// never stopping the world:
//
//   - partitions it keeps stay, through every epoch;
//   - partitions it must give up are first revoked: the member stays at its
//     epoch (state "unrevoked") until a heartbeat's owned partitions no
//     longer include them, or its rebalance timeout fences it;
//   - partitions it gains are handed over only once no other member holds
//     them (state "unreleased" until then); when it has nothing left to
//     revoke it moves to the target epoch.
//
// A member that misses its session (group.consumer.session.timeout.ms) is
// removed. Group state is stored in __consumer_offsets in Kafka's KIP-848
// records (consumer_storage.go), so after a coordinator failover the
// members keep heartbeating with their member IDs and epochs.

import (
	"cmp"
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type memberState int8

const (
	memberStable     memberState = iota
	memberUnrevoked              // must revoke partitions before moving on
	memberUnreleased             // waits for partitions other members hold
)

type consumerGroup struct {
	epoch           int32 // group epoch
	assignmentEpoch int32 // epoch of target
	assignor        string
	members         map[string]*consumerMember
	static          map[string]string     // instance ID -> member ID
	target          map[string]assignment // member -> target assignment
	owners          map[tpID]string       // partitions held (assigned or revoking) -> member
	topicsSig       string                // subscribed topics' IDs and sizes at the last epoch
	topics          []TopicInfo           // those topics, by name (ConsumerGroupPartitionMetadata)
}

type tpID struct {
	t [16]byte
	p int32
}

type consumerMember struct {
	id         string
	instanceID *string
	rackID     *string
	clientID   string
	clientHost string

	epoch, prevEpoch int32
	state            memberState
	names            []string // subscribed topic names, sorted
	regex            string   // subscribed topic regex (KIP-848 v1), "" for none
	re               *regexp.Regexp
	// canDescribe filters the regex's matches by the member's DESCRIBE
	// authorization (WithDescribeCheck) as of its last heartbeat; nil
	// lets every match through (no ACLs, or a member loaded from the
	// log that has not heartbeated to this coordinator yet).
	canDescribe func(topic string) bool
	assignor    string
	rebalance   time.Duration

	assigned assignment // what the member may consume
	revoking assignment // what it still has to give up

	sessionDeadline time.Time
	revokeDeadline  time.Time
	leaving         bool // a static member that left with epoch -2
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		members: make(map[string]*consumerMember),
		static:  make(map[string]string),
		target:  make(map[string]assignment),
		owners:  make(map[tpID]string),
	}
}

// stateName is the KIP-848 group state.
func (cg *consumerGroup) stateName() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.epoch > cg.assignmentEpoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		// Kafka's isReconciledTo: a static member away (epoch -2) is not.
		if m.memberEpoch() != cg.assignmentEpoch || m.state != memberStable {
			return "Reconciling"
		}
	}
	return "Stable"
}

func (cg *consumerGroup) deadlines(consider func(time.Time)) {
	for _, m := range cg.members {
		consider(m.sessionDeadline)
		if m.state == memberUnrevoked && !m.leaving {
			consider(m.revokeDeadline)
		}
	}
}

// subscribes reports whether some member subscribes to topic.
func (cg *consumerGroup) subscribes(topic string) bool {
	for _, m := range cg.members {
		if m.subscribes(topic) {
			return true
		}
	}
	return false
}

// subscribes reports whether the member subscribes to topic, by name or
// by regex. A regex is matched against every topic, internal ones
// (__consumer_offsets, __transaction_state) included, as Kafka's
// GroupMetadataManager resolves it: a client that wants them left out
// says so in its regex.
func (m *consumerMember) subscribes(topic string) bool {
	if _, ok := slices.BinarySearch(m.names, topic); ok {
		return true
	}
	return m.re != nil && m.re.MatchString(topic) && (m.canDescribe == nil || m.canDescribe(topic))
}

func (cg *consumerGroup) sortedMembers() []*consumerMember {
	ms := slices.Collect(maps.Values(cg.members))
	slices.SortFunc(ms, func(a, b *consumerMember) int { return cmp.Compare(a.id, b.id) })
	return ms
}

// hold records which partitions a member holds, keeping owners in step.
func (cg *consumerGroup) hold(m *consumerMember, assigned, revoking assignment) {
	release := func(a assignment) {
		a.each(func(t [16]byte, p int32) {
			if cg.owners[tpID{t, p}] == m.id {
				delete(cg.owners, tpID{t, p})
			}
		})
	}
	release(m.assigned)
	release(m.revoking)
	m.assigned, m.revoking = assigned, revoking
	for _, a := range []assignment{assigned, revoking} {
		a.each(func(t [16]byte, p int32) { cg.owners[tpID{t, p}] = m.id })
	}
}

// reconcile moves a member toward its target (Kafka's
// CurrentAssignmentBuilder). owned is what the member's heartbeat says it
// holds; nil when the heartbeat did not say.
func (cg *consumerGroup) reconcile(m *consumerMember, owned assignment, now time.Time) {
	switch m.state {
	case memberStable:
		if m.epoch == cg.assignmentEpoch {
			return
		}
	case memberUnrevoked:
		if ownsAny(owned, m.revoking) {
			return
		}
	}
	target := cg.target[m.id]
	retained, revoke := make(assignment), make(assignment)
	m.assigned.each(func(t [16]byte, p int32) {
		if target.has(t, p) {
			retained.add(t, p)
		} else {
			revoke.add(t, p)
		}
	})
	unreleased := false
	var gain []tpID
	target.each(func(t [16]byte, p int32) {
		if retained.has(t, p) {
			return
		}
		if o := cg.owners[tpID{t, p}]; o != "" && o != m.id {
			unreleased = true
			return
		}
		gain = append(gain, tpID{t, p})
	})
	if revoke.size() > 0 && ownsAny(owned, revoke) {
		// Revoke first, at the current epoch.
		cg.hold(m, retained, revoke)
		m.state = memberUnrevoked
		m.revokeDeadline = now.Add(m.rebalance)
		return
	}
	for _, x := range gain {
		retained.add(x.t, x.p)
	}
	cg.hold(m, retained, make(assignment))
	if m.epoch != cg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	m.state = memberStable
	if unreleased {
		m.state = memberUnreleased
	}
	m.revokeDeadline = time.Time{}
}

// ownsAny reports whether owned includes any partition of a; an unknown
// owned set (nil) is taken to include everything.
func ownsAny(owned, a assignment) bool {
	if owned == nil {
		return a.size() > 0
	}
	found := false
	a.each(func(t [16]byte, p int32) { found = found || owned.has(t, p) })
	return found
}

func (a assignment) subsetOf(b assignment) bool {
	ok := true
	a.each(func(t [16]byte, p int32) { ok = ok && b.has(t, p) })
	return ok
}

// updateTarget bumps the group epoch when the subscribed topics changed
// (new topics, more partitions) and recomputes the target assignment when
// the group epoch is ahead of it. The caller holds g.mu.
func (c *Coordinator) updateTarget(g *group) {
	cg := g.cons
	ti := c.topicIndex()
	specs := make([]assigneeSpec, 0, len(cg.members))
	topics := make(map[[16]byte]TopicInfo)
	for _, m := range cg.sortedMembers() {
		spec := assigneeSpec{id: m.id, topics: make(map[[16]byte]bool)}
		for _, t := range ti.byName {
			if m.subscribes(t.Name) {
				spec.topics[t.ID] = true
				topics[t.ID] = t
			}
		}
		specs = append(specs, spec)
	}
	subscribed := slices.SortedFunc(maps.Values(topics), func(a, b TopicInfo) int { return cmp.Compare(a.Name, b.Name) })
	if s := topicsSignature(subscribed); s != cg.topicsSig {
		cg.topicsSig, cg.topics = s, subscribed
		if cg.epoch == cg.assignmentEpoch && len(cg.members) > 0 {
			cg.epoch++
		}
	}
	if cg.epoch <= cg.assignmentEpoch {
		return
	}
	cg.assignor = cg.preferredAssignor()
	cg.target = runAssignor(cg.assignor, assignorInput{members: specs, topics: topics, prev: cg.target})
	cg.assignmentEpoch = cg.epoch
	c.logger.Info("computed consumer group assignment", "group", g.id, "epoch", cg.epoch,
		"assignor", cg.assignor, "members", len(cg.members), "topics", len(topics))
}

// preferredAssignor is the assignor most members ask for; uniform when
// none asks.
func (cg *consumerGroup) preferredAssignor() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := assignorUniform
	for _, name := range slices.Sorted(maps.Keys(votes)) {
		if votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// removeConsumerMember drops a member, releases its partitions and bumps
// the group epoch. The caller holds g.mu.
func (c *Coordinator) removeConsumerMember(g *group, m *consumerMember, reason string) {
	cg := g.cons
	c.logger.Info("removing member from consumer group", "group", g.id, "member_id", m.id, "client_id", m.clientID, "instance", deref(m.instanceID), "reason", reason)
	cg.hold(m, make(assignment), make(assignment))
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m.id {
		delete(cg.static, *m.instanceID)
	}
	cg.epoch++
	c.updateTarget(g)
}

// consumerTimers fences members whose session ran out or who did not
// revoke within their rebalance timeout. A static member away (epoch -2)
// has nothing left to revoke, and only its session ends it.
func (c *Coordinator) consumerTimers(g *group, now time.Time) {
	for _, m := range g.cons.sortedMembers() {
		switch {
		case !now.Before(m.sessionDeadline):
			c.removeConsumerMember(g, m, "session timeout expired")
		case m.state == memberUnrevoked && !m.leaving && !now.Before(m.revokeDeadline):
			c.removeConsumerMember(g, m, "partitions not revoked within the rebalance timeout")
		}
	}
}

// memberEpoch is the epoch the member is at as Kafka reports and checks
// it: -2 for a static member that left temporarily, whose own epoch is
// kept for when its instance returns.
func (m *consumerMember) memberEpoch() int32 {
	if m.leaving {
		return staticLeaveEpoch
	}
	return m.epoch
}

// validateConsumerCommit is ConsumerGroup.validateOffsetCommit: with epoch
// -1 anyone may commit to an empty group; otherwise the member must exist,
// use OffsetCommit v9+, and be at its epoch: any other epoch, older or
// newer, is STALE_MEMBER_EPOCH (Kafka's validateMemberEpoch). A static
// member that left (epoch -2) is STALE_MEMBER_EPOCH to the epoch it left
// at.
func (c *Coordinator) validateConsumerCommit(g *group, memberID string, epoch int32, version int16) int16 {
	cg := g.cons
	if epoch < 0 && len(cg.members) == 0 {
		return 0
	}
	m := cg.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case version < 9:
		return kerr.UnsupportedVersion.Code
	case epoch != m.memberEpoch():
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

// validateConsumerFetch is ConsumerGroup.validateOffsetFetch (OffsetFetch
// v9): a member that names itself must be at its epoch.
func (g *group) validateConsumerFetch(memberID *string, epoch int32) int16 {
	if memberID == nil || (*memberID == "" && epoch < 0) {
		return 0
	}
	m := g.cons.members[*memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case epoch != m.memberEpoch():
		return kerr.StaleMemberEpoch.Code
	}
	return 0
}

func (g *group) toConsumer() {
	g.kind = kindConsumer
	g.cons = newConsumerGroup()
	g.state = stateEmpty
	g.protocolType, g.protocol, g.leader = "consumer", "", ""
	g.subscribed = nil
	g.pendingSync = nil
}

// checkHeartbeat validates a ConsumerGroupHeartbeat before it touches the
// group, as Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid does, and
// compiles its regex.
func checkHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (int16, string, *regexp.Regexp) {
	invalid := func(msg string) (int16, string, *regexp.Regexp) { return kerr.InvalidRequest.Code, msg, nil }
	// Kafka's throwIfEmptyString: blank is empty.
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	switch {
	case blank(req.Group):
		return invalid("GroupId can't be empty.")
	case req.InstanceID != nil && blank(*req.InstanceID):
		return invalid("InstanceId can't be empty.")
	case req.RackID != nil && blank(*req.RackID):
		return invalid("RackId can't be empty.")
	case req.MemberEpoch < -2:
		return invalid("MemberEpoch is invalid.")
	case (req.MemberEpoch != 0 || req.Version >= 1) && blank(req.MemberID):
		// From v1 the client names itself (KIP-1082), at its join too.
		return invalid("MemberId can't be empty.")
	case req.MemberEpoch == 0 && req.RebalanceTimeoutMillis == -1:
		return invalid("RebalanceTimeoutMs must be provided in first request.")
	case req.MemberEpoch == 0 && (req.Topics == nil || len(req.Topics) > 0):
		return invalid("TopicPartitions must be empty when (re-)joining.")
	case req.MemberEpoch == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
	case req.ServerAssignor != nil && !knownAssignor(*req.ServerAssignor):
		return kerr.UnsupportedAssignor.Code, "ServerAssignor " + *req.ServerAssignor + " is not supported. Supported assignors: uniform, range.", nil
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		// Kafka matches the whole topic name (RE2J matches()).
		re, err := regexp.Compile("^(?:" + *req.SubscribedTopicRegex + ")$")
		if err != nil {
			return kerr.InvalidRegularExpression.Code, err.Error(), nil
		}
		return 0, "", re
	}
	return 0, "", nil
}

func (c *Coordinator) consumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	c.logger.Debug("ConsumerGroupHeartbeat", "group", req.Group, "member_id", req.MemberID, "client_id", clientFrom(ctx).id, "epoch", req.MemberEpoch)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(code int16, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = new(msg)
		}
		return resp
	}
	code, msg, re := checkHeartbeat(req)
	if code != 0 {
		return fail(code, msg)
	}
	join := req.MemberEpoch == 0
	g, code := c.lookup(req.Group, join)
	if code != 0 {
		return fail(code, "")
	}
	if g == nil {
		// A member of a group this coordinator does not know.
		return fail(kerr.UnknownMemberID.Code, "")
	}
	if join {
		// A join may turn an empty group into a live one; deletion and
		// expiry hold wmu while they decide a group is empty.
		g.wmu.Lock()
		defer g.wmu.Unlock()
	}
	g.mu.Lock()
	code, msg = c.consumerGroupHeartbeatLocked(g, req, re, clientFrom(ctx), join, resp)
	// Answer once every change up to this one is durable, ours or not.
	upto, pending := g.cqSeq, g.cqDone < g.cqSeq
	g.mu.Unlock()
	if pending {
		if err := c.flushConsumer(ctx, g, upto, join); err != nil && code == 0 {
			c.logger.Warn("store consumer group records", "group", g.id, "err", err)
			*resp = *req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
			code, msg = appendCode(err, kerr.UnknownServerError.Code), ""
		}
	}
	if code != 0 {
		return fail(code, msg)
	}
	return resp
}

// consumerGroupHeartbeatLocked checks the group, applies the heartbeat and
// queues the records of what it changed. The caller holds g.mu, and g.wmu
// when join.
func (c *Coordinator) consumerGroupHeartbeatLocked(g *group, req *kmsg.ConsumerGroupHeartbeatRequest, re *regexp.Regexp, ci clientInfo, join bool, resp *kmsg.ConsumerGroupHeartbeatResponse) (int16, string) {
	switch {
	case g.unloaded:
		return kerr.NotCoordinator.Code, ""
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code, ""
	case g.kind == kindClassic && (len(g.members) > 0 || len(g.pending) > 0):
		return kerr.GroupIDNotFound.Code, "Group " + g.id + " is not a consumer group."
	case g.kind == kindClassic && !join:
		return kerr.UnknownMemberID.Code, ""
	case g.kind == kindClassic:
		if g.protocolType != "" {
			// The empty classic group's metadata goes (Kafka's
			// conversion writes its tombstone).
			g.queue([]kv{{key: groupKey(g.id)}})
		}
		g.toConsumer()
	}
	code, msg := c.consumerHeartbeat(g, req, re, ci, resp)
	if code != 0 {
		return code, msg
	}
	c.persistConsumer(g, false, req.MemberID, deref(resp.MemberID))
	c.reschedule(g)
	return 0, ""
}

// consumerHeartbeat is one heartbeat of a member of a consumer group. The
// caller holds g.mu.
func (c *Coordinator) consumerHeartbeat(g *group, req *kmsg.ConsumerGroupHeartbeatRequest, re *regexp.Regexp, ci clientInfo, resp *kmsg.ConsumerGroupHeartbeatResponse) (int16, string) {
	cg := g.cons
	now := c.mono()
	resp.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval / time.Millisecond)

	if req.MemberEpoch != 0 && req.InstanceID != nil {
		// Kafka's throwIfStaticMemberIsUnknown and
		// throwIfInstanceIdIsFenced: the instance names the member.
		switch owner, ok := cg.static[*req.InstanceID]; {
		case !ok:
			return kerr.UnknownMemberID.Code, "Instance id " + *req.InstanceID + " is unknown."
		case owner != req.MemberID:
			return kerr.FencedInstanceID.Code, "Static member " + *req.InstanceID + " is now member " + owner + "."
		}
	}
	if req.MemberEpoch < 0 {
		m := cg.members[req.MemberID]
		if m == nil {
			return kerr.UnknownMemberID.Code, ""
		}
		if req.MemberEpoch == staticLeaveEpoch && m.instanceID == nil {
			// Epoch -2 is for static members. Kafka refuses it without
			// an InstanceId in the request; a static member's is
			// known here, and franz-go (1.22) leaves without it.
			return kerr.InvalidRequest.Code, "InstanceId can't be null."
		}
		resp.MemberID, resp.MemberEpoch = new(m.id), req.MemberEpoch
		if req.MemberEpoch == staticLeaveEpoch {
			// KIP-848 static membership: the member keeps its
			// partitions for its session, expecting to return. What
			// it was still to give up goes to the others at once
			// (Kafka's consumerGroupStaticMemberGroupLeave).
			m.leaving = true
			m.prevEpoch = m.epoch // stored as Kafka does: epoch -2, previous epoch
			m.sessionDeadline = now.Add(c.cfg.ConsumerSessionTimeout)
			cg.hold(m, m.assigned, make(assignment))
			m.revokeDeadline = time.Time{}
			c.logger.Info("static member left consumer group temporarily", "group", g.id, "member_id", m.id, "client_id", ci.id, "instance", *m.instanceID)
			return 0, ""
		}
		c.removeConsumerMember(g, m, "member left the group")
		return 0, ""
	}

	bump := false
	var m *consumerMember
	owned := toAssignment(req.Topics)
	if req.MemberEpoch == 0 {
		id := req.MemberID
		if id == "" {
			id = newUUID() // v0: the coordinator names members
		}
		if req.InstanceID != nil {
			old := cg.static[*req.InstanceID]
			switch om := cg.members[old]; {
			case om == nil:
			case !om.leaving:
				// Kafka's throwIfInstanceIdIsUnreleased: a join takes
				// the instance only from a member that left with epoch
				// -2, whatever member ID it comes with, its own
				// included.
				return kerr.UnreleasedInstanceID.Code, "Static member " + id + " with instance id " + *req.InstanceID +
					" cannot join the group: the instance id is still held by member " + old + "."
			case old == id:
				// The instance returns under the member ID it left
				// with: it is back at its epoch, with its partitions.
				om.leaving = false
				c.logger.Info("static member rejoined consumer group", "group", g.id, "member_id", id, "client_id", ci.id, "instance", *req.InstanceID)
			default:
				// The restarted instance takes over its state.
				delete(cg.members, old)
				assigned, revoking := om.assigned, om.revoking
				cg.hold(om, make(assignment), make(assignment))
				om.id, om.leaving = id, false
				cg.members[id] = om
				cg.hold(om, assigned, revoking)
				cg.target[id] = cg.target[old]
				delete(cg.target, old)
				cg.static[*req.InstanceID] = id
				c.logger.Info("static member rejoined consumer group", "group", g.id, "member_id", id, "client_id", ci.id, "replaced", old)
			}
		}
		m = cg.members[id]
		if m == nil {
			if c.cfg.MaxGroupSize > 0 && len(cg.members) >= c.cfg.MaxGroupSize {
				return kerr.GroupMaxSizeReached.Code, ""
			}
			m = &consumerMember{id: id, assigned: make(assignment), revoking: make(assignment)}
			cg.members[id] = m
			if req.InstanceID != nil {
				cg.static[*req.InstanceID] = id
			}
			bump = true
			c.logger.Info("member joined consumer group", "group", g.id, "member_id", id, "client_id", ci.id, "instance", deref(req.InstanceID))
		}
		owned = make(assignment) // a (re)joining member holds nothing
	} else {
		m = cg.members[req.MemberID]
		switch {
		case m == nil:
			return kerr.UnknownMemberID.Code, ""
		case m.leaving || req.MemberEpoch > m.epoch:
			return kerr.FencedMemberEpoch.Code, "The consumer group member has a greater member epoch than expected."
		case req.MemberEpoch < m.epoch:
			// The response carrying the new epoch may have been lost.
			if req.MemberEpoch != m.prevEpoch || owned == nil || !owned.subsetOf(m.assigned) {
				return kerr.FencedMemberEpoch.Code, "The consumer group member has a smaller member epoch than expected."
			}
		}
	}

	m.clientID, m.clientHost = ci.id, ci.host
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalance = ms(req.RebalanceTimeoutMillis)
	}
	if req.InstanceID != nil {
		m.instanceID = new(*req.InstanceID)
	}
	if req.RackID != nil {
		m.rackID = new(*req.RackID)
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor = *req.ServerAssignor
		bump = true
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Compact(slices.Sorted(slices.Values(req.SubscribedTopicNames)))
		if !slices.Equal(names, m.names) {
			m.names = names
			bump = true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, m.re = *req.SubscribedTopicRegex, re
		bump = true
	}
	if ci.canDescribe != nil {
		m.canDescribe = ci.canDescribe
	}
	m.sessionDeadline = now.Add(c.cfg.ConsumerSessionTimeout)
	if bump {
		cg.epoch++
	}
	c.updateTarget(g)

	before := m.assigned.clone()
	cg.reconcile(m, owned, now)
	resp.MemberID, resp.MemberEpoch = new(m.id), m.epoch
	full := req.MemberEpoch == 0 || (req.RebalanceTimeoutMillis != -1 &&
		(req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil)
	if full || !before.equal(m.assigned) {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		m.assigned.each(func(t [16]byte, p int32) {
			if n := len(a.Topics); n == 0 || a.Topics[n-1].TopicID != t {
				rt := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
				rt.TopicID = t
				a.Topics = append(a.Topics, rt)
			}
			last := &a.Topics[len(a.Topics)-1]
			last.Partitions = append(last.Partitions, p)
		})
		if a.Topics == nil {
			a.Topics = []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}
		}
		resp.Assignment = &a
	}
	return 0, ""
}

func toAssignment(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) assignment {
	if ts == nil {
		return nil
	}
	a := make(assignment)
	for _, t := range ts {
		for _, p := range t.Partitions {
			a.add(t.TopicID, p)
		}
	}
	return a
}

func (c *Coordinator) consumerGroupDescribe(ctx context.Context, req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	c.logger.Debug("ConsumerGroupDescribe", "groups", req.Groups, "client_id", clientFrom(ctx).id)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	ti := c.topicIndex()
	for _, id := range req.Groups {
		dg := c.describeConsumerGroup(id, ti)
		if req.IncludeAuthorizedOperations && dg.ErrorCode == 0 {
			dg.AuthorizedOperations = groupOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeConsumerGroup(id string, ti topicIndex) kmsg.ConsumerGroupDescribeResponseGroup {
	dg := kmsg.NewConsumerGroupDescribeResponseGroup()
	dg.Group = id
	notFound := func(msg string) kmsg.ConsumerGroupDescribeResponseGroup {
		dg.ErrorCode, dg.ErrorMessage = kerr.GroupIDNotFound.Code, new(msg)
		return dg
	}
	g, code := c.lookup(id, false)
	if code != 0 {
		dg.ErrorCode = code
		return dg
	}
	if g == nil {
		return notFound("Group " + id + " not found.")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.unloaded:
		dg.ErrorCode = kerr.NotCoordinator.Code
		return dg
	case g.state == stateDead:
		return notFound("Group " + id + " not found.")
	case g.kind != kindConsumer:
		return notFound("Group " + id + " is not a consumer group.")
	}
	cg := g.cons
	dg.State, dg.Epoch, dg.AssignmentEpoch, dg.AssignorName = cg.stateName(), cg.epoch, cg.assignmentEpoch, cmp.Or(cg.assignor, assignorUniform)
	described := func(a assignment) kmsg.Assignment {
		var out kmsg.Assignment
		a.each(func(t [16]byte, p int32) {
			info, ok := ti.byID[t]
			if !ok {
				// A topic deleted since: Kafka leaves it out.
				return
			}
			if n := len(out.TopicPartitions); n == 0 || out.TopicPartitions[n-1].TopicID != t {
				out.TopicPartitions = append(out.TopicPartitions, kmsg.AssignmentTopicPartition{TopicID: t, Topic: info.Name})
			}
			last := &out.TopicPartitions[len(out.TopicPartitions)-1]
			last.Partitions = append(last.Partitions, p)
		})
		return out
	}
	for _, m := range cg.sortedMembers() {
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID = m.id, m.instanceID, m.rackID
		dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.memberEpoch(), m.clientID, m.clientHost
		dm.SubscribedTopics = slices.Clone(m.names)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		if m.regex != "" {
			dm.SubscribedTopicRegex = new(m.regex)
		}
		dm.Assignment, dm.TargetAssignment = described(m.assigned), described(cg.target[m.id])
		dm.MemberType = 1 // the consumer protocol
		dg.Members = append(dg.Members, dm)
	}
	return dg
}
