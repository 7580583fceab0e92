package broker

// Authorization (KIP-11): what every API asks the authorizer, as Kafka's
// KafkaApis does, and how a denial is answered. Without
// authorizer.class.name b.authz is nil and nothing here runs: one nil
// check per request.
//
// Whole-request and per-resource checks of APIs whose handlers answer at
// once are in authorizeRequest below: it answers a denied request itself,
// or hands the handler the request without the denied resources and adds
// their errors to the handler's response. Produce, Fetch, Metadata,
// DeleteRecords and DescribeCluster check inside their handlers
// (produce.go, fetch.go, metadata.go, delete_records.go,
// describe_cluster.go), and the ACL APIs in acls.go.
//
//	API                          operation        resource                denied
//	Produce                      WRITE            transactional ID        TRANSACTIONAL_ID_AUTHORIZATION_FAILED (all)
//	                             WRITE            topic                   TOPIC_AUTHORIZATION_FAILED
//	Fetch (consumer)             READ             topic                   TOPIC_AUTHORIZATION_FAILED
//	Fetch (follower)             CLUSTER_ACTION   cluster                 TOPIC_AUTHORIZATION_FAILED (all)
//	ListOffsets                  DESCRIBE         topic                   TOPIC_AUTHORIZATION_FAILED
//	OffsetForLeaderEpoch         DESCRIBE         topic (follower: CLUSTER_ACTION on cluster)
//	Metadata                     DESCRIBE         topic                   listed: TOPIC_AUTHORIZATION_FAILED; all: left out
//	  auto-creation              CREATE           cluster or topic        TOPIC_AUTHORIZATION_FAILED
//	CreateTopics                 CREATE           cluster or topic        TOPIC_AUTHORIZATION_FAILED
//	DeleteTopics                 DELETE           topic                   TOPIC_AUTHORIZATION_FAILED
//	DeleteRecords                DELETE           topic                   TOPIC_AUTHORIZATION_FAILED
//	CreatePartitions             ALTER            topic                   TOPIC_AUTHORIZATION_FAILED
//	DescribeConfigs              DESCRIBE_CONFIGS topic / cluster         TOPIC_ / CLUSTER_AUTHORIZATION_FAILED
//	AlterConfigs, Incremental..  ALTER_CONFIGS    topic / cluster         TOPIC_ / CLUSTER_AUTHORIZATION_FAILED
//	FindCoordinator              DESCRIBE         group / transactional ID GROUP_ / TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//	JoinGroup, SyncGroup,
//	  Heartbeat, LeaveGroup      READ             group                   GROUP_AUTHORIZATION_FAILED
//	OffsetCommit                 READ             group, then topic       GROUP_ / TOPIC_AUTHORIZATION_FAILED
//	OffsetFetch                  DESCRIBE         group, then topic       GROUP_ / TOPIC_AUTHORIZATION_FAILED (all: left out)
//	OffsetDelete                 DELETE group, READ topic                 GROUP_ / TOPIC_AUTHORIZATION_FAILED
//	DescribeGroups               DESCRIBE         group                   GROUP_AUTHORIZATION_FAILED
//	ListGroups                   DESCRIBE         cluster, else each group left out
//	DeleteGroups                 DELETE           group                   GROUP_AUTHORIZATION_FAILED
//	ConsumerGroupHeartbeat       READ group, DESCRIBE subscribed topics   GROUP_ / TOPIC_AUTHORIZATION_FAILED
//	  (regex subscription)       DESCRIBE         each matching topic     not assigned
//	ConsumerGroupDescribe        DESCRIBE         group                   GROUP_AUTHORIZATION_FAILED
//	                             DESCRIBE         each assigned topic     TOPIC_AUTHORIZATION_FAILED, details removed
//	InitProducerId               WRITE            transactional ID        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//	  (idempotent)               IDEMPOTENT_WRITE cluster, or WRITE on any topic (KIP-679)  CLUSTER_AUTHORIZATION_FAILED
//	AddPartitionsToTxn v0-3      WRITE txn ID, WRITE topic                TRANSACTIONAL_ID_ / TOPIC_AUTHORIZATION_FAILED
//	AddPartitionsToTxn v4+       CLUSTER_ACTION   cluster (brokers)       CLUSTER_AUTHORIZATION_FAILED
//	AddOffsetsToTxn              WRITE txn ID, READ group                 TRANSACTIONAL_ID_ / GROUP_AUTHORIZATION_FAILED
//	EndTxn                       WRITE            transactional ID        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//	TxnOffsetCommit              WRITE txn ID, READ group, READ topic     ..._AUTHORIZATION_FAILED
//	WriteTxnMarkers              CLUSTER_ACTION   cluster                 CLUSTER_AUTHORIZATION_FAILED
//	DescribeTransactions         DESCRIBE         transactional ID        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//	ListTransactions             DESCRIBE         transactional ID        left out
//	DescribeProducers            READ             topic                   TOPIC_AUTHORIZATION_FAILED
//	ElectLeaders, AlterPartitionReassignments,
//	  AlterReplicaLogDirs        ALTER            cluster                 CLUSTER_AUTHORIZATION_FAILED
//	ListPartitionReassignments,
//	  DescribeLogDirs            DESCRIBE         cluster                 CLUSTER_AUTHORIZATION_FAILED
//	DescribeAcls                 DESCRIBE         cluster                 CLUSTER_AUTHORIZATION_FAILED
//	DescribeQuorum               DESCRIBE         cluster                 CLUSTER_AUTHORIZATION_FAILED
//	AddRaftVoter, RemoveRaftVoter ALTER           cluster                 CLUSTER_AUTHORIZATION_FAILED
//	UnregisterBroker             ALTER            cluster                 CLUSTER_AUTHORIZATION_FAILED
//	CreateAcls, DeleteAcls       ALTER            cluster                 CLUSTER_AUTHORIZATION_FAILED
//	DescribeUserScramCredentials DESCRIBE         cluster                 CLUSTER_AUTHORIZATION_FAILED
//	AlterUserScramCredentials    ALTER            cluster                 CLUSTER_AUTHORIZATION_FAILED
//	DescribeCluster, ApiVersions, SASL: no check
//
// Like Kafka, authorization comes before existence: a topic the principal
// may not see answers TOPIC_AUTHORIZATION_FAILED whether it exists or not.
// Requests between brokers (follower fetches, markers, transaction
// verification) need CLUSTER_ACTION: the brokers' principal belongs in
// super.users, as in Kafka.

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/config"
)

// authz is the broker's authorizer and the audit log of its denials.
type authz struct {
	acl   *acl.Authorizer
	audit *auth.Audit
}

// newAuthz returns the authorizer static configures, or nil when
// authorizer.class.name is empty.
func newAuthz(static *config.Broker, audit *auth.Audit) *authz {
	if static == nil || !static.AuthorizerEnabled() {
		return nil
	}
	return &authz{
		acl:   acl.NewAuthorizer(acl.Config{SuperUsers: static.String("super.users"), AllowIfNoACL: static.Bool("allow.everyone.if.no.acl.found")}),
		audit: audit,
	}
}

// allowed reports whether c may perform op on rt/name under acls; a
// denial is written to the audit log.
func (b *Broker) allowed(ctx context.Context, c *Client, acls *acl.Set, op acl.Operation, rt acl.ResourceType, name string) bool {
	z := b.authz
	if z == nil || c == nil || z.acl.Authorize(acls, c.Principal, c.Host, op, rt, name) {
		return true
	}
	z.audit.Log(ctx, "authorization denied",
		slog.String("principal", c.Principal), slog.String("operation", op.String()),
		slog.String("resource_type", rt.String()), slog.String("resource", name),
		slog.String("client_host", c.Host), slog.String("listener", c.Listener))
	return false
}

// visible is allowed without an audit line, for lists the principal only
// sees part of (Kafka's logIfDenied = false).
func (b *Broker) visible(c *Client, acls *acl.Set, op acl.Operation, rt acl.ResourceType, name string) bool {
	z := b.authz
	return z == nil || c == nil || z.acl.Authorize(acls, c.Principal, c.Host, op, rt, name)
}

func (b *Broker) clusterAllowed(ctx context.Context, c *Client, acls *acl.Set, op acl.Operation) bool {
	return b.allowed(ctx, c, acls, op, acl.ResourceCluster, acl.ClusterName)
}

// authorizedOperations is KIP-430's bit field for rt/name: every operation
// of the resource type without an authorizer, as Kafka answers. As in
// Kafka's Metadata and DescribeCluster, a principal that may not DESCRIBE
// the cluster learns nothing of its operations there: 0.
func (b *Broker) authorizedOperations(c *Client, acls *acl.Set, rt acl.ResourceType, name string) int32 {
	if b.authz == nil || c == nil {
		return acl.SupportedOperations(rt)
	}
	ops := b.authz.acl.AuthorizedOperations(acls, c.Principal, c.Host, rt, name)
	if rt == acl.ResourceCluster && ops&(1<<acl.OpDescribe) == 0 {
		return 0
	}
	return ops
}

func (b *Broker) currentACLs() *acl.Set { return b.cfg.Cluster.Image().ACLs }

// authorizeRequest runs req's checks from the table above for APIs whose
// handlers answer at once. It returns either deny, the whole answer, or
// next, the request to hand to the handler (req, or a copy without what
// was denied), with merge, when not nil, adding the denied resources'
// errors to the handler's response.
func (b *Broker) authorizeRequest(ctx context.Context, c *Client, req kmsg.Request) (deny kmsg.Response, next kmsg.Request, merge func(kmsg.Response)) {
	return b.authorizeRequestWith(ctx, c, b.currentACLs(), req)
}

// authorizeRequestWith is authorizeRequest under the given ACLs.
func (b *Broker) authorizeRequestWith(ctx context.Context, c *Client, acls *acl.Set, req kmsg.Request) (deny kmsg.Response, next kmsg.Request, merge func(kmsg.Response)) {
	group := func(op acl.Operation, name string) bool {
		return b.allowed(ctx, c, acls, op, acl.ResourceGroup, name)
	}
	topic := func(op acl.Operation, name string) bool {
		return b.allowed(ctx, c, acls, op, acl.ResourceTopic, name)
	}
	txnID := func(op acl.Operation, name string) bool {
		return b.allowed(ctx, c, acls, op, acl.ResourceTransactionalID, name)
	}
	cluster := func(op acl.Operation) bool { return b.clusterAllowed(ctx, c, acls, op) }
	groupDenied := kerr.GroupAuthorizationFailed.Code
	topicDenied := kerr.TopicAuthorizationFailed.Code
	txnDenied := kerr.TransactionalIDAuthorizationFailed.Code
	clusterDenied := kerr.ClusterAuthorizationFailed.Code

	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		if !group(acl.OpRead, r.Group) {
			resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
			resp.ErrorCode, resp.Generation = groupDenied, -1
			return resp, nil, nil
		}
	case *kmsg.SyncGroupRequest:
		if !group(acl.OpRead, r.Group) {
			resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = groupDenied
			return resp, nil, nil
		}
	case *kmsg.HeartbeatRequest:
		if !group(acl.OpRead, r.Group) {
			resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
			resp.ErrorCode = groupDenied
			return resp, nil, nil
		}
	case *kmsg.LeaveGroupRequest:
		if !group(acl.OpRead, r.Group) {
			resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
			resp.ErrorCode = groupDenied
			return resp, nil, nil
		}
	case *kmsg.OffsetCommitRequest:
		return authorizeOffsetCommit(r, group(acl.OpRead, r.Group), func(t string) bool { return topic(acl.OpRead, t) })
	case *kmsg.OffsetFetchRequest:
		return b.authorizeOffsetFetch(ctx, c, acls, r)
	case *kmsg.OffsetDeleteRequest:
		if !group(acl.OpDelete, r.Group) {
			resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
			resp.ErrorCode = groupDenied
			return resp, nil, nil
		}
		keep, denied := split(r.Topics, func(t kmsg.OffsetDeleteRequestTopic) bool { return topic(acl.OpRead, t.Topic) })
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Topics = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.OffsetDeleteResponse)
			for _, t := range denied {
				st := kmsg.NewOffsetDeleteResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewOffsetDeleteResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p.Partition, topicDenied
					st.Partitions = append(st.Partitions, sp)
				}
				out.Topics = append(out.Topics, st)
			}
		}
	case *kmsg.DescribeGroupsRequest:
		keep, denied := split(r.Groups, func(g string) bool { return group(acl.OpDescribe, g) })
		r2 := *r
		r2.Groups = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.DescribeGroupsResponse)
			if r.IncludeAuthorizedOperations {
				for i := range out.Groups {
					// As Kafka: only for a group described.
					if out.Groups[i].ErrorCode == 0 {
						out.Groups[i].AuthorizedOperations = b.authorizedOperations(c, acls, acl.ResourceGroup, out.Groups[i].Group)
					}
				}
			}
			for _, g := range denied {
				sg := kmsg.NewDescribeGroupsResponseGroup()
				sg.Group, sg.ErrorCode = g, groupDenied
				out.Groups = append(out.Groups, sg)
			}
		}
	case *kmsg.ListGroupsRequest:
		if cluster(acl.OpDescribe) {
			return nil, req, nil
		}
		return nil, req, func(resp kmsg.Response) {
			out := resp.(*kmsg.ListGroupsResponse)
			keep := out.Groups[:0]
			for _, g := range out.Groups {
				if b.visible(c, acls, acl.OpDescribe, acl.ResourceGroup, g.Group) {
					keep = append(keep, g)
				}
			}
			out.Groups = keep
		}
	case *kmsg.DeleteGroupsRequest:
		keep, denied := split(r.Groups, func(g string) bool { return group(acl.OpDelete, g) })
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Groups = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.DeleteGroupsResponse)
			for _, g := range denied {
				sg := kmsg.NewDeleteGroupsResponseGroup()
				sg.Group, sg.ErrorCode = g, groupDenied
				out.Groups = append(out.Groups, sg)
			}
		}
	case *kmsg.ConsumerGroupHeartbeatRequest:
		resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		if !group(acl.OpRead, r.Group) {
			resp.ErrorCode = groupDenied
			return resp, nil, nil
		}
		for _, t := range r.SubscribedTopicNames {
			if !topic(acl.OpDescribe, t) {
				resp.ErrorCode = topicDenied
				return resp, nil, nil
			}
		}
	case *kmsg.ConsumerGroupDescribeRequest:
		keep, denied := split(r.Groups, func(g string) bool { return group(acl.OpDescribe, g) })
		r2 := *r
		r2.Groups = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.ConsumerGroupDescribeResponse)
			b.hideGroupsWithDeniedTopics(ctx, c, acls, out)
			if r.IncludeAuthorizedOperations {
				for i := range out.Groups {
					if out.Groups[i].ErrorCode == 0 {
						out.Groups[i].AuthorizedOperations = b.authorizedOperations(c, acls, acl.ResourceGroup, out.Groups[i].Group)
					}
				}
			}
			for _, g := range denied {
				sg := kmsg.NewConsumerGroupDescribeResponseGroup()
				sg.Group, sg.ErrorCode = g, groupDenied
				out.Groups = append(out.Groups, sg)
			}
		}
	case *kmsg.FindCoordinatorRequest:
		return b.authorizeFindCoordinator(ctx, c, acls, r)
	case *kmsg.InitProducerIDRequest:
		resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		if r.TransactionalID != nil {
			if !txnID(acl.OpWrite, *r.TransactionalID) {
				resp.ErrorCode = txnDenied
				return resp, nil, nil
			}
		} else if !b.visible(c, acls, acl.OpIdempotentWrite, acl.ResourceCluster, acl.ClusterName) &&
			!b.authz.acl.AuthorizeAny(acls, c.Principal, c.Host, acl.OpWrite, acl.ResourceTopic) {
			// KIP-679: WRITE on any topic lets a producer be idempotent.
			b.allowed(ctx, c, acls, acl.OpIdempotentWrite, acl.ResourceCluster, acl.ClusterName) // audit
			resp.ErrorCode = clusterDenied
			return resp, nil, nil
		}
	case *kmsg.AddPartitionsToTxnRequest:
		return b.authorizeAddPartitionsToTxn(ctx, c, acls, r)
	case *kmsg.AddOffsetsToTxnRequest:
		resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		if !txnID(acl.OpWrite, r.TransactionalID) {
			resp.ErrorCode = txnDenied
			return resp, nil, nil
		}
		if !group(acl.OpRead, r.Group) {
			resp.ErrorCode = groupDenied
			return resp, nil, nil
		}
	case *kmsg.EndTxnRequest:
		if !txnID(acl.OpWrite, r.TransactionalID) {
			resp := r.ResponseKind().(*kmsg.EndTxnResponse)
			resp.ErrorCode = txnDenied
			return resp, nil, nil
		}
	case *kmsg.TxnOffsetCommitRequest:
		code := int16(0)
		switch {
		case !txnID(acl.OpWrite, r.TransactionalID):
			code = txnDenied
		case !group(acl.OpRead, r.Group):
			code = groupDenied
		}
		if code != 0 {
			resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
			for _, t := range r.Topics {
				st := kmsg.NewTxnOffsetCommitResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p.Partition, code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, nil
		}
		keep, denied := split(r.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) bool { return topic(acl.OpRead, t.Topic) })
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Topics = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.TxnOffsetCommitResponse)
			for _, t := range denied {
				st := kmsg.NewTxnOffsetCommitResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p.Partition, topicDenied
					st.Partitions = append(st.Partitions, sp)
				}
				out.Topics = append(out.Topics, st)
			}
		}
	case *kmsg.WriteTxnMarkersRequest:
		if !cluster(acl.OpClusterAction) {
			resp := r.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
			for _, m := range r.Markers {
				sm := kmsg.NewWriteTxnMarkersResponseMarker()
				sm.ProducerID = m.ProducerID
				for _, t := range m.Topics {
					st := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
					st.Topic = t.Topic
					for _, p := range t.Partitions {
						sp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
						sp.Partition, sp.ErrorCode = p, clusterDenied
						st.Partitions = append(st.Partitions, sp)
					}
					sm.Topics = append(sm.Topics, st)
				}
				resp.Markers = append(resp.Markers, sm)
			}
			return resp, nil, nil
		}
	case *kmsg.DescribeTransactionsRequest:
		keep, denied := split(r.TransactionalIDs, func(id string) bool { return txnID(acl.OpDescribe, id) })
		r2 := *r
		r2.TransactionalIDs = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.DescribeTransactionsResponse)
			for i := range out.TransactionStates {
				ts := &out.TransactionStates[i]
				tk := ts.Topics[:0]
				for _, t := range ts.Topics {
					if b.visible(c, acls, acl.OpDescribe, acl.ResourceTopic, t.Topic) {
						tk = append(tk, t)
					}
				}
				ts.Topics = tk
			}
			for _, id := range denied {
				st := kmsg.NewDescribeTransactionsResponseTransactionState()
				st.TransactionalID, st.ErrorCode = id, txnDenied
				out.TransactionStates = append(out.TransactionStates, st)
			}
		}
	case *kmsg.ListTransactionsRequest:
		return nil, req, func(resp kmsg.Response) {
			out := resp.(*kmsg.ListTransactionsResponse)
			keep := out.TransactionStates[:0]
			for _, ts := range out.TransactionStates {
				if b.visible(c, acls, acl.OpDescribe, acl.ResourceTransactionalID, ts.TransactionalID) {
					keep = append(keep, ts)
				}
			}
			out.TransactionStates = keep
		}
	case *kmsg.DescribeProducersRequest:
		keep, denied := split(r.Topics, func(t kmsg.DescribeProducersRequestTopic) bool { return topic(acl.OpRead, t.Topic) })
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Topics = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.DescribeProducersResponse)
			for _, t := range denied {
				st := kmsg.NewDescribeProducersResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewDescribeProducersResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p, topicDenied
					st.Partitions = append(st.Partitions, sp)
				}
				out.Topics = append(out.Topics, st)
			}
		}
	case *kmsg.ListOffsetsRequest:
		keep, denied := split(r.Topics, func(t kmsg.ListOffsetsRequestTopic) bool { return topic(acl.OpDescribe, t.Topic) })
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Topics = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.ListOffsetsResponse)
			for _, t := range denied {
				st := kmsg.NewListOffsetsResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewListOffsetsResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p.Partition, topicDenied
					st.Partitions = append(st.Partitions, sp)
				}
				out.Topics = append(out.Topics, st)
			}
		}
	case *kmsg.OffsetForLeaderEpochRequest:
		// As Kafka, whatever the replica ID: CLUSTER_ACTION (a broker)
		// allows every topic, else each needs DESCRIBE.
		if b.visible(c, acls, acl.OpClusterAction, acl.ResourceCluster, acl.ClusterName) {
			return nil, req, nil
		}
		keep, denied := split(r.Topics, func(t kmsg.OffsetForLeaderEpochRequestTopic) bool { return topic(acl.OpDescribe, t.Topic) })
		code := topicDenied
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Topics = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.OffsetForLeaderEpochResponse)
			for _, t := range denied {
				st := kmsg.NewOffsetForLeaderEpochResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
					sp.Partition, sp.ErrorCode, sp.LeaderEpoch, sp.EndOffset = p.Partition, code, -1, -1
					st.Partitions = append(st.Partitions, sp)
				}
				out.Topics = append(out.Topics, st)
			}
		}
	case *kmsg.CreateTopicsRequest:
		if b.visible(c, acls, acl.OpCreate, acl.ResourceCluster, acl.ClusterName) {
			return nil, req, nil
		}
		var denied []string
		keep := r.Topics[:0:0]
		for _, t := range r.Topics {
			if topic(acl.OpCreate, t.Topic) {
				keep = append(keep, t)
			} else {
				denied = append(denied, t.Topic)
			}
		}
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Topics = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.CreateTopicsResponse)
			for _, name := range denied {
				st := kmsg.NewCreateTopicsResponseTopic()
				st.Topic, st.ErrorCode, st.NumPartitions, st.ReplicationFactor = name, topicDenied, -1, -1
				out.Topics = append(out.Topics, st)
			}
		}
	case *kmsg.DeleteTopicsRequest:
		return b.authorizeDeleteTopics(ctx, c, acls, r)
	case *kmsg.CreatePartitionsRequest:
		var denied []string
		keep := r.Topics[:0:0]
		for _, t := range r.Topics {
			if topic(acl.OpAlter, t.Topic) {
				keep = append(keep, t)
			} else {
				denied = append(denied, t.Topic)
			}
		}
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Topics = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.CreatePartitionsResponse)
			for _, name := range denied {
				st := kmsg.NewCreatePartitionsResponseTopic()
				st.Topic, st.ErrorCode = name, topicDenied
				out.Topics = append(out.Topics, st)
			}
		}
	case *kmsg.DescribeConfigsRequest:
		keep, denied := split(r.Resources, func(res kmsg.DescribeConfigsRequestResource) bool {
			return b.configResourceAllowed(ctx, c, acls, acl.OpDescribeConfigs, int8(res.ResourceType), res.ResourceName)
		})
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Resources = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.DescribeConfigsResponse)
			for _, res := range denied {
				sr := kmsg.NewDescribeConfigsResponseResource()
				sr.ResourceType, sr.ResourceName, sr.ErrorCode = res.ResourceType, res.ResourceName, configDeniedCode(int8(res.ResourceType))
				out.Resources = append(out.Resources, sr)
			}
		}
	case *kmsg.AlterConfigsRequest:
		keep, denied := split(r.Resources, func(res kmsg.AlterConfigsRequestResource) bool {
			return b.configResourceAllowed(ctx, c, acls, acl.OpAlterConfigs, int8(res.ResourceType), res.ResourceName)
		})
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Resources = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.AlterConfigsResponse)
			for _, res := range denied {
				sr := kmsg.NewAlterConfigsResponseResource()
				sr.ResourceType, sr.ResourceName, sr.ErrorCode = res.ResourceType, res.ResourceName, configDeniedCode(int8(res.ResourceType))
				out.Resources = append(out.Resources, sr)
			}
		}
	case *kmsg.IncrementalAlterConfigsRequest:
		keep, denied := split(r.Resources, func(res kmsg.IncrementalAlterConfigsRequestResource) bool {
			return b.configResourceAllowed(ctx, c, acls, acl.OpAlterConfigs, int8(res.ResourceType), res.ResourceName)
		})
		if len(denied) == 0 {
			return nil, req, nil
		}
		r2 := *r
		r2.Resources = keep
		return nil, &r2, func(resp kmsg.Response) {
			out := resp.(*kmsg.IncrementalAlterConfigsResponse)
			for _, res := range denied {
				sr := kmsg.NewIncrementalAlterConfigsResponseResource()
				sr.ResourceType, sr.ResourceName, sr.ErrorCode = res.ResourceType, res.ResourceName, configDeniedCode(int8(res.ResourceType))
				out.Resources = append(out.Resources, sr)
			}
		}
	case *kmsg.ElectLeadersRequest:
		if !cluster(acl.OpAlter) {
			resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
			resp.ErrorCode = clusterDenied
			for _, t := range r.Topics {
				st := kmsg.NewElectLeadersResponseTopic()
				st.Topic = t.Topic
				for _, p := range t.Partitions {
					sp := kmsg.NewElectLeadersResponseTopicPartition()
					sp.Partition, sp.ErrorCode = p, clusterDenied
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, nil
		}
	case *kmsg.AlterPartitionAssignmentsRequest:
		if !cluster(acl.OpAlter) {
			resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
			resp.ErrorCode = clusterDenied
			return resp, nil, nil
		}
	case *kmsg.ListPartitionReassignmentsRequest:
		if !cluster(acl.OpDescribe) {
			resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
			resp.ErrorCode = clusterDenied
			return resp, nil, nil
		}
	case *kmsg.AlterReplicaLogDirsRequest:
		if !cluster(acl.OpAlter) {
			resp := r.ResponseKind().(*kmsg.AlterReplicaLogDirsResponse)
			for _, d := range r.Dirs {
				for _, t := range d.Topics {
					st := kmsg.NewAlterReplicaLogDirsResponseTopic()
					st.Topic = t.Topic
					for _, p := range t.Partitions {
						sp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
						sp.Partition, sp.ErrorCode = p, clusterDenied
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
			}
			return resp, nil, nil
		}
	case *kmsg.DescribeQuorumRequest:
		if !cluster(acl.OpDescribe) {
			resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
			resp.ErrorCode = clusterDenied
			return resp, nil, nil
		}
	case *kmsg.AddRaftVoterRequest:
		if !cluster(acl.OpAlter) {
			resp := r.ResponseKind().(*kmsg.AddRaftVoterResponse)
			resp.ErrorCode = clusterDenied
			return resp, nil, nil
		}
	case *kmsg.RemoveRaftVoterRequest:
		if !cluster(acl.OpAlter) {
			resp := r.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
			resp.ErrorCode = clusterDenied
			return resp, nil, nil
		}
	case *kmsg.UnregisterBrokerRequest:
		if !cluster(acl.OpAlter) {
			resp := r.ResponseKind().(*kmsg.UnregisterBrokerResponse)
			resp.ErrorCode = clusterDenied
			return resp, nil, nil
		}
	case *kmsg.DescribeLogDirsRequest:
		if !cluster(acl.OpDescribe) {
			resp := r.ResponseKind().(*kmsg.DescribeLogDirsResponse)
			resp.ErrorCode = clusterDenied
			return resp, nil, nil
		}
	case *kmsg.DescribeUserSCRAMCredentialsRequest:
		if !cluster(acl.OpDescribe) {
			resp := r.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
			resp.ErrorCode = clusterDenied
			return resp, nil, nil
		}
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		if !cluster(acl.OpAlter) {
			resp := r.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
			seen := map[string]bool{}
			add := func(user string) {
				if seen[user] {
					return
				}
				seen[user] = true
				sr := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
				sr.User, sr.ErrorCode = user, clusterDenied
				resp.Results = append(resp.Results, sr)
			}
			for _, d := range r.Deletions {
				add(d.Name)
			}
			for _, u := range r.Upsertions {
				add(u.Name)
			}
			return resp, nil, nil
		}
	case *kmsg.DescribeClientQuotasRequest: // quotas.go
		if !cluster(acl.OpDescribeConfigs) {
			resp := r.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
			resp.ErrorCode = clusterDenied
			return resp, nil, nil
		}
	case *kmsg.AlterClientQuotasRequest:
		if !cluster(acl.OpAlterConfigs) {
			resp := r.ResponseKind().(*kmsg.AlterClientQuotasResponse)
			for _, e := range r.Entries {
				re := kmsg.NewAlterClientQuotasResponseEntry()
				re.ErrorCode = clusterDenied
				for _, c := range e.Entity {
					re.Entity = append(re.Entity, kmsg.AlterClientQuotasResponseEntryEntity{Type: c.Type, Name: c.Name})
				}
				resp.Entries = append(resp.Entries, re)
			}
			return resp, nil, nil
		}
	}
	return nil, req, nil
}

// hideGroupsWithDeniedTopics replaces each described group whose members'
// assignment or target assignment names a topic c may not DESCRIBE with
// TOPIC_AUTHORIZATION_FAILED and no details, as Kafka does (KAFKA-18813):
// the answer would otherwise show the topic's name and partitions. Each
// distinct topic is checked once; a topic the coordinator no longer
// knows has no name and nothing to hide.
func (b *Broker) hideGroupsWithDeniedTopics(ctx context.Context, c *Client, acls *acl.Set, out *kmsg.ConsumerGroupDescribeResponse) {
	describable := map[string]bool{}
	deniedIn := func(a kmsg.Assignment) bool {
		for _, tp := range a.TopicPartitions {
			if tp.Topic == "" {
				continue
			}
			ok, seen := describable[tp.Topic]
			if !seen {
				ok = b.allowed(ctx, c, acls, acl.OpDescribe, acl.ResourceTopic, tp.Topic)
				describable[tp.Topic] = ok
			}
			if !ok {
				return true
			}
		}
		return false
	}
	for i, g := range out.Groups {
		if g.ErrorCode != 0 {
			continue
		}
		hide := false
		for _, m := range g.Members {
			if deniedIn(m.Assignment) || deniedIn(m.TargetAssignment) {
				hide = true
				break
			}
		}
		if hide {
			sg := kmsg.NewConsumerGroupDescribeResponseGroup()
			sg.Group, sg.ErrorCode = g.Group, kerr.TopicAuthorizationFailed.Code
			sg.ErrorMessage = kmsg.StringPtr("The described group uses topics that the client is not authorized to describe.")
			out.Groups[i] = sg
		}
	}
}

// configResourceAllowed checks a DescribeConfigs / AlterConfigs resource:
// a topic by name, a broker (or broker logger) on the cluster.
func (b *Broker) configResourceAllowed(ctx context.Context, c *Client, acls *acl.Set, op acl.Operation, typ int8, name string) bool {
	switch typ {
	case 2:
		return b.allowed(ctx, c, acls, op, acl.ResourceTopic, name)
	case 4, 8:
		return b.clusterAllowed(ctx, c, acls, op)
	}
	return true // the handler refuses unknown resource types
}

func configDeniedCode(typ int8) int16 {
	if typ == 2 {
		return kerr.TopicAuthorizationFailed.Code
	}
	return kerr.ClusterAuthorizationFailed.Code
}
