package test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCLICopyKeepsOldTimestamps follows the README's copy recipe,
// `consume --output json | produce --input json`, for a record written an
// hour ago: the copy keeps the original timestamp, and its age is no reason
// to fail it (a produce is bounded by --timeout from when the line is read).
func TestCLICopyKeepsOldTimestamps(t *testing.T) {
	b := startBroker(t, nil)
	cl := b.client()
	createTopicWith(t, cl, "src", 1)
	createTopicWith(t, cl, "dst", 1)
	hourAgo := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	if err := cl.ProduceSync(testContext(t, 15*time.Second),
		&kgo.Record{Topic: "src", Key: []byte("k"), Value: []byte("old"), Timestamp: hourAgo}).FirstErr(); err != nil {
		t.Fatalf("produce to src: %v", err)
	}

	dump := cli(t, b.addr, "", "consume", "src", "-e", "--output", "json")
	out := cli(t, b.addr, dump, "produce", "dst", "--input", "json", "--timeout", "5s")
	expectLines(t, "produce --input json", out, "produced 1 record to dst")

	recs := consumeAll(t, b.addr, "dst", 1)
	if r := recs[0]; string(r.Key) != "k" || string(r.Value) != "old" || !r.Timestamp.Equal(hourAgo) {
		t.Fatalf("copied record: key %q value %q at %v, want k old at %v", r.Key, r.Value, r.Timestamp, hourAgo)
	}
	var line struct {
		Timestamp int64 `json:"timestamp"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(dump)), &line); err != nil || line.Timestamp != hourAgo.UnixMilli() {
		t.Fatalf("consume --output json printed %q (%v), want timestamp %d", dump, err, hourAgo.UnixMilli())
	}
}
