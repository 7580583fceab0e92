package cluster

// ACLs in the metadata log (KIP-11; KIP-631 keeps them in the metadata
// log too): CreateAcls adds bindings, DeleteAcls removes what its filters
// match at apply time. Both change the image's acl.Set as a delta: the
// persistent set shares everything the command does not touch.

import (
	"context"
	"fmt"

	"github.com/sluice-io/sluice/internal/acl"
)

// CreateAcls adds ACLs (Kafka's CreateAcls). Every binding must be valid
// (acl.Binding.Validate); the command fails as a whole otherwise. An ACL
// already present is kept once.
type CreateAcls struct {
	ACLs []acl.Binding
}

// DeleteAcls removes every ACL any of its filters matches (Kafka's
// DeleteAcls). Node.DeleteAcls returns, per filter, the ACLs it matched,
// in acl.Set's canonical order, so every node agrees on what was removed.
type DeleteAcls struct {
	Filters []acl.Filter
}

func (CreateAcls) isCommand() {}
func (DeleteAcls) isCommand() {}

// aclDeleteResults is what a DeleteAcls command returns from Apply: the
// ACLs each filter matched.
type aclDeleteResults [][]acl.Binding

// DeleteAcls proposes cmd and returns the ACLs each filter matched.
func (n *Node) DeleteAcls(ctx context.Context, cmd DeleteAcls) ([][]acl.Binding, error) {
	res, err := n.proposeResult(ctx, cmd)
	if err != nil {
		return nil, err
	}
	out, _ := res.(aclDeleteResults)
	if out == nil {
		out = make(aclDeleteResults, len(cmd.Filters))
	}
	return out, nil
}

func applyCreateAcls(b *imageBuilder, c CreateAcls) error {
	for _, a := range c.ACLs {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("cluster: create ACL %v: %w", a, err)
		}
	}
	next, _ := b.next.ACLs.Add(c.ACLs)
	b.next.ACLs = next
	return nil
}

func applyDeleteAcls(b *imageBuilder, c DeleteAcls) error {
	results := make(aclDeleteResults, len(c.Filters))
	var gone []acl.Binding
	for i, f := range c.Filters {
		if err := f.Validate(); err != nil {
			return fmt.Errorf("cluster: delete ACLs: %w", err)
		}
		results[i] = b.next.ACLs.Match(f)
		gone = append(gone, results[i]...)
	}
	if len(gone) > 0 {
		b.next.ACLs = b.next.ACLs.Remove(gone)
	}
	b.result = results
	return nil
}

// wireACL is one ACL in commands, snapshots and control RPC responses.
type wireACL struct {
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

type wireACLFilter struct {
	ResourceType int8    `json:"resource_type"`
	ResourceName *string `json:"resource_name"`
	PatternType  int8    `json:"pattern_type"`
	Principal    *string `json:"principal"`
	Host         *string `json:"host"`
	Operation    int8    `json:"operation"`
	Permission   int8    `json:"permission"`
}

type (
	wireCreateAcls struct {
		ACLs []wireACL `json:"acls"`
	}
	wireDeleteAcls struct {
		Filters []wireACLFilter `json:"filters"`
	}
)

func toWireACL(b acl.Binding) wireACL {
	return wireACL{int8(b.ResourceType), b.ResourceName, int8(b.PatternType), b.Principal, b.Host, int8(b.Operation), int8(b.Permission)}
}

func fromWireACL(w wireACL) acl.Binding {
	return acl.Binding{
		ResourceType: acl.ResourceType(w.ResourceType), ResourceName: w.ResourceName, PatternType: acl.PatternType(w.PatternType),
		Principal: w.Principal, Host: w.Host, Operation: acl.Operation(w.Operation), Permission: acl.Permission(w.Permission),
	}
}

func toWireACLs(bs []acl.Binding) []wireACL {
	out := make([]wireACL, len(bs))
	for i, b := range bs {
		out[i] = toWireACL(b)
	}
	return out
}

func fromWireACLs(ws []wireACL) []acl.Binding {
	out := make([]acl.Binding, len(ws))
	for i, w := range ws {
		out[i] = fromWireACL(w)
	}
	return out
}

func toWireCreateAcls(c CreateAcls) wireCreateAcls { return wireCreateAcls{ACLs: toWireACLs(c.ACLs)} }

func fromWireCreateAcls(w wireCreateAcls) CreateAcls { return CreateAcls{ACLs: fromWireACLs(w.ACLs)} }

func toWireDeleteAcls(c DeleteAcls) wireDeleteAcls {
	w := wireDeleteAcls{Filters: make([]wireACLFilter, len(c.Filters))}
	for i, f := range c.Filters {
		w.Filters[i] = wireACLFilter{int8(f.ResourceType), f.ResourceName, int8(f.PatternType), f.Principal, f.Host, int8(f.Operation), int8(f.Permission)}
	}
	return w
}

func fromWireDeleteAcls(w wireDeleteAcls) DeleteAcls {
	c := DeleteAcls{Filters: make([]acl.Filter, len(w.Filters))}
	for i, f := range w.Filters {
		c.Filters[i] = acl.Filter{
			ResourceType: acl.ResourceType(f.ResourceType), ResourceName: f.ResourceName, PatternType: acl.PatternType(f.PatternType),
			Principal: f.Principal, Host: f.Host, Operation: acl.Operation(f.Operation), Permission: acl.Permission(f.Permission),
		}
	}
	return c
}

// snapshotACLs lists an image's ACLs for a snapshot, in canonical order.
func snapshotACLs(s *acl.Set) []wireACL {
	if s.Len() == 0 {
		return nil
	}
	return toWireACLs(s.All())
}

// restoreACLs rebuilds the ACL set of a snapshot.
func restoreACLs(ws []wireACL) (*acl.Set, error) {
	if len(ws) == 0 {
		return nil, nil
	}
	bs := fromWireACLs(ws)
	for _, b := range bs {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("cluster: snapshot ACL %v: %w", b, err)
		}
	}
	s, _ := (*acl.Set)(nil).Add(bs)
	return s, nil
}
