package test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// benchJSON is the final line of sluice bench.
type benchJSON struct {
	Mode          string   `json:"mode"`
	Topic         string   `json:"topic"`
	Records       int64    `json:"records"`
	Bytes         int64    `json:"bytes"`
	Seconds       float64  `json:"seconds"`
	RecordsPerSec float64  `json:"records_per_sec"`
	MBPerSec      float64  `json:"mb_per_sec"`
	P50           *float64 `json:"p50_ms"`
	P95           *float64 `json:"p95_ms"`
	P99           *float64 `json:"p99_ms"`
	P999          *float64 `json:"p99_9_ms"`
	Max           *float64 `json:"max_ms"`
	AckP50        *float64 `json:"ack_p50_ms"`
	AckP99        *float64 `json:"ack_p99_ms"`
	AckP999       *float64 `json:"ack_p99_9_ms"`
	FdatasyncP50  *float64 `json:"fdatasync_p50_ms"`
	FdatasyncP99  *float64 `json:"fdatasync_p99_ms"`
	AckPerSync    *float64 `json:"ack_p50_per_fdatasync"`
}

// runBench runs a bench subcommand and parses its one JSON line.
func runBench(t *testing.T, addr string, args ...string) benchJSON {
	t.Helper()
	out := cli(t, addr, "", append([]string{"bench"}, args...)...)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("bench %v printed %d lines, want one JSON line:\n%s", args, len(lines), out)
	}
	var r benchJSON
	if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
		t.Fatalf("bench %v printed %q: %v", args, out, err)
	}
	return r
}

func checkBench(t *testing.T, r benchJSON, mode string, records, size int64, latency bool) {
	t.Helper()
	if r.Mode != mode || (records >= 0 && r.Records != records) || r.Bytes != r.Records*size {
		t.Fatalf("bench %s = %+v, want %d records of %d bytes", mode, r, records, size)
	}
	if r.Seconds <= 0 || r.RecordsPerSec <= 0 || r.MBPerSec <= 0 {
		t.Fatalf("bench %s = %+v, want positive seconds and rates", mode, r)
	}
	if !latency {
		if r.P50 != nil || r.Max != nil {
			t.Fatalf("bench %s = %+v, want no latency fields", mode, r)
		}
		return
	}
	if r.P50 == nil || r.P95 == nil || r.P99 == nil || r.Max == nil {
		t.Fatalf("bench %s = %+v, want latency percentiles", mode, r)
	}
	if r.P999 == nil || !(*r.P50 >= 0 && *r.P50 <= *r.P95 && *r.P95 <= *r.P99 && *r.P99 <= *r.P999 && *r.P999 <= *r.Max && *r.Max > 0) {
		t.Fatalf("bench %s percentiles p50 %v p95 %v p99 %v p99.9 %v max %v are not ordered", mode, r.P50, r.P95, r.P99, r.P999, r.Max)
	}
	// e2e also reports the acknowledgements of the same records.
	if ack := r.AckP50 != nil || r.AckP99 != nil || r.AckP999 != nil; ack != (mode == "e2e") {
		t.Fatalf("bench %s = %+v: acknowledgement percentiles present %v, want %v", mode, r, ack, mode == "e2e")
	}
	if mode == "e2e" && !(r.AckP50 != nil && r.AckP99 != nil && r.AckP999 != nil && *r.AckP50 >= 0 && *r.AckP50 <= *r.AckP99 && *r.AckP99 <= *r.AckP999) {
		t.Fatalf("bench e2e acknowledgement percentiles p50 %v p99 %v p99.9 %v are not ordered", r.AckP50, r.AckP99, r.AckP999)
	}
}

// topicEnd is the sum of a topic's end offsets and its partition count.
func topicEnd(t *testing.T, b *broker, topic string) (int64, int) {
	t.Helper()
	ctx := testContext(t, 10*time.Second)
	ends, err := kadm.NewClient(b.client()).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	var sum int64
	n := 0
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset; n++ })
	return sum, n
}

func TestCLIBench(t *testing.T) {
	b := startBroker(t, nil)

	r := runBench(t, b.addr, "produce", "--topic", "perf", "--records", "3000", "--record-size", "200", "--partitions", "3", "--compression", "lz4")
	checkBench(t, r, "produce", 3000, 200, true)
	if end, parts := topicEnd(t, b, "perf"); end != 3000 || parts != 3 {
		t.Fatalf("after bench produce perf has %d records in %d partitions, want 3000 in 3", end, parts)
	}

	r = runBench(t, b.addr, "produce", "--topic", "perf", "--records", "1000", "--record-size", "200", "--acks", "1")
	checkBench(t, r, "produce", 1000, 200, true)
	if end, _ := topicEnd(t, b, "perf"); end != 4000 {
		t.Fatalf("after second bench produce perf has %d records, want 4000", end)
	}

	// Consume defaults to every record in the topic; --records reads fewer.
	r = runBench(t, b.addr, "consume", "--topic", "perf")
	checkBench(t, r, "consume", 4000, 200, false)
	r = runBench(t, b.addr, "consume", "--topic", "perf", "--records", "2500", "--group", "bench-readers")
	checkBench(t, r, "consume", 2500, 200, false)

	r = runBench(t, b.addr, "e2e", "--topic", "perf", "--records", "2000", "--record-size", "64", "--acks", "all")
	checkBench(t, r, "e2e", 2000, 64, true)
	if end, _ := topicEnd(t, b, "perf"); end != 6000 {
		t.Fatalf("after bench e2e perf has %d records, want 6000", end)
	}
	if r.FdatasyncP50 != nil || r.AckPerSync != nil {
		t.Fatalf("bench e2e without --fdatasync-dir = %+v, want no fdatasync figures", r)
	}
	// --fdatasync-dir: the cost of one durable write there, and the
	// acknowledgement median in those.
	r = runBench(t, b.addr, "e2e", "--topic", "perf", "--records", "500", "--record-size", "64", "--fdatasync-dir", t.TempDir())
	checkBench(t, r, "e2e", 500, 64, true)
	if r.FdatasyncP50 == nil || r.FdatasyncP99 == nil || r.AckPerSync == nil || *r.FdatasyncP50 <= 0 || *r.FdatasyncP50 > *r.FdatasyncP99 {
		t.Fatalf("bench e2e --fdatasync-dir = %+v, want fdatasync p50 <= p99, both positive, and the ratio", r)
	}
	if want := *r.AckP50 / *r.FdatasyncP50; *r.AckPerSync < want*0.99-0.01 || *r.AckPerSync > want*1.01+0.01 {
		t.Fatalf("ack_p50_per_fdatasync %v, want ack p50 %v / fdatasync p50 %v", *r.AckPerSync, *r.AckP50, *r.FdatasyncP50)
	}
	cliFails(t, b.addr, "--fdatasync-dir", "bench", "e2e", "--topic", "perf", "--records", "10", "--fdatasync-dir", t.TempDir()+"/missing")

	// --duration with --rate: a bounded run at a bounded rate.
	r = runBench(t, b.addr, "produce", "--topic", "paced", "--duration", "1s", "--rate", "500", "--record-size", "10")
	checkBench(t, r, "produce", -1, 10, true)
	if r.Records < 100 || r.Records > 500 || r.Seconds < 0.9 {
		t.Fatalf("paced bench produce = %+v, want at most 500 records (about 500) over about 1s", r)
	}
	if end, parts := topicEnd(t, b, "paced"); end != r.Records || parts != 6 {
		t.Fatalf("paced has %d records in %d partitions, want %d in 6", end, parts, r.Records)
	}

	cliMisused(t, b.addr, "--acks", "bench", "produce", "--acks", "2", "--records", "1")
	cliMisused(t, b.addr, "record-size", "bench", "e2e", "--record-size", "4")
	cliFails(t, b.addr, "UNKNOWN_TOPIC_OR_PARTITION", "bench", "consume", "--topic", "nothing-here")
	createTopicWith(t, b.client(), "empty", 1)
	cliFails(t, b.addr, "is empty", "bench", "consume", "--topic", "empty")
}
