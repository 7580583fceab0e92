package acl

import (
	"slices"
	"testing"
)

func ptr(s string) *string { return &s }

func TestSetAddRemoveIsPersistent(t *testing.T) {
	a := allow(ResourceTopic, "t", PatternLiteral, "User:alice", OpRead)
	b := allow(ResourceTopic, "t-", PatternPrefixed, "User:alice", OpRead)
	s1, added := (*Set)(nil).Add([]Binding{a, b, a})
	if !slices.Equal(added, []bool{true, true, false}) || s1.Len() != 2 {
		t.Fatalf("added %v, len %d; want [true true false], 2", added, s1.Len())
	}
	s2 := s1.Remove([]Binding{b})
	if s1.Len() != 2 || s2.Len() != 1 {
		t.Fatalf("lens %d %d, want 2 1", s1.Len(), s2.Len())
	}
	az := NewAuthorizer(Config{})
	if !az.Authorize(s1, "User:alice", "h", OpRead, ResourceTopic, "t-x") {
		t.Fatal("old set lost its prefixed ACL")
	}
	if az.Authorize(s2, "User:alice", "h", OpRead, ResourceTopic, "t-x") {
		t.Fatal("new set kept the removed prefixed ACL")
	}
	if len(s2.prefixLens[ResourceTopic]) != 0 {
		t.Fatalf("prefix lengths left: %v", s2.prefixLens[ResourceTopic])
	}
}

// TestFilterMatches checks Kafka's ResourcePatternFilter semantics: ANY
// (exact name, any pattern type), MATCH (every pattern that would match
// the name), and exact pattern types.
func TestFilterMatches(t *testing.T) {
	lit := allow(ResourceTopic, "foo", PatternLiteral, "User:a", OpRead)
	wild := allow(ResourceTopic, "*", PatternLiteral, "User:a", OpRead)
	pre := allow(ResourceTopic, "fo", PatternPrefixed, "User:b", OpWrite)
	other := deny(ResourceGroup, "foo", PatternLiteral, "User:a", OpRead)
	s := setOf(t, lit, wild, pre, other)
	for _, tt := range []struct {
		name string
		f    Filter
		want []Binding
	}{
		{"any", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, []Binding{lit, wild, pre, other}},
		{"literal foo", Filter{ResourceType: ResourceTopic, ResourceName: ptr("foo"), PatternType: PatternLiteral, Operation: OpAny, Permission: PermissionAny}, []Binding{lit}},
		{"any pattern foo", Filter{ResourceType: ResourceAny, ResourceName: ptr("foo"), PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, []Binding{lit, other}},
		{"match foo", Filter{ResourceType: ResourceTopic, ResourceName: ptr("foo"), PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}, []Binding{wild, lit, pre}},
		{"prefixed", Filter{ResourceType: ResourceTopic, PatternType: PatternPrefixed, Operation: OpAny, Permission: PermissionAny}, []Binding{pre}},
		{"principal", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Principal: ptr("User:b"), Operation: OpAny, Permission: PermissionAny}, []Binding{pre}},
		{"deny", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: Deny}, []Binding{other}},
		{"operation", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpWrite, Permission: PermissionAny}, []Binding{pre}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.f.Validate(); err != nil {
				t.Fatal(err)
			}
			got := s.Match(tt.f)
			want := slices.Clone(tt.want)
			slices.SortFunc(want, compareBindings)
			if !slices.Equal(got, want) {
				t.Fatalf("Match = %v, want %v", got, want)
			}
		})
	}
}

func TestBindingValidate(t *testing.T) {
	good := allow(ResourceTopic, "t", PatternLiteral, "User:a", OpRead)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Binding){
		"delegation token": func(b *Binding) { b.ResourceType = ResourceDelegationToken },
		"any resource":     func(b *Binding) { b.ResourceType = ResourceAny },
		"match pattern":    func(b *Binding) { b.PatternType = PatternMatch },
		"any operation":    func(b *Binding) { b.Operation = OpAny },
		"any permission":   func(b *Binding) { b.Permission = PermissionAny },
		"empty name":       func(b *Binding) { b.ResourceName = "" },
		"cluster name":     func(b *Binding) { b.ResourceType = ResourceCluster; b.ResourceName = "c" },
		"bad principal":    func(b *Binding) { b.Principal = "alice" },
		"empty host":       func(b *Binding) { b.Host = "" },
	} {
		b := good
		mut(&b)
		if b.Validate() == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
