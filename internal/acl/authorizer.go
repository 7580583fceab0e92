package acl

import (
	"strings"
)

// Authorizer decides whether a principal may perform an operation on a
// resource, from a Set of ACLs and its configuration, as Kafka's
// StandardAuthorizer does. It holds no ACLs itself: callers pass the Set
// of the metadata image they are serving from. It is safe for concurrent
// use and never modified after NewAuthorizer.
type Authorizer struct {
	superUsers   map[string]struct{}
	allowIfNoACL bool
}

// Config configures an Authorizer.
type Config struct {
	// SuperUsers is super.users: principals separated by semicolons
	// ("User:admin;User:broker") that may do everything.
	SuperUsers string
	// AllowIfNoACL is allow.everyone.if.no.acl.found: a resource no ACL
	// names is allowed to everyone rather than denied.
	AllowIfNoACL bool
}

// NewAuthorizer returns an authorizer.
func NewAuthorizer(cfg Config) *Authorizer {
	a := &Authorizer{superUsers: map[string]struct{}{}, allowIfNoACL: cfg.AllowIfNoACL}
	for _, p := range strings.Split(cfg.SuperUsers, ";") {
		if p = strings.TrimSpace(p); p != "" {
			a.superUsers[p] = struct{}{}
		}
	}
	return a
}

// IsSuperUser reports whether principal is listed in super.users.
func (a *Authorizer) IsSuperUser(principal string) bool {
	_, ok := a.superUsers[principal]
	return ok
}

// Authorize reports whether principal, connected from host (an IP
// address), may perform op on the resource rt/name under acls:
//
//  1. super users may do everything;
//  2. a matching DENY ACL (same operation, or ALL) denies;
//  3. a matching ALLOW ACL (same operation, ALL, or one implying it)
//     allows;
//  4. a resource no ACL pattern matches at all is allowed only with
//     allow.everyone.if.no.acl.found; otherwise it is denied.
//
// An ACL matches when its pattern matches the resource, its principal is
// principal or User:*, and its host is host or *. It does not allocate.
func (a *Authorizer) Authorize(acls *Set, principal, host string, op Operation, rt ResourceType, name string) bool {
	if _, ok := a.superUsers[principal]; ok {
		return true
	}
	var foundAllow, foundDeny, anyACL bool
	acls.forResource(rt, name, func(bs []Binding) bool {
		anyACL = true
		for i := range bs {
			switch decide(&bs[i], principal, host, op) {
			case Deny:
				foundDeny = true
				return false
			case Allow:
				foundAllow = true
			}
		}
		return true
	})
	switch {
	case foundDeny:
		return false
	case foundAllow:
		return true
	}
	return !anyACL && a.allowIfNoACL
}

// decide applies one ACL whose pattern matches the resource: Allow, Deny,
// or PermissionUnknown when it does not apply to this request.
func decide(b *Binding, principal, host string, op Operation) Permission {
	if b.Principal != principal && b.Principal != WildcardPrincipal {
		return PermissionUnknown
	}
	if b.Host != host && b.Host != Wildcard {
		return PermissionUnknown
	}
	if b.Operation != OpAll && b.Operation != op {
		// Implication applies to ALLOW ACLs only: a DENY of READ does not
		// deny DESCRIBE.
		if b.Permission != Allow || !implies(b.Operation, op) {
			return PermissionUnknown
		}
	}
	return b.Permission
}

// implies reports whether an ALLOW ACL for granted also allows op.
func implies(granted, op Operation) bool {
	switch op {
	case OpDescribe:
		return granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case OpDescribeConfigs:
		return granted == OpAlterConfigs
	}
	return false
}

// AuthorizeAny reports whether principal may perform op on at least one
// resource of type rt (Kafka's authorizeByResourceType, used where an
// operation needs the right on any topic, such as an idempotent producer's
// InitProducerId). As in Kafka, it first asks Authorize about a literal
// resource named "hardcode": that allows super users, an ALLOW ACL on
// every name, and, with allow.everyone.if.no.acl.found, a resource no ACL
// covers. Otherwise some ALLOW ACL for op must name a literal or prefix
// that no DENY ACL for op cancels: a DENY on the same literal, a DENY
// prefix of the name, or a DENY on "*" (which cancels everything).
func (a *Authorizer) AuthorizeAny(acls *Set, principal, host string, op Operation, rt ResourceType) bool {
	if a.Authorize(acls, principal, host, op, rt, hardcodedName) {
		return true
	}
	var denyLiteral = map[string]bool{}
	var denyPrefixes []string
	var allows []Binding
	acls.each(func(b Binding) {
		if b.ResourceType != rt {
			return
		}
		switch decide(&b, principal, host, op) {
		case Deny:
			if b.PatternType == PatternLiteral {
				denyLiteral[b.ResourceName] = true
			} else {
				denyPrefixes = append(denyPrefixes, b.ResourceName)
			}
		case Allow:
			allows = append(allows, b)
		}
	})
	if denyLiteral[Wildcard] {
		return false
	}
	for _, b := range allows {
		if b.PatternType == PatternLiteral && b.ResourceName == Wildcard {
			return true
		}
	}
	for _, b := range allows {
		covered := false
		for _, p := range denyPrefixes {
			if strings.HasPrefix(b.ResourceName, p) {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		if b.PatternType == PatternLiteral && denyLiteral[b.ResourceName] {
			continue
		}
		return true
	}
	return false
}

// hardcodedName is the resource name AuthorizeAny asks Authorize about
// first, the one Kafka's authorizeByResourceType uses.
const hardcodedName = "hardcode"

// operationsOf lists the operations KIP-430 reports for each resource
// type (Kafka's AclEntry.supportedOperations).
var operationsOf = [numResourceTypes][]Operation{
	ResourceTopic:           {OpRead, OpWrite, OpCreate, OpDescribe, OpDelete, OpAlter, OpDescribeConfigs, OpAlterConfigs},
	ResourceGroup:           {OpRead, OpDescribe, OpDelete, OpDescribeConfigs, OpAlterConfigs},
	ResourceCluster:         {OpCreate, OpClusterAction, OpDescribeConfigs, OpAlterConfigs, OpIdempotentWrite, OpAlter, OpDescribe},
	ResourceTransactionalID: {OpDescribe, OpWrite},
	ResourceDelegationToken: {OpDescribe},
	ResourceUser:            {OpCreateTokens, OpDescribeTokens},
}

// AuthorizedOperations is the KIP-430 bit field of the operations
// principal may perform on rt/name: bit i is set for operation i.
func (a *Authorizer) AuthorizedOperations(acls *Set, principal, host string, rt ResourceType, name string) int32 {
	if rt <= ResourceAny || rt >= numResourceTypes {
		return 0
	}
	var bits int32
	for _, op := range operationsOf[rt] {
		if a.Authorize(acls, principal, host, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// SupportedOperations is the KIP-430 bit field of every operation that
// applies to rt: what a broker without an authorizer reports.
func SupportedOperations(rt ResourceType) int32 {
	if rt <= ResourceAny || rt >= numResourceTypes {
		return 0
	}
	var bits int32
	for _, op := range operationsOf[rt] {
		bits |= 1 << op
	}
	return bits
}
