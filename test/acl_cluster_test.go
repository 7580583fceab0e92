package test

import (
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterACLsSurviveKill: ACLs are cluster metadata. Every broker
// answers DescribeAcls from its own replica of the metadata; a broker
// killed with SIGKILL comes back with the ACLs it had and the ones created
// while it was down.
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
	c := startCluster(t, 3, settings)
	c.waitBrokers(3, 30*time.Second)
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
		cl := c.client()
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
		deadline := time.Now().Add(30 * time.Second)
		for count(id) != want {
			if time.Now().After(deadline) {
				t.Fatalf("broker %d holds %d ACLs, want %d", id, count(id), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for id := int32(1); id <= 3; id++ {
		waitCount(id, 3)
	}

	victim := c.node(3)
	victim.kill(syscall.SIGKILL)
	create(c.admin(), kadm.NewACLs().Allow("User:carol").AllowHosts().Groups("billing").Operations(kadm.OpRead))
	victim.restart()
	waitCount(3, 4)
	waitCount(1, 4)
}
