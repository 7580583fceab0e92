package mirror

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func testMirror() *Mirror {
	return &Mirror{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), kick: make(chan struct{}, 1),
		parts: map[tp]*partition{}, topics: map[string]TopicStatus{}}
}

// A partition whose fetches keep failing (TOPIC_AUTHORIZATION_FAILED,
// KAFKA_STORAGE_ERROR...) is left out of fetches for a while that
// doubles up to a bound, so the copy loop does not spin on it; the
// others are fetched as usual, and with none left the loop learns when
// to try again.
func TestFailingPartitionBacksOff(t *testing.T) {
	t.Parallel()
	m := testMirror()
	bad := &partition{srcTopic: "a", dstTopic: "a", next: 0, fetchNext: 0}
	good := &partition{srcTopic: "b", dstTopic: "b", next: 0, fetchNext: 0}
	fetched := func(parts ...*partition) (n int, retryAt time.Time) {
		req, _, retryAt := m.fetchRequest(parts)
		if req == nil {
			return 0, retryAt
		}
		for _, t := range req.Topics {
			n += len(t.Partitions)
		}
		return n, retryAt
	}
	if n, _ := fetched(bad, good); n != 2 {
		t.Fatalf("fetch of %d partitions before any failure, want 2", n)
	}
	var last time.Duration
	for i := range 12 {
		before := time.Now()
		m.partitionFailed(bad, "fetch: TOPIC_AUTHORIZATION_FAILED")
		wait := bad.retryAt.Sub(before)
		if wait < last-10*time.Millisecond || wait > partitionBackoffMax+time.Second || wait <= 0 {
			t.Fatalf("failure %d: backoff %v after %v", i+1, wait, last)
		}
		last = wait
	}
	if last < partitionBackoffMax-time.Second {
		t.Fatalf("backoff after 12 failures is %v, want it grown to %v", last, partitionBackoffMax)
	}
	if n, _ := fetched(bad, good); n != 1 {
		t.Fatalf("fetch of %d partitions while one backs off, want 1", n)
	}
	n, retryAt := fetched(bad)
	if n != 0 || retryAt.IsZero() || !retryAt.Equal(bad.retryAt) {
		t.Fatalf("fetch with only a partition backing off: %d partitions, retry at %v (want %v)", n, retryAt, bad.retryAt)
	}
	// A fetch that works for it ends its backoff.
	bad.retryAt = time.Now().Add(-time.Millisecond)
	req, byKey, _ := m.fetchRequest([]*partition{bad})
	if req == nil {
		t.Fatal("no fetch once the backoff ended")
	}
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.HighWatermark, rp.LogStartOffset = 0, 0
	m.collect(bad, byKey[fetchKey{topic: "a"}].offset, &rp)
	if bad.failures != 0 || !bad.retryAt.IsZero() {
		t.Fatalf("after a fetch that worked: %d failures, retry at %v", bad.failures, bad.retryAt)
	}
}

// The source's log start sent alone is sent again when the append that
// carried it fails.
func TestLogStartAloneIsResentAfterAFailedAppend(t *testing.T) {
	t.Parallel()
	m := testMirror()
	p := &partition{srcTopic: "a", dstTopic: "a", next: 10, fetchNext: 10, copiedEnd: 10, dstStart: 0, askedStart: -1, srcEnd: -1}
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.HighWatermark, rp.LogStartOffset = 10, 5
	a, ok := m.collect(p, 10, &rp)
	if !ok || a.logStart != 5 || len(a.batches) != 0 {
		t.Fatalf("collect: %+v %v, want the log start 5 alone", a, ok)
	}
	// A target that cannot be reached: the append fails.
	dst, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.RequestRetries(0), kgo.RetryTimeout(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.appendTo(ctx, dst, 7, []pendingAppend{a})
	if p.err == "" {
		t.Fatal("the append to an unreachable target did not fail")
	}
	if a, ok := m.collect(p, p.fetchNext, &rp); !ok || a.logStart != 5 {
		t.Fatalf("collect after the failed append: %+v %v, want the log start 5 sent again", a, ok)
	}
}
