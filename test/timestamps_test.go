package test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// message.timestamp.type=LogAppendTime: the broker stamps batches with its
// own time, and consumers see that time and the LogAppendTime type.
func TestLogAppendTime(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("appended", 1, map[string]*string{"message.timestamp.type": ptr("LogAppendTime")})
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	before := time.Now().Add(-time.Second)
	ctx := testContext(t, 20*time.Second)
	if err := b.client().ProduceSync(ctx, &kgo.Record{Topic: "appended", Value: []byte("x"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	got := consumeAll(t, b.addr, "appended", 1)
	r := got[0]
	if r.Timestamp.Before(before) || r.Timestamp.After(after) {
		t.Fatalf("timestamp %v, want the broker's append time (between %v and %v)", r.Timestamp, before, after)
	}
	if r.Attrs.TimestampType() != 1 {
		t.Fatalf("timestamp type %d, want 1 (LogAppendTime)", r.Attrs.TimestampType())
	}
}

// KIP-937: CreateTime records too far in the past or future are refused
// with INVALID_TIMESTAMP; records inside the window are stored as sent.
func TestTimestampBounds(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("bounded", 1, map[string]*string{
		"message.timestamp.before.max.ms": ptr("3600000"),
		"message.timestamp.after.max.ms":  ptr("60000"),
	})
	cl := b.client(kgo.RecordRetries(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := testContext(t, 20*time.Second)
	now := time.Now()
	tests := []struct {
		name string
		ts   time.Time
		want error
	}{
		{"two hours ago", now.Add(-2 * time.Hour), kerr.InvalidTimestamp},
		{"half an hour ago", now.Add(-30 * time.Minute), nil},
		{"two minutes ahead", now.Add(2 * time.Minute), kerr.InvalidTimestamp},
		{"now", now, nil},
	}
	stored := 0
	for _, tt := range tests {
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "bounded", Value: []byte(tt.name), Timestamp: tt.ts}).FirstErr()
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Fatalf("%s: err %v, want %v", tt.name, err, tt.want)
		}
		if err == nil {
			stored++
		}
	}
	got := consumeAll(t, b.addr, "bounded", stored)
	if len(got) != 2 || string(got[0].Value) != "half an hour ago" || string(got[1].Value) != "now" {
		t.Fatalf("stored %d records: %q, %q", len(got), got[0].Value, got[len(got)-1].Value)
	}
}
