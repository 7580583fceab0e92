package group

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Java's String.hashCode, computed independently: Kafka places a group on
// abs(hashCode) % partitions.
func TestPartitionForMatchesKafka(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		group string
		parts int32
		want  int32
	}{
		{"", 50, 0},
		{"a", 50, 47},                 // 97
		{"my-group", 50, 12},          // -1906497762
		{"console-consumer", 50, 40},  // -648006740
		{"\U0001F600", 50, 49},        // UTF-16 surrogates 0xD83D 0xDE00: 1772899
		{"polygenelubricants", 50, 0}, // Integer.MIN_VALUE: Utils.abs gives 0
	} {
		if got := partitionFor(tc.group, tc.parts); got != tc.want {
			t.Errorf("partitionFor(%q, %d) = %d, want %d", tc.group, tc.parts, got, tc.want)
		}
	}
}

// KIP-394: from v4, a join without a member ID gets MEMBER_ID_REQUIRED and
// an ID "<client.id>-<uuid>"; before v4 it joins at once.
func TestJoinWithoutMemberIDRequiresOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	resp := recv(t, h.joinAsync(joinReq("g", "")))
	wantCode(t, "v9 join", resp.ErrorCode, kerr.MemberIDRequired.Code)
	if !strings.HasPrefix(resp.MemberID, "client-") || len(resp.MemberID) != len("client-")+36 {
		t.Fatalf("member ID %q, want client-<uuid>", resp.MemberID)
	}
	if d := h.describe("g"); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after MEMBER_ID_REQUIRED: state %s with %d members, want Empty with none", d.State, len(d.Members))
	}
	resp = recv(t, h.joinAsync(joinReq("g", resp.MemberID)))
	wantCode(t, "join with the ID", resp.ErrorCode, 0)
	if resp.Generation != 1 || resp.LeaderID != resp.MemberID || len(resp.Members) != 1 {
		t.Fatalf("join: generation %d leader %q members %d", resp.Generation, resp.LeaderID, len(resp.Members))
	}

	old := joinReq("g3", "")
	old.Version = 3
	resp = recv(t, h.joinAsync(old))
	wantCode(t, "v3 join", resp.ErrorCode, 0)
	if resp.MemberID == "" || resp.Generation != 1 {
		t.Fatalf("v3 join: member %q generation %d", resp.MemberID, resp.Generation)
	}
}

// A full rebalance of three members: one generation, one leader that sees
// every member's metadata, followers waiting in SyncGroup for the leader's
// assignment, then Stable.
func TestRebalanceOfThreeMembers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids := []string{h.memberID("g"), h.memberID("g"), h.memberID("g")}
	var joins []*kmsg.JoinGroupResponse
	var chans []<-chan *kmsg.JoinGroupResponse
	for i, id := range ids {
		req := joinReq("g", id)
		req.Protocols[0].Metadata = consumerMeta("t", ids[i])
		chans = append(chans, h.joinAsync(req))
	}
	for _, ch := range chans {
		joins = append(joins, recv(t, ch))
	}
	leader := joins[0].LeaderID
	for i, j := range joins {
		wantCode(t, "join", j.ErrorCode, 0)
		if j.Generation != 1 || j.LeaderID != leader || deref(j.Protocol) != "range" || deref(j.ProtocolType) != "consumer" {
			t.Fatalf("member %d: generation %d leader %q protocol %q/%q", i, j.Generation, j.LeaderID, deref(j.ProtocolType), deref(j.Protocol))
		}
		if j.MemberID == leader {
			if len(j.Members) != 3 {
				t.Fatalf("leader got %d members, want 3", len(j.Members))
			}
			for _, m := range j.Members {
				var md kmsg.ConsumerMemberMetadata
				if err := md.ReadFrom(m.ProtocolMetadata); err != nil || md.Topics[1] != m.MemberID {
					t.Fatalf("leader got metadata %q for %s", m.ProtocolMetadata, m.MemberID)
				}
			}
		} else if len(j.Members) != 0 {
			t.Fatalf("follower got %d members", len(j.Members))
		}
	}
	if d := h.describe("g"); d.State != "CompletingRebalance" {
		t.Fatalf("state %s, want CompletingRebalance", d.State)
	}

	// Followers sync first and wait for the leader.
	var followers []<-chan *kmsg.SyncGroupResponse
	var fids []string
	for _, id := range ids {
		if id != leader {
			followers = append(followers, h.syncAsync(syncReq("g", id, 1, nil)))
			fids = append(fids, id)
		}
	}
	waitFor(t, "followers waiting in SyncGroup", func() bool {
		g, _ := h.c.lookup("g", false)
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.pendingSync) == 1
	})
	assign := map[string]string{}
	for _, id := range ids {
		assign[id] = "a:" + id
	}
	lresp := recv(t, h.syncAsync(syncReq("g", leader, 1, assign)))
	wantCode(t, "leader sync", lresp.ErrorCode, 0)
	if string(lresp.MemberAssignment) != "a:"+leader || deref(lresp.Protocol) != "range" {
		t.Fatalf("leader assignment %q protocol %q", lresp.MemberAssignment, deref(lresp.Protocol))
	}
	for i, ch := range followers {
		r := recv(t, ch)
		wantCode(t, "follower sync", r.ErrorCode, 0)
		if string(r.MemberAssignment) != "a:"+fids[i] {
			t.Fatalf("follower %s got %q", fids[i], r.MemberAssignment)
		}
	}
	d := h.describe("g")
	if d.State != "Stable" || d.Protocol != "range" || d.ProtocolType != "consumer" || len(d.Members) != 3 {
		t.Fatalf("describe: %+v", d)
	}
	for _, m := range d.Members {
		if string(m.MemberAssignment) != "a:"+m.MemberID || m.ClientID != "client" || m.ClientHost != "/127.0.0.1" {
			t.Fatalf("described member %+v", m)
		}
	}
	for _, id := range ids {
		wantCode(t, "heartbeat", h.heartbeat("g", id, 1), 0)
	}
}

// A join during Stable starts a rebalance; members learn of it from
// Heartbeat (REBALANCE_IN_PROGRESS) and rejoin into the next generation.
func TestHeartbeatDuringRebalanceTellsMembersToRejoin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("g", 2)
	newcomer := h.memberID("g")
	wantCode(t, "heartbeat after a KIP-394 ID was handed out", h.heartbeat("g", ids[0], gen), 0)
	third := h.joinAsync(joinReq("g", newcomer))
	waitFor(t, "PreparingRebalance", func() bool { return h.describe("g").State == "PreparingRebalance" })
	for _, id := range ids {
		wantCode(t, "heartbeat during rebalance", h.heartbeat("g", id, gen), kerr.RebalanceInProgress.Code)
	}
	wantCode(t, "heartbeat with a wrong generation", h.heartbeat("g", ids[0], gen+5), kerr.IllegalGeneration.Code)
	wantCode(t, "heartbeat of an unknown member", h.heartbeat("g", "nobody", gen), kerr.UnknownMemberID.Code)
	wantCode(t, "sync during rebalance", recv(t, h.syncAsync(syncReq("g", ids[0], gen, nil))).ErrorCode, kerr.RebalanceInProgress.Code)

	a, b := h.joinAsync(joinReq("g", ids[0])), h.joinAsync(joinReq("g", ids[1]))
	for _, ch := range []<-chan *kmsg.JoinGroupResponse{third, a, b} {
		r := recv(t, ch)
		wantCode(t, "rejoin", r.ErrorCode, 0)
		if r.Generation != gen+1 {
			t.Fatalf("rejoined generation %d, want %d", r.Generation, gen+1)
		}
	}
	wantCode(t, "heartbeat with the old generation", h.heartbeat("g", ids[0], gen), kerr.IllegalGeneration.Code)
	wantCode(t, "heartbeat while completing", h.heartbeat("g", ids[0], gen+1), 0)
}

// A member that stops heartbeating is removed after its session timeout
// and the others rebalance without it.
func TestSessionExpiryRemovesMemberAndRebalances(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a, b := h.memberID("g"), h.memberID("g")
	reqA, reqB := joinReq("g", a), joinReq("g", b)
	reqA.SessionTimeoutMillis, reqB.SessionTimeoutMillis = 150, 150
	ca, cb := h.joinAsync(reqA), h.joinAsync(reqB)
	ra, rb := recv(t, ca), recv(t, cb)
	gen, leader := ra.Generation, ra.LeaderID
	if rb.Generation != gen {
		t.Fatal("members in different generations")
	}
	sa := h.syncAsync(syncReq("g", leader, gen, map[string]string{a: "a:" + a, b: "a:" + b}))
	other := a
	if leader == a {
		other = b
	}
	sb := h.syncAsync(syncReq("g", other, gen, nil))
	recv(t, sa)
	recv(t, sb)

	// b goes silent; a heartbeats until told to rejoin.
	var code int16
	waitFor(t, "a heartbeat answered REBALANCE_IN_PROGRESS", func() bool {
		code = h.heartbeat("g", a, gen)
		return code == kerr.RebalanceInProgress.Code
	})
	r := recv(t, h.joinAsync(reqA))
	wantCode(t, "rejoin", r.ErrorCode, 0)
	if r.Generation != gen+1 || len(r.Members) != 1 || r.LeaderID != a {
		t.Fatalf("after expiry: generation %d, %d members, leader %q", r.Generation, len(r.Members), r.LeaderID)
	}
	wantCode(t, "expired member's heartbeat", h.heartbeat("g", b, gen), kerr.UnknownMemberID.Code)
}

// Members that do not rejoin within the rebalance timeout are removed and
// the generation completes with those that did.
func TestRebalanceTimeoutDropsMembersThatDidNotRejoin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a, b := h.memberID("g"), h.memberID("g")
	reqA, reqB := joinReq("g", a), joinReq("g", b)
	reqA.RebalanceTimeoutMillis, reqB.RebalanceTimeoutMillis = 100, 100
	ca, cb := h.joinAsync(reqA), h.joinAsync(reqB)
	gen := recv(t, ca).Generation
	recv(t, cb)
	h.rebalanceSync(t, "g", gen, a, b)

	// a rejoins (say with new metadata); b never does.
	reqA.Protocols[0].Metadata = consumerMeta("t", "u")
	start := time.Now()
	r := recv(t, h.joinAsync(reqA))
	wantCode(t, "rejoin", r.ErrorCode, 0)
	if r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("generation %d with %d members, want %d with 1", r.Generation, len(r.Members), gen+1)
	}
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Fatalf("join completed after %v, before the rebalance timeout", took)
	}
}

func (h *harness) rebalanceSync(t *testing.T, groupID string, gen int32, ids ...string) {
	t.Helper()
	leader := ""
	for _, id := range ids {
		// The leader is whoever gets members back on a retried join.
		r := recv(t, h.joinAsync(joinReq(groupID, id)))
		if len(r.Members) > 0 {
			leader = id
		}
	}
	assign := map[string]string{}
	for _, id := range ids {
		assign[id] = "a:" + id
	}
	var chs []<-chan *kmsg.SyncGroupResponse
	for _, id := range ids {
		var a map[string]string
		if id == leader {
			a = assign
		}
		chs = append(chs, h.syncAsync(syncReq(groupID, id, gen, a)))
	}
	for _, ch := range chs {
		wantCode(t, "sync", recv(t, ch).ErrorCode, 0)
	}
}

// KIP-345: a static member restarting within its session timeout rejoins
// with a new member ID, gets its old assignment, and the group does not
// rebalance; its old member ID is fenced.
func TestStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	t.Parallel()
	// The delay lets both static members (no KIP-394 round trip) share
	// the first generation.
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 100 * time.Millisecond })
	staticJoin := func(inst string) *kmsg.JoinGroupRequest {
		req := joinReq("g", "")
		req.InstanceID = new(inst)
		return req
	}
	ca, cb := h.joinAsync(staticJoin("inst-a")), h.joinAsync(staticJoin("inst-b"))
	ra, rb := recv(t, ca), recv(t, cb)
	wantCode(t, "static join a", ra.ErrorCode, 0)
	wantCode(t, "static join b", rb.ErrorCode, 0)
	gen := ra.Generation
	a, b := ra.MemberID, rb.MemberID
	assign := map[string]string{a: "a:" + a, b: "a:" + b}
	s1, s2 := h.syncAsync(syncReq("g", a, gen, assign)), h.syncAsync(syncReq("g", b, gen, assign))
	recv(t, s1)
	recv(t, s2)
	if h.describe("g").State != "Stable" {
		t.Fatal("group not stable")
	}

	// b restarts: a join with its instance ID and no member ID.
	for _, version := range []int16{5, 9} {
		req := staticJoin("inst-b")
		req.Version = version
		r := recv(t, h.joinAsync(req))
		wantCode(t, "static rejoin", r.ErrorCode, 0)
		if r.Generation != gen || r.MemberID == b || r.MemberID == "" {
			t.Fatalf("v%d static rejoin: generation %d member %q (old %q)", version, r.Generation, r.MemberID, b)
		}
		if r.LeaderID == r.MemberID && !r.SkipAssignment {
			t.Fatalf("v%d static rejoin made the member think it must assign", version)
		}
		old := b
		b = r.MemberID
		if d := h.describe("g"); d.State != "Stable" {
			t.Fatalf("state %s after static rejoin, want Stable", d.State)
		}
		s := recv(t, h.syncAsync(syncReq("g", b, gen, nil)))
		wantCode(t, "sync after static rejoin", s.ErrorCode, 0)
		// The assignment was made for the member's previous ID.
		if !strings.HasPrefix(string(s.MemberAssignment), "a:") {
			t.Fatalf("assignment after static rejoin %q", s.MemberAssignment)
		}
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Version, hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = 4, "g", old, gen, new("inst-b")
		wantCode(t, "old member ID's heartbeat", h.c.Heartbeat(context.Background(), hb).ErrorCode, kerr.FencedInstanceID.Code)
		wantCode(t, "other member's heartbeat", h.heartbeat("g", a, gen), 0)
	}

	// The replacement was stored: a new coordinator knows the new ID.
	h.restart()
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = 4, "g", b, gen, new("inst-b")
	wantCode(t, "heartbeat after failover", h.c.Heartbeat(context.Background(), hb).ErrorCode, 0)
}

// A static member whose session expires is removed like any other.
func TestStaticMemberSessionExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	req := joinReq("g", "")
	req.InstanceID = new("inst")
	req.SessionTimeoutMillis = 100
	r := recv(t, h.joinAsync(req))
	recv(t, h.syncAsync(syncReq("g", r.MemberID, r.Generation, map[string]string{r.MemberID: "x"})))
	waitFor(t, "the group to empty", func() bool { return h.describe("g").State == "Empty" })
}

// LeaveGroup (batched from v3) removes members at once and rebalances the
// others; the last member leaving empties the group.
func TestLeaveGroupTriggersRebalance(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("g", 3)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	leave.Group = "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[1]}, {MemberID: "ghost"}, {MemberID: ids[2], Reason: new("shutting down")}}
	resp := h.c.LeaveGroup(context.Background(), leave)
	wantCode(t, "leave", resp.ErrorCode, 0)
	got := []int16{resp.Members[0].ErrorCode, resp.Members[1].ErrorCode, resp.Members[2].ErrorCode}
	if !slices.Equal(got, []int16{0, kerr.UnknownMemberID.Code, 0}) {
		t.Fatalf("member codes %v", got)
	}
	wantCode(t, "remaining member's heartbeat", h.heartbeat("g", ids[0], gen), kerr.RebalanceInProgress.Code)
	r := recv(t, h.joinAsync(joinReq("g", ids[0])))
	if r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("generation %d with %d members after leave", r.Generation, len(r.Members))
	}
	recv(t, h.syncAsync(syncReq("g", ids[0], r.Generation, map[string]string{ids[0]: "x"})))

	old := kmsg.NewPtrLeaveGroupRequest()
	old.Version, old.Group, old.MemberID = 1, "g", ids[0]
	wantCode(t, "v1 leave", h.c.LeaveGroup(context.Background(), old).ErrorCode, 0)
	d := h.describe("g")
	if d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after the last leave: %s with %d members", d.State, len(d.Members))
	}
	wantCode(t, "v1 leave again", h.c.LeaveGroup(context.Background(), old).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestJoinErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MaxGroupSize = 2 })
	ids, gen, _ := h.stableGroup("g", 2)
	h.stableGroup("g1", 1)

	other := joinReq("g", "")
	other.Version = 3
	other.ProtocolType = "connect"
	wantCode(t, "other protocol type", recv(t, h.joinAsync(other)).ErrorCode, kerr.InconsistentGroupProtocol.Code)
	other.ProtocolType = "consumer"
	other.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin", Metadata: consumerMeta("t")}}
	wantCode(t, "no common protocol", recv(t, h.joinAsync(other)).ErrorCode, kerr.InconsistentGroupProtocol.Code)

	short := joinReq("g", "")
	short.SessionTimeoutMillis = 1
	wantCode(t, "session below min", recv(t, h.joinAsync(short)).ErrorCode, kerr.InvalidSessionTimeout.Code)
	long := joinReq("g", "")
	long.SessionTimeoutMillis = int32((10 * time.Minute).Milliseconds())
	wantCode(t, "session above max", recv(t, h.joinAsync(long)).ErrorCode, kerr.InvalidSessionTimeout.Code)

	wantCode(t, "unknown member", recv(t, h.joinAsync(joinReq("g1", "stranger"))).ErrorCode, kerr.UnknownMemberID.Code)
	wantCode(t, "unknown member of an unknown group", recv(t, h.joinAsync(joinReq("nogroup", "stranger"))).ErrorCode, kerr.UnknownMemberID.Code)
	wantCode(t, "empty group ID", recv(t, h.joinAsync(joinReq("", ""))).ErrorCode, kerr.InvalidGroupID.Code)

	// group.max.size is checked before the member ID (as in Kafka), so
	// a full group turns away even unknown IDs.
	full := joinReq("g", "")
	full.Version = 3
	wantCode(t, "third member", recv(t, h.joinAsync(full)).ErrorCode, kerr.GroupMaxSizeReached.Code)
	wantCode(t, "unknown member of a full group", recv(t, h.joinAsync(joinReq("g", "stranger"))).ErrorCode, kerr.GroupMaxSizeReached.Code)

	// None of that disturbed the group.
	if d := h.describe("g"); d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("group after bad joins: %s with %d members", d.State, len(d.Members))
	}
	for _, id := range ids {
		wantCode(t, "heartbeat", h.heartbeat("g", id, gen), 0)
	}
}

func TestSyncGroupErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("g", 1)
	for _, tc := range []struct {
		name string
		req  *kmsg.SyncGroupRequest
		want int16
	}{
		{"unknown member", syncReq("g", "ghost", gen, nil), kerr.UnknownMemberID.Code},
		{"stale generation", syncReq("g", ids[0], gen-1, nil), kerr.IllegalGeneration.Code},
		{"unknown group", syncReq("nogroup", ids[0], gen, nil), kerr.UnknownMemberID.Code},
		{"other protocol type", func() *kmsg.SyncGroupRequest {
			r := syncReq("g", ids[0], gen, nil)
			r.ProtocolType = new("connect")
			return r
		}(), kerr.InconsistentGroupProtocol.Code},
		{"other protocol", func() *kmsg.SyncGroupRequest {
			r := syncReq("g", ids[0], gen, nil)
			r.Protocol = new("sticky")
			return r
		}(), kerr.InconsistentGroupProtocol.Code},
		{"stable resync", syncReq("g", ids[0], gen, nil), 0},
	} {
		wantCode(t, tc.name, recv(t, h.syncAsync(tc.req)).ErrorCode, tc.want)
	}
}

// MaxMetadataBytes: an oversized subscription is refused with
// INVALID_REQUEST and the member never enters the group; an oversized
// assignment from the leader drops the leader and the others rebalance.
func TestOversizedMetadataRejectedAndGroupKeepsWorking(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MaxMetadataBytes = 64 })
	ids, gen, _ := h.stableGroup("g", 2)
	big := joinReq("g", "")
	big.Protocols[0].Metadata = make([]byte, 65)
	wantCode(t, "oversized join", recv(t, h.joinAsync(big)).ErrorCode, kerr.InvalidRequest.Code)
	if d := h.describe("g"); d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("after oversized join: %s with %d members", d.State, len(d.Members))
	}
	for _, id := range ids {
		wantCode(t, "heartbeat", h.heartbeat("g", id, gen), 0)
	}

	// Rebalance; the leader answers with an oversized assignment.
	third := h.memberID("g")
	chs := []<-chan *kmsg.JoinGroupResponse{h.joinAsync(joinReq("g", third))}
	waitFor(t, "PreparingRebalance", func() bool { return h.describe("g").State == "PreparingRebalance" })
	chs = append(chs, h.joinAsync(joinReq("g", ids[0])), h.joinAsync(joinReq("g", ids[1])))
	var leader string
	for _, ch := range chs {
		r := recv(t, ch)
		leader = r.LeaderID
		gen = r.Generation
	}
	var followers []string
	var fsync []<-chan *kmsg.SyncGroupResponse
	for _, id := range []string{ids[0], ids[1], third} {
		if id != leader {
			followers = append(followers, id)
			fsync = append(fsync, h.syncAsync(syncReq("g", id, gen, nil)))
		}
	}
	bad := syncReq("g", leader, gen, map[string]string{leader: strings.Repeat("x", 65)})
	wantCode(t, "oversized assignment", recv(t, h.syncAsync(bad)).ErrorCode, kerr.InvalidRequest.Code)
	for _, ch := range fsync {
		wantCode(t, "follower sync", recv(t, ch).ErrorCode, kerr.RebalanceInProgress.Code)
	}
	gen2, _ := h.rebalance("g", followers...)
	if gen2 != gen+1 {
		t.Fatalf("generation %d, want %d", gen2, gen+1)
	}
	if d := h.describe("g"); d.State != "Stable" || len(d.Members) != 2 {
		t.Fatalf("after the leader was dropped: %s with %d members", d.State, len(d.Members))
	}
}

// group.initial.rebalance.delay.ms: members of a new group that arrive
// within the delay share the first generation.
func TestInitialRebalanceDelayGathersMembers(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 150 * time.Millisecond })
	a := h.memberID("g")
	ca := h.joinAsync(joinReq("g", a))
	time.Sleep(50 * time.Millisecond) // the second consumer starts a little later
	b := h.memberID("g")
	cb := h.joinAsync(joinReq("g", b))
	ra, rb := recv(t, ca), recv(t, cb)
	if ra.Generation != 1 || rb.Generation != 1 {
		t.Fatalf("generations %d and %d, want both 1", ra.Generation, rb.Generation)
	}
	n := len(ra.Members) + len(rb.Members)
	if n != 2 {
		t.Fatalf("leader saw %d members, want 2", n)
	}
}

// Kafka's selectProtocol: protocols all members support, by votes.
func TestSelectProtocolByVotes(t *testing.T) {
	t.Parallel()
	g := newGroup("g", 0)
	add := func(id string, names ...string) {
		m := &member{id: id}
		for _, n := range names {
			m.protocols = append(m.protocols, protocol{name: n})
		}
		g.members[id] = m
	}
	add("a", "cooperative-sticky", "range")
	add("b", "range", "cooperative-sticky")
	add("c", "range", "cooperative-sticky", "roundrobin")
	g.leader = "a"
	if got := g.selectProtocol(); got != "range" {
		t.Fatalf("selected %q, want range (2 votes to 1)", got)
	}
	add("d", "cooperative-sticky")
	if got := g.selectProtocol(); got != "cooperative-sticky" {
		t.Fatalf("selected %q, want the only common protocol", got)
	}
}

// Requests for groups of partitions not loaded get NOT_COORDINATOR; while
// a partition loads, COORDINATOR_LOAD_IN_PROGRESS.
func TestNotCoordinatorAndLoadInProgress(t *testing.T) {
	t.Parallel()
	wall := &wallClock{}
	log := newMemLog()
	c := New(testConfig(log, wall))
	wantHB := func(want int16) {
		t.Helper()
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID = "g", "m"
		wantCode(t, "heartbeat", c.Heartbeat(context.Background(), req).ErrorCode, want)
	}
	wantHB(kerr.NotCoordinator.Code)
	log.readGate = make(chan struct{})
	log.next[c.PartitionFor("g")] = 1 // something to read
	done := make(chan error, 1)
	go func() { done <- c.Load(context.Background(), c.PartitionFor("g")) }()
	waitFor(t, "loading", func() bool {
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group = "g"
		return c.Heartbeat(context.Background(), req).ErrorCode == kerr.CoordinatorLoadInProgress.Code
	})
	lg := c.ListGroups(context.Background(), kmsg.NewPtrListGroupsRequest())
	wantCode(t, "list groups while loading", lg.ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	close(log.readGate)
	// The fake log end has no batch behind it.
	if err := <-done; err == nil {
		t.Fatal("load of a log with a hole succeeded")
	}
	wantHB(kerr.NotCoordinator.Code)
	log.next[c.PartitionFor("g")] = 0
	if err := c.Load(context.Background(), c.PartitionFor("g")); err != nil {
		t.Fatal(err)
	}
	wantHB(kerr.UnknownMemberID.Code)
	c.Unload(c.PartitionFor("g"))
	wantHB(kerr.NotCoordinator.Code)
}

// Unloading a partition answers members waiting in JoinGroup with
// NOT_COORDINATOR so they find the new coordinator.
func TestUnloadReleasesWaiters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = time.Hour })
	ch := h.joinAsync(joinReq("g", h.memberID("g")))
	waitFor(t, "PreparingRebalance", func() bool { return h.describe("g").State == "PreparingRebalance" })
	h.c.Unload(h.c.PartitionFor("g"))
	wantCode(t, "waiting join", recv(t, ch).ErrorCode, kerr.NotCoordinator.Code)
}

// A failed store of the leader's assignment answers everyone with the
// mapped error and rebalances; nothing is applied.
func TestFailedAssignmentStoreRebalances(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.memberID("g")
	r := recv(t, h.joinAsync(joinReq("g", a)))
	h.log.mu.Lock()
	h.log.failAppend = func(int32) error { return kerr.NotEnoughReplicas }
	h.log.mu.Unlock()
	s := recv(t, h.syncAsync(syncReq("g", a, r.Generation, map[string]string{a: "x"})))
	wantCode(t, "sync with a failing log", s.ErrorCode, kerr.CoordinatorNotAvailable.Code)
	if st := h.describe("g").State; st != "PreparingRebalance" {
		t.Fatalf("state %s, want PreparingRebalance", st)
	}
}

// A rejoin with another protocol type is INCONSISTENT_GROUP_PROTOCOL
// unless the group is Empty, even when the member is the group's only
// one (Kafka's ClassicGroup.supportsProtocols): before, a sole member
// could switch the group to "connect" and rebalance it.
func TestJoinWithAnotherProtocolTypeWhenNotEmpty(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("g", 1)
	req := joinReq("g", ids[0])
	req.ProtocolType = "connect"
	resp := recv(t, h.joinAsync(req))
	wantCode(t, "rejoin as connect", resp.ErrorCode, kerr.InconsistentGroupProtocol.Code)
	if d := h.describe("g"); d.State != "Stable" || d.ProtocolType != "consumer" {
		t.Fatalf("group after the refused join: %s %s, want Stable consumer", d.State, d.ProtocolType)
	}
	wantCode(t, "heartbeat after the refused join", h.heartbeat("g", ids[0], gen), 0)
}

// A request naming a group.instance.id the group does not know is
// UNKNOWN_MEMBER_ID (Kafka's validateCurrentMember), even with a member ID
// the group has: the client must join as that static member first.
func TestUnknownInstanceIDIsAnUnknownMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("g", 1)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 4
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = "g", ids[0], gen, new("ghost")
	wantCode(t, "heartbeat", h.c.Heartbeat(context.Background(), hb).ErrorCode, kerr.UnknownMemberID.Code)
	c := commitReq("g", ids[0], gen, "t", map[int32]int64{0: 1})
	c.InstanceID = new("ghost")
	resp := h.c.OffsetCommit(context.Background(), c)
	wantCode(t, "offset commit", resp.Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID.Code)
	wantCode(t, "heartbeat without the instance", h.heartbeat("g", ids[0], gen), 0)
}
