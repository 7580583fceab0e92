package acl

import (
	"fmt"
	"strings"
)

// ResourceType is a Kafka ACL resource type, numbered as on the wire.
type ResourceType int8

// Resource types (org.apache.kafka.common.resource.ResourceType).
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1 // filters only
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
	numResourceTypes                     = 8
)

// ClusterName is the name of the one CLUSTER resource.
const ClusterName = "kafka-cluster"

// Wildcard is the resource name and host that match every one.
const Wildcard = "*"

// WildcardPrincipal is the principal that matches every one.
const WildcardPrincipal = "User:*"

var resourceNames = [...]string{"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"}

func (t ResourceType) String() string {
	if t >= 0 && int(t) < len(resourceNames) {
		return resourceNames[t]
	}
	return fmt.Sprintf("RESOURCE(%d)", int8(t))
}

// PatternType says how a Binding's resource name matches.
type PatternType int8

// Pattern types (org.apache.kafka.common.resource.PatternType).
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1 // filters: any pattern type, exact name
	PatternMatch    PatternType = 2 // filters: every pattern that matches the name
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

var patternNames = [...]string{"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"}

func (p PatternType) String() string {
	if p >= 0 && int(p) < len(patternNames) {
		return patternNames[p]
	}
	return fmt.Sprintf("PATTERN(%d)", int8(p))
}

// Operation is an ACL operation, numbered as on the wire.
type Operation int8

// Operations (org.apache.kafka.common.acl.AclOperation).
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1 // filters only
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
	numOperations               = 15
)

var opNames = [...]string{"UNKNOWN", "ANY", "ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE",
	"CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"}

func (o Operation) String() string {
	if o >= 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("OPERATION(%d)", int8(o))
}

// Permission is ALLOW or DENY.
type Permission int8

// Permission types (org.apache.kafka.common.acl.AclPermissionType).
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1 // filters only
	Deny              Permission = 2
	Allow             Permission = 3
)

var permNames = [...]string{"UNKNOWN", "ANY", "DENY", "ALLOW"}

func (p Permission) String() string {
	if p >= 0 && int(p) < len(permNames) {
		return permNames[p]
	}
	return fmt.Sprintf("PERMISSION(%d)", int8(p))
}

// Binding is one ACL: a resource pattern and an access control entry.
type Binding struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType
	Principal    string
	Host         string
	Operation    Operation
	Permission   Permission
}

func (b Binding) String() string {
	return fmt.Sprintf("(%v %s %v: %s from %s %v %v)", b.ResourceType, b.ResourceName, b.PatternType,
		b.Principal, b.Host, b.Permission, b.Operation)
}

// Validate reports why a new ACL cannot be created, as Kafka's CreateAcls
// refuses it (INVALID_REQUEST), or nil.
func (b Binding) Validate() error {
	switch {
	case b.ResourceType <= ResourceAny || b.ResourceType >= numResourceTypes:
		return fmt.Errorf("invalid resource type %v", b.ResourceType)
	case b.ResourceType == ResourceDelegationToken:
		return fmt.Errorf("ACLs on %v resources are not supported: Sluice issues no delegation tokens", b.ResourceType)
	case b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed:
		return fmt.Errorf("invalid pattern type %v", b.PatternType)
	case b.Operation <= OpAny || b.Operation >= numOperations:
		return fmt.Errorf("invalid operation %v", b.Operation)
	case b.Permission != Allow && b.Permission != Deny:
		return fmt.Errorf("invalid permission type %v", b.Permission)
	case b.ResourceName == "":
		return fmt.Errorf("invalid empty resource name")
	case b.ResourceType == ResourceCluster && b.ResourceName != ClusterName:
		return fmt.Errorf("the only valid name for the CLUSTER resource is %s", ClusterName)
	case !validPrincipal(b.Principal):
		return fmt.Errorf("could not parse principal %q: want Type:name", b.Principal)
	case b.Host == "":
		return fmt.Errorf("invalid empty host")
	}
	return nil
}

func validPrincipal(p string) bool {
	i := strings.IndexByte(p, ':')
	return i > 0 && i < len(p)-1
}

// less orders bindings canonically, for deterministic results.
func compareBindings(a, b Binding) int {
	switch {
	case a.ResourceType != b.ResourceType:
		return int(a.ResourceType) - int(b.ResourceType)
	case a.PatternType != b.PatternType:
		return int(a.PatternType) - int(b.PatternType)
	case a.ResourceName != b.ResourceName:
		return strings.Compare(a.ResourceName, b.ResourceName)
	case a.Principal != b.Principal:
		return strings.Compare(a.Principal, b.Principal)
	case a.Host != b.Host:
		return strings.Compare(a.Host, b.Host)
	case a.Operation != b.Operation:
		return int(a.Operation) - int(b.Operation)
	}
	return int(a.Permission) - int(b.Permission)
}

// Filter selects ACLs for DescribeAcls and DeleteAcls (Kafka's
// AclBindingFilter). A nil name, principal or host matches any.
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Validate reports why a filter is invalid (INVALID_REQUEST), or nil.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType <= ResourceUnknown || f.ResourceType >= numResourceTypes:
		return fmt.Errorf("invalid resource type filter %v", f.ResourceType)
	case f.PatternType <= PatternUnknown || f.PatternType > PatternPrefixed:
		return fmt.Errorf("invalid pattern type filter %v", f.PatternType)
	case f.Operation <= OpUnknown || f.Operation >= numOperations:
		return fmt.Errorf("invalid operation filter %v", f.Operation)
	case f.Permission <= PermissionUnknown || f.Permission > Allow:
		return fmt.Errorf("invalid permission type filter %v", f.Permission)
	}
	return nil
}

// Matches reports whether f selects b.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName != nil {
		name := *f.ResourceName
		switch {
		case f.PatternType == PatternAny || f.PatternType == b.PatternType:
			if name != b.ResourceName {
				return false
			}
		case b.PatternType == PatternLiteral: // MATCH
			if name != b.ResourceName && b.ResourceName != Wildcard {
				return false
			}
		case b.PatternType == PatternPrefixed: // MATCH
			if !strings.HasPrefix(name, b.ResourceName) {
				return false
			}
		default:
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == PermissionAny || f.Permission == b.Permission
}
