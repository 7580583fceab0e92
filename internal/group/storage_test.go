package group

import (
	"context"
	"encoding/binary"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// snapshot is what a client can observe of a group: its description and
// its committed offsets.
type snapshot struct {
	describe kmsg.DescribeGroupsResponseGroup
	offsets  map[string]string
}

func (h *harness) snapshot(groups ...string) map[string]snapshot {
	out := make(map[string]snapshot)
	for _, g := range groups {
		out[g] = snapshot{describe: h.describe(g), offsets: h.fetchAll(g)}
	}
	return out
}

func (h *harness) listGroups() []string {
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	var out []string
	for _, g := range h.c.ListGroups(context.Background(), req).Groups {
		out = append(out, g.Group+"/"+g.GroupState+"/"+g.ProtocolType+"/"+g.GroupType)
	}
	return out
}

// A new coordinator loading the same partitions rebuilds exactly the
// groups and offsets the old one had: Stable groups with their members and
// assignments, empty groups, simple consumers, and nothing that was
// deleted (tombstones).
func TestLoadAfterRestartRebuildsGroupsAndOffsets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("stable", 3)
	for i, id := range ids {
		wantCode(t, "commit", h.commit("stable", id, gen, "t", map[int32]int64{int32(i): int64(100 * (i + 1))}), 0)
	}
	wantCode(t, "recommit", h.commit("stable", ids[0], gen, "t", map[int32]int64{0: 150}), 0)

	eids, egen, _ := h.stableGroup("emptied", 1)
	wantCode(t, "commit", h.commit("emptied", eids[0], egen, "u", map[int32]int64{0: 7}), 0)
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group, leave.MemberID = 0, "emptied", eids[0]
	wantCode(t, "leave", h.c.LeaveGroup(context.Background(), leave).ErrorCode, 0)
	waitFor(t, "the empty group to be stored", func() bool {
		g, _ := h.c.lookup("emptied", false)
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.written == g.seq
	})

	wantCode(t, "simple commit", h.commit("simple", "", -1, "v", map[int32]int64{0: 1, 1: 2, 2: 3}), 0)
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "simple"
	del.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "v", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	wantCode(t, "offset delete", h.c.OffsetDelete(context.Background(), del).ErrorCode, 0)

	wantCode(t, "commit", h.commit("deleted", "", -1, "w", map[int32]int64{0: 1}), 0)
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"deleted"}
	wantCode(t, "delete group", h.c.DeleteGroups(context.Background(), dg).Groups[0].ErrorCode, 0)

	groups := []string{"stable", "emptied", "simple", "deleted"}
	before, beforeList := h.snapshot(groups...), h.listGroups()
	if before["stable"].offsets["t/0"] != "150/7/meta-0" || len(before["simple"].offsets) != 2 {
		t.Fatalf("unexpected state before restart: %+v", before)
	}

	h.restart()
	after, afterList := h.snapshot(groups...), h.listGroups()
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed across restart:\nbefore %+v\nafter  %+v", before, after)
	}
	if !slices.Equal(beforeList, afterList) {
		t.Fatalf("listed groups changed: %v -> %v", beforeList, afterList)
	}
	want := []string{"emptied/Empty/consumer/classic", "simple/Empty//classic", "stable/Stable/consumer/classic"}
	if !slices.Equal(afterList, want) {
		t.Fatalf("groups %v, want %v", afterList, want)
	}
	// The rebuilt group accepts its members at their generation.
	for _, id := range ids {
		wantCode(t, "heartbeat after restart", h.heartbeat("stable", id, gen), 0)
	}
	wantCode(t, "commit after restart", h.commit("stable", ids[1], gen, "t", map[int32]int64{1: 201}), 0)
}

// The records are Kafka's: OffsetCommitKey v1 with OffsetCommitValue v3,
// GroupMetadataKey v2 with GroupMetadataValue v3, tombstones with a nil
// value.
func TestRecordsUseKafkaFormats(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, leader := h.stableGroup("g", 2)
	wantCode(t, "commit", h.commit("g", ids[0], gen, "t", map[int32]int64{3: 42}), 0)
	recs := h.log.records(t, h.c.PartitionFor("g"))
	if len(recs) != 2 {
		t.Fatalf("%d records, want a group record and an offset", len(recs))
	}

	if v := binary.BigEndian.Uint16(recs[0].Key); v != 2 {
		t.Fatalf("group key version %d", v)
	}
	var gk kmsg.GroupMetadataKey
	var gv kmsg.GroupMetadataValue
	if err := gk.ReadFrom(recs[0].Key); err != nil || gk.Group != "g" {
		t.Fatalf("group key %+v: %v", gk, err)
	}
	if err := gv.ReadFrom(recs[0].Value); err != nil {
		t.Fatal(err)
	}
	if gv.Version != 3 || gv.ProtocolType != "consumer" || gv.Generation != gen || deref(gv.Protocol) != "range" ||
		deref(gv.Leader) != leader || len(gv.Members) != 2 || gv.CurrentStateTimestamp <= 0 {
		t.Fatalf("group value %+v", gv)
	}
	for _, m := range gv.Members {
		if string(m.Assignment) != "a:"+m.MemberID || m.SessionTimeoutMillis != 10000 || m.RebalanceTimeoutMillis != 10000 {
			t.Fatalf("member %+v", m)
		}
	}

	var ok kmsg.OffsetCommitKey
	var ov kmsg.OffsetCommitValue
	if err := ok.ReadFrom(recs[1].Key); err != nil || ok.Version != 1 || ok.Group != "g" || ok.Topic != "t" || ok.Partition != 3 {
		t.Fatalf("offset key %+v: %v", ok, err)
	}
	if err := ov.ReadFrom(recs[1].Value); err != nil || ov.Version != 3 || ov.Offset != 42 || ov.LeaderEpoch != 7 ||
		ov.Metadata != "meta-3" || ov.CommitTimestamp != h.wall.Now().UnixMilli() {
		t.Fatalf("offset value %+v: %v", ov, err)
	}

	// Deleting writes tombstones for offsets, then the group.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group = 3, "g"
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[0]}, {MemberID: ids[1]}}
	h.c.LeaveGroup(context.Background(), leave)
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"g"}
	wantCode(t, "delete", h.c.DeleteGroups(context.Background(), dg).Groups[0].ErrorCode, 0)
	recs = h.log.records(t, h.c.PartitionFor("g"))
	n := len(recs)
	if recs[n-1].Value != nil || binary.BigEndian.Uint16(recs[n-1].Key) != 2 ||
		recs[n-2].Value != nil || binary.BigEndian.Uint16(recs[n-2].Key) != 1 {
		t.Fatalf("last records are not an offset then a group tombstone")
	}
}

// A log written by someone else (Kafka's v0 offset keys, v1 values with an
// expire timestamp, group values v4, unknown KIP-848 records) loads.
func TestLoadReadsOtherRecordVersions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	p := h.c.PartitionFor("g")
	k0 := kmsg.OffsetCommitKey{Version: 0, Group: "g", Topic: "t", Partition: 0}
	v1 := kmsg.NewOffsetCommitValue()
	v1.Version, v1.Offset, v1.Metadata, v1.CommitTimestamp, v1.ExpireTimestamp = 1, 9, "m", 1, 1<<60
	gk := kmsg.GroupMetadataKey{Version: 2, Group: "g"}
	gv := kmsg.NewGroupMetadataValue()
	gv.Version, gv.ProtocolType, gv.Generation = 4, "consumer", 3
	unknown := []byte{0, 5, 'x'}
	batch, err := h.c.buildBatch([]kv{
		{key: k0.AppendTo(nil), value: v1.AppendTo(nil)},
		{key: gk.AppendTo(nil), value: gv.AppendTo(nil)},
		{key: unknown, value: []byte("whatever")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.log.Append(context.Background(), p, batch); err != nil {
		t.Fatal(err)
	}
	h.restart()
	if got := h.fetchAll("g"); !maps.Equal(got, map[string]string{"t/0": "9/-1/m"}) {
		t.Fatalf("offsets %v", got)
	}
	if d := h.describe("g"); d.State != "Empty" || d.ProtocolType != "consumer" {
		t.Fatalf("group %+v", d)
	}
}
