package test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// cliTxnProducer is a row of `sluice txn producers --output json`.
type cliTxnProducer struct {
	Topic                 string `json:"topic"`
	Partition             int32  `json:"partition"`
	Leader                int32  `json:"leader"`
	ProducerID            int64  `json:"producer_id"`
	ProducerEpoch         int16  `json:"producer_epoch"`
	LastSequence          int32  `json:"last_sequence"`
	LastTimestamp         int64  `json:"last_timestamp"`
	CoordinatorEpoch      int32  `json:"coordinator_epoch"`
	CurrentTxnStartOffset int64  `json:"current_txn_start_offset"`
}

func cliJSON[T any](t testing.TB, what, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s printed %q: %v", what, out, err)
	}
	return v
}

// TestCLITxn runs `sluice txn list|describe|producers|abort` against a
// broker with one committed and one open transaction, and checks that an
// abort through the partition (KIP-664) moves its last stable offset.
func TestCLITxn(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	testCLITxn(t, b.addr, 1)
}

// testCLITxn is TestCLITxn's body against the single broker at addr, whose
// node ID is node.
func testCLITxn(t *testing.T, addr string, node int32) {
	seeds := []string{addr}
	cl := txnClient(t, seeds)
	nodeS := fmt.Sprint(node)
	ctx := testContext(t, 50*time.Second)
	const topic = "ledger"
	txnCreateTopic(t, cl, topic, 2, 1, nil)

	// The producer ID is read before the transaction: asked afterwards,
	// franz-go may initialize the ID again, which leaves the state Empty.
	done := txnProducer(t, seeds, "cli-done")
	donePID, doneEpoch, err := done.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := txnRun(ctx, done, true, []*kgo.Record{{Topic: topic, Partition: 1, Value: []byte("committed-0")}}); err != nil {
		t.Fatal(err)
	}
	txnWaitState(t, cl, "cli-done", "CompleteCommit")
	open := txnProducer(t, seeds, "cli-open", kgo.TransactionTimeout(50*time.Second))
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := open.ProduceSync(ctx,
		&kgo.Record{Topic: topic, Partition: 0, Value: []byte("open-0")},
		&kgo.Record{Topic: topic, Partition: 0, Value: []byte("open-1")},
		&kgo.Record{Topic: topic, Partition: 1, Value: []byte("open-2")},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pid, epoch, err := open.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Partition 1: committed-0 at 0, its marker at 1, open-2 at 2.
	txnExpectEnds(t, cl, topic, map[int32]int64{0: 2, 1: 3}, map[int32]int64{0: 0, 1: 2})

	// list
	type listed struct {
		TransactionalID string `json:"transactional_id"`
		ProducerID      int64  `json:"producer_id"`
		State           string `json:"state"`
		Coordinator     int32  `json:"coordinator"`
	}
	out := cli(t, addr, "", "txn", "list")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	wantRows := [][]string{
		{"TRANSACTIONAL-ID", "PRODUCER-ID", "STATE", "COORDINATOR"},
		{"cli-done", fmt.Sprint(donePID), "CompleteCommit", nodeS},
		{"cli-open", fmt.Sprint(pid), "Ongoing", nodeS},
	}
	if len(lines) != len(wantRows) {
		t.Fatalf("txn list printed:\n%s\nwant rows %v", out, wantRows)
	}
	for i, l := range lines {
		if !slices.Equal(strings.Fields(l), wantRows[i]) {
			t.Fatalf("txn list printed:\n%s\nwant rows %v", out, wantRows)
		}
	}
	for _, c := range []struct {
		args []string
		want []listed
	}{
		{[]string{"--state", "Ongoing"}, []listed{{"cli-open", pid, "Ongoing", node}}},
		{[]string{"--state", "CompleteCommit,Ongoing"}, []listed{{"cli-done", donePID, "CompleteCommit", node}, {"cli-open", pid, "Ongoing", node}}},
		{[]string{"--state", "PrepareAbort"}, []listed{}},
		{[]string{"--producer-id", fmt.Sprint(donePID)}, []listed{{"cli-done", donePID, "CompleteCommit", node}}},
	} {
		args := append([]string{"txn", "list", "--output", "json"}, c.args...)
		got := cliJSON[[]listed](t, "txn list", cli(t, addr, "", args...))
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Fatalf("sluice %s: %+v, want %+v", strings.Join(args, " "), got, c.want)
		}
	}

	// describe
	type described struct {
		TransactionalID string `json:"transactional_id"`
		State           string `json:"state"`
		ProducerID      int64  `json:"producer_id"`
		ProducerEpoch   int16  `json:"producer_epoch"`
		TimeoutMs       int32  `json:"timeout_ms"`
		StartTimestamp  int64  `json:"start_timestamp"`
		Coordinator     int32  `json:"coordinator"`
		Topics          []struct {
			Topic      string  `json:"topic"`
			Partitions []int32 `json:"partitions"`
		} `json:"topics"`
	}
	ds := cliJSON[[]described](t, "txn describe", cli(t, addr, "", "txn", "describe", "cli-open", "cli-done", "--output", "json"))
	if len(ds) != 2 {
		t.Fatalf("txn describe of two IDs: %+v", ds)
	}
	d := ds[0]
	if d.TransactionalID != "cli-open" || d.State != "Ongoing" || d.ProducerID != pid || d.ProducerEpoch != epoch ||
		d.TimeoutMs != 50000 || d.Coordinator != node || len(d.Topics) != 1 || d.Topics[0].Topic != topic ||
		fmt.Sprint(d.Topics[0].Partitions) != "[0 1]" {
		t.Fatalf("txn describe cli-open: %+v, want Ongoing, producer %d epoch %d, timeout 50000, coordinator %d, %s [0 1]", d, pid, epoch, node, topic)
	}
	if age := time.Since(time.UnixMilli(d.StartTimestamp)); age < 0 || age > time.Minute {
		t.Fatalf("txn describe cli-open: start timestamp %d is %v ago", d.StartTimestamp, age)
	}
	if d := ds[1]; d.TransactionalID != "cli-done" || d.State != "CompleteCommit" || d.ProducerID != donePID || len(d.Topics) != 0 {
		t.Fatalf("txn describe cli-done: %+v, want CompleteCommit with producer %d, no partitions", d, donePID)
	}
	out = cli(t, addr, "", "txn", "describe", "cli-open")
	lines = strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 2 || !slices.Equal(strings.Fields(lines[0]), []string{"TRANSACTIONAL-ID", "STATE", "PRODUCER-ID", "EPOCH", "TIMEOUT-MS", "START", "COORDINATOR", "PARTITIONS"}) {
		t.Fatalf("txn describe printed:\n%s", out)
	}
	if f := strings.Fields(lines[1]); len(f) != 8 || !slices.Equal(f[:5], []string{"cli-open", "Ongoing", fmt.Sprint(pid), fmt.Sprint(epoch), "50000"}) ||
		f[6] != nodeS || f[7] != topic+":0,1" {
		t.Fatalf("txn describe printed:\n%s", out)
	}
	// An unknown ID fails the command after the known ones are printed.
	r := runCLI(t, addr, "", "txn", "describe", "cli-open", "cli-never")
	if r.code != 1 || !strings.Contains(r.stdout, "cli-open") || strings.Contains(r.stdout, "cli-never") ||
		!strings.Contains(r.stderr, "cli-never") || !strings.Contains(r.stderr, "TRANSACTIONAL_ID_NOT_FOUND") {
		t.Fatalf("txn describe cli-open cli-never: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1, cli-open printed and TRANSACTIONAL_ID_NOT_FOUND for cli-never", r.code, r.stdout, r.stderr)
	}

	// producers
	prods := cliJSON[[]cliTxnProducer](t, "txn producers", cli(t, addr, "", "txn", "producers", topic, "--output", "json"))
	byKey := map[string]cliTxnProducer{}
	for _, p := range prods {
		byKey[fmt.Sprintf("%d/%d", p.Partition, p.ProducerID)] = p
	}
	p0, p1, p1done := byKey[fmt.Sprintf("0/%d", pid)], byKey[fmt.Sprintf("1/%d", pid)], byKey[fmt.Sprintf("1/%d", donePID)]
	if len(prods) != 3 || p0.ProducerEpoch != epoch || p0.LastSequence != 1 || p0.CurrentTxnStartOffset != 0 || p0.Leader != node ||
		p1.ProducerEpoch != epoch || p1.LastSequence != 0 || p1.CurrentTxnStartOffset != 2 ||
		p1done.ProducerEpoch != doneEpoch+1 || p1done.LastSequence != -1 || p1done.CurrentTxnStartOffset != -1 {
		// cli-done committed at transaction version 2: its marker bumped
		// the epoch, which starts the producer's sequences over (-1), as
		// in Kafka.
		t.Fatalf("txn producers %s: %+v\nwant producer %d (epoch %d) open from 0/0 and 1/2, and producer %d at epoch %d with nothing open on 1",
			topic, prods, pid, epoch, donePID, doneEpoch+1)
	}
	only1 := cliJSON[[]cliTxnProducer](t, "txn producers -p 1", cli(t, addr, "", "txn", "producers", topic, "-p", "1", "--output", "json"))
	if len(only1) != 2 || only1[0].Partition != 1 || only1[1].Partition != 1 {
		t.Fatalf("txn producers %s -p 1: %+v", topic, only1)
	}
	out = cli(t, addr, "", "txn", "producers", topic, "-p", "0")
	if want := []string{"0", fmt.Sprint(pid), fmt.Sprint(epoch), "1"}; !strings.Contains(out, "TXN-START-OFFSET") ||
		len(strings.Split(strings.TrimSpace(out), "\n")) != 2 || !slices.Equal(strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])[1:5], want) {
		t.Fatalf("txn producers %s -p 0 printed:\n%s", topic, out)
	}
	cliFails(t, addr, "does not exist", "txn", "producers", "no-such-topic")
	cliFails(t, addr, "no partition 7", "txn", "producers", topic, "-p", "7")

	// abort, misused
	cliMisused(t, addr, "--topic and --partition are required", "txn", "abort", "--topic", topic)
	cliMisused(t, addr, "go together", "txn", "abort", "--topic", topic, "--partition", "0", "--producer-id", fmt.Sprint(pid))
	cliMisused(t, addr, "not both", "txn", "abort", "--topic", topic, "--partition", "0", "--start-offset", "0", "--producer-id", "1")
	cliMisused(t, addr, "requires at least 1 arg", "txn", "describe")
	cliFails(t, addr, "no open transaction starts at offset 1", "txn", "abort", "--topic", topic, "--partition", "0", "--start-offset", "1")
	txnExpectEnds(t, cl, topic, map[int32]int64{0: 2, 1: 3}, map[int32]int64{0: 0, 1: 2})

	// abort by start offset: an ABORT marker at 2 of partition 0, and the
	// last stable offset moves past it.
	out = cli(t, addr, "", "txn", "abort", "--topic", topic, "--partition", "0", "--start-offset", "0")
	expectLines(t, "txn abort", out, fmt.Sprintf("aborted the transaction of producer %d (epoch %d) on %s/0", pid, epoch, topic))
	txnExpectEnds(t, cl, topic, map[int32]int64{0: 3, 1: 3}, map[int32]int64{0: 3, 1: 2})
	// abort by producer: the marker at 3 of partition 1.
	out = cli(t, addr, "", "txn", "abort", "--topic", topic, "--partition", "1", "--producer-id", fmt.Sprint(pid),
		"--producer-epoch", fmt.Sprint(epoch), "--coordinator-epoch", fmt.Sprint(max(p1.CoordinatorEpoch, 0)), "--output", "json")
	ab := cliJSON[map[string]any](t, "txn abort --output json", out)
	if ab["aborted"] != true || ab["partition"] != float64(1) || ab["producer_id"] != float64(pid) {
		t.Fatalf("txn abort --output json printed %s", out)
	}
	txnExpectEnds(t, cl, topic, map[int32]int64{0: 3, 1: 4}, map[int32]int64{0: 3, 1: 4})
	prods = cliJSON[[]cliTxnProducer](t, "txn producers", cli(t, addr, "", "txn", "producers", topic, "--output", "json"))
	for _, p := range prods {
		if p.CurrentTxnStartOffset != -1 {
			t.Fatalf("txn producers after the aborts: %+v still open", p)
		}
	}
	rc := txnReadAll(t, seeds, topic, 2, true)
	if v0, v1 := txnValues(rc[0]), txnValues(rc[1]); len(v0) != 0 || !slices.Equal(v1, []string{"committed-0"}) {
		t.Fatalf("read_committed after the aborts: partition 0 %v, partition 1 %v; want nothing and [committed-0]", v0, v1)
	}
}
