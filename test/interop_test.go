package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The interop suite drives a Sluice broker with clients not written in Go:
// kafkajs (test/interop/kafkajs_test.js, installed by
// `npm ci --prefix test/interop`) and kafka-python and confluent-kafka
// (test/interop/python_clients.py, from Debian's python3-kafka and
// python3-confluent-kafka for /usr/bin/python3). Each script checks the
// exact records it sees and exits non-zero on any mismatch; this side then
// cross-checks the broker's state with franz-go.

// interopPython is Debian's interpreter, the one that sees the python3-*
// packages; a python3 earlier on PATH (pyenv, venv) may lack them.
const interopPython = "/usr/bin/python3"

// skipOrFail fails on CI, where .ci/run installs the interop clients, and
// skips elsewhere.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; .ci/run installs it", msg)
	}
	t.Skip(msg)
}

// needKafkaJS returns node's path once kafkajs is installed under test/interop.
func needKafkaJS(t *testing.T) string {
	t.Helper()
	node := needTool(t, "node")
	if _, err := os.Stat(filepath.Join("interop", "node_modules", "kafkajs", "package.json")); err != nil {
		skipOrFail(t, "kafkajs is not installed (npm ci --prefix test/interop)")
	}
	return node
}

// needPythonModule checks that /usr/bin/python3 can import module.
func needPythonModule(t *testing.T, module, pkg string) {
	t.Helper()
	if _, err := os.Stat(interopPython); err != nil {
		skipOrFail(t, "%s is missing (apt-get install python3 %s)", interopPython, pkg)
	}
	if out, err := exec.Command(interopPython, "-c", "import "+module).CombinedOutput(); err != nil {
		skipOrFail(t, "%s cannot import %s (apt-get install %s): %s", interopPython, module, pkg, bytes.TrimSpace(out))
	}
}

// runInterop runs one interop script mode and returns its stdout. Any
// failure, including the timeout, fails the test with the script's output.
func runInterop(t *testing.T, timeout time.Duration, prog string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = "interop"
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v (%v)", timeout, err)
	}
	if err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(prog), args, err, stdout.Bytes(), stderr.Bytes())
	}
	t.Logf("%s %v: %.1fs: %s", filepath.Base(prog), args, time.Since(start).Seconds(), bytes.TrimSpace(stdout.Bytes()))
	return stdout.String()
}

// scriptRecord is record i as the interop scripts write it: key k-(i%7),
// value v-i, headers seq=i and origin.
func scriptRecord(topic string, i int, origin string) *kgo.Record {
	return &kgo.Record{
		Topic: topic,
		Key:   []byte(fmt.Sprintf("k-%d", i%7)),
		Value: []byte(fmt.Sprintf("v-%d", i)),
		Headers: []kgo.RecordHeader{
			{Key: "seq", Value: []byte(strconv.Itoa(i))},
			{Key: "origin", Value: []byte(origin)},
		},
	}
}

// checkScriptRecords reads topic with franz-go and asserts it holds exactly
// records 0..n-1 written by origin, each once, at dense offsets from zero.
// It returns the partition of each record.
func checkScriptRecords(t *testing.T, addr, topic string, n int, origin string) map[int]int32 {
	t.Helper()
	got := consumeAll(t, addr, topic, n)
	if len(got) != n {
		t.Fatalf("%s: read %d records, want %d", topic, len(got), n)
	}
	next := map[int32]int64{}
	partOf := map[int]int32{}
	for _, r := range got {
		if r.Offset != next[r.Partition] {
			t.Fatalf("%s/%d: offset %d, want %d", topic, r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		if len(r.Headers) != 2 || r.Headers[0].Key != "seq" {
			t.Fatalf("%s/%d/%d: headers %v", topic, r.Partition, r.Offset, r.Headers)
		}
		i, err := strconv.Atoi(string(r.Headers[0].Value))
		if err != nil || i < 0 || i >= n {
			t.Fatalf("%s/%d/%d: bad seq header %q", topic, r.Partition, r.Offset, r.Headers[0].Value)
		}
		if _, dup := partOf[i]; dup {
			t.Fatalf("%s: record %d stored twice", topic, i)
		}
		partOf[i] = r.Partition
		w := scriptRecord(topic, i, origin)
		if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) ||
			r.Headers[1].Key != "origin" || string(r.Headers[1].Value) != origin {
			t.Fatalf("%s/%d/%d: key %q value %q headers %v, want %q %q origin=%s",
				topic, r.Partition, r.Offset, r.Key, r.Value, r.Headers, w.Key, w.Value, origin)
		}
	}
	return partOf
}

// expectCommittedAtEnd asserts that group committed the end offset of every
// partition of topic.
func expectCommittedAtEnd(t *testing.T, cl *kgo.Client, group, topic string) {
	t.Helper()
	end := endOffsets(t, cl, topic)
	offs, err := kadm.NewClient(cl).FetchOffsets(testContext(t, 10*time.Second), group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	for p, e := range end {
		if e == 0 {
			continue
		}
		o, ok := offs.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != e {
			t.Fatalf("group %s partition %s/%d: committed %+v (found %v), want %d", group, topic, p, o, ok, e)
		}
	}
}

func TestInteropKafkaJS(t *testing.T) {
	t.Parallel()
	node := needKafkaJS(t)
	b := startBroker(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	cl := b.client()
	const script = "kafkajs_test.js"

	t.Run("produce", func(t *testing.T) {
		const n = 300
		b.createTopic("js-produce", 3, nil)
		runInterop(t, 30*time.Second, node, script, "produce", b.addr, "js-produce", strconv.Itoa(n))
		partOf := checkScriptRecords(t, b.addr, "js-produce", n, "kafkajs")
		// The default partitioner hashes keys: each key in one partition.
		byKey := map[int]int32{}
		for i, p := range partOf {
			if q, ok := byKey[i%7]; ok && q != p {
				t.Fatalf("key k-%d in partitions %d and %d", i%7, q, p)
			}
			byKey[i%7] = p
		}
	})

	t.Run("group", func(t *testing.T) {
		const n = 400
		b.createTopic("js-group", 4, nil)
		runInterop(t, 45*time.Second, node, script, "group", b.addr, "js-group", "js-group-g", strconv.Itoa(n))
		partOf := checkScriptRecords(t, b.addr, "js-group", n, "kafkajs")
		for i, p := range partOf {
			if p != int32(i%4) {
				t.Fatalf("record %d in partition %d, want %d", i, p, i%4)
			}
		}
		expectCommittedAtEnd(t, cl, "js-group-g", "js-group")
	})

	t.Run("admin", func(t *testing.T) {
		expectNoTopic(t, cl, "js-admin")
		runInterop(t, 30*time.Second, node, script, "admin", b.addr, "js-admin", "5")
		expectPartitions(t, cl, "js-admin", 5)
	})
}

func TestInteropKafkaPython(t *testing.T) {
	t.Parallel()
	needPythonModule(t, "kafka", "python3-kafka")
	b := startBroker(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	cl := b.client()
	const script = "python_clients.py"

	t.Run("produce", func(t *testing.T) {
		const n = 300
		b.createTopic("kp-produce", 3, nil)
		runInterop(t, 30*time.Second, interopPython, script, "kp-produce", b.addr, "kp-produce", strconv.Itoa(n))
		checkScriptRecords(t, b.addr, "kp-produce", n, "kafka-python")
	})

	t.Run("commit-resume", func(t *testing.T) {
		const n, first = 300, 110
		b.createTopic("kp-resume", 3, nil)
		records := make([]*kgo.Record, n)
		for i := range records {
			records[i] = scriptRecord("kp-resume", i, "go")
		}
		// gzip: kafka-python decompresses it with the standard library
		// (franz-go's default, snappy, would need python3-snappy).
		produceAll(t, newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.GzipCompression())), records)
		runInterop(t, 45*time.Second, interopPython, script, "kp-resume", b.addr, "kp-resume", "kp-resume-g",
			strconv.Itoa(n), strconv.Itoa(first))
		expectCommittedAtEnd(t, cl, "kp-resume-g", "kp-resume")
	})

	t.Run("admin", func(t *testing.T) {
		expectNoTopic(t, cl, "kp-admin")
		runInterop(t, 30*time.Second, interopPython, script, "kp-admin", b.addr, "kp-admin", "4")
		expectPartitions(t, cl, "kp-admin", 4)
	})
}

func TestInteropConfluentKafka(t *testing.T) {
	t.Parallel()
	needPythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	b := startBroker(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	cl := b.client()
	const script = "python_clients.py"

	t.Run("produce-consume", func(t *testing.T) {
		const n = 500
		b.createTopic("ck-topic", 3, nil)
		runInterop(t, 45*time.Second, interopPython, script, "ck-produce-consume", b.addr, "ck-topic", "ck-g", strconv.Itoa(n))
		checkScriptRecords(t, b.addr, "ck-topic", n, "confluent-kafka")
		expectCommittedAtEnd(t, cl, "ck-g", "ck-topic")
	})

	t.Run("admin", func(t *testing.T) {
		expectNoTopic(t, cl, "ck-admin")
		runInterop(t, 30*time.Second, interopPython, script, "ck-admin", b.addr, "ck-admin", "6")
		expectPartitions(t, cl, "ck-admin", 6)
	})
}
