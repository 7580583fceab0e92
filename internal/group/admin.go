package group

// Group administration: DescribeGroups, ListGroups, DeleteGroups.

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperations is the AuthorizedOperations bit set of a group when
// asked for: READ, DELETE, DESCRIBE (ACL operation codes 3, 6, 8). The
// broker narrows it when ACLs apply.
const groupOperations = 1<<3 | 1<<6 | 1<<8

func (c *Coordinator) describeGroups(_ context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	c.logger.Debug("DescribeGroups", "groups", req.Groups)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := c.describeGroup(id, req.Version)
		if req.IncludeAuthorizedOperations && dg.ErrorCode == 0 {
			dg.AuthorizedOperations = groupOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// describeGroup is GroupMetadata.summary: members always, their metadata
// and assignment only when Stable. An unknown group is "Dead" with no
// error before v6, GROUP_ID_NOT_FOUND from v6 (KIP-1043); so is a KIP-848
// group, which ConsumerGroupDescribe describes.
func (c *Coordinator) describeGroup(id string, version int16) kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group = id
	notFound := func(msg string) kmsg.DescribeGroupsResponseGroup {
		dg.State = "Dead"
		if version >= 6 {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = new(msg)
		}
		return dg
	}
	g, code := c.lookup(id, false)
	if code != 0 {
		dg.ErrorCode = code
		return dg
	}
	if g == nil {
		return notFound("group " + id + " not found")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.unloaded:
		dg.ErrorCode = kerr.NotCoordinator.Code
		return dg
	case g.state == stateDead:
		return notFound("group " + id + " not found")
	case g.kind == kindConsumer:
		return notFound("group " + id + " is not a classic group")
	}
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID = m.id, m.instanceID
		dm.ClientID, dm.ClientHost = m.clientID, m.clientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if stable {
			if md := m.metadataFor(g.protocol); md != nil {
				dm.ProtocolMetadata = md
			}
			if m.assignment != nil {
				dm.MemberAssignment = m.assignment
			}
		}
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

func (c *Coordinator) listGroups(_ context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	c.logger.Debug("ListGroups", "states", req.StatesFilter, "types", req.TypesFilter)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	gs, loading := c.loadedGroups()
	if loading {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	matches := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		return slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	for _, g := range gs {
		g.mu.Lock()
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.GroupState, lg.GroupType = g.id, g.stateName(), g.typeName()
		lg.ProtocolType = g.protocolType
		if g.kind == kindConsumer {
			lg.ProtocolType = "consumer"
		}
		keep := !g.unloaded && g.state != stateDead &&
			(req.Version < 4 || matches(req.StatesFilter, lg.GroupState)) &&
			(req.Version < 5 || matches(req.TypesFilter, lg.GroupType))
		g.mu.Unlock()
		if keep {
			resp.Groups = append(resp.Groups, lg)
		}
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return resp
}

func (c *Coordinator) deleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	c.logger.Debug("DeleteGroups", "groups", req.Groups)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		dg.ErrorCode = c.deleteGroup(ctx, id)
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// deleteGroup deletes an empty group: tombstones for its offsets and its
// metadata, then it is gone. A group with members is NON_EMPTY_GROUP.
func (c *Coordinator) deleteGroup(ctx context.Context, id string) int16 {
	g, code := c.lookup(id, false)
	if code != 0 {
		return code
	}
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.unloaded:
		return kerr.NotCoordinator.Code
	case g.state == stateDead:
		return kerr.GroupIDNotFound.Code
	case !g.isEmpty() || (g.kind == kindClassic && g.state != stateEmpty):
		return kerr.NonEmptyGroup.Code
	}
	// Tombstones for the committed offsets and for those of open
	// transactions, which they drop too (Kafka's deleteAllOffsets).
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	for _, pend := range g.txnOffsets {
		for tp := range pend {
			if _, ok := g.offsets[tp]; !ok && !slices.Contains(tps, tp) {
				tps = append(tps, tp)
			}
		}
	}
	slices.SortFunc(tps, compareTP)
	// KIP-848 records not written yet go first, so that the tombstones
	// are last.
	queued, end := g.takeQueued()
	recs := slices.Grow(queued, len(tps)+1)
	for _, tp := range tps {
		recs = append(recs, kv{key: offsetKey(g.id, tp)})
	}
	recs = append(recs, g.groupTombstones()...)
	g.mu.Unlock()
	err := c.appendRecords(ctx, g.part, recs)
	g.mu.Lock()
	if err != nil {
		g.requeue(queued)
		c.logger.Warn("delete group", "group", id, "err", err)
		return appendCode(err, kerr.UnknownServerError.Code)
	}
	g.queueWritten(end)
	g.cimg = cgImage{}
	g.offsets = make(map[topicPartition]committed)
	g.txnOffsets = make(map[int64]map[topicPartition]committed)
	g.transition(stateDead, c.now())
	c.forget(g)
	c.logger.Info("deleted group", "group", id, "offsets", len(tps))
	return 0
}
