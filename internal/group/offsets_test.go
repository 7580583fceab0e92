package group

import (
	"context"
	"maps"
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
	wantCode(t, "member commit to a group that does not exist", h.commit("nogroup", "m", 1, "t", offs), kerr.IllegalGeneration.Code)
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
