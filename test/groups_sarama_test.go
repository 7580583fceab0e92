package test

// Consumer groups driven by IBM/sarama's ConsumerGroup (issue 3, "What to
// show"): three members share a 12-partition topic and, marking each
// message after processing it (sarama commits marks every interval and at
// the end of each session, before it rejoins), process every record exactly
// once across eager rebalances and a member leaving mid-stream. Each of
// sarama's assignors works, since the broker passes their metadata through
// untouched, and the assignments have the exact shape the assignor
// computes.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
)

// saramaMember is one sarama group consumer processing into a ledger.
type saramaMember struct {
	t      testing.TB
	name   string
	topic  string
	group  sarama.ConsumerGroup
	ledger *groupLedger
	slow   atomic.Bool

	mu        sync.Mutex
	owned     map[int32]bool // partitions with a running ConsumeClaim
	memberID  string
	sessions  int
	processed int
	errs      []error
	closed    bool

	cancel context.CancelFunc
	done   chan struct{}
}

func saramaGroupConfig(name string, strategy sarama.BalanceStrategy) *sarama.Config {
	cfg := saramaConfig()
	cfg.ClientID = "sluice-test-" + name
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 30 * time.Second
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 200 * time.Millisecond
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
	cfg.Consumer.MaxWaitTime = 250 * time.Millisecond
	return cfg
}

func startSaramaMember(t testing.TB, addr, group, topic, name string, l *groupLedger, cfg *sarama.Config, slow bool) *saramaMember {
	t.Helper()
	g, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("sarama member %s: %v", name, err)
	}
	m := &saramaMember{t: t, name: name, topic: topic, group: g, ledger: l, owned: map[int32]bool{}, done: make(chan struct{})}
	m.slow.Store(slow)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		for err := range g.Errors() {
			m.mu.Lock()
			m.errs = append(m.errs, err)
			m.mu.Unlock()
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{topic}, m); err != nil {
				if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
					return
				}
				m.mu.Lock()
				m.errs = append(m.errs, fmt.Errorf("consume: %w", err))
				m.mu.Unlock()
				time.Sleep(100 * time.Millisecond) // a pause before joining again, not a wait for a state
			}
		}
	}()
	t.Cleanup(m.stop)
	return m
}

func (m *saramaMember) Setup(sess sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.memberID = sess.MemberID()
	m.sessions++
	return nil
}

// Cleanup commits what was marked; sarama would too, right after.
func (m *saramaMember) Cleanup(sess sarama.ConsumerGroupSession) error {
	sess.Commit()
	return nil
}

func (m *saramaMember) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	p := claim.Partition()
	m.mu.Lock()
	m.owned[p] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.owned, p)
		m.mu.Unlock()
	}()
	n := 0
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			m.ledger.process(m.name, tpo{msg.Partition, msg.Offset}, msg.Key, msg.Value)
			sess.MarkMessage(msg, "")
			m.mu.Lock()
			m.processed++
			m.mu.Unlock()
			if n++; m.slow.Load() && n%50 == 0 {
				time.Sleep(2 * time.Millisecond) // keep consumption going while the group changes
			}
		}
	}
}

func (m *saramaMember) ownedSet() map[int32]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int32]bool{}
	for p := range m.owned {
		out[p] = true
	}
	return out
}

func (m *saramaMember) id() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.memberID
}

// leave closes the consumer group: its session ends, marks are committed
// and it sends LeaveGroup.
func (m *saramaMember) leave() {
	m.t.Helper()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	closed := make(chan error, 1)
	go func() { closed <- m.group.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			m.t.Errorf("sarama member %s: close: %v", m.name, err)
		}
	case <-time.After(30 * time.Second):
		m.t.Errorf("sarama member %s: close took more than 30s", m.name)
		return
	}
	<-m.done
}

func (m *saramaMember) stop() { m.leave() }

func (m *saramaMember) checkNoErrors(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, err := range m.errs {
		t.Errorf("sarama member %s: %v", m.name, err)
	}
	if len(m.errs) > 0 {
		t.FailNow()
	}
}

// saramaSplit reports whether members own disjoint partitions that are
// together exactly 0..n-1, each as many as per says.
func saramaSplit(n int, per []int, members ...*saramaMember) bool {
	seen := map[int32]bool{}
	for i, m := range members {
		owned := m.ownedSet()
		if len(owned) != per[i] {
			return false
		}
		for p := range owned {
			if seen[p] || p < 0 || int(p) >= n {
				return false
			}
			seen[p] = true
		}
	}
	return len(seen) == n
}

// TestGroupSaramaThreeMembersExactlyOnce: three sarama members, started one
// after the other while 200,000 records wait, share a 12-partition topic
// four partitions each; one leaves mid-stream and the other two finish. Each
// record is processed exactly once.
func TestGroupSaramaThreeMembersExactlyOnce(t *testing.T) {
	t.Parallel()
	const (
		topic = "grp-sarama"
		group = "grp-sarama"
		n     = 200_000
	)
	b := startBroker(t, groupSettings())
	b.createTopic(topic, 12, nil)
	records := makeRecords(topic, n, 51)
	produceAll(t, b.client(), records)
	l := newGroupLedger(records)
	adm := b.admin()

	var members []*saramaMember
	for _, name := range []string{"a", "b", "c"} {
		members = append(members, startSaramaMember(t, b.addr, group, topic, name, l, saramaGroupConfig(name, sarama.NewBalanceStrategyRange()), true))
		// Join one after the other: several eager rebalances.
		waitFor(t, 30*time.Second, fmt.Sprintf("%d members in group %s", len(members), group), func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			d, err := adm.DescribeGroups(ctx, group)
			return err == nil && len(d[group].Members) == len(members)
		})
	}
	waitFor(t, 60*time.Second, "three sarama members to own 4 partitions each", func() bool {
		return saramaSplit(12, []int{4, 4, 4}, members...)
	})
	waitFor(t, 30*time.Second, "each member to process records", func() bool {
		for _, m := range members {
			m.mu.Lock()
			processed := m.processed
			m.mu.Unlock()
			if processed == 0 {
				return false
			}
		}
		return true
	})
	c := members[2]
	c.leave()
	if got := l.distinct(); got >= n {
		t.Fatalf("all %d records were processed before c left; the test did not leave mid-stream", got)
	}
	left := time.Now()
	members[0].slow.Store(false)
	members[1].slow.Store(false)
	waitFor(t, 30*time.Second, "a and b to take over c's partitions", func() bool {
		return saramaSplit(12, []int{6, 6}, members[0], members[1])
	})
	if d := time.Since(left); d > 5*time.Second {
		t.Fatalf("c's partitions were reassigned %v after it left; want at once, not after the session timeout", d)
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("all %d records to be processed", n), func() bool { return l.distinct() == n })
	for _, m := range members {
		m.leave()
		m.checkNoErrors(t)
	}
	l.check(t, nil)
	groupCheckCommittedAtEnd(t, b.addr, group, topic)
}

// TestGroupSaramaAssignors: with each of sarama's assignors, three members
// get the exact assignment that assignor computes (range: consecutive
// blocks by member ID; roundrobin: partitions dealt out in turn by member
// ID; sticky ones: four each), the group reports the assignor as its
// protocol, and every record is processed exactly once.
func TestGroupSaramaAssignors(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	for _, tc := range []struct {
		name     string
		strategy sarama.BalanceStrategy
	}{
		{"range", sarama.NewBalanceStrategyRange()},
		{"roundrobin", sarama.NewBalanceStrategyRoundRobin()},
		{"sticky", sarama.NewBalanceStrategySticky()},
		{"cooperative-sticky", sarama.NewBalanceStrategyCooperativeSticky()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "grp-sarama-" + tc.name
			group := topic
			b.createTopic(topic, 12, nil)
			l := newGroupLedger(nil)
			var members []*saramaMember
			for _, name := range []string{"a", "b", "c"} {
				members = append(members, startSaramaMember(t, b.addr, group, topic, name, l, saramaGroupConfig(name, tc.strategy), false))
			}
			waitFor(t, 60*time.Second, "three sarama members to own 4 partitions each", func() bool {
				return saramaSplit(12, []int{4, 4, 4}, members...)
			})
			byID := slices.Clone(members)
			sort.Slice(byID, func(i, j int) bool { return byID[i].id() < byID[j].id() })
			// sarama's roundrobin deals partitions out in the order of
			// "topic-partition" strings: 0, 1, 10, 11, 2, 3, ...
			dealt := make([]string, 12)
			for p := range dealt {
				dealt[p] = fmt.Sprintf("%s-%d", topic, p)
			}
			sort.Strings(dealt)
			for k, m := range byID {
				want := map[int32]bool{}
				for i, name := range dealt {
					var p int32
					fmt.Sscanf(name[len(topic)+1:], "%d", &p)
					switch {
					case tc.name == "range" && int(p)/4 == k, tc.name == "roundrobin" && i%3 == k:
						want[p] = true
					}
				}
				if got := m.ownedSet(); len(want) > 0 && !groupEqualSets(got, want) {
					t.Fatalf("%s: the %d-th member by ID owns %v, want %v", tc.name, k, groupSortedParts(got), groupSortedParts(want))
				}
			}
			described, err := kadm.NewClient(b.client()).DescribeGroups(testContext(t, 10*time.Second), group)
			if err != nil {
				t.Fatalf("describe: %v", err)
			}
			if d := described[group]; d.Err != nil || d.State != "Stable" || d.Protocol != tc.name || d.ProtocolType != "consumer" || len(d.Members) != 3 {
				t.Fatalf("described %s: state %q protocol %q type %q, %d members (err %v); want Stable, %q, consumer, 3",
					group, d.State, d.Protocol, d.ProtocolType, len(d.Members), d.Err, tc.name)
			}
			records := makeRecords(topic, 6000, 52)
			produceAll(t, b.client(), records)
			l.expect(records)
			waitFor(t, 30*time.Second, "every record to be processed", func() bool { return l.distinct() == len(records) })
			for _, m := range members {
				if got := l.partitionsOf(m.name); !groupEqualSets(got, m.ownedSet()) {
					t.Fatalf("member %s processed partitions %v, owns %v", m.name, groupSortedParts(got), groupSortedParts(m.ownedSet()))
				}
			}
			for _, m := range members {
				m.leave()
				m.checkNoErrors(t)
			}
			l.check(t, nil)
			groupCheckCommittedAtEnd(t, b.addr, group, topic)
		})
	}
}
