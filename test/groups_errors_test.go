package test

// Bad input to the group coordinator, sent as raw requests (issue 3, "What
// to show"): each gets Kafka's error code, and the group keeps working for
// its other members. Each raw member has a client of its own, so that a
// JoinGroup or SyncGroup blocked in a rebalance holds up no other member's
// requests. The error codes and their order follow Kafka's classic group
// coordinator (GroupMetadataManager / GroupCoordinator).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// rawMember is one member of a classic group driven by raw requests.
type rawMember struct {
	t     testing.TB
	cl    *kgo.Client
	group string
	id    string
	gen   int32
	inst  *string
	meta  []byte
}

func newRawMember(t testing.TB, addr, group string, topics ...string) *rawMember {
	return &rawMember{t: t, cl: newClient(t, addr), group: group, meta: groupConsumerMeta(topics...)}
}

// groupConsumerMeta is the "consumer" protocol's member metadata (a
// subscription), which Kafka's coordinator reads to know which topics a
// group consumes (OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC).
func groupConsumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 1
	m.Topics = topics
	return m.AppendTo(nil)
}

func groupConsumerAssignment(topic string, partitions ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	a.Version = 1
	if topic != "" {
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic, at.Partitions = topic, partitions
		a.Topics = append(a.Topics, at)
	}
	return a.AppendTo(nil)
}

func (m *rawMember) joinReq(protocolType string, meta []byte, protocols ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group = m.group
	req.MemberID = m.id
	req.InstanceID = m.inst
	req.ProtocolType = protocolType
	req.SessionTimeoutMillis = 10_000
	req.RebalanceTimeoutMillis = 8_000
	for _, name := range protocols {
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = name, meta
		req.Protocols = append(req.Protocols, p)
	}
	return req
}

// try sends req; safe to call from any goroutine.
func (m *rawMember) try(req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return m.cl.Request(ctx, req)
}

func (m *rawMember) send(req kmsg.Request) kmsg.Response {
	m.t.Helper()
	resp, err := m.try(req)
	if err != nil {
		m.t.Fatalf("%T for group %s: %v", req, m.group, err)
	}
	return resp
}

// join sends one JoinGroup and remembers the member ID and generation it
// returns.
func (m *rawMember) join(req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	m.t.Helper()
	resp := m.send(req).(*kmsg.JoinGroupResponse)
	if resp.MemberID != "" {
		m.id = resp.MemberID
	}
	if resp.ErrorCode == 0 {
		m.gen = resp.Generation
	}
	return resp
}

// joinNew joins as a new dynamic member (KIP-394): the first JoinGroup
// (v4+) without a member ID is answered MEMBER_ID_REQUIRED with an ID to
// use, and the second, with that ID, joins.
func (m *rawMember) joinNew() *kmsg.JoinGroupResponse {
	m.t.Helper()
	m.id = ""
	first := m.join(m.joinReq("consumer", m.meta, "range"))
	if first.ErrorCode != kerr.MemberIDRequired.Code || first.MemberID == "" {
		m.t.Fatalf("first JoinGroup v%d without a member ID: error %v, member ID %q; want MEMBER_ID_REQUIRED with an ID",
			first.Version, kerr.ErrorForCode(first.ErrorCode), first.MemberID)
	}
	assigned := first.MemberID
	resp := m.join(m.joinReq("consumer", m.meta, "range"))
	if resp.ErrorCode != 0 || resp.MemberID != assigned || resp.Generation < 1 {
		m.t.Fatalf("JoinGroup with the assigned member ID %q: error %v, member %q, generation %d", assigned, kerr.ErrorForCode(resp.ErrorCode), resp.MemberID, resp.Generation)
	}
	return resp
}

// expectJoinError sends req and expects want. A coordinator may hand out a
// member ID first (MEMBER_ID_REQUIRED); then the join is retried once with
// it. want == nil means any error at all.
func (m *rawMember) expectJoinError(what string, req *kmsg.JoinGroupRequest, want *kerr.Error) int16 {
	m.t.Helper()
	resp := m.join(req)
	if resp.ErrorCode == kerr.MemberIDRequired.Code && want != kerr.MemberIDRequired {
		req.MemberID = resp.MemberID
		resp = m.join(req)
	}
	switch {
	case want == nil && resp.ErrorCode == 0:
		m.t.Fatalf("%s: JoinGroup succeeded; want an error", what)
	case want != nil && resp.ErrorCode != want.Code:
		m.t.Fatalf("%s: JoinGroup error %v, want %v", what, kerr.ErrorForCode(resp.ErrorCode), want)
	}
	return resp.ErrorCode
}

func (m *rawMember) syncReq(gen int32, assignments map[string][]byte) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation, req.InstanceID = m.group, m.id, gen, m.inst
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	for id, a := range assignments {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, a
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	return req
}

func (m *rawMember) sync(gen int32, assignments map[string][]byte) *kmsg.SyncGroupResponse {
	m.t.Helper()
	return m.send(m.syncReq(gen, assignments)).(*kmsg.SyncGroupResponse)
}

func (m *rawMember) heartbeat(id string, gen int32) int16 {
	m.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation, req.InstanceID = m.group, id, gen, m.inst
	return m.send(req).(*kmsg.HeartbeatResponse).ErrorCode
}

// commit commits offset for topic/partition as member id in generation
// gen and returns the partition's error code.
func (m *rawMember) commit(id string, gen int32, topic string, partition int32, offset int64) int16 {
	m.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation, req.InstanceID = m.group, id, gen, m.inst
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rt.TopicID = topicID(m.t, m.cl, topic) // for OffsetCommit v10+
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = partition, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := m.send(req).(*kmsg.OffsetCommitResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		m.t.Fatalf("OffsetCommit answered %d topics for 1", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func expectCode(t testing.TB, what string, got int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(wantCode))
	}
}

func describeGroup(t testing.TB, cl *kgo.Client, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(testContext(t, 15*time.Second), cl)
	if err != nil {
		t.Fatalf("describe %s: %v", group, err)
	}
	if len(resp.Groups) != 1 || resp.Groups[0].Group != group {
		t.Fatalf("describe %s: answered %d groups", group, len(resp.Groups))
	}
	return resp.Groups[0]
}

// expectStable asserts that group is Stable with exactly the members ids.
func expectStable(t testing.TB, cl *kgo.Client, group string, ids ...string) {
	t.Helper()
	d := describeGroup(t, cl, group)
	var got []string
	for _, m := range d.Members {
		got = append(got, m.MemberID)
	}
	slices.Sort(got)
	ids = slices.Sorted(slices.Values(ids))
	if d.ErrorCode != 0 || d.State != "Stable" || !slices.Equal(got, ids) {
		t.Fatalf("group %s: state %q, error %v, members %v; want Stable with %v", group, d.State, kerr.ErrorForCode(d.ErrorCode), got, ids)
	}
}

// formGroup makes a Stable one-member group: the member joins, leads, and
// assigns itself assignment, which SyncGroup hands back untouched.
func formGroup(t testing.TB, m *rawMember, assignment []byte) {
	t.Helper()
	resp := m.joinNew()
	if resp.LeaderID != m.id || len(resp.Members) != 1 || !bytes.Equal(resp.Members[0].ProtocolMetadata, m.meta) {
		t.Fatalf("sole member %s: leader %q, %d members; want it to lead and see its own metadata unchanged", m.id, resp.LeaderID, len(resp.Members))
	}
	if resp.Protocol == nil || *resp.Protocol != "range" || resp.ProtocolType == nil || *resp.ProtocolType != "consumer" {
		t.Fatalf("JoinGroup chose protocol %v of type %v; want range of consumer", resp.Protocol, resp.ProtocolType)
	}
	sync := m.sync(m.gen, map[string][]byte{m.id: assignment})
	if sync.ErrorCode != 0 || !bytes.Equal(sync.MemberAssignment, assignment) {
		t.Fatalf("SyncGroup: error %v, assignment of %d bytes; want the %d bytes the leader sent", kerr.ErrorForCode(sync.ErrorCode), len(sync.MemberAssignment), len(assignment))
	}
	expectCode(t, "heartbeat after sync", m.heartbeat(m.id, m.gen), nil)
}

// TestGroupJoinProtocolErrors: a JoinGroup whose protocol type or
// protocols are empty, or do not match the group's, is refused with
// INCONSISTENT_GROUP_PROTOCOL and changes nothing for the members; a v4+
// JoinGroup without a member ID gets MEMBER_ID_REQUIRED (KIP-394), while a
// v3 JoinGroup joins at once.
func TestGroupJoinProtocolErrors(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	b.createTopic("grp-err-proto", 3, nil)

	// A new group: an empty protocol type or no protocols at all.
	fresh := newRawMember(t, b.addr, "grp-err-proto-new", "grp-err-proto")
	fresh.expectJoinError("empty protocol type", fresh.joinReq("", fresh.meta, "range"), kerr.InconsistentGroupProtocol)
	fresh.id = ""
	fresh.expectJoinError("no protocols", fresh.joinReq("consumer", fresh.meta), kerr.InconsistentGroupProtocol)

	// An existing group of type consumer with protocol range.
	a := newRawMember(t, b.addr, "grp-err-proto", "grp-err-proto")
	formGroup(t, a, groupConsumerAssignment("grp-err-proto", 0, 1, 2))
	x := newRawMember(t, b.addr, "grp-err-proto", "grp-err-proto")
	x.expectJoinError("protocol type connect into a consumer group", x.joinReq("connect", x.meta, "range"), kerr.InconsistentGroupProtocol)
	x.id = ""
	x.expectJoinError("no protocol in common", x.joinReq("consumer", x.meta, "no-such-assignor"), kerr.InconsistentGroupProtocol)
	x.id = ""
	x.expectJoinError("empty protocol type into an existing group", x.joinReq("", x.meta, "range"), kerr.InconsistentGroupProtocol)
	expectCode(t, "heartbeat of the member after refused joins", a.heartbeat(a.id, a.gen), nil)
	expectStable(t, a.cl, "grp-err-proto", a.id)

	// JoinGroup v3 predates MEMBER_ID_REQUIRED: the member joins at once.
	old := newRawMember(t, b.addr, "grp-err-proto-v3", "grp-err-proto")
	old.cl = newClient(t, b.addr, kgo.MaxVersions(kversion.V2_1_0()))
	resp := old.join(old.joinReq("consumer", old.meta, "range"))
	if resp.Version != 3 || resp.ErrorCode != 0 || resp.MemberID == "" || resp.LeaderID != resp.MemberID {
		t.Fatalf("JoinGroup v%d without a member ID: error %v, member %q, leader %q; want v3 to join and lead at once",
			resp.Version, kerr.ErrorForCode(resp.ErrorCode), resp.MemberID, resp.LeaderID)
	}
	// And an unknown member ID is refused, for a known group as for a new one.
	for _, group := range []string{"grp-err-proto", "grp-err-proto-unknown"} {
		ghost := newRawMember(t, b.addr, group, "grp-err-proto")
		ghost.id = "ghost-member"
		ghost.expectJoinError("JoinGroup of "+group+" with an unknown member ID", ghost.joinReq("consumer", ghost.meta, "range"), kerr.UnknownMemberID)
	}
	expectStable(t, a.cl, "grp-err-proto", a.id)
}

// TestGroupStaleGenerationAndUnknownMember: after a rebalance, Heartbeat,
// SyncGroup and OffsetCommit with the previous generation get
// ILLEGAL_GENERATION; with an unknown member ID, UNKNOWN_MEMBER_ID; and
// neither disturbs the members of the current generation. A static member
// replaced by a new instance with the same group.instance.id is fenced
// (FENCED_INSTANCE_ID, KIP-345).
func TestGroupStaleGenerationAndUnknownMember(t *testing.T) {
	t.Parallel()
	const group, topic = "grp-err-gen", "grp-err-gen"
	b := startBroker(t, groupSettings())
	b.createTopic(topic, 4, nil)

	a := newRawMember(t, b.addr, group, topic)
	formGroup(t, a, groupConsumerAssignment(topic, 0, 1, 2, 3))
	gen1 := a.gen
	expectCode(t, "commit in generation 1", a.commit(a.id, gen1, topic, 0, 10), nil)

	// b joins: its first JoinGroup gets a member ID, its second starts a
	// rebalance and waits for a to rejoin; both reach generation 2.
	bm := newRawMember(t, b.addr, group, topic)
	first := bm.join(bm.joinReq("consumer", bm.meta, "range"))
	expectCode(t, "b's first JoinGroup", first.ErrorCode, kerr.MemberIDRequired)
	var wg sync.WaitGroup
	var bJoin *kmsg.JoinGroupResponse
	var bErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		var r kmsg.Response
		r, bErr = bm.try(bm.joinReq("consumer", bm.meta, "range"))
		if bErr == nil {
			bJoin = r.(*kmsg.JoinGroupResponse)
		}
	}()
	waitFor(t, 10*time.Second, "a's heartbeat to report the rebalance", func() bool {
		return a.heartbeat(a.id, gen1) == kerr.RebalanceInProgress.Code
	})
	aJoin := a.join(a.joinReq("consumer", a.meta, "range"))
	wg.Wait()
	if bErr != nil {
		t.Fatalf("b's JoinGroup: %v", bErr)
	}
	if aJoin.ErrorCode != 0 || bJoin.ErrorCode != 0 || aJoin.Generation != bJoin.Generation || aJoin.Generation <= gen1 {
		t.Fatalf("rejoin: a %v gen %d, b %v gen %d; want both in one generation after %d",
			kerr.ErrorForCode(aJoin.ErrorCode), aJoin.Generation, kerr.ErrorForCode(bJoin.ErrorCode), bJoin.Generation, gen1)
	}
	gen2 := aJoin.Generation
	bm.gen = gen2
	if aJoin.LeaderID != a.id || len(aJoin.Members) != 2 || len(bJoin.Members) != 0 {
		t.Fatalf("rejoin: leader %q with %d members, follower sees %d; want a, the old leader, to lead both", aJoin.LeaderID, len(aJoin.Members), len(bJoin.Members))
	}
	for _, jm := range aJoin.Members {
		want := map[string][]byte{a.id: a.meta, bm.id: bm.meta}[jm.MemberID]
		if want == nil || !bytes.Equal(jm.ProtocolMetadata, want) {
			t.Fatalf("leader sees member %q with %d bytes of metadata; want a and b with theirs unchanged", jm.MemberID, len(jm.ProtocolMetadata))
		}
	}
	plan := map[string][]byte{a.id: groupConsumerAssignment(topic, 0, 1), bm.id: groupConsumerAssignment(topic, 2, 3)}
	var bSync *kmsg.SyncGroupResponse
	wg.Add(1)
	go func() {
		defer wg.Done()
		var r kmsg.Response
		if r, bErr = bm.try(bm.syncReq(gen2, nil)); bErr == nil {
			bSync = r.(*kmsg.SyncGroupResponse)
		}
	}()
	aSync := a.sync(gen2, plan)
	wg.Wait()
	if bErr != nil {
		t.Fatalf("b's SyncGroup: %v", bErr)
	}
	if aSync.ErrorCode != 0 || bSync.ErrorCode != 0 || !bytes.Equal(aSync.MemberAssignment, plan[a.id]) || !bytes.Equal(bSync.MemberAssignment, plan[bm.id]) {
		t.Fatalf("sync: a %v, b %v; or assignments differ from the leader's plan", kerr.ErrorForCode(aSync.ErrorCode), kerr.ErrorForCode(bSync.ErrorCode))
	}

	// The previous generation is refused.
	expectCode(t, "heartbeat with the previous generation", a.heartbeat(a.id, gen1), kerr.IllegalGeneration)
	expectCode(t, "sync with the previous generation", a.sync(gen1, nil).ErrorCode, kerr.IllegalGeneration)
	expectCode(t, "commit with the previous generation", a.commit(a.id, gen1, topic, 0, 99), kerr.IllegalGeneration)
	expectCode(t, "commit with a future generation", a.commit(a.id, gen2+1, topic, 0, 99), kerr.IllegalGeneration)

	// An unknown member ID is refused.
	expectCode(t, "heartbeat of an unknown member", a.heartbeat("ghost", gen2), kerr.UnknownMemberID)
	ghost := &rawMember{t: t, cl: a.cl, group: group, id: "ghost"}
	expectCode(t, "sync of an unknown member", ghost.sync(gen2, nil).ErrorCode, kerr.UnknownMemberID)
	expectCode(t, "commit of an unknown member", a.commit("ghost", gen2, topic, 0, 99), kerr.UnknownMemberID)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = "ghost"
	leave.Members = append(leave.Members, lm)
	lresp := a.send(leave).(*kmsg.LeaveGroupResponse)
	if lresp.ErrorCode != 0 || len(lresp.Members) != 1 || lresp.Members[0].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("LeaveGroup v%d of an unknown member: error %v, members %+v; want UNKNOWN_MEMBER_ID for that member", lresp.Version, kerr.ErrorForCode(lresp.ErrorCode), lresp.Members)
	}

	// None of that disturbed the group.
	expectCode(t, "a's heartbeat", a.heartbeat(a.id, gen2), nil)
	expectCode(t, "b's heartbeat", bm.heartbeat(bm.id, gen2), nil)
	expectStable(t, a.cl, group, a.id, bm.id)
	expectCode(t, "commit in the current generation", a.commit(a.id, gen2, topic, 0, 42), nil)
	offs, err := kadm.NewClient(a.cl).FetchOffsets(testContext(t, 10*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || o.Err != nil || o.At != 42 {
		t.Fatalf("committed offset of %s/0: %+v; want 42 (the refused commits must not count)", topic, o)
	}

	// Static membership: a second instance with the same instance ID
	// replaces the first without a rebalance, gets its assignment, and the
	// first is fenced.
	s1 := newRawMember(t, b.addr, "grp-err-static", topic)
	s1.inst = kmsg.StringPtr("instance-1")
	r1 := s1.join(s1.joinReq("consumer", s1.meta, "range"))
	if r1.ErrorCode != 0 {
		t.Fatalf("static JoinGroup without a member ID: %v; static members need no MEMBER_ID_REQUIRED round", kerr.ErrorForCode(r1.ErrorCode))
	}
	assignment := groupConsumerAssignment(topic, 0, 1, 2, 3)
	if r := s1.sync(s1.gen, map[string][]byte{s1.id: assignment}); r.ErrorCode != 0 {
		t.Fatalf("static sync: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	s2 := newRawMember(t, b.addr, "grp-err-static", topic)
	s2.inst = s1.inst
	r2 := s2.join(s2.joinReq("consumer", s2.meta, "range"))
	if r2.ErrorCode != 0 || s2.id == s1.id || r2.Generation != s1.gen {
		t.Fatalf("replacing static member: error %v, member %q (old %q), generation %d (was %d); want a new ID in the same generation",
			kerr.ErrorForCode(r2.ErrorCode), s2.id, s1.id, r2.Generation, s1.gen)
	}
	if r := s2.sync(s2.gen, nil); r.ErrorCode != 0 || !bytes.Equal(r.MemberAssignment, assignment) {
		t.Fatalf("replacing static member's sync: error %v; or not its predecessor's assignment", kerr.ErrorForCode(r.ErrorCode))
	}
	expectCode(t, "heartbeat of the replaced static member", s1.heartbeat(s1.id, s1.gen), kerr.FencedInstanceID)
	expectCode(t, "commit of the replaced static member", s1.commit(s1.id, s1.gen, topic, 0, 1), kerr.FencedInstanceID)
	expectCode(t, "heartbeat of the new static member", s2.heartbeat(s2.id, s2.gen), nil)
	expectStable(t, s2.cl, "grp-err-static", s2.id)
}

// TestGroupOversizedMetadataRefused: member metadata and assignments are
// opaque to the broker, but not unbounded: a 2 MiB subscription (well
// within the 100 MiB request limit, above Sluice's 1 MiB cap) gets an
// error, not a crash, and the group's members carry on undisturbed.
func TestGroupOversizedMetadataRefused(t *testing.T) {
	t.Parallel()
	const group, topic = "grp-err-big", "grp-err-big"
	b := startBroker(t, groupSettings())
	b.createTopic(topic, 2, nil)
	huge := bytes.Repeat([]byte{0x5a}, 2<<20)

	a := newRawMember(t, b.addr, group, topic)
	formGroup(t, a, groupConsumerAssignment(topic, 0, 1))
	big := newRawMember(t, b.addr, group, topic)
	code := big.expectJoinError("JoinGroup with 2 MiB of metadata", big.joinReq("consumer", huge, "range"), nil)
	t.Logf("2 MiB member metadata: %v", kerr.ErrorForCode(code))
	// The refused member must not have started a rebalance.
	expectCode(t, "heartbeat of the member after the oversized join", a.heartbeat(a.id, a.gen), nil)
	expectStable(t, a.cl, group, a.id)
	// The connection that sent it still works, and a normal join succeeds.
	big.id = ""
	if r := big.join(big.joinReq("consumer", big.meta, "range")); r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first JoinGroup after the refused one: %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(r.ErrorCode))
	}
	joiner := make(chan kmsg.Response, 1)
	go func() {
		r, err := big.try(big.joinReq("consumer", big.meta, "range"))
		if err != nil {
			r = nil
		}
		joiner <- r
	}()
	waitFor(t, 10*time.Second, "the group to rebalance for a normal join", func() bool {
		return a.heartbeat(a.id, a.gen) == kerr.RebalanceInProgress.Code
	})
	ra := a.join(a.joinReq("consumer", a.meta, "range"))
	rr := <-joiner
	if rr == nil {
		t.Fatal("the new member's JoinGroup failed")
	}
	rb := rr.(*kmsg.JoinGroupResponse)
	if ra.ErrorCode != 0 || rb.ErrorCode != 0 || ra.Generation != rb.Generation {
		t.Fatalf("join after the refused one: a %v, new member %v", kerr.ErrorForCode(ra.ErrorCode), kerr.ErrorForCode(rb.ErrorCode))
	}

	// A leader's oversized assignment is refused too, and the group
	// recovers once the leader sends a sane one.
	l := newRawMember(t, b.addr, "grp-err-big-assign", topic)
	l.joinNew()
	resp := l.sync(l.gen, map[string][]byte{l.id: huge})
	if resp.ErrorCode == 0 {
		t.Fatal("SyncGroup with a 2 MiB assignment succeeded; want an error")
	}
	t.Logf("2 MiB assignment: %v", kerr.ErrorForCode(resp.ErrorCode))
	small := groupConsumerAssignment(topic, 0, 1)
	var synced bool
	for attempt := 0; attempt < 5 && !synced; attempt++ {
		r := l.join(l.joinReq("consumer", l.meta, "range"))
		switch r.ErrorCode {
		case 0:
		case kerr.MemberIDRequired.Code:
			continue
		case kerr.UnknownMemberID.Code:
			l.id = ""
			continue
		default:
			t.Fatalf("rejoin after the refused assignment: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		s := l.sync(l.gen, map[string][]byte{l.id: small})
		synced = s.ErrorCode == 0 && bytes.Equal(s.MemberAssignment, small)
	}
	if !synced {
		t.Fatal("the group did not recover from a refused assignment in 5 rejoins")
	}
	expectCode(t, "heartbeat after recovering", l.heartbeat(l.id, l.gen), nil)
	expectStable(t, l.cl, "grp-err-big-assign", l.id)
}

func listGroups(t testing.TB, cl *kgo.Client, states, types []string) map[string]kmsg.ListGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrListGroupsRequest()
	req.StatesFilter, req.TypesFilter = states, types
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("list groups %v %v: %v %v", states, types, err, kerr.ErrorForCode(resp.ErrorCode))
	}
	out := map[string]kmsg.ListGroupsResponseGroup{}
	for _, g := range resp.Groups {
		out[g.Group] = g
	}
	return out
}

// TestGroupDeleteAndList: DeleteGroups refuses a group with members
// (NON_EMPTY_GROUP), deletes empty ones with their offsets (after which
// DescribeGroups v0-v5 shows them Dead, as Kafka does), and answers
// GROUP_ID_NOT_FOUND for unknown ones. ListGroups filters by state
// (KIP-518) and type (KIP-848).
func TestGroupDeleteAndList(t *testing.T) {
	t.Parallel()
	const topic = "grp-err-del"
	b := startBroker(t, groupSettings())
	b.createTopic(topic, 2, nil)
	cl := b.client()
	adm := kadm.NewClient(cl)

	live := newRawMember(t, b.addr, "grp-del-live", topic)
	formGroup(t, live, groupConsumerAssignment(topic, 0, 1))
	expectCode(t, "commit of the live group", live.commit(live.id, live.gen, topic, 0, 7), nil)
	// A group made by a simple consumer's commit only: Empty, no protocol type.
	simple := kadm.Offsets{}
	simple.Add(kadm.Offset{Topic: topic, Partition: 1, At: 3, LeaderEpoch: -1, Metadata: "simple"})
	if err := adm.CommitAllOffsets(testContext(t, 10*time.Second), "grp-del-simple", simple); err != nil {
		t.Fatalf("simple commit: %v", err)
	}

	all := listGroups(t, cl, nil, nil)
	if g, ok := all["grp-del-live"]; !ok || g.ProtocolType != "consumer" || g.GroupState != "Stable" || g.GroupType != "classic" {
		t.Fatalf("ListGroups: grp-del-live is %+v (listed %v); want a Stable classic consumer group", g, ok)
	}
	if g, ok := all["grp-del-simple"]; !ok || g.ProtocolType != "" || g.GroupState != "Empty" || g.GroupType != "classic" {
		t.Fatalf("ListGroups: grp-del-simple is %+v (listed %v); want an Empty classic group without protocol type", g, ok)
	}
	for _, tc := range []struct {
		states, types []string
		want          []string
	}{
		{[]string{"Stable"}, nil, []string{"grp-del-live"}},
		{[]string{"Empty"}, nil, []string{"grp-del-simple"}},
		{[]string{"Empty", "Stable"}, nil, []string{"grp-del-live", "grp-del-simple"}},
		{[]string{"PreparingRebalance", "Dead"}, nil, nil},
		{nil, []string{"classic"}, []string{"grp-del-live", "grp-del-simple"}},
		{nil, []string{"consumer"}, nil},
		{[]string{"Empty"}, []string{"classic"}, []string{"grp-del-simple"}},
	} {
		got := listGroups(t, cl, tc.states, tc.types)
		var names []string
		for name := range got {
			names = append(names, name)
		}
		slices.Sort(names)
		if !slices.Equal(names, tc.want) {
			t.Fatalf("ListGroups states %v types %v: %v, want %v", tc.states, tc.types, names, tc.want)
		}
	}

	deleteGroups := func(groups ...string) map[string]int16 {
		t.Helper()
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = groups
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		if err != nil {
			t.Fatalf("delete groups: %v", err)
		}
		out := map[string]int16{}
		for _, g := range resp.Groups {
			out[g.Group] = g.ErrorCode
		}
		if len(out) != len(groups) {
			t.Fatalf("DeleteGroups answered %d groups for %d", len(out), len(groups))
		}
		return out
	}
	got := deleteGroups("grp-del-live")
	expectCode(t, "deleting a group with a member", got["grp-del-live"], kerr.NonEmptyGroup)
	expectCode(t, "heartbeat after the refused delete", live.heartbeat(live.id, live.gen), nil)
	expectStable(t, cl, "grp-del-live", live.id)

	// The member leaves: the group is Empty and can go.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = "grp-del-live"
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = live.id
	leave.Members = append(leave.Members, lm)
	if r := live.send(leave).(*kmsg.LeaveGroupResponse); r.ErrorCode != 0 || len(r.Members) != 1 || r.Members[0].ErrorCode != 0 {
		t.Fatalf("LeaveGroup: %v %+v", kerr.ErrorForCode(r.ErrorCode), r.Members)
	}
	if d := describeGroup(t, cl, "grp-del-live"); d.State != "Empty" || d.ProtocolType != "consumer" || len(d.Members) != 0 {
		t.Fatalf("after the last member left: state %q, protocol type %q, %d members; want Empty consumer with none", d.State, d.ProtocolType, len(d.Members))
	}
	got = deleteGroups("grp-del-live", "grp-del-simple", "grp-del-missing")
	expectCode(t, "deleting the emptied group", got["grp-del-live"], nil)
	expectCode(t, "deleting the simple group", got["grp-del-simple"], nil)
	expectCode(t, "deleting an unknown group", got["grp-del-missing"], kerr.GroupIDNotFound)
	for _, g := range []string{"grp-del-live", "grp-del-simple"} {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{g}
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		if err != nil || len(resp.Groups) != 1 {
			t.Fatalf("describe deleted %s: %v", g, err)
		}
		// v6 (KIP-1043) reports GROUP_ID_NOT_FOUND; before, no error.
		want := int16(0)
		if resp.Version >= 6 {
			want = kerr.GroupIDNotFound.Code
		}
		if d := resp.Groups[0]; d.ErrorCode != want || d.State != "Dead" || len(d.Members) != 0 {
			t.Fatalf("DescribeGroups v%d of deleted %s: state %q, error %v; want Dead, %v", resp.Version, g, d.State, kerr.ErrorForCode(d.ErrorCode), kerr.ErrorForCode(want))
		}
		offs, err := adm.FetchOffsets(testContext(t, 10*time.Second), g)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			t.Fatalf("fetch offsets of deleted %s: %v", g, err)
		}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.At >= 0 {
				t.Fatalf("deleted group %s still has offset %d for %s/%d", g, o.At, o.Topic, o.Partition)
			}
		})
	}
	all = listGroups(t, cl, nil, nil)
	if _, ok := all["grp-del-live"]; ok {
		t.Fatal("ListGroups still lists a deleted group")
	}
	if _, ok := all["grp-del-simple"]; ok {
		t.Fatal("ListGroups still lists a deleted group")
	}
	// The name can be used again.
	again := newRawMember(t, b.addr, "grp-del-live", topic)
	formGroup(t, again, groupConsumerAssignment(topic, 0, 1))
	if again.gen != 1 {
		t.Fatalf("a group re-created after deletion starts at generation %d, want 1", again.gen)
	}
}

// TestGroupOffsetDeleteSubscribedTopic (KIP-496): OffsetDelete refuses the
// partitions of a topic the live group subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC) and deletes the others; once the group is
// empty, every partition's offset can be deleted.
func TestGroupOffsetDeleteSubscribedTopic(t *testing.T) {
	t.Parallel()
	const group, sub, other = "grp-offdel", "grp-offdel-sub", "grp-offdel-other"
	b := startBroker(t, groupSettings())
	b.createTopic(sub, 2, nil)
	b.createTopic(other, 1, nil)
	cl := b.client()
	adm := kadm.NewClient(cl)
	// Offsets committed while the group is empty (a simple consumer).
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: sub, Partition: 0, At: 1, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: other, Partition: 0, At: 5, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(testContext(t, 10*time.Second), group, offs); err != nil {
		t.Fatalf("commit: %v", err)
	}

	m := newRawMember(t, b.addr, group, sub)
	formGroup(t, m, groupConsumerAssignment(sub, 0, 1))

	offsetDelete := func(parts map[string]int32) (int16, map[string]int16) {
		t.Helper()
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		for topic, p := range parts {
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		if err != nil {
			t.Fatalf("offset delete: %v", err)
		}
		out := map[string]int16{}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				out[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)] = rp.ErrorCode
			}
		}
		return resp.ErrorCode, out
	}
	top, per := offsetDelete(map[string]int32{sub: 0, other: 0})
	expectCode(t, "OffsetDelete top level", top, nil)
	expectCode(t, "OffsetDelete of a subscribed topic's partition", per[sub+"/0"], kerr.GroupSubscribedToTopic)
	expectCode(t, "OffsetDelete of an unsubscribed topic's partition", per[other+"/0"], nil)
	fetched, err := adm.FetchOffsets(testContext(t, 10*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup(sub, 0); !ok || o.At != 1 {
		t.Fatalf("after the refused delete, %s/0 is at %+v, want 1", sub, o)
	}
	if o, ok := fetched.Lookup(other, 0); ok && o.At >= 0 {
		t.Fatalf("after deleting it, %s/0 is still at %d", other, o.At)
	}
	expectCode(t, "heartbeat after OffsetDelete", m.heartbeat(m.id, m.gen), nil)

	// Empty the group: now the subscribed topic's offset can go too.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group = group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = m.id
	leave.Members = append(leave.Members, lm)
	m.send(leave)
	top, per = offsetDelete(map[string]int32{sub: 0})
	expectCode(t, "OffsetDelete top level on the empty group", top, nil)
	expectCode(t, "OffsetDelete on the empty group", per[sub+"/0"], nil)
	fetched, err = adm.FetchOffsets(testContext(t, 10*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := fetched.Lookup(sub, 0); ok && o.At >= 0 {
		t.Fatalf("after deleting it, %s/0 is still at %d", sub, o.At)
	}
	top, _ = func() (int16, map[string]int16) {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = "grp-offdel-missing"
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = sub
		rp := kmsg.NewOffsetDeleteRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		if err != nil {
			t.Fatalf("offset delete: %v", err)
		}
		return resp.ErrorCode, nil
	}()
	expectCode(t, "OffsetDelete of an unknown group", top, kerr.GroupIDNotFound)
}

// TestGroupFindCoordinatorBatched (KIP-699): FindCoordinator v4+ answers
// every key of a batch, in order, each with this broker; v3 answers
// its single key at the top level.
func TestGroupFindCoordinatorBatched(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	cl := b.client()
	ctx := testContext(t, 30*time.Second)
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil || len(meta.Brokers) != 1 {
		t.Fatalf("metadata: %v, %d brokers", err, len(meta.Brokers))
	}
	self := meta.Brokers[0]
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = 0
	req.CoordinatorKeys = []string{"grp-fc-a", "grp-fc-b", "grp-fc-c", "grp-fc-a"}
	// Straight to the broker: the client would otherwise split the batch.
	raw, err := cl.Broker(int(self.NodeID)).Request(ctx, req)
	if err != nil {
		t.Fatalf("find coordinator: %v", err)
	}
	resp := raw.(*kmsg.FindCoordinatorResponse)
	if resp.Version < 4 || len(resp.Coordinators) != len(req.CoordinatorKeys) {
		t.Fatalf("FindCoordinator v%d answered %d coordinators for %d keys", resp.Version, len(resp.Coordinators), len(req.CoordinatorKeys))
	}
	for i, c := range resp.Coordinators {
		key := req.CoordinatorKeys[i]
		if c.Key != key {
			t.Fatalf("coordinator %d is for key %q, want %q (in request order)", i, c.Key, key)
		}
		if c.ErrorCode != 0 || c.NodeID != self.NodeID || c.Host != self.Host || c.Port != self.Port {
			t.Fatalf("coordinator of %q: %v node %d at %s:%d; want node %d at %s:%d",
				key, kerr.ErrorForCode(c.ErrorCode), c.NodeID, c.Host, c.Port, self.NodeID, self.Host, self.Port)
		}
	}

	old := newClient(t, b.addr, kgo.MaxVersions(kversion.V2_8_0()))
	single := kmsg.NewPtrFindCoordinatorRequest()
	single.CoordinatorKey = "grp-fc-a"
	raw, err = old.Broker(int(self.NodeID)).Request(ctx, single)
	if err != nil {
		t.Fatalf("find coordinator v3: %v", err)
	}
	r3 := raw.(*kmsg.FindCoordinatorResponse)
	if r3.Version != 3 || r3.ErrorCode != 0 || r3.NodeID != self.NodeID || r3.Host != self.Host || r3.Port != self.Port {
		t.Fatalf("FindCoordinator v%d: %v node %d at %s:%d", r3.Version, kerr.ErrorForCode(r3.ErrorCode), r3.NodeID, r3.Host, r3.Port)
	}
}
