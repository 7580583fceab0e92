package test

// Consumer groups driven by segmentio/kafka-go's Reader with a GroupID
// (issue 3, "What to show"). kafka-go speaks the oldest group API versions
// (JoinGroup v1/v2, OffsetCommit v2, FindCoordinator v0). Three readers
// share a 12-partition topic and commit after processing: every record is
// processed exactly once, by the reader the group assigned its partition
// to; a reader that closes (LeaveGroup) has its partitions reassigned at
// once and the other two finish the work.
//
// kafka-go does not hold a rebalance while messages are being processed,
// so records are produced only while the group is stable: exactly-once is
// then the coordinator's doing, not a matter of timing.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
)

type kafkaGoMember struct {
	t      testing.TB
	name   string
	r      *kafka.Reader
	ledger *groupLedger

	mu     sync.Mutex
	errs   []error
	closed bool

	cancel context.CancelFunc
	done   chan struct{}
}

func startKafkaGoMember(t testing.TB, addr, group, topic, name string, l *groupLedger) *kafkaGoMember {
	t.Helper()
	m := &kafkaGoMember{t: t, name: name, ledger: l, done: make(chan struct{})}
	m.r = kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{addr},
		GroupID:           group,
		Topic:             topic,
		Dialer:            &kafka.Dialer{ClientID: "sluice-test-" + name, Timeout: 10 * time.Second},
		MinBytes:          1,
		MaxBytes:          4 << 20,
		MaxWait:           250 * time.Millisecond,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    30 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  200 * time.Millisecond,
		CommitInterval:    0, // CommitMessages commits synchronously
		StartOffset:       kafka.FirstOffset,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    250 * time.Millisecond,
		Logger:            kafkaGoLogger(name),
		ErrorLogger:       kafkaGoLogger(name),
	})
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(ctx)
	t.Cleanup(m.close)
	return m
}

// kafkaGoLogger logs a reader's group activity when SLUICE_TEST_KGO_LOG
// is set.
func kafkaGoLogger(name string) kafka.Logger {
	if os.Getenv("SLUICE_TEST_KGO_LOG") == "" {
		return nil
	}
	return kafka.LoggerFunc(func(msg string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %s %s\n", time.Now().Format("15:04:05.000"), name, fmt.Sprintf(msg, args...))
	})
}

func (m *kafkaGoMember) fail(err error) {
	m.mu.Lock()
	m.errs = append(m.errs, err)
	m.mu.Unlock()
}

func (m *kafkaGoMember) run(ctx context.Context) {
	defer close(m.done)
	for {
		first, err := m.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			m.fail(fmt.Errorf("fetch: %w", err))
			time.Sleep(50 * time.Millisecond) // a pause before fetching again, not a wait for a state
			continue
		}
		// Gather what is ready, to commit a batch at a time.
		batch := []kafka.Message{first}
		for len(batch) < 500 {
			bctx, cancel := context.WithTimeout(ctx, 2*time.Millisecond)
			msg, err := m.r.FetchMessage(bctx)
			cancel()
			if err != nil {
				break
			}
			batch = append(batch, msg)
		}
		for _, msg := range batch {
			m.ledger.process(m.name, tpo{int32(msg.Partition), msg.Offset}, msg.Key, msg.Value)
		}
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := m.r.CommitMessages(cctx, batch...); err != nil {
			m.fail(fmt.Errorf("commit: %w", err))
		}
		cancel()
	}
}

// close stops reading and closes the reader, which leaves the group.
func (m *kafkaGoMember) close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	<-m.done
	closed := make(chan error, 1)
	go func() { closed <- m.r.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			m.t.Errorf("kafka-go reader %s: close: %v", m.name, err)
		}
	case <-time.After(30 * time.Second):
		m.t.Errorf("kafka-go reader %s: close took more than 30s", m.name)
	}
}

func (m *kafkaGoMember) checkNoErrors(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, err := range m.errs {
		t.Errorf("kafka-go reader %s: %v", m.name, err)
	}
	if len(m.errs) > 0 {
		t.FailNow()
	}
}

// stableAssignment returns each member's partitions of topic once group
// is Stable with exactly members members, sharing all n partitions, each
// with some.
func stableAssignment(t testing.TB, adm *kadm.Client, group, topic string, n, members int) ([]map[int32]bool, bool) {
	t.Helper()
	described, err := adm.DescribeGroups(testContext(t, 10*time.Second), group)
	if err != nil {
		t.Fatalf("describe %s: %v", group, err)
	}
	d := described[group]
	if d.Err != nil || d.State != "Stable" || len(d.Members) != members {
		return nil, false
	}
	var out []map[int32]bool
	seen := map[int32]bool{}
	for _, m := range d.Members {
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			return nil, false
		}
		parts := map[int32]bool{}
		for _, at := range a.Topics {
			for _, p := range at.Partitions {
				if at.Topic != topic || seen[p] {
					return nil, false
				}
				seen[p], parts[p] = true, true
			}
		}
		if len(parts) == 0 {
			return nil, false
		}
		out = append(out, parts)
	}
	return out, len(seen) == n
}

// checkProcessedAsAssigned asserts that each reader processed records of
// exactly the partitions of one member's assignment, a different member for
// each reader. processed gives a reader's partitions.
func checkProcessedAsAssigned(t testing.TB, assigned []map[int32]bool, processed func(*kafkaGoMember) map[int32]bool, readers ...*kafkaGoMember) {
	t.Helper()
	used := map[int]bool{}
	for _, r := range readers {
		got := processed(r)
		match := -1
		for i, a := range assigned {
			if !used[i] && groupEqualSets(got, a) {
				match = i
			}
		}
		if match < 0 {
			var want [][]int32
			for _, a := range assigned {
				want = append(want, groupSortedParts(a))
			}
			t.Fatalf("reader %s processed partitions %v, which is not one member's assignment of %v", r.name, groupSortedParts(got), want)
		}
		used[match] = true
	}
}

// TestGroupKafkaGoReadersExactlyOnce: three kafka-go readers consume
// 200,000 records exactly once, each the partitions the group assigned it;
// one closes, the other two get its partitions at once and consume 40,000
// more records exactly once.
func TestGroupKafkaGoReadersExactlyOnce(t *testing.T) {
	t.Parallel()
	const (
		topic = "grp-kafkago"
		group = "grp-kafkago"
		n     = 200_000
	)
	b := startBroker(t, groupSettings())
	b.createTopic(topic, 12, nil)
	adm := kadm.NewClient(b.client())
	l := newGroupLedger(nil)
	r1 := startKafkaGoMember(t, b.addr, group, topic, "r1", l)
	r2 := startKafkaGoMember(t, b.addr, group, topic, "r2", l)
	r3 := startKafkaGoMember(t, b.addr, group, topic, "r3", l)

	var assigned []map[int32]bool
	waitFor(t, 60*time.Second, "three readers to share 12 partitions", func() bool {
		var ok bool
		assigned, ok = stableAssignment(t, adm, group, topic, 12, 3)
		return ok
	})
	records := makeRecords(topic, n, 61)
	produceAll(t, b.client(), records)
	l.expect(records)
	waitFor(t, 60*time.Second, fmt.Sprintf("all %d records to be processed", n), func() bool { return l.distinct() == n })
	checkProcessedAsAssigned(t, assigned, func(r *kafkaGoMember) map[int32]bool { return l.partitionsOf(r.name) }, r1, r2, r3)
	l.check(t, nil)
	groupCheckCommittedAtEnd(t, b.addr, group, topic)

	// r3 leaves: r1 and r2 get its partitions well before its 30 s session
	// timeout would have expired.
	r3.close()
	left := time.Now()
	waitFor(t, 30*time.Second, "two readers to share 12 partitions", func() bool {
		var ok bool
		assigned, ok = stableAssignment(t, adm, group, topic, 12, 2)
		return ok
	})
	if d := time.Since(left); d > 10*time.Second {
		t.Fatalf("r3's partitions were reassigned %v after it left; want at once, not after the 30s session timeout", d)
	}
	more := makeRecords(topic, 40_000, 62)
	produceAll(t, b.client(), more)
	l.expect(more)
	waitFor(t, 60*time.Second, "the records produced after r3 left to be processed", func() bool { return l.distinct() == n+len(more) })
	after := map[tpo]bool{}
	for _, r := range more {
		after[tpo{r.Partition, r.Offset}] = true
	}
	checkProcessedAsAssigned(t, assigned, func(r *kafkaGoMember) map[int32]bool {
		got := map[int32]bool{}
		for _, k := range l.processedBy(r.name) {
			if after[k] {
				got[k.partition] = true
			}
		}
		return got
	}, r1, r2)
	r1.close()
	r2.close()
	for _, r := range []*kafkaGoMember{r1, r2, r3} {
		r.checkNoErrors(t)
	}
	l.check(t, nil)
	groupCheckCommittedAtEnd(t, b.addr, group, topic)
}
