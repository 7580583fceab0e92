package cluster

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluice-io/sluice/internal/acl"
)

func topicACL(name string, pt acl.PatternType, principal string, op acl.Operation, perm acl.Permission) acl.Binding {
	return acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: name, PatternType: pt, Principal: principal, Host: "*", Operation: op, Permission: perm}
}

// TestACLCommandsApplyAndSurviveRestart: CreateAcls and DeleteAcls change
// the image's ACLs, DeleteAcls answers what each filter matched, and the
// ACLs come back after a restart from the log and from a snapshot.
func TestACLCommandsApplyAndSurviveRestart(t *testing.T) {
	t.Parallel()
	for _, snapshot := range []bool{false, true} {
		name := "from the log"
		if snapshot {
			name = "from a snapshot"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, t.TempDir())
			n := openTest(t, cfg, nil)
			a := topicACL("orders", acl.PatternLiteral, "User:alice", acl.OpWrite, acl.Allow)
			b := topicACL("logs-", acl.PatternPrefixed, "User:bob", acl.OpRead, acl.Allow)
			c := topicACL("orders", acl.PatternLiteral, "User:bob", acl.OpRead, acl.Deny)
			mustPropose(t, n, CreateAcls{ACLs: []acl.Binding{a, b, c}}, CreateAcls{ACLs: []acl.Binding{a}})
			if got := n.Image().ACLs.All(); len(got) != 3 {
				t.Fatalf("ACLs after create: %v", got)
			}
			bob := "User:bob"
			res, err := n.DeleteAcls(testCtx(t), DeleteAcls{Filters: []acl.Filter{
				{ResourceType: acl.ResourceAny, PatternType: acl.PatternAny, Principal: &bob, Operation: acl.OpAny, Permission: acl.Deny},
				{ResourceType: acl.ResourceGroup, PatternType: acl.PatternAny, Operation: acl.OpAny, Permission: acl.PermissionAny},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 2 || !slices.Equal(res[0], []acl.Binding{c}) || len(res[1]) != 0 {
				t.Fatalf("DeleteAcls results %v, want [[%v] []]", res, c)
			}
			if snapshot {
				if err := n.rs.raft.Snapshot().Error(); err != nil {
					t.Fatal(err)
				}
			}
			want := n.Image().ACLs.All()
			if !slices.Equal(want, []acl.Binding{a, b}) {
				t.Fatalf("ACLs after delete: %v", want)
			}
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			n2 := openTest(t, cfg, nil)
			if got := n2.Image().ACLs.All(); !slices.Equal(got, want) {
				t.Fatalf("ACLs after restart: %v, want %v", got, want)
			}
		})
	}
}

func TestCreateAclsRefusesInvalidBindings(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	bad := topicACL("x", acl.PatternLiteral, "User:a", acl.OpRead, acl.Allow)
	bad.ResourceType = acl.ResourceDelegationToken
	if err := n.Propose(testCtx(t), CreateAcls{ACLs: []acl.Binding{bad}}); err == nil {
		t.Fatal("delegation token ACL accepted")
	}
	if n.Image().ACLs.Len() != 0 {
		t.Fatal("a failed command changed the ACLs")
	}
}

// TestFutureCommandHaltsTheNode: a command type this node does not know,
// without the ignore-if-unknown flag, stops the metadata state machine:
// nothing after it applies, no snapshot covers it, the owner is told
// (Halted, Err), and replaying the log on the next start stops there again
// instead of skipping it (issue 12, item 6).
func TestFutureCommandHaltsTheNode(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir())
	n := openTest(t, cfg, nil)
	mustPropose(t, n, CreateTopic{Name: "before", ID: tid(1), Replicas: [][]int32{{1}}})
	before := n.Image()

	future := envelope{typ: 250, version: 1, payload: []byte(`{"from":"the future"}`)}.append(nil)
	if err := n.rs.raft.Apply(future, 5*time.Second).Error(); err != nil {
		t.Fatalf("append the future command: %v", err)
	}
	select {
	case <-n.Halted():
	case <-time.After(5 * time.Second):
		t.Fatal("node did not halt on an unknown command")
	}
	if !errors.Is(n.Err(), ErrHalted) {
		t.Fatalf("Err() = %v, want ErrHalted", n.Err())
	}
	// The raft log keeps growing, but the state does not move past it.
	if err := n.rs.raft.Apply(mustEncode(t, CreateTopic{Name: "after", ID: tid(2), Replicas: [][]int32{{1}}}), 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if err := n.rs.raft.Barrier(5 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	if img := n.Image(); img.Index != before.Index || img.Topics.Value("after") != nil {
		t.Fatalf("image moved past the unknown command: index %d (was %d), topics %v", img.Index, before.Index, img.Topics)
	}
	if err := n.rs.raft.Snapshot().Error(); err == nil {
		t.Fatal("a snapshot was taken past the unknown command")
	}
	if err := n.Close(); err != nil && !errors.Is(err, ErrHalted) {
		t.Fatal(err)
	}

	_, err := open(testCtx(t), cfg, nil)
	if !errors.Is(err, ErrHalted) {
		t.Fatalf("reopening over the log with a future command: %v, want ErrHalted", err)
	}
}

// TestIgnorableFutureCommandIsSkipped: with the ignore bit a node that
// does not know the command skips it and goes on.
func TestIgnorableFutureCommandIsSkipped(t *testing.T) {
	t.Parallel()
	n := openTest(t, testConfig(t, t.TempDir()), nil)
	future := envelope{typ: 250, version: 1, flags: flagIgnoreUnknown, payload: []byte(`{}`)}.append(nil)
	if err := n.rs.raft.Apply(future, 5*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	mustPropose(t, n, CreateTopic{Name: "after", ID: tid(2), Replicas: [][]int32{{1}}})
	if n.Image().Topics.Value("after") == nil || n.Err() != nil {
		t.Fatalf("after an ignorable command: topics %v, err %v", n.Image().Topics, n.Err())
	}
}

func mustEncode(t *testing.T, c Command) []byte {
	t.Helper()
	b, err := encodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var _ = raft.LogCommand
