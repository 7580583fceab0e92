package test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCLIConsumeEndsAtTransactionMarker checks that `consume -e`, `consume
// -n N` and `bench consume` finish on a partition whose log ends in a COMMIT
// marker: the marker takes the last offset but is a control record, which is
// never printed nor counted as a record.
func TestCLIConsumeEndsAtTransactionMarker(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	seeds := []string{b.addr}
	cl := txnClient(t, seeds)
	ctx := testContext(t, 50*time.Second)
	const topic = "marked"
	txnCreateTopic(t, cl, topic, 1, 1, nil)
	p := txnProducer(t, seeds, "cli-marker")
	if err := txnRun(ctx, p, true, []*kgo.Record{
		{Topic: topic, Partition: 0, Value: []byte("a")},
		{Topic: topic, Partition: 0, Value: []byte("b")},
	}); err != nil {
		t.Fatal(err)
	}
	txnWaitState(t, cl, "cli-marker", "CompleteCommit")
	waitFor(t, 10*time.Second, "commit marker to land", func() bool { return endOffsets(t, cl, topic)[0] == 3 })

	expectLines(t, "consume -e", cli(t, b.addr, "", "consume", topic, "-e"), "a", "b")
	expectLines(t, "consume --read-committed -e", cli(t, b.addr, "", "consume", topic, "--read-committed", "-e"), "a", "b")
	r := runCLI(t, b.addr, "", "consume", topic, "-n", "3")
	if r.code != 0 || r.stdout != "a\nb\n" {
		t.Fatalf("consume -n 3: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	res := cliJSON[map[string]any](t, "bench consume", cli(t, b.addr, "", "bench", "consume", "--topic", topic))
	if res["records"] != float64(2) {
		t.Fatalf("bench consume counted %v records, want 2", res["records"])
	}
}
