package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterACLsSurviveKill: ACLs are cluster metadata. Every broker
// answers DescribeAcls from its own replica of the metadata; a broker
// killed (SIGKILL; in-process, a power cut) comes back with the ACLs it
// had and the ones created while it was down.
func TestClusterACLsSurviveKill(t *testing.T) {
	t.Parallel()
	settings := map[string]string{
		"authorizer.class.name": "acl",
		// Brokers reach each other over PLAINTEXT as User:ANONYMOUS.
		"super.users": "User:ANONYMOUS",
	}
	for k, v := range fastFailover {
		settings[k] = v
	}
	forEachKind(t, 3, settings, func(t *testing.T, c cluster) { aclsSurviveKill(t, c) })
}

func aclsSurviveKill(t *testing.T, c cluster) {
	waitBrokersIn(c, 3, 30*time.Second)
	ctx := testContext(t, 60*time.Second)
	adm := c.admin()
	create := func(adm *kadm.Client, b *kadm.ACLBuilder) {
		t.Helper()
		res, err := adm.CreateACLs(ctx, b)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			t.Fatalf("create ACLs: %v", err)
		}
	}
	create(adm, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpRead, kadm.OpWrite))
	create(adm, kadm.NewACLs().Deny("User:bob").DenyHosts().Topics("pay-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpAll))

	// count asks one broker, by ID, how many ACLs it holds.
	count := func(id int32) int {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...))
		if err != nil {
			return -1
		}
		defer cl.Close()
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		resp, err := cl.Broker(int(id)).Request(ctx, req)
		if err != nil {
			return -1
		}
		r := resp.(*kmsg.DescribeACLsResponse)
		if r.ErrorCode != 0 {
			return -1
		}
		n := 0
		for _, res := range r.Resources {
			n += len(res.ACLs)
		}
		return n
	}
	waitCount := func(id int32, want int) {
		t.Helper()
		waitForErr(t, 30*time.Second, fmt.Sprintf("%d ACLs on broker %d", want, id), func() error {
			if got := count(id); got != want {
				return fmt.Errorf("it holds %d", got)
			}
			return nil
		})
	}
	for id := int32(1); id <= 3; id++ {
		waitCount(id, 3)
	}

	c.kill(3)
	create(c.admin(), kadm.NewACLs().Allow("User:carol").AllowHosts().Groups("billing").Operations(kadm.OpRead))
	c.start(3)
	waitCount(3, 4)
	waitCount(1, 4)

	// DeleteAcls sent to a broker that is not the controller is forwarded
	// to it; the answer lists what the filter matched there.
	md, err := c.admin().BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	via := int32(1)
	if md.Controller == via {
		via = 2
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	f.Principal = kmsg.StringPtr("User:carol")
	req.Filters = append(req.Filters, f)
	resp, err := c.client().Broker(int(via)).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r := resp.(*kmsg.DeleteACLsResponse).Results[0]
	if r.ErrorCode != 0 || len(r.MatchingACLs) != 1 || r.MatchingACLs[0].ResourceName != "billing" {
		t.Fatalf("DeleteAcls through broker %d (controller %d): %+v", via, md.Controller, r)
	}
	for id := int32(1); id <= 3; id++ {
		waitCount(id, 3)
	}
}
