package broker

// DescribeAcls, CreateAcls and DeleteAcls, versions 0-3 (KIP-11; v1+
// pattern types, KIP-290). Without authorizer.class.name every answer is
// SECURITY_DISABLED, as Kafka's broker without an authorizer answers. The
// ACLs are cluster metadata: CreateAcls and DeleteAcls are committed
// through the controller (one command per request) and answered once this
// broker's image has them. DescribeAcls needs DESCRIBE on the cluster,
// the others ALTER. A filter or binding Kafka refuses (ANY or UNKNOWN where
// a value is needed, an empty resource name, a CLUSTER resource not named
// kafka-cluster, an ACL on a delegation token, a principal without a type)
// answers INVALID_REQUEST for that entry only. Version 0 knows no pattern
// types: its bindings and filters are LITERAL.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/cluster"
)

const noAuthorizerMessage = "no authorizer is configured (authorizer.class.name)"

func (b *Broker) describeAcls(ctx context.Context, c *Client, req *kmsg.DescribeACLsRequest) *kmsg.DescribeACLsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if b.authz == nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.SecurityDisabled.Code, strp(noAuthorizerMessage)
		return resp
	}
	img := b.cfg.Cluster.Image()
	if !b.clusterAllowed(ctx, c, img.ACLs, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	f := acl.Filter{
		ResourceType: acl.ResourceType(req.ResourceType), ResourceName: req.ResourceName,
		PatternType: patternOf(req.Version, int8(req.ResourcePatternType)),
		Principal:   req.Principal, Host: req.Host,
		Operation: acl.Operation(req.Operation), Permission: acl.Permission(req.PermissionType),
	}
	if err := f.Validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, strp(err.Error())
		return resp
	}
	// Match returns the ACLs sorted by resource type, pattern type and
	// name, so one pass groups them by resource.
	for _, a := range img.ACLs.Match(f) {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != kmsg.ACLResourceType(a.ResourceType) ||
			resp.Resources[n-1].ResourceName != a.ResourceName || resp.Resources[n-1].ResourcePatternType != kmsg.ACLResourcePatternType(a.PatternType) {
			r := kmsg.NewDescribeACLsResponseResource()
			r.ResourceType, r.ResourceName, r.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
			resp.Resources = append(resp.Resources, r)
			n++
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, e)
	}
	return resp
}

func (b *Broker) createAcls(ctx context.Context, c *Client, req *kmsg.CreateACLsRequest) *kmsg.CreateACLsResponse {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	all := func(code int16, msg *string) *kmsg.CreateACLsResponse {
		for i := range resp.Results {
			resp.Results[i] = kmsg.NewCreateACLsResponseResult()
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return resp
	}
	if b.authz == nil {
		return all(kerr.SecurityDisabled.Code, strp(noAuthorizerMessage))
	}
	if !b.clusterAllowed(ctx, c, b.currentACLs(), acl.OpAlter) {
		return all(kerr.ClusterAuthorizationFailed.Code, nil)
	}
	var valid []acl.Binding
	var validAt []int
	for i, cr := range req.Creations {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
		a := acl.Binding{
			ResourceType: acl.ResourceType(cr.ResourceType), ResourceName: cr.ResourceName,
			PatternType: patternOf(req.Version, int8(cr.ResourcePatternType)),
			Principal:   cr.Principal, Host: cr.Host,
			Operation: acl.Operation(cr.Operation), Permission: acl.Permission(cr.PermissionType),
		}
		if err := a.Validate(); err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, strp(err.Error())
			continue
		}
		valid = append(valid, a)
		validAt = append(validAt, i)
	}
	if len(valid) == 0 {
		return resp
	}
	if err := b.cfg.Cluster.Propose(ctx, cluster.CreateAcls{ACLs: valid}); err != nil {
		for _, i := range validAt {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errorCode(err), errorMessage(err)
		}
		return resp
	}
	b.logger.Info("created ACLs", "count", len(valid), "principal", c.Principal, "client_id", c.ID)
	return resp
}

func (b *Broker) deleteAcls(ctx context.Context, c *Client, req *kmsg.DeleteACLsRequest) *kmsg.DeleteACLsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	all := func(code int16, msg *string) *kmsg.DeleteACLsResponse {
		for i := range resp.Results {
			resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return resp
	}
	if b.authz == nil {
		return all(kerr.SecurityDisabled.Code, strp(noAuthorizerMessage))
	}
	if !b.clusterAllowed(ctx, c, b.currentACLs(), acl.OpAlter) {
		return all(kerr.ClusterAuthorizationFailed.Code, nil)
	}
	var valid []acl.Filter
	var validAt []int
	for i, rf := range req.Filters {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
		f := acl.Filter{
			ResourceType: acl.ResourceType(rf.ResourceType), ResourceName: rf.ResourceName,
			PatternType: patternOf(req.Version, int8(rf.ResourcePatternType)),
			Principal:   rf.Principal, Host: rf.Host,
			Operation: acl.Operation(rf.Operation), Permission: acl.Permission(rf.PermissionType),
		}
		if err := f.Validate(); err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, strp(err.Error())
			continue
		}
		valid = append(valid, f)
		validAt = append(validAt, i)
	}
	if len(valid) == 0 {
		return resp
	}
	matched, err := b.cfg.Cluster.DeleteAcls(ctx, cluster.DeleteAcls{Filters: valid})
	if err != nil {
		for _, i := range validAt {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errorCode(err), errorMessage(err)
		}
		return resp
	}
	n := 0
	for k, i := range validAt {
		for _, a := range matched[k] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
			m.Principal, m.Host = a.Principal, a.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
			n++
		}
	}
	b.logger.Info("deleted ACLs", "count", n, "principal", c.Principal, "client_id", c.ID)
	return resp
}

// patternOf is a request's pattern type: LITERAL before version 1, which
// has none.
func patternOf(version int16, p int8) acl.PatternType {
	if version < 1 {
		return acl.PatternLiteral
	}
	return acl.PatternType(p)
}

func strp(s string) *string { return &s }
