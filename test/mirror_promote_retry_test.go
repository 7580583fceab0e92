package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// A promotion whose abort of the source's open transactions fails (here
// the caller may not write transaction markers) leaves the topic
// promoted and says how to finish; promoting it again aborts them.
func TestMirrorPromoteAbortIsRetried(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	acls := kadm.NewACLs().Allow(anonymous).AllowHosts().Topics("ledger").Clusters().
		ResourcePatternType(kadm.ACLPatternLiteral).
		Operations(kadm.OpRead, kadm.OpWrite, kadm.OpCreate, kadm.OpDescribe, kadm.OpAlter, kadm.OpAlterConfigs, kadm.OpDescribeConfigs)
	dst := aclBroker(t, acls)
	src.createTopic("ledger", 1, nil)
	plain := src.client(kgo.DefaultProduceTopic("ledger"))
	produceSync(t, plain, &kgo.Record{Value: []byte("before")})
	txn := src.client(kgo.DefaultProduceTopic("ledger"), kgo.TransactionalID("left-open"))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceSync(t, txn, &kgo.Record{Value: []byte("open")})
	produceSync(t, plain, &kgo.Record{Value: []byte("after")})
	_, stop := runMirror(t, []string{src.addr}, []string{dst.addr}, mirror.Config{})
	waitCaughtUp(t, src.admin(), dst.admin(), func(s string) string { return s }, "ledger")
	stop()

	adm := dst.admin()
	_, err := mirror.Promote(testContext(t, 10*time.Second), adm, []string{"ledger"}, false)
	if err == nil || !strings.Contains(err.Error(), "sluice mirror promote ledger") {
		t.Fatalf("promote without CLUSTER_ACTION: %v; want a failure naming the retry", err)
	}
	grant := kadm.NewACLs().Allow(anonymous).AllowHosts().Clusters().Operations(kadm.OpClusterAction).
		ResourcePatternType(kadm.ACLPatternLiteral)
	if res, err := adm.CreateACLs(testContext(t, 10*time.Second), grant); err != nil || res[0].Err != nil {
		t.Fatalf("grant CLUSTER_ACTION: %v %v", err, res)
	}
	var promoted []mirror.Promoted
	waitForErr(t, 30*time.Second, "promote again", func() error {
		promoted, err = mirror.Promote(testContext(t, 10*time.Second), adm, []string{"ledger"}, false)
		return err
	})
	if len(promoted) != 1 || promoted[0].AbortedTxns != 1 {
		t.Fatalf("promote again: %+v, want ledger with 1 aborted transaction", promoted)
	}
	waitState(t, 30*time.Second, "read_committed past the aborted transaction", func() (bool, string) {
		var vs []string
		for _, r := range readAll(t, []string{dst.addr}, "ledger", true) {
			vs = append(vs, string(r.Value))
		}
		return fmt.Sprint(vs) == "[before after]", fmt.Sprint(vs)
	})
}
