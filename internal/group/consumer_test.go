package group

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var topicT = TopicInfo{Name: "t", ID: [16]byte{1}, Partitions: 6}

func consumerHarness(t *testing.T, topics ...TopicInfo) *harness {
	if len(topics) == 0 {
		topics = []TopicInfo{topicT}
	}
	return newHarness(t, func(c *Config) {
		c.Topics = func() []TopicInfo { return topics }
		c.ConsumerSessionTimeout = 5 * time.Second
	})
}

// cgMember is a KIP-848 client: it remembers its epoch and what it owns.
type cgMember struct {
	t       *testing.T
	h       *harness
	group   string
	id      string
	epoch   int32
	owned   map[int32]bool // partitions of topicT
	topics  []string
	timeout int32
}

func (h *harness) newCGMember(groupID, id string, topics ...string) *cgMember {
	if len(topics) == 0 {
		topics = []string{"t"}
	}
	return &cgMember{t: h.t, h: h, group: groupID, id: id, owned: map[int32]bool{}, topics: topics, timeout: 60000}
}

func (m *cgMember) request(full bool) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = m.group, m.id, m.epoch
	if full || m.epoch == 0 {
		req.RebalanceTimeoutMillis = m.timeout
		req.SubscribedTopicNames = m.topics
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if m.epoch != 0 && len(m.owned) > 0 {
			req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicT.ID, Partitions: m.ownedList()}}
		}
	}
	return req
}

func (m *cgMember) ownedList() []int32 {
	var ps []int32
	for p := range m.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// beat sends a heartbeat (full: with owned partitions) and applies the
// response like a client: it drops partitions no longer assigned and
// takes new ones. It returns the response.
func (m *cgMember) beat(full bool) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	resp := m.h.c.ConsumerGroupHeartbeat(context.Background(), m.request(full))
	if resp.ErrorCode != 0 {
		return resp
	}
	m.id, m.epoch = deref(resp.MemberID), resp.MemberEpoch
	if resp.Assignment != nil {
		m.owned = map[int32]bool{}
		for _, t := range resp.Assignment.Topics {
			for _, p := range t.Partitions {
				m.owned[p] = true
			}
		}
	}
	return resp
}

func (m *cgMember) mustBeat(full bool) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	resp := m.beat(full)
	wantCode(m.t, "heartbeat of "+m.id, resp.ErrorCode, 0)
	return resp
}

// settle heartbeats all members (full requests) until their epochs stop
// changing, checking that no partition is ever owned by two members.
func settle(t *testing.T, ms ...*cgMember) {
	t.Helper()
	for range 10 {
		changed := false
		for _, m := range ms {
			before := fmt.Sprint(m.epoch, m.ownedList())
			m.mustBeat(true)
			if fmt.Sprint(m.epoch, m.ownedList()) != before {
				changed = true
			}
			owners := map[int32]string{}
			for _, o := range ms {
				for p := range o.owned {
					if owners[p] != "" {
						t.Fatalf("partition %d owned by %s and %s", p, owners[p], o.id)
					}
					owners[p] = o.id
				}
			}
		}
		if !changed {
			return
		}
	}
	t.Fatal("assignment did not settle")
}

// KIP-848: a joining member makes the others give up partitions before it
// gets them; partitions that stay with a member are never revoked.
func TestConsumerGroupIncrementalRebalance(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a := h.newCGMember("g", "member-a")
	resp := a.mustBeat(false)
	if resp.MemberEpoch != 1 || len(a.owned) != 6 || resp.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("first member: epoch %d, owns %v, interval %d", resp.MemberEpoch, a.ownedList(), resp.HeartbeatIntervalMillis)
	}

	b := h.newCGMember("g", "member-b")
	resp = b.mustBeat(false)
	if resp.MemberEpoch != 2 || len(b.owned) != 0 {
		t.Fatalf("second member: epoch %d owns %v, want epoch 2 and nothing yet (a holds it)", resp.MemberEpoch, b.ownedList())
	}
	kept := a.ownedList()
	// a learns it must revoke; it stays at epoch 1 meanwhile.
	resp = a.mustBeat(true)
	if resp.MemberEpoch != 1 || len(a.owned) != 3 {
		t.Fatalf("a while revoking: epoch %d owns %v", resp.MemberEpoch, a.ownedList())
	}
	for p := range a.owned {
		if !slices.Contains(kept, p) {
			t.Fatalf("a was given %d while revoking", p)
		}
	}
	if st := h.consumerDescribe("g").State; st != "Reconciling" {
		t.Fatalf("state %s, want Reconciling", st)
	}
	// b still cannot have a's partitions: a has not confirmed.
	b.mustBeat(true)
	if len(b.owned) != 0 {
		t.Fatalf("b got %v before a released them", b.ownedList())
	}
	// a's full heartbeat shows the revocation; it moves to epoch 2.
	resp = a.mustBeat(true)
	if resp.MemberEpoch != 2 {
		t.Fatalf("a after revoking: epoch %d", resp.MemberEpoch)
	}
	b.mustBeat(true)
	if len(b.owned) != 3 || b.epoch != 2 {
		t.Fatalf("b: epoch %d owns %v", b.epoch, b.ownedList())
	}
	settle(t, a, b)
	if d := h.consumerDescribe("g"); d.State != "Stable" || d.Epoch != 2 || d.AssignmentEpoch != 2 || d.AssignorName != "uniform" {
		t.Fatalf("describe: %+v", d)
	}

	// A third member: a and b each give up one partition and keep two.
	aKept, bKept := a.ownedList(), b.ownedList()
	c := h.newCGMember("g", "member-c")
	c.mustBeat(false)
	settle(t, a, b, c)
	for _, m := range []*cgMember{a, b, c} {
		if len(m.owned) != 2 || m.epoch != 3 {
			t.Fatalf("%s: epoch %d owns %v", m.id, m.epoch, m.ownedList())
		}
	}
	for _, pair := range []struct {
		m    *cgMember
		kept []int32
	}{{a, aKept}, {b, bKept}} {
		for p := range pair.m.owned {
			if !slices.Contains(pair.kept, p) {
				t.Fatalf("%s owns %d it did not have: partitions moved between old members", pair.m.id, p)
			}
		}
	}
}

func (h *harness) consumerDescribe(groupID string) kmsg.ConsumerGroupDescribeResponseGroup {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Version = 1
	req.Groups = []string{groupID}
	return h.c.ConsumerGroupDescribe(context.Background(), req).Groups[0]
}

func TestConsumerGroupHeartbeatErrors(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a := h.newCGMember("g", "a")
	a.mustBeat(false)
	b := h.newCGMember("g", "b")
	b.mustBeat(false)
	settle(t, a, b)

	send := func(mod func(*kmsg.ConsumerGroupHeartbeatRequest)) int16 {
		req := a.request(true)
		mod(req)
		return h.c.ConsumerGroupHeartbeat(context.Background(), req).ErrorCode
	}
	wantCode(t, "unknown member", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberID = "ghost" }), kerr.UnknownMemberID.Code)
	wantCode(t, "epoch from the future", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 99 }), kerr.FencedMemberEpoch.Code)
	wantCode(t, "old epoch owning more than assigned", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.MemberEpoch = 1
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicT.ID, Partitions: []int32{0, 1, 2, 3, 4, 5}}}
	}), kerr.FencedMemberEpoch.Code)
	// The previous epoch with a subset of the assignment is a lost
	// response, not a zombie.
	wantCode(t, "previous epoch, lost response", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.MemberEpoch = 1 }), 0)
	wantCode(t, "unknown assignor", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = new("sticky") }), kerr.UnsupportedAssignor.Code)
	wantCode(t, "empty assignor", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.ServerAssignor = new("") }), kerr.UnsupportedAssignor.Code)
	wantCode(t, "blank group", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Group = "  " }), kerr.InvalidRequest.Code)
	wantCode(t, "blank instance", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.InstanceID = new(" ") }), kerr.InvalidRequest.Code)
	wantCode(t, "v1 join without a member ID", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.Version, r.MemberID, r.MemberEpoch, r.Topics = 1, "", 0, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}), kerr.InvalidRequest.Code)
	wantCode(t, "join owning partitions", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.MemberEpoch = 0
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: topicT.ID, Partitions: []int32{0}}}
	}), kerr.InvalidRequest.Code)
	wantCode(t, "bad regex", send(func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = new("(") }), kerr.InvalidRegularExpression.Code)
	wantCode(t, "classic join into a consumer group", recv(t, h.joinAsync(joinReq("g", ""))).ErrorCode, kerr.InconsistentGroupProtocol.Code)

	h.stableGroup("classic", 1)
	c := h.newCGMember("classic", "c")
	wantCode(t, "consumer join into a classic group", c.beat(false).ErrorCode, kerr.GroupIDNotFound.Code)
	// None of it disturbed the group.
	settle(t, a, b)
	if h.consumerDescribe("g").State != "Stable" {
		t.Fatal("group not stable")
	}
}

// A member that misses its session is removed and the others take its
// partitions.
func TestConsumerGroupSessionExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		c.Topics = func() []TopicInfo { return []TopicInfo{topicT} }
		c.ConsumerSessionTimeout = 150 * time.Millisecond
	})
	a, b := h.newCGMember("g", "a"), h.newCGMember("g", "b")
	a.mustBeat(false)
	b.mustBeat(false)
	settle(t, a, b)
	waitFor(t, "b to expire", func() bool {
		a.mustBeat(true)
		return len(h.consumerDescribe("g").Members) == 1
	})
	settle(t, a)
	if len(a.owned) != 6 {
		t.Fatalf("a owns %v after b expired", a.ownedList())
	}
	wantCode(t, "expired member's heartbeat", b.beat(true).ErrorCode, kerr.UnknownMemberID.Code)
}

// A member that does not revoke within its rebalance timeout is fenced.
func TestConsumerGroupRevocationTimeout(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a := h.newCGMember("g", "a")
	a.timeout = 100
	a.mustBeat(false)
	b := h.newCGMember("g", "b")
	b.mustBeat(false)
	// a is told to revoke but keeps sending keepalives only.
	a.mustBeat(true)
	start := time.Now()
	waitFor(t, "a to be fenced", func() bool {
		return a.beat(false).ErrorCode == kerr.UnknownMemberID.Code
	})
	if time.Since(start) < 90*time.Millisecond {
		t.Fatal("fenced before the rebalance timeout")
	}
	settle(t, b)
	if len(b.owned) != 6 {
		t.Fatalf("b owns %v", b.ownedList())
	}
}

// Leaving (epoch -1) hands the member's partitions to the others.
func TestConsumerGroupLeave(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a, b := h.newCGMember("g", "a"), h.newCGMember("g", "b")
	a.mustBeat(false)
	b.mustBeat(false)
	settle(t, a, b)
	req := b.request(false)
	req.MemberEpoch = -1
	resp := h.c.ConsumerGroupHeartbeat(context.Background(), req)
	if resp.ErrorCode != 0 || resp.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", resp)
	}
	settle(t, a)
	if len(a.owned) != 6 {
		t.Fatalf("a owns %v", a.ownedList())
	}
	// Everyone leaves: the group is empty, and can become classic.
	req = a.request(false)
	req.MemberEpoch = -1
	h.c.ConsumerGroupHeartbeat(context.Background(), req)
	if st := h.consumerDescribe("g").State; st != "Empty" {
		t.Fatalf("state %s", st)
	}
	wantCode(t, "classic join into the empty group", recv(t, h.joinAsync(joinReq("g", ""))).ErrorCode, kerr.MemberIDRequired.Code)
}

// KIP-848 static membership: a member leaving with epoch -2 keeps its
// partitions; its instance returns under a new member ID and gets them.
func TestConsumerGroupStaticMemberReturns(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a, b := h.newCGMember("g", "a"), h.newCGMember("g", "b")
	inst := func(m *cgMember, name string) func(*kmsg.ConsumerGroupHeartbeatRequest) {
		return func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.InstanceID = new(name) }
	}
	beat := func(m *cgMember, mod func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		req := m.request(true)
		mod(req)
		resp := h.c.ConsumerGroupHeartbeat(context.Background(), req)
		if resp.ErrorCode == 0 && resp.MemberEpoch >= 0 {
			m.epoch = resp.MemberEpoch
			if resp.Assignment != nil {
				m.owned = map[int32]bool{}
				for _, t := range resp.Assignment.Topics {
					for _, p := range t.Partitions {
						m.owned[p] = true
					}
				}
			}
		}
		return resp
	}
	beat(a, inst(a, "ia"))
	beat(b, inst(b, "ib"))
	settle(t, a, b)
	had, epoch := b.ownedList(), h.consumerDescribe("g").Epoch

	leave := b.request(false)
	leave.MemberEpoch, leave.InstanceID = -2, new("ib")
	wantCode(t, "static leave", h.c.ConsumerGroupHeartbeat(context.Background(), leave).ErrorCode, 0)
	b2 := h.newCGMember("g", "b2")
	// Another instance may not take a live instance's ID.
	wantCode(t, "instance in use", beat(h.newCGMember("g", "x"), inst(nil, "ia")).ErrorCode, kerr.UnreleasedInstanceID.Code)
	resp := beat(b2, inst(b2, "ib"))
	wantCode(t, "static rejoin", resp.ErrorCode, 0)
	if !slices.Equal(b2.ownedList(), had) {
		t.Fatalf("returning instance got %v, had %v", b2.ownedList(), had)
	}
	if d := h.consumerDescribe("g"); d.Epoch != epoch || len(d.Members) != 2 {
		t.Fatalf("after static rejoin: epoch %d (was %d), %d members", d.Epoch, epoch, len(d.Members))
	}
}

// Offsets of consumer groups: OffsetCommit v9 with the member epoch.
func TestConsumerGroupOffsetCommit(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a := h.newCGMember("g", "a")
	a.mustBeat(false)
	wantCode(t, "commit at the epoch", h.commit("g", "a", a.epoch, "t", map[int32]int64{0: 5}), 0)
	wantCode(t, "stale epoch", h.commit("g", "a", a.epoch-1, "t", map[int32]int64{0: 6}), kerr.StaleMemberEpoch.Code)
	wantCode(t, "future epoch", h.commit("g", "a", a.epoch+1, "t", map[int32]int64{0: 6}), kerr.StaleMemberEpoch.Code)
	wantCode(t, "unknown member", h.commit("g", "zz", a.epoch, "t", map[int32]int64{0: 6}), kerr.UnknownMemberID.Code)
	wantCode(t, "admin commit to a group with members", h.commit("g", "", -1, "t", map[int32]int64{0: 6}), kerr.UnknownMemberID.Code)
	old := commitReq("g", "a", a.epoch, "t", map[int32]int64{0: 6})
	old.Version = 8
	wantCode(t, "classic commit version", h.c.OffsetCommit(context.Background(), old).Topics[0].Partitions[0].ErrorCode, kerr.UnsupportedVersion.Code)

	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 9
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g", MemberID: new("a"), MemberEpoch: a.epoch - 1}}
	wantCode(t, "fetch with a stale epoch", h.c.OffsetFetch(context.Background(), fetch).Groups[0].ErrorCode, kerr.StaleMemberEpoch.Code)
	fetch.Groups[0].MemberEpoch = a.epoch
	if got := h.c.OffsetFetch(context.Background(), fetch).Groups[0]; got.ErrorCode != 0 || len(got.Topics) != 1 {
		t.Fatalf("fetch: %+v", got)
	}

	// Offsets and the group survive a failover: the member goes on at
	// its epoch.
	epoch := a.epoch
	h.restart()
	if got := h.fetchAll("g"); got["t/0"] != "5/7/meta-0" {
		t.Fatalf("offsets after failover %v", got)
	}
	a.mustBeat(true)
	if len(a.owned) != 6 || a.epoch != epoch {
		t.Fatalf("after failover: epoch %d (was %d), owns %v", a.epoch, epoch, a.ownedList())
	}
	wantCode(t, "commit after failover", h.commit("g", "a", a.epoch, "t", map[int32]int64{0: 8}), 0)
}

// The assignors: range gives contiguous ranges; uniform balances mixed
// subscriptions and keeps partitions where they were.
func TestAssignors(t *testing.T) {
	t.Parallel()
	t1 := TopicInfo{Name: "t1", ID: [16]byte{1}, Partitions: 5}
	t2 := TopicInfo{Name: "t2", ID: [16]byte{2}, Partitions: 4}
	topics := map[[16]byte]TopicInfo{t1.ID: t1, t2.ID: t2}
	both := map[[16]byte]bool{t1.ID: true, t2.ID: true}
	in := assignorInput{
		members: []assigneeSpec{{id: "a", topics: both}, {id: "b", topics: both}},
		topics:  topics,
	}
	got := assignRange(in)
	if fmt.Sprint(got["a"][t1.ID], got["b"][t1.ID], got["a"][t2.ID], got["b"][t2.ID]) != "[0 1 2] [3 4] [0 1] [2 3]" {
		t.Fatalf("range: %v", got)
	}

	in.members = append(in.members, assigneeSpec{id: "c", topics: map[[16]byte]bool{t2.ID: true}})
	u := assignUniform(in)
	total := 0
	for id, a := range u {
		n := a.size()
		total += n
		if n != 3 {
			t.Fatalf("uniform gave %s %d partitions: %v", id, n, u)
		}
	}
	if total != 9 || u["c"][t1.ID] != nil {
		t.Fatalf("uniform: %v", u)
	}
	// Add a member: partitions only move to it.
	in.prev = u
	in.members = append(in.members, assigneeSpec{id: "d", topics: both})
	u2 := assignUniform(in)
	moved := 0
	for _, id := range []string{"a", "b", "c"} {
		if !u2[id].subsetOf(u[id]) {
			t.Fatalf("%s gained partitions from others: %v -> %v", id, u[id], u2[id])
		}
		moved += u[id].size() - u2[id].size()
	}
	if moved != u2["d"].size() || u2["d"].size() < 2 {
		t.Fatalf("d got %v", u2["d"])
	}
}

func TestListGroupsIncludesConsumerGroups(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	h.newCGMember("cg", "a").mustBeat(false)
	h.stableGroup("classic", 1)
	if got, want := h.listGroups(), []string{"cg/Stable/consumer/consumer", "classic/Stable/consumer/classic"}; !slices.Equal(got, want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	req := kmsg.NewPtrListGroupsRequest()
	req.Version, req.TypesFilter = 5, []string{"consumer"}
	if gs := h.c.ListGroups(context.Background(), req).Groups; len(gs) != 1 || gs[0].Group != "cg" {
		t.Fatalf("consumer filter: %+v", gs)
	}
	if d := h.describe("cg"); d.State != "Dead" {
		t.Fatalf("DescribeGroups of a consumer group: %+v", d)
	}
}

// Four members on twelve partitions: when the fourth joins a group of
// three holding four each, every old member revokes exactly one partition
// and keeps the other three throughout.
func TestConsumerGroupFourthMemberMovesOnlyWhatMustMove(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t, TopicInfo{Name: "t", ID: topicT.ID, Partitions: 12})
	var ms []*cgMember
	for _, id := range []string{"a", "b", "c"} {
		m := h.newCGMember("g", id)
		m.mustBeat(false)
		ms = append(ms, m)
		settle(t, ms...)
	}
	before := map[string][]int32{}
	for _, m := range ms {
		if len(m.owned) != 4 {
			t.Fatalf("%s owns %v, want 4 partitions", m.id, m.ownedList())
		}
		before[m.id] = m.ownedList()
	}
	d := h.newCGMember("g", "d")
	d.mustBeat(false)
	// Watch every response: an old member may only ever lose partitions,
	// and only one.
	for range 5 {
		for _, m := range append(slices.Clone(ms), d) {
			m.mustBeat(true)
			if m == d {
				continue
			}
			for p := range m.owned {
				if !slices.Contains(before[m.id], p) {
					t.Fatalf("%s gained %d", m.id, p)
				}
			}
			if len(m.owned) < 3 {
				t.Fatalf("%s was told to revoke down to %v", m.id, m.ownedList())
			}
		}
	}
	settle(t, append(ms, d)...)
	for _, m := range append(ms, d) {
		if len(m.owned) != 3 {
			t.Fatalf("%s owns %v, want 3", m.id, m.ownedList())
		}
	}
	if st := h.consumerDescribe("g").State; st != "Stable" {
		t.Fatalf("state %s", st)
	}
}

// staticBeat sends m's heartbeat (full) with an instance ID and epoch, and
// applies a successful answer to m.
func staticBeat(h *harness, m *cgMember, instance string, epoch int32) *kmsg.ConsumerGroupHeartbeatResponse {
	h.t.Helper()
	req := m.request(true)
	req.MemberEpoch, req.InstanceID = epoch, new(instance)
	if epoch == 0 {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	resp := h.c.ConsumerGroupHeartbeat(context.Background(), req)
	if resp.ErrorCode == 0 && resp.MemberEpoch >= 0 {
		m.id, m.epoch = deref(resp.MemberID), resp.MemberEpoch
		if resp.Assignment != nil {
			m.owned = map[int32]bool{}
			for _, t := range resp.Assignment.Topics {
				for _, p := range t.Partitions {
					m.owned[p] = true
				}
			}
		}
	}
	return resp
}

// KIP-848 static membership: an instance that left with epoch -2 and
// rejoins under the member ID it left with (epoch 0) is back, with its
// partitions, and heartbeats on at its epoch, also after a failover.
func TestConsumerGroupStaticMemberRejoinsUnderItsMemberID(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a, b := h.newCGMember("g", "a"), h.newCGMember("g", "b")
	wantCode(t, "a joins", staticBeat(h, a, "ia", 0).ErrorCode, 0)
	wantCode(t, "b joins", staticBeat(h, b, "ib", 0).ErrorCode, 0)
	settle(t, a, b)
	had, epoch := b.ownedList(), b.epoch

	wantCode(t, "static leave", staticBeat(h, b, "ib", -2).ErrorCode, 0)
	wantCode(t, "rejoin under the same member ID", staticBeat(h, b, "ib", 0).ErrorCode, 0)
	if b.id != "b" || b.epoch != epoch || !slices.Equal(b.ownedList(), had) {
		t.Fatalf("rejoined as %s at epoch %d owning %v; want b at %d owning %v", b.id, b.epoch, b.ownedList(), epoch, had)
	}
	for i := range 3 {
		wantCode(t, fmt.Sprintf("heartbeat %d after the rejoin", i), staticBeat(h, b, "ib", b.epoch).ErrorCode, 0)
	}
	h.restart()
	wantCode(t, "heartbeat after failover", staticBeat(h, b, "ib", b.epoch).ErrorCode, 0)
	settle(t, a, b)
	if b.epoch != epoch || !slices.Equal(b.ownedList(), had) {
		t.Fatalf("after failover: epoch %d owning %v; want %d owning %v", b.epoch, b.ownedList(), epoch, had)
	}
}

// A static member that left with epoch -2 is at epoch -2 until its
// instance returns: ConsumerGroupDescribe reports -2 (and the group
// Reconciling), and the epoch it left
// at is stale to OffsetCommit and OffsetFetch (ILLEGAL_GENERATION to
// TxnOffsetCommit), as in Kafka, where the member's epoch becomes -2.
func TestConsumerGroupStaticMemberAwayIsAtEpochMinusTwo(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a, b := h.newCGMember("g", "a"), h.newCGMember("g", "b")
	staticBeat(h, a, "ia", 0)
	staticBeat(h, b, "ib", 0)
	settle(t, a, b)
	wantCode(t, "commit before leaving", h.commit("g", "b", b.epoch, "t", map[int32]int64{0: 1}), 0)
	wantCode(t, "static leave", staticBeat(h, b, "ib", -2).ErrorCode, 0)

	d := h.consumerDescribe("g")
	for _, m := range d.Members {
		if m.MemberID == "b" && m.MemberEpoch != -2 {
			t.Fatalf("described epoch of the member away: %d, want -2", m.MemberEpoch)
		}
	}
	// Kafka's isReconciledTo: a member away is not.
	if d.State != "Reconciling" {
		t.Fatalf("state %s with b away, want Reconciling", d.State)
	}
	wantCode(t, "commit at the epoch it left", h.commit("g", "b", b.epoch, "t", map[int32]int64{0: 2}), kerr.StaleMemberEpoch.Code)
	wantCode(t, "commit at a later epoch", h.commit("g", "b", b.epoch+1, "t", map[int32]int64{0: 2}), kerr.StaleMemberEpoch.Code)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 9
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g", MemberID: new("b"), MemberEpoch: b.epoch}}
	wantCode(t, "fetch at the epoch it left", h.c.OffsetFetch(context.Background(), fetch).Groups[0].ErrorCode, kerr.StaleMemberEpoch.Code)
	txn := txnCommitReq("g", 7, "t", map[int32]int64{0: 3})
	txn.MemberID, txn.Generation = "b", b.epoch
	wantCode(t, "transactional commit at the epoch it left", h.txnCommit(txn), kerr.IllegalGeneration.Code)
	wantOffsets(t, "offsets", h.fetchAll("g"), map[string]string{"t/0": "1/7/meta-0"})

	// Back under a new member ID, the instance commits at its epoch.
	b2 := h.newCGMember("g", "b2")
	wantCode(t, "rejoin", staticBeat(h, b2, "ib", 0).ErrorCode, 0)
	wantCode(t, "commit after the rejoin", h.commit("g", "b2", b2.epoch, "t", map[int32]int64{0: 4}), 0)
}

// Kafka's throwIfStaticMemberIsUnknown and throwIfInstanceIdIsFenced: a
// heartbeat or leave naming an instance that another member ID now holds
// is FENCED_INSTANCE_ID; one naming an unknown instance is
// UNKNOWN_MEMBER_ID.
func TestConsumerGroupReplacedStaticMemberIsFenced(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a := h.newCGMember("g", "a")
	staticBeat(h, a, "ia", 0)
	settle(t, a)
	old := a.epoch
	wantCode(t, "static leave", staticBeat(h, a, "ia", -2).ErrorCode, 0)
	a2 := h.newCGMember("g", "a2")
	wantCode(t, "the instance returns under a new member ID", staticBeat(h, a2, "ia", 0).ErrorCode, 0)

	wantCode(t, "heartbeat of the replaced member ID", staticBeat(h, a, "ia", old).ErrorCode, kerr.FencedInstanceID.Code)
	wantCode(t, "leave of the replaced member ID", staticBeat(h, a, "ia", -1).ErrorCode, kerr.FencedInstanceID.Code)
	wantCode(t, "heartbeat naming an unknown instance", staticBeat(h, a2, "nobody", a2.epoch).ErrorCode, kerr.UnknownMemberID.Code)
	wantCode(t, "the new member ID heartbeats on", staticBeat(h, a2, "ia", a2.epoch).ErrorCode, 0)
}

// A JoinGroup converts an empty KIP-848 group before checking the join,
// as Kafka's classicGroupJoinToClassicGroup does, so that a join that
// fails leaves a new Empty classic group: no protocol type, and offsets
// expiring from their commit, however old the consumer group was. The next
// good join forms the classic group's first generation.
func TestJoinGroupConvertsEmptyConsumerGroupToNewClassicGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		c.Topics = func() []TopicInfo { return []TopicInfo{topicT} }
		c.ConsumerSessionTimeout = 5 * time.Second
		c.OffsetsRetention = time.Hour
	})
	a := h.newCGMember("g", "a")
	a.mustBeat(false)
	h.wall.Advance(3 * time.Hour)
	wantCode(t, "commit", h.commit("g", "a", a.epoch, "t", map[int32]int64{0: 5}), 0)
	req := a.request(false)
	req.MemberEpoch = -1
	wantCode(t, "leave", h.c.ConsumerGroupHeartbeat(context.Background(), req).ErrorCode, 0)

	bad := joinReq("g", "")
	bad.Protocols = nil
	wantCode(t, "join without protocols", recv(t, h.joinAsync(bad)).ErrorCode, kerr.InconsistentGroupProtocol.Code)
	if d := h.describe("g"); d.ErrorCode != 0 || d.State != "Empty" || d.ProtocolType != "" {
		t.Fatalf("group after the failed join: %+v", d)
	}
	h.c.expireOffsets(context.Background())
	wantOffsets(t, "offsets after the failed join", h.fetchAll("g"), map[string]string{"t/0": "5/7/meta-0"})

	if _, gen, _ := h.stableGroup("g", 1); gen != 1 {
		t.Fatalf("first classic generation %d, want 1", gen)
	}
	if d := h.describe("g"); d.State != "Stable" || d.ProtocolType != "consumer" {
		t.Fatalf("classic group: %+v", d)
	}
}

// KIP-848 static membership (Kafka's throwIfInstanceIdIsUnreleased): a
// join (epoch 0) under an instance ID a member still holds gets
// UNRELEASED_INSTANCE_ID, even when it comes with that member's own ID,
// and leaves the member as it was; once the member left with epoch -2,
// the same join takes the instance back with its partitions.
func TestConsumerGroupStaticRejoinBeforeLeavingIsUnreleased(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a := h.newCGMember("g", "a")
	join := func() *kmsg.ConsumerGroupHeartbeatResponse {
		req := a.request(true)
		req.MemberEpoch, req.InstanceID = 0, new("ia")
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		return h.c.ConsumerGroupHeartbeat(context.Background(), req)
	}
	resp := join()
	wantCode(t, "first join", resp.ErrorCode, 0)
	a.epoch = resp.MemberEpoch
	before := h.consumerDescribe("g")

	for _, id := range []string{"a", "other"} {
		a.id = id
		wantCode(t, "rejoin as "+id+" while the instance is held", join().ErrorCode, kerr.UnreleasedInstanceID.Code)
	}
	a.id = "a"
	after := h.consumerDescribe("g")
	if after.Epoch != before.Epoch || len(after.Members) != 1 || after.Members[0].MemberEpoch != a.epoch {
		t.Fatalf("refused join changed the group: %+v, was %+v", after, before)
	}

	leave := a.request(false)
	leave.MemberEpoch, leave.InstanceID = -2, new("ia")
	wantCode(t, "static leave", h.c.ConsumerGroupHeartbeat(context.Background(), leave).ErrorCode, 0)
	resp = join()
	wantCode(t, "rejoin after the static leave", resp.ErrorCode, 0)
	if deref(resp.MemberID) != "a" || resp.Assignment == nil || len(resp.Assignment.Topics) != 1 || len(resp.Assignment.Topics[0].Partitions) != 6 {
		t.Fatalf("rejoin after the static leave: %+v", resp)
	}
}

// A static member that leaves (epoch -2) while it still has partitions to
// give up hands them over at once, and only its session, not its
// rebalance timeout, ends it (Kafka's consumerGroupStaticMemberGroupLeave).
func TestConsumerGroupStaticLeaveReleasesWhatItWasRevoking(t *testing.T) {
	t.Parallel()
	h := newClockHarness(t, func(c *Config) {
		c.Topics = func() []TopicInfo { return []TopicInfo{topicT} }
		c.ConsumerSessionTimeout = 10 * time.Second
	})
	a := h.newCGMember("g", "a")
	a.timeout = 1000
	if r := staticBeat(h, a, "ia", 0); r.ErrorCode != 0 || len(a.owned) != 6 {
		t.Fatalf("a joins: %s, owns %v", codeName(r.ErrorCode), a.ownedList())
	}
	b := h.newCGMember("g", "b")
	b.mustBeat(false)
	if r := staticBeat(h, a, "ia", a.epoch); r.ErrorCode != 0 || len(a.owned) != 3 {
		t.Fatalf("a told to revoke: %s, owns %v", codeName(r.ErrorCode), a.ownedList())
	}
	wantCode(t, "static leave", staticBeat(h, a, "ia", -2).ErrorCode, 0)
	b.mustBeat(true)
	if len(b.owned) != 3 {
		t.Fatalf("b owns %v after a left, want the 3 a was revoking", b.ownedList())
	}
	h.advance(1500 * time.Millisecond)
	b.mustBeat(true)
	if d := h.consumerDescribe("g"); len(d.Members) != 2 {
		t.Fatalf("%d members after a's rebalance timeout, want 2 (a stays for its session)", len(d.Members))
	}
	h.advance(8 * time.Second)
	b.mustBeat(true)
	h.advance(time.Second)
	b.mustBeat(true)
	if d := h.consumerDescribe("g"); len(d.Members) != 1 {
		t.Fatalf("%d members after a's session, want 1", len(d.Members))
	}
}

// Epoch -2 is for static members: from a dynamic member it is
// INVALID_REQUEST, and the member stays.
func TestConsumerGroupStaticLeaveEpochNeedsAnInstance(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a := h.newCGMember("g", "a")
	a.mustBeat(false)
	req := a.request(false)
	req.MemberEpoch = -2
	wantCode(t, "epoch -2 without an instance", h.c.ConsumerGroupHeartbeat(context.Background(), req).ErrorCode, kerr.InvalidRequest.Code)
	if d := h.consumerDescribe("g"); len(d.Members) != 1 {
		t.Fatalf("%d members, want 1", len(d.Members))
	}
}

// A topic deleted since it was assigned is left out of the described
// assignment, as Kafka does, not listed under an empty name.
func TestConsumerGroupDescribeLeavesOutDeletedTopics(t *testing.T) {
	t.Parallel()
	u := TopicInfo{Name: "u", ID: [16]byte{2}, Partitions: 2}
	var mu sync.Mutex
	topics := []TopicInfo{topicT, u}
	h := newHarness(t, func(c *Config) {
		c.Topics = func() []TopicInfo { mu.Lock(); defer mu.Unlock(); return topics }
		c.ConsumerSessionTimeout = 5 * time.Second
	})
	a := h.newCGMember("g", "a", "t", "u")
	a.mustBeat(false)
	mu.Lock()
	topics = []TopicInfo{topicT}
	mu.Unlock()
	tps := h.consumerDescribe("g").Members[0].Assignment.TopicPartitions
	if len(tps) != 1 || tps[0].Topic != "t" {
		t.Fatalf("described assignment %+v, want topic t alone", tps)
	}
}
