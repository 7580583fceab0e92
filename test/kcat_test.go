package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needTool returns the path of an external client, failing the test on CI
// (where .ci/run installs it) and skipping it elsewhere when it is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run installs it", name)
		}
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	return path
}

// TestKcatProduceConsumeMetadata drives Sluice with librdkafka through kcat
// at its default settings.
func TestKcatProduceConsumeMetadata(t *testing.T) {
	t.Parallel()
	kcat := needTool(t, "kcat")
	b := startBroker(t, nil)
	b.createTopic("rdkafka", 3, nil)

	// Produce keyed messages: "key:value" lines with -K:.
	const n = 5000
	var in bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "k%d:v%d\n", i%97, i)
	}
	cmd := exec.Command(kcat, "-b", b.addr, "-P", "-t", "rdkafka", "-K:", "-H", "origin=kcat", "-z", "snappy")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}

	// franz-go reads exactly what kcat wrote, with keys and headers, each
	// key always in the same partition (librdkafka's default partitioner
	// hashes keys).
	got := consumeAll(t, b.addr, "rdkafka", n)
	seen := map[string]bool{}
	partOfKey := map[string]int32{}
	for _, r := range got {
		if seen[string(r.Value)] {
			t.Fatalf("value %s consumed twice", r.Value)
		}
		seen[string(r.Value)] = true
		var i int
		fmt.Sscanf(string(r.Value), "v%d", &i)
		if string(r.Key) != fmt.Sprintf("k%d", i%97) {
			t.Fatalf("value %s has key %s", r.Value, r.Key)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != "origin" || string(r.Headers[0].Value) != "kcat" {
			t.Fatalf("headers %v", r.Headers)
		}
		if p, ok := partOfKey[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("key %s in partitions %d and %d", r.Key, p, r.Partition)
		}
		partOfKey[string(r.Key)] = r.Partition
	}

	// kcat consumes what franz-go produced, in order per partition.
	records := makeRecords("rdkafka-out", 2000, 11)
	b.createTopic("rdkafka-out", 1, nil)
	produceAll(t, b.client(), records)
	out, err := exec.Command(kcat, "-b", b.addr, "-C", "-t", "rdkafka-out", "-o", "beginning", "-e", "-q",
		"-f", "%o %k %T\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(records) {
		t.Fatalf("kcat consumed %d records, want %d", len(lines), len(records))
	}
	for i, line := range lines {
		want := fmt.Sprintf("%d %s %d", i, records[i].Key, records[i].Timestamp.UnixMilli())
		if line != want {
			t.Fatalf("record %d: kcat printed %q, want %q", i, line, want)
		}
	}

	// Metadata as JSON.
	out, err = exec.Command(kcat, "-b", b.addr, "-L", "-J", "-t", "rdkafka").Output()
	if err != nil {
		t.Fatalf("kcat -L: %v", err)
	}
	var meta struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(out, &meta); err != nil {
		t.Fatalf("kcat -L -J output: %v\n%s", err, out)
	}
	if len(meta.Brokers) != 1 || meta.Brokers[0].ID != 1 || meta.Brokers[0].Name != b.addr {
		t.Fatalf("brokers %+v", meta.Brokers)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Topic != "rdkafka" || len(meta.Topics[0].Partitions) != 3 {
		t.Fatalf("topics %+v", meta.Topics)
	}
	for _, p := range meta.Topics[0].Partitions {
		if p.Leader != 1 {
			t.Fatalf("partition %d leader %d", p.Partition, p.Leader)
		}
	}
}
