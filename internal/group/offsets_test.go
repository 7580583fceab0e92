package group

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit from group members is checked against the generation and
// membership; a simple consumer (generation -1, no member) may commit only
// to a group without members.
func TestOffsetCommitChecksGenerationAndMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("g", 2)
	offs := map[int32]int64{0: 10, 1: 20}
	for _, tc := range []struct {
		name   string
		member string
		gen    int32
		want   int16
	}{
		{"member at the current generation", ids[0], gen, 0},
		{"stale generation", ids[0], gen - 1, kerr.IllegalGeneration.Code},
		{"future generation", ids[1], gen + 1, kerr.IllegalGeneration.Code},
		{"unknown member", "ghost", gen, kerr.UnknownMemberID.Code},
		{"simple commit to a group with members", "", -1, kerr.UnknownMemberID.Code},
	} {
		wantCode(t, tc.name, h.commit("g", tc.member, tc.gen, "t", offs), tc.want)
	}
	want := map[string]string{"t/0": "10/7/meta-0", "t/1": "20/7/meta-1"}
	if got := h.fetchAll("g"); !maps.Equal(got, want) {
		t.Fatalf("committed %v, want %v", got, want)
	}

	// During CompletingRebalance members must sync first; during
	// PreparingRebalance they can still commit at the old generation
	// (eager consumers commit before they rejoin).
	newcomer := h.memberID("g")
	ch := h.joinAsync(joinReq("g", newcomer))
	waitFor(t, "PreparingRebalance", func() bool { return h.describe("g").State == "PreparingRebalance" })
	wantCode(t, "commit while preparing", h.commit("g", ids[0], gen, "t", map[int32]int64{0: 11}), 0)
	c0, c1 := h.joinAsync(joinReq("g", ids[0])), h.joinAsync(joinReq("g", ids[1]))
	recv(t, ch)
	recv(t, c0)
	recv(t, c1)
	wantCode(t, "commit while completing", h.commit("g", ids[0], gen+1, "t", map[int32]int64{0: 12}), kerr.RebalanceInProgress.Code)
	if got := h.fetchAll("g")["t/0"]; got != "11/7/meta-0" {
		t.Fatalf("t/0 = %s, want 11", got)
	}

	// A simple consumer commits to a group of its own.
	wantCode(t, "simple commit", h.commit("simple", "", -1, "t", map[int32]int64{3: 30}), 0)
	if got := h.fetchAll("simple"); got["t/3"] != "30/7/meta-3" {
		t.Fatalf("simple group offsets %v", got)
	}
	// A member of a group that does not exist: OffsetCommit v9+ says so;
	// older versions say its generation is stale.
	wantCode(t, "v9 member commit to a group that does not exist", h.commit("nogroup", "m", 1, "t", offs), kerr.GroupIDNotFound.Code)
	v8 := commitReq("nogroup", "m", 1, "t", offs)
	v8.Version = 8
	wantCode(t, "v8 member commit to a group that does not exist", h.c.OffsetCommit(context.Background(), v8).Topics[0].Partitions[0].ErrorCode, kerr.IllegalGeneration.Code)
	if g, _ := h.c.lookup("nogroup", false); g != nil {
		t.Fatal("a refused commit created the group")
	}
}

// ClassicGroup.validateOffsetCommit: with generation -1 an Empty group
// takes the commit at once, whatever member or instance it names; a
// generation still needs the member.
func TestOffsetCommitWithoutGenerationToEmptyGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("g", 1)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group, leave.MemberID = 2, "g", ids[0]
	wantCode(t, "leave", h.c.LeaveGroup(context.Background(), leave).ErrorCode, 0)

	wantCode(t, "named member, no generation", h.commit("g", ids[0], -1, "t", map[int32]int64{0: 1}), 0)
	static := commitReq("g", "ghost", -1, "t", map[int32]int64{1: 2})
	static.InstanceID = new("inst")
	wantCode(t, "named instance, no generation", h.c.OffsetCommit(context.Background(), static).Topics[0].Partitions[0].ErrorCode, 0)
	wantCode(t, "member at a generation", h.commit("g", ids[0], gen, "t", map[int32]int64{0: 3}), kerr.UnknownMemberID.Code)
	wantOffsets(t, "offsets", h.fetchAll("g"), map[string]string{"t/0": "1/7/meta-0", "t/1": "2/7/meta-1"})
}

func TestOffsetCommitFencedStaticMember(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	req := joinReq("g", "")
	req.InstanceID = new("inst")
	r := recv(t, h.joinAsync(req))
	recv(t, h.syncAsync(syncReq("g", r.MemberID, r.Generation, map[string]string{r.MemberID: "x"})))
	c := commitReq("g", "old-id", r.Generation, "t", map[int32]int64{0: 1})
	c.InstanceID = new("inst")
	resp := h.c.OffsetCommit(context.Background(), c)
	wantCode(t, "commit with a fenced member ID", resp.Topics[0].Partitions[0].ErrorCode, kerr.FencedInstanceID.Code)
}

// Per-partition checks: offset.metadata.max.bytes and, when the coordinator
// knows the topics, unknown partitions.
func TestOffsetCommitPartitionErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		c.Topics = func() []TopicInfo { return []TopicInfo{{Name: "t", Partitions: 2}} }
	})
	req := commitReq("g", "", -1, "t", map[int32]int64{0: 1, 1: 2, 5: 3})
	req.Topics[0].Partitions[1].Metadata = new(strings.Repeat("m", 4097))
	resp := h.c.OffsetCommit(context.Background(), req)
	var got []int16
	for _, p := range resp.Topics[0].Partitions {
		got = append(got, p.ErrorCode)
	}
	want := []int16{0, kerr.OffsetMetadataTooLarge.Code, kerr.UnknownTopicOrPartition.Code}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("codes %v, want %v", got, want)
		}
	}
	if all := h.fetchAll("g"); len(all) != 1 || all["t/0"] != "1/7/meta-0" {
		t.Fatalf("committed %v, want only t/0", all)
	}
}

// offset.metadata.max.bytes counts characters as Java does (UTF-16 code
// units), not bytes, and is the configured value: 1,500 euro signs (4,500
// bytes) fit the default 4,096, and a coordinator set to 10 refuses 11
// characters.
func TestOffsetCommitMetadataLimitIsConfiguredAndInCharacters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	req := commitReq("g", "", -1, "t", map[int32]int64{0: 1})
	req.Topics[0].Partitions[0].Metadata = new(strings.Repeat("€", 1500))
	resp := h.c.OffsetCommit(context.Background(), req)
	wantCode(t, "1,500 characters of 3 bytes each", resp.Topics[0].Partitions[0].ErrorCode, 0)

	small := newHarness(t, func(c *Config) { c.OffsetMetadataMaxSize = 10 })
	for n, want := range map[int]int16{10: 0, 11: kerr.OffsetMetadataTooLarge.Code} {
		req := commitReq("g", "", -1, "t", map[int32]int64{0: 1})
		req.Topics[0].Partitions[0].Metadata = new(strings.Repeat("m", n))
		resp := small.c.OffsetCommit(context.Background(), req)
		wantCode(t, fmt.Sprintf("%d characters with offset.metadata.max.bytes=10", n), resp.Topics[0].Partitions[0].ErrorCode, want)
	}
	if javaLength("a€😀") != 4 {
		t.Fatalf("javaLength(a€😀) = %d, want 4 (a surrogate pair counts 2)", javaLength("a€😀"))
	}
}

// OffsetFetch: unknown partitions answer -1; v0-v7 take one group, v8+
// several; null topics mean every committed offset.
func TestOffsetFetchVersions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "commit", h.commit("g", "", -1, "t", map[int32]int64{0: 5}), 0)
	wantCode(t, "commit", h.commit("g", "", -1, "u", map[int32]int64{2: 9}), 0)

	for _, v := range []int16{1, 5, 7} {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version, req.Group, req.RequireStable = v, "g", true
		req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
		resp := h.c.OffsetFetch(context.Background(), req)
		ps := resp.Topics[0].Partitions
		if ps[0].Offset != 5 || deref(ps[0].Metadata) != "meta-0" || ps[1].Offset != -1 || ps[1].ErrorCode != 0 {
			t.Fatalf("v%d: %+v", v, ps)
		}
		if v >= 5 && (ps[0].LeaderEpoch != 7 || ps[1].LeaderEpoch != -1) {
			t.Fatalf("v%d leader epochs %d %d", v, ps[0].LeaderEpoch, ps[1].LeaderEpoch)
		}
	}
	all := kmsg.NewPtrOffsetFetchRequest()
	all.Version, all.Group = 3, "g"
	resp := h.c.OffsetFetch(context.Background(), all)
	if len(resp.Topics) != 2 || resp.Topics[0].Topic != "t" || resp.Topics[1].Partitions[0].Offset != 9 {
		t.Fatalf("null topics: %+v", resp.Topics)
	}

	batch := kmsg.NewPtrOffsetFetchRequest()
	batch.Version = 8
	batch.Groups = []kmsg.OffsetFetchRequestGroup{
		{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "u", Partitions: []int32{2}}}},
		{Group: "unknown", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "u", Partitions: []int32{2}}}},
		{Group: "g"},
	}
	bresp := h.c.OffsetFetch(context.Background(), batch)
	if len(bresp.Groups) != 3 ||
		bresp.Groups[0].Topics[0].Partitions[0].Offset != 9 ||
		bresp.Groups[1].Topics[0].Partitions[0].Offset != -1 || bresp.Groups[1].ErrorCode != 0 ||
		len(bresp.Groups[2].Topics) != 2 {
		t.Fatalf("batched fetch: %+v", bresp.Groups)
	}
}

// KIP-496: OffsetDelete removes offsets of topics the group does not
// consume; subscribed topics answer GROUP_SUBSCRIBED_TO_TOPIC.
func TestOffsetDeleteOnlyForUnsubscribedTopics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("g", 1) // subscribed to "t"
	wantCode(t, "commit t", h.commit("g", ids[0], gen, "t", map[int32]int64{0: 1}), 0)
	wantCode(t, "commit old", h.commit("g", ids[0], gen, "old", map[int32]int64{0: 2}), 0)
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	req.Topics = []kmsg.OffsetDeleteRequestTopic{
		{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
		{Topic: "old", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
	}
	resp := h.c.OffsetDelete(context.Background(), req)
	wantCode(t, "offset delete", resp.ErrorCode, 0)
	wantCode(t, "subscribed topic", resp.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic.Code)
	wantCode(t, "unsubscribed topic", resp.Topics[1].Partitions[0].ErrorCode, 0)
	if got := h.fetchAll("g"); len(got) != 1 || got["t/0"] == "" {
		t.Fatalf("offsets after delete: %v", got)
	}
	req.Group = "nogroup"
	wantCode(t, "unknown group", h.c.OffsetDelete(context.Background(), req).ErrorCode, kerr.GroupIDNotFound.Code)
}

// Offsets expire offsets.retention.minutes after the group became empty
// (Kafka 2.1+, KIP-211), never while it has members; a simple consumer's
// expire from their commit. Expiry writes tombstones, so a failover does
// not bring them back.
func TestOffsetExpiryOnlyOnceEmpty(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.OffsetsRetention = time.Hour })
	ids, gen, _ := h.stableGroup("g", 1)
	wantCode(t, "commit", h.commit("g", ids[0], gen, "t", map[int32]int64{0: 1}), 0)
	wantCode(t, "simple commit", h.commit("simple", "", -1, "t", map[int32]int64{0: 1}), 0)

	h.wall.Advance(2 * time.Hour)
	h.c.expireOffsets(context.Background())
	if len(h.fetchAll("g")) != 1 {
		t.Fatal("offsets of a group with members expired")
	}
	if len(h.fetchAll("simple")) != 0 {
		t.Fatal("simple consumer offsets did not expire")
	}

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group, leave.MemberID = 2, "g", ids[0]
	wantCode(t, "leave", h.c.LeaveGroup(context.Background(), leave).ErrorCode, 0)
	h.wall.Advance(30 * time.Minute)
	h.c.expireOffsets(context.Background())
	if len(h.fetchAll("g")) != 1 {
		t.Fatal("offsets expired before the retention counted from when the group became empty")
	}
	h.wall.Advance(31 * time.Minute)
	h.c.expireOffsets(context.Background())
	if len(h.fetchAll("g")) != 0 {
		t.Fatal("offsets of an empty group did not expire")
	}
	if d := h.describe("g"); d.State != "Dead" {
		t.Fatalf("expired group is %s, want it gone (Dead)", d.State)
	}
	h.restart()
	if len(h.fetchAll("g")) != 0 || len(h.fetchAll("simple")) != 0 {
		t.Fatal("expired offsets came back after failover")
	}
	if d := h.describe("g"); d.State != "Dead" {
		t.Fatalf("expired group came back as %s", d.State)
	}
}

// Kafka's ConsumerGroup.offsetExpirationCondition: a KIP-848 group's
// offsets expire offsets.retention.minutes after their commit, empty or
// not; how old the group is does not count. The same holds after a
// failover.
func TestConsumerGroupOffsetsExpireFromTheirCommit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		c.Topics = func() []TopicInfo { return []TopicInfo{topicT} }
		c.ConsumerSessionTimeout = 5 * time.Second
		c.OffsetsRetention = time.Hour
	})
	a := h.newCGMember("g", "a")
	a.mustBeat(false)
	h.wall.Advance(3 * time.Hour) // the group is older than the retention
	wantCode(t, "commit", h.commit("g", "a", a.epoch, "t", map[int32]int64{0: 5}), 0)
	req := a.request(false)
	req.MemberEpoch = -1
	wantCode(t, "leave", h.c.ConsumerGroupHeartbeat(context.Background(), req).ErrorCode, 0)
	if st := h.consumerDescribe("g").State; st != "Empty" {
		t.Fatalf("state %s, want Empty", st)
	}

	for _, failover := range []bool{false, true} {
		if failover {
			h.restart()
		}
		h.c.expireOffsets(context.Background())
		wantOffsets(t, fmt.Sprintf("offsets committed just now (failover %v)", failover), h.fetchAll("g"), map[string]string{"t/0": "5/7/meta-0"})
		if d := h.consumerDescribe("g"); d.ErrorCode != 0 || d.State != "Empty" {
			t.Fatalf("group after expiry check (failover %v): %+v", failover, d)
		}
	}
	h.wall.Advance(time.Hour)
	h.c.expireOffsets(context.Background())
	if got := h.fetchAll("g"); len(got) != 0 {
		t.Fatalf("offsets past the retention: %v", got)
	}
	if d := h.consumerDescribe("g"); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("group without offsets or members: %+v", d)
	}
}

// Offset expiry and the removal of a deleted topic's offsets
// (onPartitionsDeleted) visit the same groups the same way: every live
// group loaded here, with the group's write and state locks held, none once
// the context ends.
func TestEachLoadedGroupVisitsLiveGroupsUnderTheirLocks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, id := range []string{"live", "dead", "unloaded"} {
		wantCode(t, "commit "+id, h.commit(id, "", -1, "t", map[int32]int64{0: 1}), 0)
	}
	set := func(id string, f func(g *group)) {
		g, code := h.c.lookup(id, false)
		if g == nil || code != 0 {
			t.Fatalf("lookup %s: %v %d", id, g, code)
		}
		g.mu.Lock()
		f(g)
		g.mu.Unlock()
	}
	set("dead", func(g *group) { g.state = stateDead })
	set("unloaded", func(g *group) { g.unloaded = true })

	var visited []string
	h.c.eachLoadedGroup(context.Background(), func(g *group) {
		if g.wmu.TryLock() || g.mu.TryLock() {
			t.Errorf("group %s visited without its locks held", g.id)
		}
		visited = append(visited, g.id)
	})
	if !slices.Equal(visited, []string{"live"}) {
		t.Fatalf("visited %v, want [live]", visited)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.c.eachLoadedGroup(ctx, func(g *group) { t.Errorf("group %s visited after the context ended", g.id) })
}

// Kafka's onPartitionsDeleted: a deleted topic's offsets go from every
// loaded group, committed and pending in a transaction, with tombstones; a
// group left without offsets or members goes with them.
func TestTopicsDeletedRemovesTheirOffsets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	wantCode(t, "commit t", h.commit("g", "", -1, "t", map[int32]int64{0: 1}), 0)
	wantCode(t, "commit u", h.commit("g", "", -1, "u", map[int32]int64{0: 2}), 0)
	wantCode(t, "commit only t", h.commit("only-t", "", -1, "t", map[int32]int64{0: 3}), 0)
	wantCode(t, "txn commit t", h.txnCommit(txnCommitReq("g", 7, "t", map[int32]int64{1: 4})), 0)

	h.c.TopicsDeleted(context.Background(), map[string]bool{"t": true})
	h.marker("g", 7, true, true)
	want := map[string]string{"u/0": "2/7/meta-0"}
	wantOffsets(t, "group g", h.fetchAll("g"), want)
	if d := h.describe("only-t"); d.State != "Dead" {
		t.Fatalf("group left without offsets is %s, want it gone (Dead)", d.State)
	}
	h.restart()
	wantOffsets(t, "group g after failover", h.fetchAll("g"), want)
	if got := h.fetchAll("only-t"); len(got) != 0 {
		t.Fatalf("deleted topic's offsets came back after failover: %v", got)
	}
}
