package cluster

import (
	"errors"
	"slices"
	"testing"
)

func memberIDs(ms []QuorumMember) []int32 {
	var ids []int32
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// A dead voter is removed and a new node made a voter in its place; the
// quorum commits throughout, and without another original voter.
func TestVoterReplacement(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	leader := q.leader()
	var dead, other int32
	for _, id := range []int32{1, 2, 3} {
		if id == leader.ID() {
			continue
		}
		if dead == 0 {
			dead = id
		} else {
			other = id
		}
	}
	qs, err := q.node(other).DescribeQuorum(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if qs.LeaderID != leader.ID() || !slices.Equal(memberIDs(qs.Voters), []int32{1, 2, 3}) || qs.HighWatermark <= 0 || qs.Epoch <= 0 {
		t.Fatalf("DescribeQuorum = %+v", qs)
	}
	for _, v := range qs.Voters {
		if v.LogEndOffset < 0 || v.LastFetchMs < 0 {
			t.Fatalf("voter %d unknown: %+v", v.ID, qs)
		}
	}

	q.kill(dead)
	mustPropose(t, leader, CreateTopic{Name: "one-dead", Replicas: [][]int32{{leader.ID()}}})
	if err := q.node(other).RemoveVoter(testCtx(t), dead); err != nil {
		t.Fatalf("remove dead voter %d: %v", dead, err)
	}
	if err := leader.RemoveVoter(testCtx(t), dead); !errors.Is(err, ErrVoterNotFound) {
		t.Fatalf("remove it again: %v", err)
	}
	q.cfgs[4] = q.config(4, "127.0.0.1:0", nil)
	n4 := q.reopen(4)
	addr := n4.mux.advertise.String()
	if err := leader.AddVoter(testCtx(t), 5, addr); !errors.Is(err, ErrInvalidVoter) {
		t.Fatalf("add node 4's address as node 5: %v", err)
	}
	if err := n4.AddVoter(testCtx(t), 4, addr); err != nil {
		t.Fatalf("add voter 4: %v", err)
	}
	if err := leader.AddVoter(testCtx(t), 4, addr); !errors.Is(err, ErrDuplicateVoter) {
		t.Fatalf("add voter 4 again: %v", err)
	}
	qs, err = n4.DescribeQuorum(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{min(leader.ID(), other), max(leader.ID(), other), 4}; !slices.Equal(memberIDs(qs.Voters), want) || len(qs.Observers) != 0 {
		t.Fatalf("after the replacement: %+v", qs)
	}
	q.kill(other)
	mustPropose(t, n4, CreateTopic{Name: "new-majority", Replicas: [][]int32{{4}}})
}
