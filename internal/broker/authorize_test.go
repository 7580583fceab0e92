package broker

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/auth"
)

// authzBroker is a broker with only an authorizer, enough for the checks
// of authorize.go that need no metadata, and the audit log's output.
func authzBroker(t *testing.T, bindings ...acl.Binding) (*Broker, *acl.Set, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	b := &Broker{authz: &authz{acl: acl.NewAuthorizer(acl.Config{SuperUsers: "User:admin"}), audit: auth.NewAudit(logger, 1000)}}
	for _, x := range bindings {
		if err := x.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := (*acl.Set)(nil).Add(bindings)
	return b, s, &out
}

func allowACL(rt acl.ResourceType, name, principal string, op acl.Operation) acl.Binding {
	return acl.Binding{ResourceType: rt, ResourceName: name, PatternType: acl.PatternLiteral, Principal: principal, Host: "*", Operation: op, Permission: acl.Allow}
}

var (
	alice = &Client{Principal: "User:alice", Host: "10.1.2.3", Listener: "SASL_SSL"}
	bob   = &Client{Principal: "User:bob", Host: "10.9.9.9", Listener: "SASL_SSL"}
	admin = &Client{Principal: "User:admin", Host: "10.0.0.1", Listener: "SASL_SSL"}
)

// TestAuthorizeRequestDenials checks, with principals set on the client
// directly, that each API family answers a denied principal with Kafka's
// code before its handler runs, and lets an allowed one through.
func TestAuthorizeRequestDenials(t *testing.T) {
	b, acls, _ := authzBroker(t,
		allowACL(acl.ResourceGroup, "g", "User:alice", acl.OpRead),
		allowACL(acl.ResourceTransactionalID, "tx", "User:alice", acl.OpWrite),
		allowACL(acl.ResourceTopic, "t", "User:alice", acl.OpWrite),
		allowACL(acl.ResourceCluster, acl.ClusterName, "User:alice", acl.OpAlter),
		allowACL(acl.ResourceCluster, acl.ClusterName, "User:alice", acl.OpClusterAction),
	)
	ctx := context.Background()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = "g"
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group = "g"
	initTxn := kmsg.NewPtrInitProducerIDRequest()
	initTxn.TransactionalID = kmsg.StringPtr("tx")
	initIdem := kmsg.NewPtrInitProducerIDRequest()
	endTxn := kmsg.NewPtrEndTxnRequest()
	endTxn.TransactionalID = "tx"
	addOffsets := kmsg.NewPtrAddOffsetsToTxnRequest()
	addOffsets.TransactionalID, addOffsets.Group = "tx", "g"
	elect := kmsg.NewPtrElectLeadersRequest()
	elect.Version = 2
	markers := kmsg.NewPtrWriteTxnMarkersRequest()
	markers.Markers = []kmsg.WriteTxnMarkersRequestMarker{{ProducerID: 7, Topics: []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: "t", Partitions: []int32{0}}}}}
	scram := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	scram.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "carol", Mechanism: 1}}
	cgh := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	cgh.Group, cgh.SubscribedTopicNames = "g", []string{"other"}
	verify := kmsg.NewPtrAddPartitionsToTxnRequest()
	verify.Version = 4
	unregister := kmsg.NewPtrUnregisterBrokerRequest()
	unregister.BrokerID = 3

	code := func(resp kmsg.Response) int16 {
		switch r := resp.(type) {
		case *kmsg.JoinGroupResponse:
			return r.ErrorCode
		case *kmsg.HeartbeatResponse:
			return r.ErrorCode
		case *kmsg.InitProducerIDResponse:
			return r.ErrorCode
		case *kmsg.EndTxnResponse:
			return r.ErrorCode
		case *kmsg.AddOffsetsToTxnResponse:
			return r.ErrorCode
		case *kmsg.ElectLeadersResponse:
			return r.ErrorCode
		case *kmsg.WriteTxnMarkersResponse:
			return r.Markers[0].Topics[0].Partitions[0].ErrorCode
		case *kmsg.AlterUserSCRAMCredentialsResponse:
			return r.Results[0].ErrorCode
		case *kmsg.ConsumerGroupHeartbeatResponse:
			return r.ErrorCode
		case *kmsg.AddPartitionsToTxnResponse:
			return r.ErrorCode
		case *kmsg.UnregisterBrokerResponse:
			return r.ErrorCode
		}
		t.Fatalf("unexpected response %T", resp)
		return 0
	}
	for _, tt := range []struct {
		name string
		req  kmsg.Request
		want *kerr.Error
	}{
		{"JoinGroup", join, kerr.GroupAuthorizationFailed},
		{"Heartbeat", hb, kerr.GroupAuthorizationFailed},
		{"InitProducerId transactional", initTxn, kerr.TransactionalIDAuthorizationFailed},
		{"InitProducerId idempotent", initIdem, kerr.ClusterAuthorizationFailed},
		{"EndTxn", endTxn, kerr.TransactionalIDAuthorizationFailed},
		{"AddOffsetsToTxn", addOffsets, kerr.TransactionalIDAuthorizationFailed},
		{"ElectLeaders", elect, kerr.ClusterAuthorizationFailed},
		{"WriteTxnMarkers", markers, kerr.ClusterAuthorizationFailed},
		{"AlterUserScramCredentials", scram, kerr.ClusterAuthorizationFailed},
		{"AddPartitionsToTxn v4 (brokers)", verify, kerr.ClusterAuthorizationFailed},
		{"UnregisterBroker (ALTER on the cluster)", unregister, kerr.ClusterAuthorizationFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			deny, next, _ := b.authorizeRequestWith(ctx, bob, acls, tt.req)
			if deny == nil || next != nil {
				t.Fatalf("bob: not denied")
			}
			if got := code(deny); got != tt.want.Code {
				t.Fatalf("bob: code %d, want %s", got, tt.want.Message)
			}
			for _, c := range []*Client{alice, admin} {
				if deny, next, _ := b.authorizeRequestWith(ctx, c, acls, tt.req); deny != nil || next != tt.req {
					t.Fatalf("%s: denied with %+v", c.Principal, deny)
				}
			}
		})
	}
	// KIP-848: READ on the group, DESCRIBE on every subscribed topic.
	deny, _, _ := b.authorizeRequestWith(ctx, alice, acls, cgh)
	if deny == nil || code(deny) != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("ConsumerGroupHeartbeat subscribing to an undescribable topic: %+v", deny)
	}
}

// TestAuthorizeRequestFiltersAndMerges: the denied part of a request is
// taken out before the handler and answered in its response.
func TestAuthorizeRequestFiltersAndMerges(t *testing.T) {
	b, acls, _ := authzBroker(t,
		allowACL(acl.ResourceGroup, "g", "User:alice", acl.OpRead),
		allowACL(acl.ResourceGroup, "g2", "User:alice", acl.OpDescribe),
		allowACL(acl.ResourceTopic, "t", "User:alice", acl.OpRead),
	)
	ctx := context.Background()

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group = "g"
	for _, topic := range []string{"t", "secret"} {
		commit.Topics = append(commit.Topics, kmsg.OffsetCommitRequestTopic{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}})
	}
	deny, next, merge := b.authorizeRequestWith(ctx, alice, acls, commit)
	if deny != nil {
		t.Fatal("OffsetCommit denied")
	}
	if n := next.(*kmsg.OffsetCommitRequest); len(n.Topics) != 1 || n.Topics[0].Topic != "t" || len(commit.Topics) != 2 {
		t.Fatalf("handler gets %+v (original %d topics)", n.Topics, len(commit.Topics))
	}
	resp := commit.ResponseKind().(*kmsg.OffsetCommitResponse)
	merge(resp)
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != "secret" || resp.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("merged response %+v", resp.Topics)
	}

	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.Groups, describe.IncludeAuthorizedOperations = []string{"g2", "hidden"}, true
	_, next, merge = b.authorizeRequestWith(ctx, alice, acls, describe)
	if n := next.(*kmsg.DescribeGroupsRequest); len(n.Groups) != 1 || n.Groups[0] != "g2" {
		t.Fatalf("DescribeGroups handler gets %v", n.Groups)
	}
	dresp := describe.ResponseKind().(*kmsg.DescribeGroupsResponse)
	dresp.Groups = []kmsg.DescribeGroupsResponseGroup{{Group: "g2"}}
	merge(dresp)
	if len(dresp.Groups) != 2 || dresp.Groups[0].AuthorizedOperations != 1<<acl.OpDescribe || dresp.Groups[1].ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("DescribeGroups answer %+v", dresp.Groups)
	}

	list := kmsg.NewPtrListGroupsRequest()
	_, next, merge = b.authorizeRequestWith(ctx, alice, acls, list)
	lresp := list.ResponseKind().(*kmsg.ListGroupsResponse)
	lresp.Groups = []kmsg.ListGroupsResponseGroup{{Group: "g"}, {Group: "hidden"}, {Group: "g2"}}
	merge(lresp)
	if len(lresp.Groups) != 2 || lresp.Groups[0].Group != "g" || lresp.Groups[1].Group != "g2" || next != list {
		t.Fatalf("ListGroups answer %+v", lresp.Groups)
	}

	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version, add.TransactionalID = 3, "tx"
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	b2, acls2, _ := authzBroker(t,
		allowACL(acl.ResourceTransactionalID, "tx", "User:alice", acl.OpWrite),
		allowACL(acl.ResourceTopic, "t", "User:alice", acl.OpWrite),
	)
	add.Topics = append(add.Topics, kmsg.AddPartitionsToTxnRequestTopic{Topic: "u", Partitions: []int32{0}})
	deny, _, _ = b2.authorizeRequestWith(ctx, alice, acls2, add)
	aresp, _ := deny.(*kmsg.AddPartitionsToTxnResponse)
	if aresp == nil || aresp.Topics[0].Partitions[0].ErrorCode != kerr.OperationNotAttempted.Code || aresp.Topics[1].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("AddPartitionsToTxn with one denied topic: %+v", deny)
	}
}

// TestDenialIsAudited: one INFO line per denial naming the principal, the
// operation, the resource and the client's host.
func TestDenialIsAudited(t *testing.T) {
	b, acls, out := authzBroker(t)
	if b.allowed(context.Background(), bob, acls, acl.OpWrite, acl.ResourceTopic, "payments") {
		t.Fatal("allowed without ACLs")
	}
	if !b.allowed(context.Background(), admin, acls, acl.OpWrite, acl.ResourceTopic, "payments") {
		t.Fatal("super user denied")
	}
	line := out.String()
	for _, want := range []string{"level=INFO", "authorization denied", "principal=User:bob", "operation=WRITE", "resource_type=TOPIC", "resource=payments", "client_host=10.9.9.9"} {
		if !strings.Contains(line, want) {
			t.Errorf("audit line %q lacks %q", line, want)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("want one audit line, got %q", line)
	}
}

// TestNoAuthorizerAllowsEverything: without authorizer.class.name the
// checks cost a nil test and allow all, and KIP-430 reports every
// operation, as Kafka does.
func TestNoAuthorizerAllowsEverything(t *testing.T) {
	b := &Broker{}
	if !b.allowed(context.Background(), bob, nil, acl.OpAlter, acl.ResourceCluster, acl.ClusterName) {
		t.Fatal("denied without an authorizer")
	}
	if got := b.authorizedOperations(bob, nil, acl.ResourceGroup, "g"); got != 1<<acl.OpRead|1<<acl.OpDescribe|1<<acl.OpDelete|1<<acl.OpDescribeConfigs|1<<acl.OpAlterConfigs {
		t.Fatalf("authorized operations %b", got)
	}
	allocs := testing.AllocsPerRun(100, func() { b.allowed(context.Background(), bob, nil, acl.OpWrite, acl.ResourceTopic, "t") })
	if allocs != 0 {
		t.Fatalf("%v allocations per check", allocs)
	}
}

// TestAuthorizeRequestGroupsOfOffsetFetchAndCoordinators: OffsetFetch v8+
// per group and per topic; FindCoordinator v4+ per key.
func TestAuthorizeRequestGroupsOfOffsetFetchAndCoordinators(t *testing.T) {
	b, acls, _ := authzBroker(t,
		allowACL(acl.ResourceGroup, "g", "User:alice", acl.OpDescribe),
		allowACL(acl.ResourceTopic, "t", "User:alice", acl.OpRead),
		allowACL(acl.ResourceTransactionalID, "tx", "User:alice", acl.OpDescribe),
	)
	ctx := context.Background()
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 8
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{
		{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}, {Topic: "u", Partitions: []int32{0}}}},
		{Group: "h"},
	}
	_, next, merge := b.authorizeRequestWith(ctx, alice, acls, fetch)
	n := next.(*kmsg.OffsetFetchRequest)
	if len(n.Groups) != 1 || len(n.Groups[0].Topics) != 1 || n.Groups[0].Topics[0].Topic != "t" || len(fetch.Groups[0].Topics) != 2 {
		t.Fatalf("OffsetFetch handler gets %+v", n.Groups)
	}
	resp := fetch.ResponseKind().(*kmsg.OffsetFetchResponse)
	resp.Groups = []kmsg.OffsetFetchResponseGroup{{Group: "g", Topics: []kmsg.OffsetFetchResponseGroupTopic{{Topic: "t"}}}}
	merge(resp)
	if len(resp.Groups) != 2 || len(resp.Groups[0].Topics) != 2 || resp.Groups[0].Topics[1].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code ||
		resp.Groups[1].Group != "h" || resp.Groups[1].ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("OffsetFetch answer %+v", resp.Groups)
	}

	find := kmsg.NewPtrFindCoordinatorRequest()
	find.Version, find.CoordinatorType, find.CoordinatorKeys = 4, 1, []string{"tx", "other"}
	_, next, merge = b.authorizeRequestWith(ctx, alice, acls, find)
	if keys := next.(*kmsg.FindCoordinatorRequest).CoordinatorKeys; len(keys) != 1 || keys[0] != "tx" {
		t.Fatalf("FindCoordinator handler gets %v", keys)
	}
	fresp := find.ResponseKind().(*kmsg.FindCoordinatorResponse)
	merge(fresp)
	if len(fresp.Coordinators) != 1 || fresp.Coordinators[0].Key != "other" || fresp.Coordinators[0].ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("FindCoordinator answer %+v", fresp.Coordinators)
	}

	cfg := kmsg.NewPtrDescribeConfigsRequest()
	cfg.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"}, {ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t"}}
	_, next, merge = b.authorizeRequestWith(ctx, alice, acls, cfg)
	if res := next.(*kmsg.DescribeConfigsRequest).Resources; len(res) != 0 {
		t.Fatalf("DescribeConfigs handler gets %+v (READ does not imply DESCRIBE_CONFIGS)", res)
	}
	cresp := cfg.ResponseKind().(*kmsg.DescribeConfigsResponse)
	merge(cresp)
	if len(cresp.Resources) != 2 || cresp.Resources[0].ErrorCode != kerr.ClusterAuthorizationFailed.Code || cresp.Resources[1].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("DescribeConfigs answer %+v", cresp.Resources)
	}
}

// TestConsumerGroupDescribeHidesGroupsWithDeniedTopics: KAFKA-18813. A
// described group whose members' assignment or target assignment names a
// topic the caller may not DESCRIBE is answered TOPIC_AUTHORIZATION_FAILED
// with no details; the other groups are answered in full.
func TestConsumerGroupDescribeHidesGroupsWithDeniedTopics(t *testing.T) {
	b, acls, out := authzBroker(t,
		allowACL(acl.ResourceGroup, "*", "User:alice", acl.OpDescribe),
		allowACL(acl.ResourceTopic, "public", "User:alice", acl.OpRead),
	)
	assigned := func(topics ...string) kmsg.Assignment {
		var a kmsg.Assignment
		for _, tp := range topics {
			a.TopicPartitions = append(a.TopicPartitions, kmsg.AssignmentTopicPartition{Topic: tp, Partitions: []int32{0}})
		}
		return a
	}
	member := func(current, target []string) kmsg.ConsumerGroupDescribeResponseGroupMember {
		m := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		m.MemberID, m.SubscribedTopics = "m", []string{"public"}
		m.Assignment, m.TargetAssignment = assigned(current...), assigned(target...)
		return m
	}
	group := func(name string, members ...kmsg.ConsumerGroupDescribeResponseGroupMember) kmsg.ConsumerGroupDescribeResponseGroup {
		g := kmsg.NewConsumerGroupDescribeResponseGroup()
		g.Group, g.State, g.Epoch, g.Members = name, "Stable", 3, members
		return g
	}

	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups, req.IncludeAuthorizedOperations = []string{"open", "assigned-secret", "target-secret", "gone"}, true
	deny, next, merge := b.authorizeRequestWith(context.Background(), alice, acls, req)
	if deny != nil || len(next.(*kmsg.ConsumerGroupDescribeRequest).Groups) != 4 {
		t.Fatalf("ConsumerGroupDescribe: deny %v, handler gets %v", deny, next)
	}
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	gone := kmsg.NewConsumerGroupDescribeResponseGroup()
	gone.Group, gone.ErrorCode = "gone", kerr.GroupIDNotFound.Code
	resp.Groups = []kmsg.ConsumerGroupDescribeResponseGroup{
		group("open", member([]string{"public"}, []string{"public", ""})),
		group("assigned-secret", member([]string{"public"}, []string{"public"}), member([]string{"secret"}, nil)),
		group("target-secret", member(nil, []string{"public", "secret"})),
		gone,
	}
	merge(resp)

	if len(resp.Groups) != 4 {
		t.Fatalf("answer has %d groups", len(resp.Groups))
	}
	if g := resp.Groups[0]; g.Group != "open" || g.ErrorCode != 0 || len(g.Members) != 1 || g.AuthorizedOperations != 1<<acl.OpDescribe {
		t.Fatalf("allowed group answered %+v", g)
	}
	for _, g := range resp.Groups[1:3] {
		if g.ErrorCode != kerr.TopicAuthorizationFailed.Code || g.ErrorMessage == nil ||
			*g.ErrorMessage != "The described group uses topics that the client is not authorized to describe." ||
			len(g.Members) != 0 || g.State != "" || g.Epoch != 0 || g.AuthorizedOperations != math.MinInt32 {
			t.Fatalf("group %s with a denied topic answered %+v", g.Group, g)
		}
	}
	if g := resp.Groups[3]; g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("missing group answered %+v", g)
	}
	// One audit line for the denied topic, however many groups use it.
	if n := strings.Count(out.String(), "resource=secret"); n != 1 {
		t.Fatalf("%d audit lines for the denied topic:\n%s", n, out.String())
	}
}

// TestIdempotentInitProducerIDAllowEveryoneIfNoACL: KIP-679 with
// allow.everyone.if.no.acl.found. A producer with no IDEMPOTENT_WRITE
// and no topic ACL of its own, in a cluster whose ACLs name other
// resources only, may write ACL-free topics, so it may be idempotent.
func TestIdempotentInitProducerIDAllowEveryoneIfNoACL(t *testing.T) {
	b := &Broker{authz: &authz{
		acl:   acl.NewAuthorizer(acl.Config{SuperUsers: "User:admin", AllowIfNoACL: true}),
		audit: auth.NewAudit(slog.New(slog.DiscardHandler), 1000),
	}}
	acls, _ := (*acl.Set)(nil).Add([]acl.Binding{
		allowACL(acl.ResourceCluster, acl.ClusterName, "User:admin", acl.OpAlter),
		allowACL(acl.ResourceTopic, "payments", "User:bob", acl.OpWrite),
	})
	deny, next, _ := b.authorizeRequestWith(context.Background(), alice, acls, kmsg.NewPtrInitProducerIDRequest())
	if deny != nil || next == nil {
		t.Fatalf("idempotent InitProducerId denied: %+v", deny)
	}
}

// TestClusterAuthorizedOperationsNeedDescribe: KIP-430 as Kafka answers
// it in Metadata and DescribeCluster. A principal without DESCRIBE on the
// cluster gets 0, not the operations it has there.
func TestClusterAuthorizedOperationsNeedDescribe(t *testing.T) {
	b, acls, _ := authzBroker(t,
		allowACL(acl.ResourceCluster, acl.ClusterName, "User:alice", acl.OpClusterAction),
		allowACL(acl.ResourceCluster, acl.ClusterName, "User:alice", acl.OpIdempotentWrite),
		allowACL(acl.ResourceCluster, acl.ClusterName, "User:bob", acl.OpDescribe),
		allowACL(acl.ResourceCluster, acl.ClusterName, "User:bob", acl.OpIdempotentWrite),
	)
	if got := b.authorizedOperations(alice, acls, acl.ResourceCluster, acl.ClusterName); got != 0 {
		t.Fatalf("without DESCRIBE on the cluster: operations %b, want 0", got)
	}
	if got, want := b.authorizedOperations(bob, acls, acl.ResourceCluster, acl.ClusterName), int32(1<<acl.OpDescribe|1<<acl.OpIdempotentWrite); got != want {
		t.Fatalf("with DESCRIBE on the cluster: operations %b, want %b", got, want)
	}
}
