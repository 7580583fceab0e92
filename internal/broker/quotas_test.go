package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/quota"
)

// KIP-546 entity rules, as Kafka's ClientQuotaControlManager checks them.
func TestQuotaEntityValidation(t *testing.T) {
	name := func(s string) *string { return &s }
	for _, c := range []struct {
		types []string
		names []*string
		ok    bool
	}{
		{[]string{"user"}, []*string{name("alice")}, true},
		{[]string{"user", "client-id"}, []*string{name("alice"), nil}, true},
		{[]string{"ip"}, []*string{name("10.0.0.1")}, true},
		{[]string{"ip", "user"}, []*string{nil, name("alice")}, false},
		{[]string{"user", "user"}, []*string{name("a"), name("b")}, false},
		{[]string{"group"}, []*string{name("g")}, false},
		{nil, nil, false},
	} {
		_, err := quotaEntity(c.types, c.names)
		if (err == nil) != c.ok {
			t.Errorf("%v: %v, want ok=%v", c.types, err, c.ok)
		}
		if err != nil && errorCode(err) != kerr.InvalidRequest.Code {
			t.Errorf("%v: code %d, want INVALID_REQUEST", c.types, errorCode(err))
		}
	}
}

// DescribeClientQuotas filters: exact name, default, any; strict keeps
// only entities of exactly the filtered types.
func TestQuotaFilterMatches(t *testing.T) {
	alice := quota.Named("alice")
	userOnly := quota.Entity{User: alice}
	userClient := quota.Entity{User: alice, ClientID: quota.DefaultPart}
	defUser := quota.Entity{User: quota.DefaultPart}
	req := func(strict bool, comps ...kmsg.DescribeClientQuotasRequestComponent) *kmsg.DescribeClientQuotasRequest {
		return &kmsg.DescribeClientQuotasRequest{Strict: strict, Components: comps}
	}
	exact := kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: kmsg.QuotasMatchTypeExact, Match: kmsg.StringPtr("alice")}
	def := kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: kmsg.QuotasMatchTypeDefault}
	anyUser := kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: kmsg.QuotasMatchTypeAny}
	for _, c := range []struct {
		req  *kmsg.DescribeClientQuotasRequest
		e    quota.Entity
		want bool
	}{
		{req(false, exact), userOnly, true},
		{req(false, exact), userClient, true},
		{req(true, exact), userClient, false},
		{req(false, exact), defUser, false},
		{req(false, def), defUser, true},
		{req(false, anyUser), defUser, true},
		{req(false, anyUser), quota.Entity{ClientID: alice}, false},
		{req(false), quota.Entity{ClientID: alice}, true},
	} {
		if got := quotaFilterMatches(c.req, c.e); got != c.want {
			t.Errorf("filter %+v strict=%v on %+v: %v, want %v", c.req.Components, c.req.Strict, c.e, got, c.want)
		}
	}
}

// Requests brokers send each other escape quotas only from a principal
// allowed CLUSTER_ACTION: a client claiming a replica ID in its Fetch is
// throttled as any other.
func TestQuotaExemptionNeedsClusterAction(t *testing.T) {
	b, acls, _ := authzBroker(t, allowACL(acl.ResourceCluster, acl.ClusterName, "User:alice", acl.OpClusterAction))
	img := &cluster.Image{ACLs: acls}
	follower := kmsg.NewPtrFetchRequest()
	follower.ReplicaID = 2
	markers := kmsg.NewPtrWriteTxnMarkersRequest()
	consumer := kmsg.NewPtrFetchRequest()
	consumer.ReplicaID = -1
	for _, tc := range []struct {
		name string
		c    *Client
		req  kmsg.Request
		want bool
	}{
		{"ApiVersions from anyone", bob, kmsg.NewPtrApiVersionsRequest(), true},
		{"a follower's fetch from a broker principal", alice, follower, true},
		{"markers from a broker principal", alice, markers, true},
		{"a follower's fetch from a client", bob, follower, false},
		{"markers from a client", bob, markers, false},
		{"a consumer's fetch", alice, consumer, false},
	} {
		if got := b.exemptFromQuotas(img, tc.c, tc.req); got != tc.want {
			t.Errorf("%s: exempt %v, want %v", tc.name, got, tc.want)
		}
	}
	open := &Broker{}
	if !open.exemptFromQuotas(img, bob, follower) {
		t.Error("without an authorizer a follower's fetch is not exempt")
	}
}
