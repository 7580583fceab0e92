package test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Transactions from clients not written in Go: confluent-kafka (librdkafka)
// and kafkajs, driven by the scripts in test/interop (modes ck-txn and txn).
// kafka-python has no transactional producer. The scripts check what they
// read themselves; this side cross-checks the broker with franz-go.

// txnCheckScriptRecord asserts that r is scriptRecord i of origin, with
// value prefixed by valuePrefix.
func txnCheckScriptRecord(t testing.TB, r *kgo.Record, i int, origin, valuePrefix string) {
	t.Helper()
	w := scriptRecord(r.Topic, i, origin)
	if !bytes.Equal(r.Key, w.Key) || string(r.Value) != valuePrefix+string(w.Value) || len(r.Headers) != 2 ||
		r.Headers[0].Key != "seq" || string(r.Headers[0].Value) != strconv.Itoa(i) ||
		r.Headers[1].Key != "origin" || string(r.Headers[1].Value) != origin {
		t.Fatalf("%s/%d/%d: key %q value %q headers %v; want record %d: key %q value %q, seq=%d origin=%s",
			r.Topic, r.Partition, r.Offset, r.Key, r.Value, r.Headers, i, w.Key, valuePrefix+string(w.Value), i, origin)
	}
}

// txnSeqOf reads a script record's seq header.
func txnSeqOf(t testing.TB, r *kgo.Record) int {
	t.Helper()
	for _, h := range r.Headers {
		if h.Key == "seq" {
			if i, err := strconv.Atoi(string(h.Value)); err == nil {
				return i
			}
		}
	}
	t.Fatalf("%s/%d/%d: no seq header in %v", r.Topic, r.Partition, r.Offset, r.Headers)
	return -1
}

func TestTxnInteropConfluentKafka(t *testing.T) {
	t.Parallel()
	needPythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	b := startBroker(t, txnSettings())
	testTxnInteropConfluentKafka(t, []string{b.addr})
}

// testTxnInteropConfluentKafka has librdkafka's transactional producer
// commit, abort and commit three transactions of n records over three
// partitions; the script checks its own read_committed and
// read_uncommitted consumers. Here every record is checked at its exact
// offset: in each partition, each transaction's records are followed by
// its marker.
func testTxnInteropConfluentKafka(t *testing.T, seeds []string) {
	const (
		topic  = "ck-txn"
		n      = 200
		parts  = 3
		origin = "confluent-kafka-txn"
	)
	cl := txnClient(t, seeds)
	txnCreateTopic(t, cl, topic, parts, 1, nil)
	out := runInterop(t, 60*time.Second, interopPython, "python_clients.py", "ck-txn", seeds[0], topic, "ck-txn-id", strconv.Itoa(n))
	var res struct {
		Committed       int `json:"committed"`
		Aborted         int `json:"aborted"`
		ReadCommitted   int `json:"read_committed"`
		ReadUncommitted int `json:"read_uncommitted"`
	}
	if err := json.Unmarshal(bytes.TrimSpace([]byte(out)), &res); err != nil {
		t.Fatalf("script printed %q: %v", out, err)
	}
	if res.Committed != 2*n || res.Aborted != n || res.ReadCommitted != 2*n || res.ReadUncommitted != 3*n {
		t.Fatalf("script reported %+v, want %d committed and read read_committed, %d aborted, %d read read_uncommitted", res, 2*n, n, 3*n)
	}

	// Where each record must be: transaction k's records of partition p,
	// then its marker.
	type at struct {
		seq    int
		offset int64
	}
	all := map[int32][]at{}
	committed := map[int32][]at{}
	next := map[int32]int64{}
	for k := range 3 {
		for i := k * n; i < (k+1)*n; i++ {
			p := int32(i % parts)
			all[p] = append(all[p], at{i, next[p]})
			if k != 1 {
				committed[p] = append(committed[p], at{i, next[p]})
			}
			next[p]++
		}
		for p := range int32(parts) {
			next[p]++ // the marker
		}
	}
	txnExpectEnds(t, cl, topic, next, next)
	check := func(what string, got map[int32][]*kgo.Record, want map[int32][]at) {
		t.Helper()
		for p := range int32(parts) {
			if len(got[p]) != len(want[p]) {
				t.Fatalf("%s partition %d: %d records, want %d", what, p, len(got[p]), len(want[p]))
			}
			for j, r := range got[p] {
				if i := txnSeqOf(t, r); i != want[p][j].seq || r.Offset != want[p][j].offset {
					t.Fatalf("%s partition %d: record %d at offset %d, want record %d at %d", what, p, i, r.Offset, want[p][j].seq, want[p][j].offset)
				}
				txnCheckScriptRecord(t, r, want[p][j].seq, origin, "")
			}
		}
	}
	check("read_committed", txnReadAll(t, seeds, topic, parts, true), committed)
	check("read_uncommitted", txnReadAll(t, seeds, topic, parts, false), all)
}

func TestTxnInteropKafkaJS(t *testing.T) {
	t.Parallel()
	node := needKafkaJS(t)
	b := startBroker(t, txnSettings())
	testTxnInteropKafkaJS(t, node, []string{b.addr})
}

// testTxnInteropKafkaJS has kafkajs copy an input topic to an output topic
// in a consumer group, one transaction per batch with sendOffsets (and one
// aborted transaction first). The output read read_committed holds every
// input record exactly once, and the group committed the input's end.
func testTxnInteropKafkaJS(t *testing.T, node string, seeds []string) {
	const (
		in, out, group = "js-txn-in", "js-txn-out", "js-txn-g"
		n              = 300
		parts          = 3
	)
	cl := txnClient(t, seeds)
	txnCreateTopic(t, cl, in, parts, 1, nil)
	txnCreateTopic(t, cl, out, parts, 1, nil)
	input := make([]*kgo.Record, n)
	for i := range input {
		input[i] = scriptRecord(in, i, "go")
		input[i].Partition = int32(i % parts)
	}
	// Uncompressed: kafkajs reads gzip only without extra codecs.
	produceAll(t, txnClient(t, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression())), input)

	res := runInterop(t, 90*time.Second, node, "kafkajs_test.js", "txn", seeds[0], in, out, group, strconv.Itoa(n))
	var rep struct {
		Copied  int `json:"copied"`
		Commits int `json:"commits"`
		Aborted int `json:"aborted"`
	}
	if err := json.Unmarshal(bytes.TrimSpace([]byte(res)), &rep); err != nil {
		t.Fatalf("script printed %q: %v", res, err)
	}
	if rep.Copied != n || rep.Commits < 1 || rep.Aborted < 1 {
		t.Fatalf("script reported %+v, want %d copied in at least one commit after an aborted transaction", rep, n)
	}
	expectCommittedAtEnd(t, cl, group, in)

	seen := map[int]bool{}
	for _, rs := range txnReadAll(t, seeds, out, parts, true) {
		for _, r := range rs {
			i := txnSeqOf(t, r)
			txnCheckScriptRecord(t, r, i, "kafkajs-txn", "js-")
			if seen[i] {
				t.Fatalf("read_committed output holds record %d twice", i)
			}
			seen[i] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("read_committed output holds %d distinct records, want %d", len(seen), n)
	}
	aborted := 0
	for _, rs := range txnReadAll(t, seeds, out, parts, false) {
		for _, r := range rs {
			if i := txnSeqOf(t, r); bytes.HasPrefix(r.Value, []byte("aborted-")) {
				txnCheckScriptRecord(t, r, i, "kafkajs-txn", "aborted-js-")
				aborted++
			}
		}
	}
	if aborted != rep.Aborted {
		t.Fatalf("read_uncommitted output holds %d records of the aborted transaction, the script aborted %d", aborted, rep.Aborted)
	}
	t.Logf("kafkajs: %d records in %d transactions, %d in an aborted one", rep.Copied, rep.Commits, rep.Aborted)
}
