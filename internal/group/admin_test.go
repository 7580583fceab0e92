package group

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups deletes only empty groups: NON_EMPTY_GROUP for a group with
// members, GROUP_ID_NOT_FOUND for none; the deleted group's offsets go with
// it.
func TestDeleteGroups(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ids, gen, _ := h.stableGroup("busy", 1)
	wantCode(t, "commit", h.commit("busy", ids[0], gen, "t", map[int32]int64{0: 1}), 0)
	wantCode(t, "commit", h.commit("idle", "", -1, "t", map[int32]int64{0: 1}), 0)

	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Version = 2
	req.Groups = []string{"busy", "idle", "missing"}
	resp := h.c.DeleteGroups(context.Background(), req)
	for i, want := range []int16{kerr.NonEmptyGroup.Code, 0, kerr.GroupIDNotFound.Code} {
		wantCode(t, "delete "+resp.Groups[i].Group, resp.Groups[i].ErrorCode, want)
	}
	if len(h.fetchAll("idle")) != 0 {
		t.Fatal("deleted group kept its offsets")
	}
	// The refused group keeps working.
	wantCode(t, "heartbeat of the busy group", h.heartbeat("busy", ids[0], gen), 0)
	if got := h.fetchAll("busy"); len(got) != 1 {
		t.Fatalf("busy group offsets %v", got)
	}
	// A deleted group's ID can be used again.
	wantCode(t, "commit to the reused ID", h.commit("idle", "", -1, "t", map[int32]int64{1: 5}), 0)
	if got := h.fetchAll("idle"); len(got) != 1 || got["t/1"] == "" {
		t.Fatalf("reused group offsets %v", got)
	}
}

// DescribeGroups of an unknown group answers state Dead with no error
// (before v6), as Kafka does; not-Stable groups describe members without
// metadata.
func TestDescribeGroups(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {})
	d := h.describe("nobody")
	if d.ErrorCode != 0 || d.State != "Dead" || len(d.Members) != 0 {
		t.Fatalf("unknown group: %+v", d)
	}
	ids, _, _ := h.stableGroup("g", 2)
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = 5
	req.Groups = []string{"g"}
	req.IncludeAuthorizedOperations = true
	g := h.c.DescribeGroups(context.Background(), req).Groups[0]
	if g.State != "Stable" || len(g.Members) != 2 || g.AuthorizedOperations != groupOperations {
		t.Fatalf("describe: %+v", g)
	}
	if len(g.Members[0].ProtocolMetadata) == 0 {
		t.Fatal("stable member described without metadata")
	}
	rejoin := joinReq("g", ids[0])
	rejoin.Protocols[0].Metadata = consumerMeta("t", "more")
	h.joinAsync(rejoin)
	waitFor(t, "PreparingRebalance", func() bool { return h.describe("g").State == "PreparingRebalance" })
	d = h.describe("g")
	if d.Protocol != "" || len(d.Members) != 2 || len(d.Members[0].ProtocolMetadata) != 0 {
		t.Fatalf("rebalancing group described as %+v", d)
	}
}

// ListGroups filters by state (v4+) and type (v5+), case-insensitively.
func TestListGroupsFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.stableGroup("s", 1)
	wantCode(t, "commit", h.commit("e", "", -1, "t", map[int32]int64{0: 1}), 0)
	list := func(version int16, states, types []string) []string {
		req := kmsg.NewPtrListGroupsRequest()
		req.Version, req.StatesFilter, req.TypesFilter = version, states, types
		var out []string
		for _, g := range h.c.ListGroups(context.Background(), req).Groups {
			out = append(out, g.Group)
		}
		return out
	}
	for _, tc := range []struct {
		version       int16
		states, types []string
		want          []string
	}{
		{3, []string{"Stable"}, nil, []string{"e", "s"}}, // no filters before v4
		{4, []string{"stable"}, nil, []string{"s"}},
		{4, []string{"Empty", "Stable"}, nil, []string{"e", "s"}},
		{5, nil, []string{"Classic"}, []string{"e", "s"}},
		{5, nil, []string{"consumer"}, nil},
	} {
		got := list(tc.version, tc.states, tc.types)
		if len(got) != len(tc.want) || (len(got) > 0 && (got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1])) {
			t.Errorf("v%d states %v types %v: %v, want %v", tc.version, tc.states, tc.types, got, tc.want)
		}
	}
}
