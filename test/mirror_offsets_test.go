package test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// runMirror runs a mirror from src to dst until the test ends (or the
// returned stop is called) and returns it.
func runMirror(t *testing.T, src, dst []string, cfg mirror.Config) (*mirror.Mirror, func()) {
	t.Helper()
	cfg.Source = append(cfg.Source, kgo.SeedBrokers(src...))
	cfg.Target = append(cfg.Target, kgo.SeedBrokers(dst...))
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 300 * time.Millisecond
	}
	cfg.Logger = testLogger(t)
	m, err := mirror.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("mirror run: %v", err)
			}
			m.Close()
		})
	}
	t.Cleanup(stop)
	return m, stop
}

// waitState polls cond (as waitForErr) until it holds, failing the test
// after timeout with the state cond last described.
func waitState(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	waitForErr(t, timeout, what, func() error {
		if ok, state := cond(); !ok {
			return errors.New(state)
		}
		return nil
	})
}

// waitCaughtUp waits until every partition of each topic has the same end
// offset on the target (under its mirror name) as on the source.
func waitCaughtUp(t *testing.T, src, dst *kadm.Client, rename func(string) string, topics ...string) {
	t.Helper()
	waitState(t, 60*time.Second, "mirror caught up", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, topic := range topics {
			se, err := src.ListEndOffsets(ctx, topic)
			if err != nil {
				return false, err.Error()
			}
			de, err := dst.ListEndOffsets(ctx, rename(topic))
			if err != nil {
				return false, err.Error()
			}
			var diff string
			se.Each(func(o kadm.ListedOffset) {
				d, ok := de.Lookup(rename(topic), o.Partition)
				if !ok || d.Err != nil || d.Offset != o.Offset {
					diff = fmt.Sprintf("%s/%d: source end %d, target %+v", topic, o.Partition, o.Offset, d)
				}
			})
			if diff != "" {
				return false, diff
			}
		}
		return true, ""
	})
}

// readAll reads every record of topic below its end offsets (aborted ones
// too with read_uncommitted), sorted by partition and offset.
func readAll(t *testing.T, seeds []string, topic string, committed bool) []*kgo.Record {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := newClient(t, seeds[0], kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso))
	ctx := testContext(t, 30*time.Second)
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	// Done when each partition's last offset below its end was read, or,
	// when the tail is markers or aborted records, after a quiet poll.
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	var out []*kgo.Record
	last := map[int32]int64{}
	for p := range want {
		last[p] = -1
	}
	done := func() bool {
		for p, end := range want {
			if end > 0 && last[p] < end-1 {
				return false
			}
		}
		return true
	}
	for !done() {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("read %s: %d records before the timeout", topic, len(out))
		}
		if fs.IsClientClosed() {
			break
		}
		if pctx.Err() != nil && len(fs.Records()) == 0 {
			break // nothing more below the end (the tail is markers or aborted)
		}
		for _, r := range fs.Records() {
			out = append(out, r)
			last[r.Partition] = r.Offset
		}
	}
	slices.SortStableFunc(out, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out
}

// sameRecords fails unless got and want hold the same records at the same
// partitions and offsets, with the same keys, values, headers, timestamps
// and producer IDs.
func sameRecords(t *testing.T, what string, got, want []*kgo.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Partition != w.Partition || g.Offset != w.Offset || string(g.Key) != string(w.Key) || string(g.Value) != string(w.Value) ||
			!g.Timestamp.Equal(w.Timestamp) || g.ProducerID != w.ProducerID || g.ProducerEpoch != w.ProducerEpoch ||
			!slices.EqualFunc(g.Headers, w.Headers, func(a, b kgo.RecordHeader) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }) {
			t.Fatalf("%s: record %d is %d/%d key %q value %q ts %v pid %d headers %v; want %d/%d key %q value %q ts %v pid %d headers %v",
				what, i, g.Partition, g.Offset, g.Key, g.Value, g.Timestamp, g.ProducerID, g.Headers,
				w.Partition, w.Offset, w.Key, w.Value, w.Timestamp, w.ProducerID, w.Headers)
		}
	}
}

// produceSync produces records and fails the test on any error.
func produceSync(t *testing.T, cl *kgo.Client, rs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(testContext(t, 30*time.Second), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// The core of issue 17: records copied to a Sluice target land at their
// source offsets with their keys, values, headers, timestamps, producer
// IDs and transaction markers (aborted records stay aborted, the gaps of
// markers stay gaps); the mirror topic refuses clients' writes until it
// is promoted; a consumer group that stops on the source resumes on the
// target at the next record after promotion.
func TestMirrorKeepsOffsetsAndGroupFailsOver(t *testing.T) {
	t.Parallel()
	// The source cleans at once; the target not at all, so that what the
	// test compares is what was copied, not a later cleaning of it.
	src := startBroker(t, map[string]string{"log.cleaner.backoff.ms": "50"})
	dst := startBroker(t, map[string]string{"log.cleaner.enable": "false"})
	src.createTopic("orders", 3, map[string]*string{"retention.ms": kadm.StringPtr("86400000")})
	src.createTopic("compacted", 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact"),
		"segment.bytes": kadm.StringPtr("65536"), "min.cleanable.dirty.ratio": kadm.StringPtr("0.01")})
	src.createTopic("payments", 2, nil)

	// Several producers, with keys and headers.
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := src.client(kgo.DefaultProduceTopic("orders"))
			for j := range 100 {
				k := fmt.Sprintf("p%d-%03d", i, j)
				produceSync(t, cl, &kgo.Record{Key: []byte(k), Value: []byte("order " + k),
					Headers: []kgo.RecordHeader{{Key: "producer", Value: []byte(fmt.Sprint(i))}, {Key: "seq", Value: []byte(fmt.Sprint(j))}}})
			}
		}()
	}
	wg.Wait()
	// A compacted topic of several segments, cleaned before the mirror
	// starts: its gaps must stay gaps on the target.
	comp := src.client(kgo.DefaultProduceTopic("compacted"), kgo.ProducerBatchMaxBytes(8<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	pad := strings.Repeat("c", 1000)
	for j := range 200 {
		produceSync(t, comp, &kgo.Record{Key: []byte(fmt.Sprintf("key-%d", j%7)), Value: []byte(fmt.Sprintf("v%d-%s", j, pad))})
	}
	waitState(t, 60*time.Second, "source compacted", func() (bool, string) {
		n := len(readAll(t, []string{src.addr}, "compacted", false))
		return n < 200, fmt.Sprintf("%d records", n)
	})
	// Transactions: committed and aborted, markers between them.
	txn := src.client(kgo.TransactionalID("mirror-txn"), kgo.DefaultProduceTopic("payments"))
	for round := range 4 {
		ctx := testContext(t, 30*time.Second)
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 10 {
			produceSync(t, txn, &kgo.Record{Partition: int32(j % 2), Key: []byte(fmt.Sprintf("t%d-%d", round, j)), Value: []byte(fmt.Sprintf("payment %d-%d", round, j))})
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(round%2 == 0)); err != nil {
			t.Fatal(err)
		}
	}

	srcAdm, dstAdm := src.admin(), dst.admin()
	m, _ := runMirror(t, []string{src.addr}, []string{dst.addr}, mirror.Config{
		Groups: regexp.MustCompile(`^app-`), SyncGroupOffsetsInterval: 100 * time.Millisecond,
	})
	same := func(s string) string { return s }
	waitCaughtUp(t, srcAdm, dstAdm, same, "orders", "compacted", "payments")

	for _, topic := range []string{"orders", "compacted", "payments"} {
		sameRecords(t, topic+" (read_uncommitted)", readAll(t, []string{dst.addr}, topic, false), readAll(t, []string{src.addr}, topic, false))
	}
	committed := readAll(t, []string{dst.addr}, "payments", true)
	sameRecords(t, "payments (read_committed)", committed, readAll(t, []string{src.addr}, "payments", true))
	if len(committed) != 20 {
		t.Fatalf("read_committed on the mirror: %d records, want the 20 of the two committed transactions", len(committed))
	}
	// Synced configs and the mirror's own.
	rcs, err := dstAdm.DescribeTopicConfigs(testContext(t, 10*time.Second), "orders", "compacted")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		want := map[string]string{"sluice.mirror.state": "mirroring"}
		if rc.Name == "orders" {
			want["retention.ms"] = "86400000"
		} else {
			want["cleanup.policy"], want["segment.bytes"], want["min.cleanable.dirty.ratio"] = "compact", "65536", "0.5"
		}
		for _, c := range rc.Configs {
			if w, ok := want[c.Key]; ok {
				if c.Value == nil || *c.Value != w {
					t.Errorf("%s: %s = %v, want %s", rc.Name, c.Key, c.Value, w)
				}
				delete(want, c.Key)
			}
		}
		if len(want) > 0 {
			t.Errorf("%s: configs %v missing", rc.Name, want)
		}
	}

	// Clients may not write to a mirror topic.
	dcl := dst.client(kgo.DefaultProduceTopic("orders"), kgo.RecordRetries(2))
	err = dcl.ProduceSync(testContext(t, 30*time.Second), &kgo.Record{Value: []byte("intruder")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce to a mirror topic: %v, want INVALID_TOPIC_EXCEPTION", err)
	}

	// A group consumes part of orders on the source and stops.
	const group = "app-orders"
	consumed := map[string]bool{}
	gcl := newClient(t, src.addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	for len(consumed) < 120 {
		fs := gcl.PollRecords(testContext(t, 30*time.Second), 120-len(consumed))
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { consumed[string(r.Value)] = true })
	}
	if err := gcl.CommitUncommittedOffsets(testContext(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	gcl.Close()
	srcCommitted, err := srcAdm.FetchOffsets(testContext(t, 10*time.Second), group)
	if err != nil {
		t.Fatal(err)
	}
	// More records while the mirror runs.
	more := src.client(kgo.DefaultProduceTopic("orders"))
	for j := range 30 {
		produceSync(t, more, &kgo.Record{Key: []byte(fmt.Sprintf("late-%d", j)), Value: []byte(fmt.Sprintf("order late-%d", j))})
	}
	waitCaughtUp(t, srcAdm, dstAdm, same, "orders")
	waitState(t, 30*time.Second, "group offsets synced", func() (bool, string) {
		got, err := dstAdm.FetchOffsets(testContext(t, 10*time.Second), group)
		if err != nil {
			return false, err.Error()
		}
		diff := ""
		srcCommitted.Each(func(o kadm.OffsetResponse) {
			if g, ok := got.Lookup("orders", o.Partition); !ok || g.At != o.At {
				diff = fmt.Sprintf("partition %d: target %v, source %d", o.Partition, g.At, o.At)
			}
		})
		return diff == "", diff
	})

	// Fail over: promote, then the same group on the target.
	promoted, err := mirror.Promote(testContext(t, 10*time.Second), dstAdm, []string{"orders"}, false)
	if err != nil || len(promoted) != 1 || promoted[0].Topic != "orders" {
		t.Fatalf("promote: %v %v", promoted, err)
	}
	waitState(t, 10*time.Second, "mirror stops copying orders", func() (bool, string) {
		topics, _ := m.Status()
		for _, ts := range topics {
			if ts.SourceTopic == "orders" {
				return ts.State == mirror.StatePromoted, ts.State
			}
		}
		return false, "no status"
	})
	total := 330
	tcl := newClient(t, dst.addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for len(consumed) < total {
		fs := tcl.PollFetches(testContext(t, 30*time.Second))
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		var dup string
		fs.EachRecord(func(r *kgo.Record) {
			if consumed[string(r.Value)] {
				dup = string(r.Value)
			}
			consumed[string(r.Value)] = true
		})
		if dup != "" {
			t.Fatalf("record %q consumed again on the target after failover", dup)
		}
	}
	// Promoted: writable now.
	produceSync(t, dcl, &kgo.Record{Value: []byte("after failover")})
	// Others are still mirrored and still read-only.
	err = dst.client(kgo.DefaultProduceTopic("payments"), kgo.RecordRetries(2)).ProduceSync(testContext(t, 30*time.Second), &kgo.Record{Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce to a mirror topic still mirroring: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
}
