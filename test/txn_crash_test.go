package test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Transactions across a `sluice serve` process killed with SIGKILL: the
// coordinator's state (__transaction_state) and the partitions' producer
// state and transaction indexes are rebuilt from disk, and every
// transaction ends whole, committed or aborted.

// txnProcess starts a broker process with the transaction test settings.
// When the test fails, the end of the broker's log is printed.
func txnProcess(t *testing.T) *process {
	t.Helper()
	p := startProcess(t, t.TempDir(), "127.0.0.1:0", txnSettingArgs(txnSettings())...)
	t.Cleanup(func() {
		if t.Failed() {
			lines := strings.Split(p.logs(), "\n")
			t.Logf("the broker's last log lines:\n%s", strings.Join(lines[max(0, len(lines)-150):], "\n"))
		}
	})
	return p
}

// TestTxnKill9OpenTransactions kills the broker while two producers have a
// transaction open (partitions added, records written, no EndTxn). After
// the restart, one is aborted by the coordinator's timeout and the other
// by a new producer instance with the same transactional ID: their records
// never show read_committed, the transactions committed before them all
// do, and the last stable offset reaches the high watermark.
func TestTxnKill9OpenTransactions(t *testing.T) {
	t.Parallel()
	const (
		topic = "txn-crash-open"
		parts = 4
	)
	p := txnProcess(t)
	seeds := []string{p.addr}
	ctx := testContext(t, 55*time.Second)
	admin := txnClient(t, seeds)
	txnCreateTopic(t, admin, topic, parts, 1, nil)
	ledger := txnLedger{perTxn: 100}

	// "timed" transactions 0..5 and "reinit" transactions 100..105; the
	// last of each stays open.
	timed := txnProducer(t, seeds, "crash-timed", kgo.TransactionTimeout(3*time.Second))
	reinit := txnProducer(t, seeds, "crash-reinit", kgo.TransactionTimeout(50*time.Second))
	for i := range 5 {
		for _, c := range []struct {
			cl  *kgo.Client
			txn int
		}{{timed, i}, {reinit, 100 + i}} {
			if err := txnRun(ctx, c.cl, true, ledger.records(topic, parts, c.txn)); err != nil {
				t.Fatalf("transaction %d: %v", c.txn, err)
			}
		}
	}
	for _, c := range []struct {
		cl  *kgo.Client
		txn int
	}{{timed, 5}, {reinit, 105}} {
		if err := c.cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := c.cl.ProduceSync(ctx, ledger.records(topic, parts, c.txn)...).FirstErr(); err != nil {
			t.Fatalf("transaction %d: %v", c.txn, err)
		}
	}
	hwm, lso := txnEnds(t, admin, topic, parts)
	if fmt.Sprint(lso) == fmt.Sprint(hwm) {
		t.Fatalf("with two transactions open, the last stable offsets %v equal the high watermarks", lso)
	}

	p.kill(syscall.SIGKILL)
	timed.Close()
	reinit.Close()
	p.restart()
	// A fresh client: one whose connections died with the broker may get
	// EOF on its first request to it.
	admin = txnClient(t, seeds)

	// A new instance of crash-reinit: its InitProducerId aborts
	// transaction 105 and fences the old instance.
	fresh := txnProducer(t, seeds, "crash-reinit")
	if _, _, err := fresh.ProducerID(ctx); err != nil {
		t.Fatalf("InitProducerId after the restart: %v", err)
	}
	if err := txnRun(ctx, fresh, true, ledger.records(topic, parts, 106)); err != nil {
		t.Fatalf("transaction 106 after the restart: %v", err)
	}
	// crash-timed's transaction 5 is aborted by the timeout.
	txnWaitFor(t, 30*time.Second, "the last stable offsets to reach the high watermarks", func() (bool, string) {
		hwm, lso := txnEnds(t, admin, topic, parts)
		return fmt.Sprint(hwm) == fmt.Sprint(lso), fmt.Sprintf("high watermarks %v, last stable offsets %v", hwm, lso)
	})
	for _, id := range []string{"crash-timed", "crash-reinit"} {
		if d := txnDescribe(t, admin, id); d.State == "Ongoing" || d.State == "PrepareAbort" || d.State == "PrepareCommit" {
			t.Fatalf("%s after the restart: %+v, want its transaction ended", id, d)
		}
	}

	want := map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true, 100: true, 101: true, 102: true, 103: true, 104: true, 106: true}
	got := txnReadAll(t, seeds, topic, parts, true)
	ledger.check(t, got, want, parts)
	present := txnPresent(got)
	if !maps.Equal(present, want) {
		t.Fatalf("read_committed holds transactions %v, want exactly %v", slices.Sorted(maps.Keys(present)), slices.Sorted(maps.Keys(want)))
	}
}

// txnPresent lists the ledger transactions that have records in got.
func txnPresent(got map[int32][]*kgo.Record) map[int]bool {
	out := map[int]bool{}
	for _, rs := range got {
		for _, r := range rs {
			var txn, idx int
			if _, err := fmt.Sscanf(string(r.Value), "tx%06d-%03d", &txn, &idx); err == nil {
				out[txn] = true
			}
		}
	}
	return out
}

// TestTxnKill9DuringCommits commits transactions of 100 records over four
// partitions back to back and kills the broker at a random moment, often
// in the middle of a commit. After the restart a new producer with the
// same transactional ID initializes (which finishes or aborts what the
// old one left), and read_committed shows every transaction whole or not
// at all, and every one whose commit returned success.
func TestTxnKill9DuringCommits(t *testing.T) {
	t.Parallel()
	const (
		topic = "txn-crash-loop"
		parts = 4
		id    = "crash-loop"
	)
	p := txnProcess(t)
	seeds := []string{p.addr}
	ctx := testContext(t, 55*time.Second)
	admin := txnClient(t, seeds)
	txnCreateTopic(t, admin, topic, parts, 1, nil)
	ledger := txnLedger{perTxn: 100}

	loop := startTxnLoop(t, ctx, ledger, topic, parts, 0, func() *kgo.Client {
		return txnProducer(t, seeds, id, kgo.TransactionTimeout(20*time.Second), kgo.RecordDeliveryTimeout(5*time.Second))
	})
	loop.waitCommits(10+rand.IntN(30), 30*time.Second, "transactions committed before the kill")
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond) // land anywhere in a commit
	p.kill(syscall.SIGKILL)
	acked := loop.stop()
	p.restart()
	admin = txnClient(t, seeds)

	fresh := txnProducer(t, seeds, id)
	if _, _, err := fresh.ProducerID(ctx); err != nil {
		t.Fatalf("InitProducerId after the restart: %v", err)
	}
	const last = 99999
	if err := txnRun(ctx, fresh, true, ledger.records(topic, parts, last)); err != nil {
		t.Fatalf("a transaction after the restart: %v", err)
	}
	acked[last] = true
	txnWaitFor(t, 15*time.Second, "the last stable offsets to reach the high watermarks", func() (bool, string) {
		hwm, lso := txnEnds(t, admin, topic, parts)
		return fmt.Sprint(hwm) == fmt.Sprint(lso), fmt.Sprintf("high watermarks %v, last stable offsets %v", hwm, lso)
	})
	got := txnReadAll(t, seeds, topic, parts, true)
	n := ledger.check(t, got, acked, parts)
	t.Logf("%d commits acknowledged before kill -9; %d transactions in the log after the restart", len(acked)-1, n-1)
}
