package group

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/record"
)

// dumpConsumerGroup renders everything a consumer group holds but its
// timers, for comparing a group with its reload.
func (h *harness) dumpConsumerGroup(id string) string {
	h.t.Helper()
	g, code := h.c.lookup(id, false)
	if code != 0 || g == nil {
		h.t.Fatalf("group %s: code %d, found %v", id, code, g != nil)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.kind != kindConsumer {
		h.t.Fatalf("group %s is not a consumer group", id)
	}
	cg := g.cons
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d assignment %d assignor %q topics %v sig %q static %v owners %v\n",
		cg.epoch, cg.assignmentEpoch, cg.assignor, cg.topics, cg.topicsSig, cg.static, cg.owners)
	for _, m := range cg.sortedMembers() {
		fmt.Fprintf(&b, "%s inst=%s rack=%s client=%s/%s epoch=%d prev=%d state=%d names=%v regex=%q assignor=%q rebalance=%v leaving=%v assigned=%v revoking=%v target=%v\n",
			m.id, deref(m.instanceID), deref(m.rackID), m.clientID, m.clientHost, m.epoch, m.prevEpoch, m.state,
			m.names, m.regex, m.assignor, m.rebalance, m.leaving, m.assigned, m.revoking, cg.target[m.id])
	}
	return b.String()
}

// keyVersions lists the key versions (and whether each is a tombstone) of
// the records of a partition from record i on.
func (h *harness) keyVersions(p int32, from int) []string {
	var out []string
	for _, r := range h.log.records(h.t, p)[from:] {
		s := fmt.Sprint(binary.BigEndian.Uint16(r.Key))
		if r.Value == nil {
			s += "-"
		}
		out = append(out, s)
	}
	return out
}

// A KIP-848 group survives a failover exactly: a new coordinator loads
// the same epochs, members and assignments, and the members heartbeat on
// with their IDs and epochs without a rebalance.
func TestConsumerGroupSurvivesFailover(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a, b, c := h.newCGMember("g", "a"), h.newCGMember("g", "b"), h.newCGMember("g", "c")
	a.mustBeat(false)
	b.mustBeat(false)
	settle(t, a, b)
	req := c.request(false)
	req.InstanceID, req.RackID, req.ServerAssignor = new("inst-c"), new("rack-1"), new("range")
	req.RebalanceTimeoutMillis = 45000
	resp := h.c.ConsumerGroupHeartbeat(WithClient(context.Background(), "client-c", "10.0.0.3:4000"), req)
	wantCode(t, "join of c", resp.ErrorCode, 0)
	c.epoch = resp.MemberEpoch
	settle(t, a, b, c)
	if d := h.consumerDescribe("g"); d.State != "Stable" || len(d.Members) != 3 {
		t.Fatalf("before failover: %+v", d)
	}
	before := h.dumpConsumerGroup("g")
	p := h.c.PartitionFor("g")
	nrecs := len(h.log.records(t, p))

	h.restart()
	if after := h.dumpConsumerGroup("g"); after != before {
		t.Fatalf("group after failover:\n%s\nbefore:\n%s", after, before)
	}
	owned := map[string][]int32{}
	for _, m := range []*cgMember{a, b, c} {
		owned[m.id] = m.ownedList()
		epoch := m.epoch
		m.mustBeat(false)
		m.mustBeat(true)
		if m.epoch != epoch || !slices.Equal(m.ownedList(), owned[m.id]) {
			t.Fatalf("%s after failover: epoch %d owns %v, was %d owning %v", m.id, m.epoch, m.ownedList(), epoch, owned[m.id])
		}
	}
	if after := h.dumpConsumerGroup("g"); after != before {
		t.Fatalf("heartbeats after failover changed the group:\n%s\nbefore:\n%s", after, before)
	}
	if got := h.keyVersions(p, nrecs); len(got) != 0 {
		t.Fatalf("heartbeats after failover wrote %v", got)
	}

	// Mid-reconciliation, too: a fourth member joins and the group fails
	// over while the others are revoking.
	d := h.newCGMember("g", "d")
	d.mustBeat(false)
	for _, m := range []*cgMember{a, b, c} {
		m.mustBeat(true)
	}
	before = h.dumpConsumerGroup("g")
	if !strings.Contains(before, "state=1") {
		t.Fatalf("no member is revoking:\n%s", before)
	}
	h.restart()
	if after := h.dumpConsumerGroup("g"); after != before {
		t.Fatalf("reconciling group after failover:\n%s\nbefore:\n%s", after, before)
	}
	settle(t, a, b, c, d)
	if d := h.consumerDescribe("g"); d.State != "Stable" || d.Epoch != d.AssignmentEpoch || len(d.Members) != 4 {
		t.Fatalf("after settling: %+v", d)
	}
}

// A member that leaves is gone after a failover: its records have
// tombstones. A static member that left temporarily is still there and its
// instance returns to its partitions.
func TestConsumerGroupLeaveSurvivesFailover(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a, b, s := h.newCGMember("g", "a"), h.newCGMember("g", "b"), h.newCGMember("g", "s")
	a.mustBeat(false)
	b.mustBeat(false)
	static := func(m *cgMember, epoch int32) *kmsg.ConsumerGroupHeartbeatResponse {
		req := m.request(true)
		req.MemberEpoch, req.InstanceID = epoch, new("inst-s")
		return h.c.ConsumerGroupHeartbeat(context.Background(), req)
	}
	wantCode(t, "static join", static(s, 0).ErrorCode, 0)
	s.epoch = static(s, 0).MemberEpoch
	settle(t, a, b, s)
	p := h.c.PartitionFor("g")
	n := len(h.log.records(t, p))

	req := b.request(false)
	req.MemberEpoch = -1
	wantCode(t, "leave", h.c.ConsumerGroupHeartbeat(context.Background(), req).ErrorCode, 0)
	got := strings.Join(h.keyVersions(p, n), " ")
	if !strings.HasPrefix(got, "8- 7- 5- ") || !strings.Contains(got, " 3 ") || !strings.HasSuffix(got, " 6") {
		t.Fatalf("records of a leave: %s; want member tombstones, group epoch, target assignment", got)
	}
	sOwned := s.ownedList()
	wantCode(t, "static leave", static(s, -2).ErrorCode, 0)
	before := h.dumpConsumerGroup("g")

	h.restart()
	if after := h.dumpConsumerGroup("g"); after != before {
		t.Fatalf("group after failover:\n%s\nbefore:\n%s", after, before)
	}
	b.epoch = 2
	wantCode(t, "heartbeat of the member that left", b.beat(true).ErrorCode, kerr.UnknownMemberID.Code)
	s2 := h.newCGMember("g", "s2")
	resp := static(s2, 0)
	wantCode(t, "static member returns", resp.ErrorCode, 0)
	// It gets back what it had (and what b left, which is its target).
	if resp.Assignment == nil || len(resp.Assignment.Topics) != 1 || !isSubset(sOwned, resp.Assignment.Topics[0].Partitions) {
		t.Fatalf("returning static member got %+v, had %v", resp.Assignment, sOwned)
	}
}

func isSubset(a, b []int32) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// Deleting a group writes tombstones for all its records: after a failover
// it is gone, and its ID starts afresh.
func TestConsumerGroupDeleteSurvivesFailover(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a := h.newCGMember("g", "a")
	a.mustBeat(false)
	wantCode(t, "commit", h.commit("g", "a", a.epoch, "t", map[int32]int64{0: 5}), 0)
	req := a.request(false)
	req.MemberEpoch = -1
	wantCode(t, "leave", h.c.ConsumerGroupHeartbeat(context.Background(), req).ErrorCode, 0)
	h.restart()
	if d := h.consumerDescribe("g"); d.ErrorCode != 0 || d.State != "Empty" || d.Epoch != 2 {
		t.Fatalf("empty group after failover: %+v", d)
	}
	p := h.c.PartitionFor("g")
	n := len(h.log.records(t, p))
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g"}
	wantCode(t, "delete", h.c.DeleteGroups(context.Background(), del).Groups[0].ErrorCode, 0)
	if got := strings.Join(h.keyVersions(p, n), " "); got != "1- 6- 4- 3-" {
		t.Fatalf("records of a deletion: %s", got)
	}
	h.restart()
	if d := h.consumerDescribe("g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("deleted group after failover: %+v", d)
	}
	a2 := h.newCGMember("g", "a")
	if resp := a2.mustBeat(false); resp.MemberEpoch != 1 {
		t.Fatalf("new group: epoch %d", resp.MemberEpoch)
	}
}

// A malformed KIP-848 record is logged and skipped; the rest loads.
func TestConsumerGroupLoadSkipsMalformedRecords(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a := h.newCGMember("g", "a")
	a.mustBeat(false)
	p := h.c.PartitionFor("g")
	bad := []record.Record{
		{Key: cgRecordKey(cgMemberMetadataVersion, "g", "x"), Value: []byte{0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{Key: []byte{0, 7, 0, 9, 'g'}, Value: []byte{0, 0}},
		{Key: cgRecordKey(cgCurrentAssignmentVersion, "g", "a"), Value: []byte{0, 0, 0, 0, 0, 1, 0, 0}},
		{Key: cgRecordKey(cgTargetMemberVersion, "g", "a"), Value: []byte{0, 0, 0x02, 1, 2}},
	}
	for i := range bad {
		bad[i].OffsetDelta = int32(i)
	}
	batch, err := record.Build(record.BuildOptions{BaseTimestamp: 1}, bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.log.Append(context.Background(), p, batch); err != nil {
		t.Fatal(err)
	}
	before := h.dumpConsumerGroup("g")
	h.restart()
	if after := h.dumpConsumerGroup("g"); after != before {
		t.Fatalf("group after loading malformed records:\n%s\nbefore:\n%s", after, before)
	}
	a.mustBeat(true)
}

// An empty consumer group taken over by a classic member is a classic
// group after a failover, and the other way round.
func TestGroupConversionSurvivesFailover(t *testing.T) {
	t.Parallel()
	h := consumerHarness(t)
	a := h.newCGMember("g", "a")
	a.mustBeat(false)
	req := a.request(false)
	req.MemberEpoch = -1
	wantCode(t, "leave", h.c.ConsumerGroupHeartbeat(context.Background(), req).ErrorCode, 0)
	h.stableGroup("g", 1)
	h.restart()
	if d := h.describe("g"); d.ErrorCode != 0 || d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("classic group after failover: %+v", d)
	}
	if d := h.consumerDescribe("g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer describe of the classic group: %+v", d)
	}
}
