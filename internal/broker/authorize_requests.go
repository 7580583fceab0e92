package broker

// The checks of authorize.go's table that filter a request's lists.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/cluster"
)

// authorizeOffsetCommit: READ on the group for every partition, then READ
// on each topic.
func authorizeOffsetCommit(r *kmsg.OffsetCommitRequest, groupOK bool, topicOK func(string) bool) (kmsg.Response, kmsg.Request, func(kmsg.Response)) {
	answer := func(out *kmsg.OffsetCommitResponse, topics []kmsg.OffsetCommitRequestTopic, code int16) {
		for _, t := range topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			out.Topics = append(out.Topics, st)
		}
	}
	if !groupOK {
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		answer(resp, r.Topics, kerr.GroupAuthorizationFailed.Code)
		return resp, nil, nil
	}
	keep, denied := split(r.Topics, func(t kmsg.OffsetCommitRequestTopic) bool { return topicOK(t.Topic) })
	if len(denied) == 0 {
		return nil, r, nil
	}
	r2 := *r
	r2.Topics = keep
	return nil, &r2, func(resp kmsg.Response) {
		answer(resp.(*kmsg.OffsetCommitResponse), denied, kerr.TopicAuthorizationFailed.Code)
	}
}

// authorizeOffsetFetch: DESCRIBE on each group; on each topic asked for
// (TOPIC_AUTHORIZATION_FAILED), and all of a group's topics are filtered
// to those the principal may describe.
func (b *Broker) authorizeOffsetFetch(ctx context.Context, c *Client, acls *acl.Set, r *kmsg.OffsetFetchRequest) (kmsg.Response, kmsg.Request, func(kmsg.Response)) {
	groupDenied := kerr.GroupAuthorizationFailed.Code
	topicDenied := kerr.TopicAuthorizationFailed.Code
	filter := func(topics []kmsg.OffsetFetchResponseTopic) []kmsg.OffsetFetchResponseTopic {
		keep := topics[:0]
		for _, t := range topics {
			if b.visible(c, acls, acl.OpDescribe, acl.ResourceTopic, t.Topic) {
				keep = append(keep, t)
			}
		}
		return keep
	}
	if r.Version < 8 {
		if !b.allowed(ctx, c, acls, acl.OpDescribe, acl.ResourceGroup, r.Group) {
			resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = groupDenied
			for _, t := range r.Topics {
				st := kmsg.NewOffsetFetchResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewOffsetFetchResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p, groupDenied
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, nil
		}
		if r.Topics == nil {
			return nil, r, func(resp kmsg.Response) {
				out := resp.(*kmsg.OffsetFetchResponse)
				out.Topics = filter(out.Topics)
			}
		}
		keep, denied := split(r.Topics, func(t kmsg.OffsetFetchRequestTopic) bool {
			return b.allowed(ctx, c, acls, acl.OpDescribe, acl.ResourceTopic, t.Topic)
		})
		if len(denied) == 0 {
			return nil, r, nil
		}
		r2 := *r
		r2.Topics = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.OffsetFetchResponse)
			for _, t := range denied {
				st := kmsg.NewOffsetFetchResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewOffsetFetchResponseTopicPartition()
					sp.Partition, sp.ErrorCode, sp.Offset, sp.LeaderEpoch = p, topicDenied, -1, -1
					st.Partitions = append(st.Partitions, sp)
				}
				out.Topics = append(out.Topics, st)
			}
		}
	}
	// v8+: several groups.
	type deniedTopics struct {
		group  string
		topics []kmsg.OffsetFetchRequestGroupTopic
	}
	var deniedGroups []string
	var denied []deniedTopics
	var allTopics []string
	r2 := *r
	r2.Groups = nil
	for _, g := range r.Groups {
		if !b.allowed(ctx, c, acls, acl.OpDescribe, acl.ResourceGroup, g.Group) {
			deniedGroups = append(deniedGroups, g.Group)
			continue
		}
		if g.Topics == nil {
			allTopics = append(allTopics, g.Group)
			r2.Groups = append(r2.Groups, g)
			continue
		}
		var d []kmsg.OffsetFetchRequestGroupTopic
		keep := g.Topics[:0:0]
		for _, t := range g.Topics {
			if b.allowed(ctx, c, acls, acl.OpDescribe, acl.ResourceTopic, t.Topic) {
				keep = append(keep, t)
			} else {
				d = append(d, t)
			}
		}
		if len(d) > 0 {
			denied = append(denied, deniedTopics{g.Group, d})
		}
		g.Topics = keep
		r2.Groups = append(r2.Groups, g)
	}
	if len(deniedGroups) == 0 && len(denied) == 0 && len(allTopics) == 0 {
		return nil, r, nil
	}
	return nil, &r2, func(resp kmsg.Response) {
		out := resp.(*kmsg.OffsetFetchResponse)
		for i := range out.Groups {
			g := &out.Groups[i]
			for _, name := range allTopics {
				if name == g.Group {
					keep := g.Topics[:0]
					for _, t := range g.Topics {
						if b.visible(c, acls, acl.OpDescribe, acl.ResourceTopic, t.Topic) {
							keep = append(keep, t)
						}
					}
					g.Topics = keep
				}
			}
			for _, d := range denied {
				if d.group != g.Group {
					continue
				}
				for _, t := range d.topics {
					st := kmsg.NewOffsetFetchResponseGroupTopic()
					st.Topic = t.Topic
					for _, p := range t.Partitions {
						sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
						sp.Partition, sp.ErrorCode, sp.Offset, sp.LeaderEpoch = p, topicDenied, -1, -1
						st.Partitions = append(st.Partitions, sp)
					}
					g.Topics = append(g.Topics, st)
				}
			}
		}
		for _, name := range deniedGroups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group, sg.ErrorCode = name, groupDenied
			out.Groups = append(out.Groups, sg)
		}
	}
}

// authorizeFindCoordinator: DESCRIBE on the group or transactional ID of
// each key.
func (b *Broker) authorizeFindCoordinator(ctx context.Context, c *Client, acls *acl.Set, r *kmsg.FindCoordinatorRequest) (kmsg.Response, kmsg.Request, func(kmsg.Response)) {
	rt, code := acl.ResourceGroup, kerr.GroupAuthorizationFailed.Code
	switch r.CoordinatorType {
	case 0:
	case 1:
		rt, code = acl.ResourceTransactionalID, kerr.TransactionalIDAuthorizationFailed.Code
	default:
		return nil, r, nil // the handler answers INVALID_REQUEST
	}
	if r.Version < 4 {
		if b.allowed(ctx, c, acls, acl.OpDescribe, rt, r.CoordinatorKey) {
			return nil, r, nil
		}
		resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
		return resp, nil, nil
	}
	keep, denied := split(r.CoordinatorKeys, func(k string) bool { return b.allowed(ctx, c, acls, acl.OpDescribe, rt, k) })
	if len(denied) == 0 {
		return nil, r, nil
	}
	r2 := *r
	r2.CoordinatorKeys = keep
	return nil, &r2, func(resp kmsg.Response) {
		out := resp.(*kmsg.FindCoordinatorResponse)
		for _, k := range denied {
			sc := kmsg.NewFindCoordinatorResponseCoordinator()
			sc.Key, sc.NodeID, sc.Port, sc.ErrorCode = k, -1, -1, code
			out.Coordinators = append(out.Coordinators, sc)
		}
	}
}

// authorizeAddPartitionsToTxn: a client's request (v0-3) needs WRITE on the
// transactional ID and on every topic; a partition denied fails the
// request, the others answering OPERATION_NOT_ATTEMPTED, as Kafka. (An
// internal topic is denied by the handler, authorizer or not.) A broker's
// (v4+) needs CLUSTER_ACTION.
func (b *Broker) authorizeAddPartitionsToTxn(ctx context.Context, c *Client, acls *acl.Set, r *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, kmsg.Request, func(kmsg.Response)) {
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.Version >= 4 {
		if b.clusterAllowed(ctx, c, acls, acl.OpClusterAction) {
			return nil, r, nil
		}
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil, nil
	}
	if !b.allowed(ctx, c, acls, acl.OpWrite, acl.ResourceTransactionalID, r.TransactionalID) {
		return answerAddPartitions(r, func(string) int16 { return kerr.TransactionalIDAuthorizationFailed.Code }), nil, nil
	}
	denied := map[string]bool{}
	for _, t := range r.Topics {
		if isInternalTopic(t.Topic) || !b.allowed(ctx, c, acls, acl.OpWrite, acl.ResourceTopic, t.Topic) {
			denied[t.Topic] = true
		}
	}
	if len(denied) == 0 {
		return nil, r, nil
	}
	return answerAddPartitions(r, deniedOrNotAttempted(denied)), nil, nil
}

// answerAddPartitions answers a client's AddPartitionsToTxn (v0-3) with
// code(topic) for every partition it names.
func answerAddPartitions(r *kmsg.AddPartitionsToTxnRequest, code func(topic string) int16) *kmsg.AddPartitionsToTxnResponse {
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	for _, t := range r.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTopic()
		st.Topic = t.Topic
		for _, p := range t.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			sp.Partition, sp.ErrorCode = p, code(t.Topic)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// deniedOrNotAttempted is TOPIC_AUTHORIZATION_FAILED for the denied topics
// and OPERATION_NOT_ATTEMPTED for the others.
func deniedOrNotAttempted(denied map[string]bool) func(topic string) int16 {
	return func(topic string) int16 {
		if denied[topic] {
			return kerr.TopicAuthorizationFailed.Code
		}
		return kerr.OperationNotAttempted.Code
	}
}

// authorizeDeleteTopics: DELETE on the cluster, which covers every topic,
// or else DELETE on each topic, named or found by ID (an unknown ID answers
// UNKNOWN_TOPIC_ID, as there is no name to check), as Kafka's
// handleDeleteTopics.
func (b *Broker) authorizeDeleteTopics(ctx context.Context, c *Client, acls *acl.Set, r *kmsg.DeleteTopicsRequest) (kmsg.Response, kmsg.Request, func(kmsg.Response)) {
	if b.visible(c, acls, acl.OpDelete, acl.ResourceCluster, acl.ClusterName) {
		return nil, r, nil
	}
	img := b.cfg.Cluster.Image()
	type deniedTopic struct {
		name *string
		id   [16]byte
	}
	var denied []deniedTopic
	r2 := *r
	r2.Topics, r2.TopicNames = nil, nil
	check := func(t kmsg.DeleteTopicsRequestTopic) {
		name := t.Topic
		if name == nil {
			if tp := img.TopicsByID.Value(cluster.TopicID(t.TopicID)); tp != nil {
				n := tp.Name
				name = &n
			}
		}
		if name == nil || b.allowed(ctx, c, acls, acl.OpDelete, acl.ResourceTopic, *name) {
			r2.Topics = append(r2.Topics, t)
			return
		}
		denied = append(denied, deniedTopic{t.Topic, t.TopicID})
	}
	for _, t := range r.Topics {
		check(t)
	}
	for _, n := range r.TopicNames {
		check(kmsg.DeleteTopicsRequestTopic{Topic: &n})
	}
	if len(denied) == 0 {
		return nil, r, nil
	}
	if r.Version < 6 {
		// Names travel in TopicNames before v6; the handler reads both.
		r2.TopicNames = nil
	}
	return nil, &r2, func(resp kmsg.Response) {
		out := resp.(*kmsg.DeleteTopicsResponse)
		for _, d := range denied {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic, st.TopicID, st.ErrorCode = d.name, d.id, kerr.TopicAuthorizationFailed.Code
			out.Topics = append(out.Topics, st)
		}
	}
}

// split returns the items allowed and those not, each in request order.
// keep is never nil (a nil array means "all" in some requests) and never
// shares memory with items: the caller's request stays whole.
func split[T any](items []T, allowed func(T) bool) (keep, denied []T) {
	keep = items[:0:0]
	for _, it := range items {
		if allowed(it) {
			keep = append(keep, it)
		} else {
			denied = append(denied, it)
		}
	}
	return keep, denied
}
