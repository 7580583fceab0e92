package test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// With the authorizer on, DescribeClientQuotas needs DESCRIBE_CONFIGS and
// AlterClientQuotas ALTER_CONFIGS on the cluster, as in Kafka; a quota
// set beforehand survives the restarts.
func TestClientQuotaAPIsNeedClusterConfigACLs(t *testing.T) {
	t.Parallel()
	b := aclBroker(t, kadm.NewACLs().Allow(anonymous).AllowHosts().Clusters().Operations(kadm.OpDescribeConfigs))
	ctx := testContext(t, 20*time.Second)
	adm := b.admin()
	name := "app"
	entity := kadm.ClientQuotaEntity{{Type: "client-id", Name: &name}}
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1000}}}})
	if err != nil || len(res) != 1 {
		t.Fatalf("alter client quotas: %v %+v", err, res)
	}
	if !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alter without ALTER_CONFIGS on the cluster: %v, want CLUSTER_AUTHORIZATION_FAILED", res[0].Err)
	}
	if qs, err := adm.DescribeClientQuotas(ctx, false, nil); err != nil || len(qs) != 0 {
		t.Fatalf("describe with DESCRIBE_CONFIGS: %v %+v, want no quotas", err, qs)
	}

	// ALTER_CONFIGS implies DESCRIBE_CONFIGS; granted by a super user.
	b.cfg.Settings["super.users"] = anonymous
	b.restart()
	if r, err := b.admin().CreateACLs(ctx, kadm.NewACLs().Allow(anonymous).AllowHosts().Clusters().Operations(kadm.OpAlterConfigs)); err != nil || r[0].Err != nil {
		t.Fatalf("create ACL: %v %+v", err, r)
	}
	delete(b.cfg.Settings, "super.users")
	b.restart()
	adm = b.admin()
	res, err = adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1000}}}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter with ALTER_CONFIGS: %v %+v", err, res)
	}
	qs, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchName: &name}})
	if err != nil || len(qs) != 1 || qs[0].Values[0].Value != 1000 {
		t.Fatalf("describe: %v %+v", err, qs)
	}
}
