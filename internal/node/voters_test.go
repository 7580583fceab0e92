package node

import (
	"slices"
	"testing"

	"github.com/sluice-io/sluice/internal/cluster"
)

func TestParseVoters(t *testing.T) {
	got, err := parseVoters(" 1@127.0.0.1:9093, 2@host-b:9093,3@[::1]:9093 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []cluster.Voter{{ID: 1, Addr: "127.0.0.1:9093"}, {ID: 2, Addr: "host-b:9093"}, {ID: 3, Addr: "[::1]:9093"}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if v, err := parseVoters(""); err != nil || v != nil {
		t.Fatalf("empty: %v %v", v, err)
	}
	for _, bad := range []string{"1", "x@h:1", "-1@h:1", "1@h", "1@h:0", "1@h:1,1@h:2"} {
		if _, err := parseVoters(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRaftAddr(t *testing.T) {
	voters := []cluster.Voter{{ID: 1, Addr: "a:1"}, {ID: 2, Addr: "b:2"}}
	if a, err := raftAddr("", voters, 2); err != nil || a != "b:2" {
		t.Fatalf("voter: %q %v", a, err)
	}
	if a, err := raftAddr("c:3", voters, 4); err != nil || a != "c:3" {
		t.Fatalf("given: %q %v", a, err)
	}
	if _, err := raftAddr("", voters, 4); err == nil {
		t.Fatal("non-voter without an address accepted")
	}
	if a, err := raftAddr("", nil, 1); err != nil || a != "" {
		t.Fatalf("single node: %q %v", a, err)
	}
}
