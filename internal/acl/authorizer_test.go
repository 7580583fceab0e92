package acl

import (
	"testing"
)

func allow(rt ResourceType, name string, pt PatternType, principal string, op Operation) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: Wildcard, Operation: op, Permission: Allow}
}

func deny(rt ResourceType, name string, pt PatternType, principal string, op Operation) Binding {
	b := allow(rt, name, pt, principal, op)
	b.Permission = Deny
	return b
}

func setOf(t *testing.T, bs ...Binding) *Set {
	t.Helper()
	for _, b := range bs {
		if err := b.Validate(); err != nil {
			t.Fatalf("invalid test ACL %v: %v", b, err)
		}
	}
	s, _ := (*Set)(nil).Add(bs)
	return s
}

// TestAuthorizeStandardAuthorizerRules checks the decision rules of Kafka's
// StandardAuthorizer (KIP-11): matching, implication, prefixes, wildcards,
// deny over allow, and the no-ACL default.
func TestAuthorizeStandardAuthorizerRules(t *testing.T) {
	const alice, bob = "User:alice", "User:bob"
	hostACL := allow(ResourceTopic, "hosted", PatternLiteral, alice, OpRead)
	hostACL.Host = "10.0.0.1"
	acls := setOf(t,
		allow(ResourceTopic, "orders", PatternLiteral, alice, OpWrite),
		allow(ResourceTopic, "logs-", PatternPrefixed, alice, OpRead),
		deny(ResourceTopic, "logs-secret", PatternPrefixed, alice, OpRead),
		allow(ResourceTopic, "public", PatternLiteral, WildcardPrincipal, OpRead),
		allow(ResourceTopic, "cfg", PatternLiteral, alice, OpAlterConfigs),
		allow(ResourceTopic, "all", PatternLiteral, alice, OpAll),
		deny(ResourceTopic, "denyread", PatternLiteral, alice, OpRead),
		allow(ResourceTopic, "denyread", PatternLiteral, alice, OpAll),
		allow(ResourceGroup, Wildcard, PatternLiteral, bob, OpRead),
		deny(ResourceGroup, "private", PatternLiteral, WildcardPrincipal, OpAll),
		hostACL,
		allow(ResourceCluster, ClusterName, PatternLiteral, alice, OpCreate),
	)
	a := NewAuthorizer(Config{SuperUsers: " User:root ; User:ops"})
	tests := []struct {
		name      string
		principal string
		host      string
		op        Operation
		rt        ResourceType
		resource  string
		want      bool
	}{
		{"literal allow", alice, "127.0.0.1", OpWrite, ResourceTopic, "orders", true},
		{"other operation", alice, "127.0.0.1", OpRead, ResourceTopic, "orders", false},
		{"WRITE implies DESCRIBE", alice, "127.0.0.1", OpDescribe, ResourceTopic, "orders", true},
		{"WRITE does not imply DESCRIBE_CONFIGS", alice, "127.0.0.1", OpDescribeConfigs, ResourceTopic, "orders", false},
		{"other principal", bob, "127.0.0.1", OpWrite, ResourceTopic, "orders", false},
		{"literal does not match a longer name", alice, "127.0.0.1", OpWrite, ResourceTopic, "orders2", false},
		{"prefixed allow", alice, "127.0.0.1", OpRead, ResourceTopic, "logs-app", true},
		{"prefix equal to name", alice, "127.0.0.1", OpRead, ResourceTopic, "logs-", true},
		{"prefix does not match shorter", alice, "127.0.0.1", OpRead, ResourceTopic, "logs", false},
		{"longer prefixed deny overrides allow", alice, "127.0.0.1", OpRead, ResourceTopic, "logs-secret-1", false},
		{"deny of READ does not deny DESCRIBE", alice, "127.0.0.1", OpDescribe, ResourceTopic, "logs-secret-1", true},
		{"wildcard principal", bob, "127.0.0.1", OpRead, ResourceTopic, "public", true},
		{"ALTER_CONFIGS implies DESCRIBE_CONFIGS", alice, "127.0.0.1", OpDescribeConfigs, ResourceTopic, "cfg", true},
		{"ALTER_CONFIGS does not imply DESCRIBE", alice, "127.0.0.1", OpDescribe, ResourceTopic, "cfg", false},
		{"ALL allows anything", alice, "127.0.0.1", OpDelete, ResourceTopic, "all", true},
		{"deny overrides ALL allow", alice, "127.0.0.1", OpRead, ResourceTopic, "denyread", false},
		{"ALL allow minus the denied op", alice, "127.0.0.1", OpWrite, ResourceTopic, "denyread", true},
		{"wildcard resource", bob, "127.0.0.1", OpRead, ResourceGroup, "g1", true},
		{"wildcard-principal deny ALL wins over wildcard allow", bob, "127.0.0.1", OpRead, ResourceGroup, "private", false},
		{"host match", alice, "10.0.0.1", OpRead, ResourceTopic, "hosted", true},
		{"host mismatch", alice, "10.0.0.2", OpRead, ResourceTopic, "hosted", false},
		{"no ACL at all denies", alice, "127.0.0.1", OpRead, ResourceTopic, "nothing", false},
		{"super user", "User:root", "127.0.0.1", OpDelete, ResourceTopic, "nothing", true},
		{"second super user", "User:ops", "127.0.0.1", OpAlter, ResourceCluster, ClusterName, true},
		{"super users are exact principals", "User:root2", "127.0.0.1", OpRead, ResourceTopic, "public", true},
		{"cluster create", alice, "127.0.0.1", OpCreate, ResourceCluster, ClusterName, true},
		{"cluster alter", alice, "127.0.0.1", OpAlter, ResourceCluster, ClusterName, false},
		{"resource types are separate", alice, "127.0.0.1", OpWrite, ResourceGroup, "orders", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Authorize(acls, tt.principal, tt.host, tt.op, tt.rt, tt.resource); got != tt.want {
				t.Fatalf("Authorize(%s, %s, %v, %v %s) = %v, want %v", tt.principal, tt.host, tt.op, tt.rt, tt.resource, got, tt.want)
			}
		})
	}
}

// TestAllowEveryoneIfNoACLFound: allow.everyone.if.no.acl.found allows a
// resource no ACL pattern matches, and nothing else: an ACL for another
// principal on the resource still denies.
func TestAllowEveryoneIfNoACLFound(t *testing.T) {
	acls := setOf(t, allow(ResourceTopic, "owned", PatternLiteral, "User:alice", OpRead))
	open := NewAuthorizer(Config{AllowIfNoACL: true})
	closed := NewAuthorizer(Config{})
	if !open.Authorize(acls, "User:bob", "1.2.3.4", OpWrite, ResourceTopic, "free") {
		t.Error("no ACL on the topic: want allowed")
	}
	if open.Authorize(acls, "User:bob", "1.2.3.4", OpRead, ResourceTopic, "owned") {
		t.Error("an ACL for alice on the topic: want bob denied")
	}
	if closed.Authorize(acls, "User:bob", "1.2.3.4", OpWrite, ResourceTopic, "free") {
		t.Error("default: want denied")
	}
	if !open.Authorize(nil, "User:bob", "1.2.3.4", OpWrite, ResourceTopic, "free") {
		t.Error("empty set: want allowed")
	}
}

func TestAuthorizeAny(t *testing.T) {
	a := NewAuthorizer(Config{})
	const alice = "User:alice"
	for _, tt := range []struct {
		name string
		acls []Binding
		want bool
	}{
		{"none", nil, false},
		{"literal write", []Binding{allow(ResourceTopic, "t", PatternLiteral, alice, OpWrite)}, true},
		{"prefixed write", []Binding{allow(ResourceTopic, "t-", PatternPrefixed, alice, OpWrite)}, true},
		{"read only", []Binding{allow(ResourceTopic, "t", PatternLiteral, alice, OpRead)}, false},
		{"denied by wildcard", []Binding{allow(ResourceTopic, "t", PatternLiteral, alice, OpWrite), deny(ResourceTopic, "*", PatternLiteral, alice, OpWrite)}, false},
		{"denied by prefix", []Binding{allow(ResourceTopic, "t-1", PatternPrefixed, alice, OpWrite), deny(ResourceTopic, "t-", PatternPrefixed, alice, OpWrite)}, false},
		{"one of two denied", []Binding{allow(ResourceTopic, "a", PatternLiteral, alice, OpWrite), allow(ResourceTopic, "b", PatternLiteral, alice, OpWrite), deny(ResourceTopic, "a", PatternLiteral, alice, OpWrite)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.AuthorizeAny(setOf(t, tt.acls...), alice, "127.0.0.1", OpWrite, ResourceTopic); got != tt.want {
				t.Fatalf("AuthorizeAny = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAuthorizeAnyAllowEveryoneIfNoACL checks authorizeByResourceType with
// allow.everyone.if.no.acl.found: like Kafka, a literal resource named
// "hardcode" that no ACL covers allows the operation, so a producer with
// ACLs elsewhere but none on its topics may be idempotent (KIP-679).
func TestAuthorizeAnyAllowEveryoneIfNoACL(t *testing.T) {
	const alice, bob = "User:alice", "User:bob"
	for _, tt := range []struct {
		name     string
		allowAll bool
		acls     []Binding
		want     bool
	}{
		{"ACLs elsewhere only", true, []Binding{
			allow(ResourceCluster, ClusterName, PatternLiteral, bob, OpAlter),
			allow(ResourceTopic, "secret", PatternLiteral, bob, OpRead),
		}, true},
		{"ACLs elsewhere only, default deny", false, []Binding{
			allow(ResourceCluster, ClusterName, PatternLiteral, bob, OpAlter),
			allow(ResourceTopic, "secret", PatternLiteral, bob, OpRead),
		}, false},
		{"wildcard topic ACL for someone else", true, []Binding{
			allow(ResourceTopic, Wildcard, PatternLiteral, bob, OpRead),
		}, false},
		{"prefix covering hardcode for someone else", true, []Binding{
			allow(ResourceTopic, "hard", PatternPrefixed, bob, OpWrite),
		}, false},
		{"wildcard deny", true, []Binding{
			deny(ResourceTopic, Wildcard, PatternLiteral, alice, OpWrite),
		}, false},
		{"wildcard allow despite a prefix deny", false, []Binding{
			allow(ResourceTopic, Wildcard, PatternLiteral, alice, OpWrite),
			deny(ResourceTopic, "h", PatternPrefixed, alice, OpWrite),
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAuthorizer(Config{AllowIfNoACL: tt.allowAll})
			if got := a.AuthorizeAny(setOf(t, tt.acls...), alice, "127.0.0.1", OpWrite, ResourceTopic); got != tt.want {
				t.Fatalf("AuthorizeAny = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAuthorizedOperations checks KIP-430's bit field.
func TestAuthorizedOperations(t *testing.T) {
	a := NewAuthorizer(Config{})
	acls := setOf(t, allow(ResourceTopic, "t", PatternLiteral, "User:alice", OpWrite))
	got := a.AuthorizedOperations(acls, "User:alice", "127.0.0.1", ResourceTopic, "t")
	want := int32(1<<OpWrite | 1<<OpDescribe)
	if got != want {
		t.Fatalf("authorized operations = %b, want %b", got, want)
	}
}

func TestAuthorizeDoesNotAllocate(t *testing.T) {
	acls := setOf(t,
		allow(ResourceTopic, "orders", PatternLiteral, "User:alice", OpWrite),
		allow(ResourceTopic, "or", PatternPrefixed, "User:bob", OpWrite),
		allow(ResourceTopic, "*", PatternLiteral, "User:carol", OpWrite),
	)
	a := NewAuthorizer(Config{})
	allocs := testing.AllocsPerRun(100, func() {
		if !a.Authorize(acls, "User:alice", "127.0.0.1", OpWrite, ResourceTopic, "orders") {
			t.Fatal("denied")
		}
	})
	if allocs != 0 {
		t.Fatalf("Authorize allocated %v times per call", allocs)
	}
}

func BenchmarkAuthorize(b *testing.B) {
	var bs []Binding
	for i := range 1000 {
		bs = append(bs, allow(ResourceTopic, "topic-"+string(rune('a'+i%26))+string(rune('a'+i/26%26)), PatternLiteral, "User:alice", OpWrite))
	}
	bs = append(bs, allow(ResourceTopic, "pre-", PatternPrefixed, "User:alice", OpRead))
	acls, _ := (*Set)(nil).Add(bs)
	a := NewAuthorizer(Config{})
	b.ReportAllocs()
	for b.Loop() {
		a.Authorize(acls, "User:alice", "127.0.0.1", OpWrite, ResourceTopic, "topic-ab")
	}
}
