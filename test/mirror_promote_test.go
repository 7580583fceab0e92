package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// A transaction the source left open is copied open: read_committed
// consumers of the mirror stop at it, as on the source. Promotion aborts
// it (its coordinator is on the source and can never end it here), so the
// records after it become readable and its own never do.
func TestMirrorPromoteAbortsTransactionsLeftOpen(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	dst := startBroker(t, nil)
	src.createTopic("ledger", 1, nil)
	plain := src.client(kgo.DefaultProduceTopic("ledger"))
	produceSync(t, plain, &kgo.Record{Value: []byte("before")})
	txn := src.client(kgo.DefaultProduceTopic("ledger"), kgo.TransactionalID("left-open"))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		produceSync(t, txn, &kgo.Record{Value: []byte(fmt.Sprintf("open-%d", i))})
	}
	produceSync(t, plain, &kgo.Record{Value: []byte("after")})

	runMirror(t, []string{src.addr}, []string{dst.addr}, mirror.Config{})
	waitCaughtUp(t, src.admin(), dst.admin(), func(s string) string { return s }, "ledger")
	if got := readAll(t, []string{dst.addr}, "ledger", true); len(got) != 1 || string(got[0].Value) != "before" {
		t.Fatalf("read_committed before promotion: %d records, want only the one before the open transaction", len(got))
	}

	promoted, err := mirror.Promote(testContext(t, 10*time.Second), dst.admin(), nil, true)
	if err != nil || len(promoted) != 1 || promoted[0].AbortedTxns != 1 {
		t.Fatalf("promote --all: %+v %v; want ledger with 1 aborted transaction", promoted, err)
	}
	waitState(t, 30*time.Second, "read_committed past the aborted transaction", func() (bool, string) {
		got := readAll(t, []string{dst.addr}, "ledger", true)
		var vs []string
		for _, r := range got {
			vs = append(vs, string(r.Value))
		}
		return fmt.Sprint(vs) == "[before after]", fmt.Sprint(vs)
	})
}
