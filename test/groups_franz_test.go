package test

// Consumer groups driven by franz-go (issue 3, "What to show"). Three
// members share a 12-partition topic and process every record exactly once
// when all commit; a member that dies without leaving keeps its partitions
// until the session timeout, then the others take them over and only its
// uncommitted tail is processed twice; a member that leaves triggers an
// immediate rebalance; a static member (KIP-345) restarted within the
// session timeout gets its partitions back with no rebalance; and a
// cooperative-sticky (KIP-429) or KIP-848 group moves only the partitions
// that must move when a fourth member joins.
//
// Members commit synchronously after processing each poll, and poll with
// BlockRebalanceOnPoll, so a partition changes hands only after its owner
// committed everything it processed: with a correct coordinator, the only
// records processed twice are those a crashed member processed but never
// committed.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupSettings are broker settings that keep group tests fast: no initial
// rebalance delay, session timeouts down to one second, few offsets
// partitions, and KIP-848 heartbeats every half second.
func groupSettings() map[string]string {
	return map[string]string{
		"group.initial.rebalance.delay.ms":         "0",
		"group.min.session.timeout.ms":             "1000",
		"offsets.topic.num.partitions":             "4",
		"group.consumer.min.session.timeout.ms":    "6000",
		"group.consumer.session.timeout.ms":        "10000",
		"group.consumer.min.heartbeat.interval.ms": "500",
		"group.consumer.heartbeat.interval.ms":     "500",
	}
}

// groupLedger records which member processed each record, by partition and
// offset, and what it held, to check against what was produced there.
type groupLedger struct {
	mu    sync.Mutex
	want  map[tpo]*kgo.Record
	first map[tpo]string   // the member that processed a record first
	again map[tpo][]string // members that processed it again
	got   map[tpo][]uint64 // a hash of key and value, each time processed
}

func newGroupLedger(produced []*kgo.Record) *groupLedger {
	l := &groupLedger{want: map[tpo]*kgo.Record{}, first: map[tpo]string{}, again: map[tpo][]string{}, got: map[tpo][]uint64{}}
	l.expect(produced)
	return l
}

// expect adds produced records that the group should process. Records may
// be processed before the producer learns their offsets and calls expect.
func (l *groupLedger) expect(produced []*kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range produced {
		l.want[tpo{r.Partition, r.Offset}] = r
	}
}

func groupRecordHash(k, v []byte) uint64 {
	h := fnv.New64a()
	h.Write(k)
	h.Write([]byte{0})
	h.Write(v)
	return h.Sum64()
}

func (l *groupLedger) process(member string, key tpo, k, v []byte) {
	h := groupRecordHash(k, v)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got[key] = append(l.got[key], h)
	if _, seen := l.first[key]; seen {
		l.again[key] = append(l.again[key], member)
		return
	}
	l.first[key] = member
}

func (l *groupLedger) processKgo(member string, rs []*kgo.Record) {
	for _, r := range rs {
		l.process(member, tpo{r.Partition, r.Offset}, r.Key, r.Value)
	}
}

// distinct is how many different records were processed.
func (l *groupLedger) distinct() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.first)
}

// processedBy lists the records a member processed first.
func (l *groupLedger) processedBy(member string) []tpo {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []tpo
	for k, m := range l.first {
		if m == member {
			out = append(out, k)
		}
	}
	return out
}

// partitionsOf is the set of partitions in which member processed records.
func (l *groupLedger) partitionsOf(member string) map[int32]bool {
	out := map[int32]bool{}
	for _, k := range l.processedBy(member) {
		out[k.partition] = true
	}
	return out
}

// check asserts that every expected record was processed, that no record
// differs from what was produced, and that the records processed more than
// once are exactly those in allowed, each processed once more by a member
// other than the one that processed it first.
func (l *groupLedger) check(t testing.TB, allowed map[tpo]bool) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	bad := 0
	for k, hs := range l.got {
		w, ok := l.want[k]
		for _, h := range hs {
			if !ok || h != groupRecordHash(w.Key, w.Value) {
				if bad < 5 {
					t.Errorf("%s processed %d/%d, which holds a record other than produced there (produced: %v)", l.first[k], k.partition, k.offset, ok)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d records processed differ from what was produced", bad)
	}
	missing := 0
	for k := range l.want {
		if _, ok := l.first[k]; !ok {
			if missing < 5 {
				t.Errorf("record %d/%d was never processed", k.partition, k.offset)
			}
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d records were never processed", missing, len(l.want))
	}
	var unexpected []string
	for k, ms := range l.again {
		if !allowed[k] || len(ms) != 1 || ms[0] == l.first[k] {
			unexpected = append(unexpected, fmt.Sprintf("%d/%d first by %s, again by %v", k.partition, k.offset, l.first[k], ms))
		}
	}
	if len(unexpected) > 0 {
		sort.Strings(unexpected)
		t.Fatalf("%d records processed more than once outside the allowed set of %d, e.g. %v",
			len(unexpected), len(allowed), unexpected[:min(len(unexpected), 5)])
	}
	for k := range allowed {
		if len(l.again[k]) == 0 {
			t.Fatalf("record %d/%d, processed but never committed by %s, was not processed again after the takeover", k.partition, k.offset, l.first[k])
		}
	}
}

// groupCutDialer dials the broker directly until cut. Cutting closes every
// connection it made and refuses new ones, so the client vanishes from the
// broker's view without a LeaveGroup: a crashed or partitioned consumer.
type groupCutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *groupCutDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("test: this member is dead")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *groupCutDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

// groupEvent is one OnPartitions{Assigned,Revoked,Lost} callback.
type groupEvent struct {
	at    time.Time
	parts []int32
}

// franzMember is a kgo group consumer that processes each poll into a
// ledger and then commits it.
type franzMember struct {
	t        testing.TB
	name     string
	topic    string
	cl       *kgo.Client
	dialer   *groupCutDialer
	ledger   *groupLedger
	throttle atomic.Int64 // a pause after each poll, in nanoseconds

	mu        sync.Mutex
	owned     map[int32]bool
	assigns   []groupEvent
	revokes   []groupEvent
	losts     []groupEvent
	committed map[int32]int64 // next offsets the coordinator acknowledged
	firstSeen map[int32]int64 // offset of the first record polled per partition
	processed int
	retries   int // commits retried after REBALANCE_IN_PROGRESS
	errs      []error
	diedAt    time.Time
	closed    bool

	die    chan struct{} // closed: crash after processing the next poll, before committing it
	leave  chan struct{} // closed: stop after the current commit, then Close (leaving)
	cancel context.CancelFunc
	done   chan struct{}
}

// startFranzMember starts a member of group consuming topic. Later opts
// override the defaults (a 6 s session timeout, heartbeats every 500 ms,
// the cooperative-sticky balancer).
func startFranzMember(t testing.TB, addr, group, topic, name string, l *groupLedger, throttle time.Duration, opts ...kgo.Opt) *franzMember {
	t.Helper()
	m := &franzMember{
		t: t, name: name, topic: topic, dialer: &groupCutDialer{}, ledger: l,
		owned: map[int32]bool{}, committed: map[int32]int64{}, firstSeen: map[int32]int64{},
		die: make(chan struct{}), leave: make(chan struct{}), done: make(chan struct{}),
	}
	all := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.Dialer(m.dialer.dial),
		kgo.ClientID("sluice-test-" + name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(6 * time.Second),
		kgo.HeartbeatInterval(500 * time.Millisecond),
		kgo.RebalanceTimeout(30 * time.Second),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { m.event(&m.assigns, a[topic], true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { m.event(&m.revokes, r[topic], false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { m.event(&m.losts, r[topic], false) }),
	}
	if os.Getenv("SLUICE_TEST_KGO_LOG") != "" { // the client's view of the group, for debugging
		all = append(all, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, func() string { return name + " " })))
	}
	cl, err := kgo.NewClient(append(all, opts...)...)
	if err != nil {
		t.Fatalf("member %s: %v", name, err)
	}
	m.cl = cl
	m.throttle.Store(int64(throttle))
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(ctx)
	t.Cleanup(m.stop)
	return m
}

func (m *franzMember) event(to *[]groupEvent, parts []int32, assigned bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts = slices.Sorted(slices.Values(parts))
	*to = append(*to, groupEvent{time.Now(), parts})
	for _, p := range parts {
		if assigned {
			m.owned[p] = true
		} else {
			delete(m.owned, p)
		}
	}
}

func (m *franzMember) run(ctx context.Context) {
	defer close(m.done)
	for {
		select {
		case <-m.leave:
			return
		default:
		}
		fs := m.cl.PollRecords(ctx, 200)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			m.mu.Lock()
			m.errs = append(m.errs, fmt.Errorf("fetch %s/%d: %w", topic, p, err))
			m.mu.Unlock()
		})
		recs := fs.Records()
		if len(recs) == 0 {
			m.cl.AllowRebalance()
			continue
		}
		m.ledger.processKgo(m.name, recs)
		m.mu.Lock()
		m.processed += len(recs)
		for _, r := range recs {
			if _, ok := m.firstSeen[r.Partition]; !ok {
				m.firstSeen[r.Partition] = r.Offset
			}
		}
		m.mu.Unlock()
		select {
		case <-m.die:
			m.mu.Lock()
			m.diedAt = time.Now()
			m.mu.Unlock()
			m.dialer.kill()
			return
		default:
		}
		m.commit(recs)
		m.cl.AllowRebalance()
		if d := time.Duration(m.throttle.Load()); d > 0 {
			time.Sleep(d) // the member's pace is the test's input
		}
	}
}

// commit commits the records' offsets, retrying while the coordinator
// answers REBALANCE_IN_PROGRESS (a commit sent between JoinGroup and
// SyncGroup): a later commit would cover these offsets anyway, but only
// if the partition is still ours by then.
func (m *franzMember) commit(recs []*kgo.Record) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		err := m.cl.CommitRecords(ctx, recs...)
		if err == nil {
			m.mu.Lock()
			for _, r := range recs {
				if r.Offset+1 > m.committed[r.Partition] {
					m.committed[r.Partition] = r.Offset + 1
				}
			}
			m.mu.Unlock()
			return
		}
		if errors.Is(err, kerr.RebalanceInProgress) && attempt < 100 {
			m.mu.Lock()
			m.retries++
			m.mu.Unlock()
			time.Sleep(50 * time.Millisecond) // a pause between retries: the commit is what is retried
			continue
		}
		m.mu.Lock()
		m.errs = append(m.errs, fmt.Errorf("commit: %w", err))
		m.mu.Unlock()
		return
	}
}

// crash makes the member die after processing its next poll and before
// committing it, and returns when it is dead.
func (m *franzMember) crash() time.Time {
	m.t.Helper()
	close(m.die)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		m.t.Fatalf("member %s polled nothing more in 30s, so it could not crash mid-stream", m.name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.diedAt.IsZero() {
		m.t.Fatalf("member %s stopped before it crashed", m.name)
	}
	return m.diedAt
}

// leaveGroup stops the member after its current commit and closes its
// client, which sends LeaveGroup (unless it is static). It returns when
// Close returned.
func (m *franzMember) leaveGroup() time.Time {
	m.t.Helper()
	close(m.leave)
	m.cancel()
	<-m.done
	at := time.Now()
	m.closeClient()
	return at
}

func (m *franzMember) closeClient() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	dead := !m.diedAt.IsZero()
	m.mu.Unlock()
	if dead {
		// A dead member cannot leave; do not wait for it to try.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m.cl.LeaveGroupContext(ctx)
		go m.cl.Close()
		return
	}
	closed := make(chan struct{})
	go func() { m.cl.CloseAllowingRebalance(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		m.t.Errorf("member %s: closing the client took more than 20s", m.name)
	}
}

func (m *franzMember) stop() {
	m.cancel()
	<-m.done
	m.closeClient()
}

func (m *franzMember) ownedSet() map[int32]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int32]bool, len(m.owned))
	for p := range m.owned {
		out[p] = true
	}
	return out
}

func (m *franzMember) callbacks() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.assigns) + len(m.revokes) + len(m.losts)
}

func (m *franzMember) generation() (string, int32) { return m.cl.GroupMetadata() }

// checkNoErrors fails the test on any fetch or commit error of a member.
func (m *franzMember) checkNoErrors(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, err := range m.errs {
		t.Errorf("member %s: %v", m.name, err)
	}
	if len(m.errs) > 0 {
		t.FailNow()
	}
}

// groupSplit returns the owner of each partition if members own disjoint
// sets that together are exactly partitions 0..n-1.
func groupSplit(n int, members ...*franzMember) (map[int32]string, bool) {
	owner := map[int32]string{}
	for _, m := range members {
		for p := range m.ownedSet() {
			if _, dup := owner[p]; dup || p < 0 || int(p) >= n {
				return owner, false
			}
			owner[p] = m.name
		}
	}
	return owner, len(owner) == n
}

// groupWaitSplit waits until members own all n partitions between them, each
// exactly per (one count per member, in order).
func groupWaitSplit(t testing.TB, d time.Duration, n int, per []int, members ...*franzMember) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("%d members to share %d partitions as %v", len(members), n, per), func() bool {
		if _, ok := groupSplit(n, members...); !ok {
			return false
		}
		for i, m := range members {
			if len(m.ownedSet()) != per[i] {
				return false
			}
		}
		return true
	})
}

// groupCheckCommittedAtEnd asserts that group's committed offset of every
// partition of topic is the partition's end offset.
func groupCheckCommittedAtEnd(t testing.TB, addr, group, topic string) {
	t.Helper()
	cl := newClient(t, addr)
	end := endOffsets(t, cl, topic)
	got, err := kadm.NewClient(cl).FetchOffsets(testContext(t, 15*time.Second), group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	for p, e := range end {
		o, ok := got.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != e {
			t.Fatalf("group %s %s/%d: committed %+v (present %v), want %d", group, topic, p, o, ok, e)
		}
	}
}

func groupSortedParts(s map[int32]bool) []int32 {
	out := make([]int32, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// TestGroupFranzThreeMembersExactlyOnceAcrossCrash: three members process
// 200,000 records of a 12-partition topic; one dies mid-stream without
// leaving. Its partitions stay assigned to it until the session timeout
// expires, then the survivors take them over from its last commit: every
// record is processed, and the only records processed twice are those the
// dead member processed but never committed.
func TestGroupFranzThreeMembersExactlyOnceAcrossCrash(t *testing.T) {
	t.Parallel()
	const (
		topic     = "grp-franz-crash"
		group     = "grp-franz-crash"
		n         = 200_000
		session   = 6 * time.Second
		heartbeat = 500 * time.Millisecond
	)
	b := startBroker(t, groupSettings())
	b.createTopic(topic, 12, nil)
	records := makeRecords(topic, n, 31)
	produceAll(t, b.client(), records)
	l := newGroupLedger(records)

	// Throttled (to at most 10,000 records a second each) so that
	// consumption is still going on when the group has settled and one
	// member dies; full speed after that.
	throttle := 20 * time.Millisecond
	// Members join one after the other while records are being processed,
	// so partitions change hands mid-stream, each from its owner's commit.
	processed := func(m *franzMember) func() bool {
		return func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.processed >= 5000
		}
	}
	a := startFranzMember(t, b.addr, group, topic, "a", l, throttle)
	waitFor(t, 30*time.Second, "a to process records", processed(a))
	bm := startFranzMember(t, b.addr, group, topic, "b", l, throttle)
	waitFor(t, 30*time.Second, "b to process records", processed(bm))
	c := startFranzMember(t, b.addr, group, topic, "c", l, throttle)
	groupWaitSplit(t, 30*time.Second, 12, []int{4, 4, 4}, a, bm, c)
	waitFor(t, 30*time.Second, "c to process records", processed(c))
	cParts := c.ownedSet()

	diedAt := c.crash()
	processedAtCrash := l.distinct()
	if processedAtCrash >= n {
		t.Fatalf("all %d records were processed before the crash; the test did not crash a member mid-stream", processedAtCrash)
	}
	a.throttle.Store(0)
	bm.throttle.Store(0)
	c.mu.Lock()
	cCommitted := groupCopyOffsets(c.committed)
	c.mu.Unlock()
	// c's uncommitted tail: what it processed at or past its last commit.
	tail := map[tpo]bool{}
	for _, k := range l.processedBy("c") {
		if k.offset >= cCommitted[k.partition] {
			tail[k] = true
		}
	}
	if len(tail) == 0 {
		t.Fatal("the crashed member had no uncommitted records; the test is not exercising the tail")
	}

	// The survivors take c's partitions only once c's session expired.
	waitFor(t, session+30*time.Second, "a and b to take over c's partitions", func() bool {
		_, ok := groupSplit(12, a, bm)
		return ok
	})
	takeover := time.Duration(0)
	for _, m := range []*franzMember{a, bm} {
		m.mu.Lock()
		for _, e := range m.assigns {
			if e.at.After(diedAt) && len(e.parts) > 0 {
				takeover = max(takeover, e.at.Sub(diedAt))
			}
		}
		m.mu.Unlock()
	}
	if takeover < session-heartbeat-time.Second {
		t.Fatalf("c's partitions %v were reassigned %v after it died, before its %v session timeout", groupSortedParts(cParts), takeover, session)
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("all %d records to be processed", n), func() bool { return l.distinct() == n })
	a.stop()
	bm.stop()
	a.checkNoErrors(t)
	bm.checkNoErrors(t)
	l.check(t, tail)
	groupCheckCommittedAtEnd(t, b.addr, group, topic)
	t.Logf("c died after processing %d records (%d by the group); %d uncommitted records were processed again; takeover after %v; commit retries a=%d b=%d",
		c.processed, processedAtCrash, len(tail), takeover.Round(time.Millisecond), a.retries, bm.retries)
}

func groupCopyOffsets(m map[int32]int64) map[int32]int64 {
	out := make(map[int32]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestGroupFranzLeaveRebalancesImmediately: a member that leaves (Close
// sends LeaveGroup) has its partitions reassigned at once, long before the
// session timeout, and with every member committing nothing is processed
// twice.
func TestGroupFranzLeaveRebalancesImmediately(t *testing.T) {
	t.Parallel()
	const (
		topic   = "grp-franz-leave"
		group   = "grp-franz-leave"
		n       = 60_000
		session = 30 * time.Second
	)
	b := startBroker(t, groupSettings())
	b.createTopic(topic, 12, nil)
	records := makeRecords(topic, n, 32)
	produceAll(t, b.client(), records)
	l := newGroupLedger(records)
	throttle := 40 * time.Millisecond // until c leaves: mid-stream
	long := kgo.SessionTimeout(session)
	a := startFranzMember(t, b.addr, group, topic, "a", l, throttle, long)
	bm := startFranzMember(t, b.addr, group, topic, "b", l, throttle, long)
	c := startFranzMember(t, b.addr, group, topic, "c", l, throttle, long)
	groupWaitSplit(t, 30*time.Second, 12, []int{4, 4, 4}, a, bm, c)
	waitFor(t, 30*time.Second, "c to process records", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.processed > 0
	})

	leftAt := c.leaveGroup()
	if got := l.distinct(); got >= n {
		t.Fatalf("all %d records were processed before c left; the test did not leave mid-stream", got)
	}
	a.throttle.Store(0)
	bm.throttle.Store(0)
	waitFor(t, session, "a and b to take over c's partitions", func() bool {
		_, ok := groupSplit(12, a, bm)
		return ok
	})
	if d := time.Since(leftAt); d > session/3 {
		t.Fatalf("c's partitions were reassigned %v after it left; a LeaveGroup must rebalance at once, not after the %v session timeout", d, session)
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("all %d records to be processed", n), func() bool { return l.distinct() == n })
	a.stop()
	bm.stop()
	a.checkNoErrors(t)
	bm.checkNoErrors(t)
	c.checkNoErrors(t)
	l.check(t, nil)
	groupCheckCommittedAtEnd(t, b.addr, group, topic)
}

// TestGroupFranzStaticMemberRestartKeepsPartitions (KIP-345): static members
// restarted within the session timeout, with the same group.instance.id,
// get back exactly their partitions and the group does not rebalance: the
// others get no callback and stay in the same generation. With an eager
// balancer, a follower and then the leader (the first member to join; it
// gets SkipAssignment, KIP-814) are restarted. With a cooperative balancer
// a restarted member's metadata no longer names the partitions it owns,
// which Kafka ignores (only a change of the group's selected protocol
// would rebalance); but franz-go's restarted leader recomputes the plan
// from those metadata, finds it differs and forces a rebalance itself, so
// there only followers are restarted.
func TestGroupFranzStaticMemberRestartKeepsPartitions(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
		restarts []string
	}{
		{"range", kgo.RangeBalancer(), []string{"m3", "m1"}},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer(), []string{"m3", "m2"}},
	} {
		t.Run(tc.name, func(t *testing.T) { testStaticRestart(t, b, "grp-franz-static-"+tc.name, tc.balancer, tc.restarts) })
	}
}

func testStaticRestart(t *testing.T, b *broker, group string, balancer kgo.GroupBalancer, restarts []string) {
	const session = 20 * time.Second
	topic := group
	b.createTopic(topic, 12, nil)
	records := makeRecords(topic, 12_000, 33)
	produceAll(t, b.client(), records)
	l := newGroupLedger(records)

	static := func(id string) *franzMember {
		return startFranzMember(t, b.addr, group, topic, id, l, 0, kgo.SessionTimeout(session), kgo.InstanceID(id), kgo.Balancers(balancer))
	}
	// Joined one after the other, so m1 leads the group.
	m1 := static("m1")
	groupWaitSplit(t, 30*time.Second, 12, []int{12}, m1)
	m2 := static("m2")
	groupWaitSplit(t, 30*time.Second, 12, []int{6, 6}, m1, m2)
	waitFor(t, 30*time.Second, "the first records to be processed", func() bool { return l.distinct() == len(records) })
	m3 := static("m3")
	groupWaitSplit(t, 30*time.Second, 12, []int{4, 4, 4}, m1, m2, m3)
	waitFor(t, 30*time.Second, "the first records to be processed", func() bool { return l.distinct() == len(records) })

	_, gen := m1.generation()
	members := map[string]*franzMember{"m1": m1, "m2": m2, "m3": m3}
	memberIDs := map[string]string{}
	for id, m := range members {
		memberIDs[id], _ = m.generation()
	}
	for _, restart := range restarts {
		old := members[restart]
		before := old.ownedSet()
		calls := map[string]int{}
		for id, m := range members {
			calls[id] = m.callbacks()
		}
		old.stop() // static: Close does not leave the group
		m := static(restart)
		waitFor(t, session/2, restart+" to be assigned partitions again", func() bool { return m.callbacks() > 0 })
		if got := m.ownedSet(); !groupEqualSets(got, before) {
			t.Fatalf("restarted static member %s got partitions %v, had %v", restart, groupSortedParts(got), groupSortedParts(before))
		}
		members[restart] = m
		// More records: each goes to the owner of its partition, so the
		// restarted member resumes where its predecessor committed.
		more := makeRecords(topic, 6000, int64(len(restart)))
		total := l.distinct() + len(more)
		produceAll(t, b.client(), more)
		l.expect(more)
		waitFor(t, 30*time.Second, "the records produced after the restart to be processed", func() bool { return l.distinct() == total })
		for id, mm := range members {
			if id == restart {
				continue
			}
			if got := mm.callbacks(); got != calls[id] {
				t.Fatalf("restarting static member %s made %s see %d partition callbacks; a static rejoin must not rebalance", restart, id, got-calls[id])
			}
			if _, g := mm.generation(); g != gen {
				t.Fatalf("restarting static member %s moved %s from generation %d to %d", restart, id, gen, g)
			}
		}
		newID, g := m.generation()
		if g != gen {
			t.Fatalf("restarted static member %s is in generation %d, the group was in %d", restart, g, gen)
		}
		if newID == memberIDs[restart] {
			t.Fatalf("restarted static member %s kept member ID %q; the coordinator must give the new instance a new ID", restart, newID)
		}
		memberIDs[restart] = newID
	}

	// DescribeGroups: one Stable generation of the three instances, under
	// their current member IDs.
	described, err := kadm.NewClient(b.client()).DescribeGroups(testContext(t, 15*time.Second), group)
	if err != nil {
		t.Fatalf("describe %s: %v", group, err)
	}
	d := described[group]
	if d.Err != nil || d.State != "Stable" || len(d.Members) != 3 {
		t.Fatalf("described %s: state %q err %v with %d members, want Stable with 3", group, d.State, d.Err, len(d.Members))
	}
	for _, dm := range d.Members {
		if dm.InstanceID == nil || memberIDs[*dm.InstanceID] != dm.MemberID {
			t.Fatalf("described member %s with instance ID %v; want the members %v", dm.MemberID, dm.InstanceID, memberIDs)
		}
		// What kafka-consumer-groups.sh --describe shows as CLIENT-ID and
		// HOST: the client ID of the member's JoinGroup request header and
		// the address it connected from.
		if dm.ClientID != "sluice-test-"+*dm.InstanceID || !strings.Contains(dm.ClientHost, "127.0.0.1") {
			t.Fatalf("described member %s (instance %s): client ID %q, client host %q; want %q from 127.0.0.1",
				dm.MemberID, *dm.InstanceID, dm.ClientID, dm.ClientHost, "sluice-test-"+*dm.InstanceID)
		}
	}
	for _, m := range members {
		m.stop()
		m.checkNoErrors(t)
	}
	l.check(t, nil)
	groupCheckCommittedAtEnd(t, b.addr, group, topic)
}

func groupEqualSets(a, b map[int32]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// groupCheckOnlyMovedRevoked: when d joins a group of a, b and c that own 4
// partitions each, each of them gives up exactly the partition d takes
// from it, keeps (and is never told to revoke) the other 3, loses nothing,
// and gains nothing.
func groupCheckOnlyMovedRevoked(t testing.TB, before map[string]map[int32]bool, marks map[string]int, d *franzMember, olds ...*franzMember) {
	t.Helper()
	moved := map[int32]bool{}
	for _, m := range olds {
		now := m.ownedSet()
		m.mu.Lock()
		revokes := slices.Clone(m.revokes[marks[m.name]:])
		losts := len(m.losts)
		m.mu.Unlock()
		if losts > 0 {
			t.Fatalf("member %s lost partitions (OnPartitionsLost) in a cooperative rebalance", m.name)
		}
		revoked := map[int32]bool{}
		for _, e := range revokes {
			for _, p := range e.parts {
				revoked[p] = true
			}
		}
		gone := map[int32]bool{}
		for p := range before[m.name] {
			if !now[p] {
				gone[p] = true
				moved[p] = true
			}
		}
		for p := range now {
			if !before[m.name][p] {
				t.Fatalf("member %s gained partition %d when d joined; only d should gain", m.name, p)
			}
		}
		if !groupEqualSets(revoked, gone) || len(gone) != 1 {
			t.Fatalf("member %s: revoked %v, gave up %v (owned %v, now %v); only the one moved partition may be revoked",
				m.name, groupSortedParts(revoked), groupSortedParts(gone), groupSortedParts(before[m.name]), groupSortedParts(now))
		}
	}
	if got := d.ownedSet(); !groupEqualSets(got, moved) {
		t.Fatalf("d owns %v, the others gave up %v", groupSortedParts(got), groupSortedParts(moved))
	}
}

// testFourthMemberMovesOnlyWhatMustMove starts three members on a
// 12-partition topic, lets a fourth join, and checks that only the three
// partitions it takes are revoked, and that every record is processed
// exactly once throughout.
func testFourthMemberMovesOnlyWhatMustMove(t *testing.T, b *broker, group string, during func(members ...*franzMember), opts ...kgo.Opt) {
	topic := group
	b.createTopic(topic, 12, nil)
	records := makeRecords(topic, 24_000, 34)
	produceAll(t, b.client(), records)
	l := newGroupLedger(records)
	start := func(name string) *franzMember {
		return startFranzMember(t, b.addr, group, topic, name, l, 0, opts...)
	}
	a, bm, c := start("a"), start("b"), start("c")
	groupWaitSplit(t, 60*time.Second, 12, []int{4, 4, 4}, a, bm, c)
	waitFor(t, 30*time.Second, "the first records to be processed", func() bool { return l.distinct() == len(records) })
	before := map[string]map[int32]bool{}
	marks := map[string]int{}
	for _, m := range []*franzMember{a, bm, c} {
		before[m.name] = m.ownedSet()
		m.mu.Lock()
		marks[m.name] = len(m.revokes)
		m.mu.Unlock()
	}

	d := start("d")
	groupWaitSplit(t, 60*time.Second, 12, []int{3, 3, 3, 3}, a, bm, c, d)
	groupCheckOnlyMovedRevoked(t, before, marks, d, a, bm, c)
	if during != nil {
		during(a, bm, c, d)
	}

	more := makeRecords(topic, 24_000, 35)
	produceAll(t, b.client(), more)
	l.expect(more)
	waitFor(t, 30*time.Second, "the records produced after the rebalance", func() bool { return l.distinct() == len(records)+len(more) })
	if got := l.partitionsOf("d"); !groupEqualSets(got, d.ownedSet()) {
		t.Fatalf("d processed records of partitions %v, owns %v", groupSortedParts(got), groupSortedParts(d.ownedSet()))
	}
	for _, m := range []*franzMember{a, bm, c, d} {
		m.stop()
		m.checkNoErrors(t)
	}
	l.check(t, nil)
	groupCheckCommittedAtEnd(t, b.addr, group, topic)
}

// TestGroupFranzCooperativeStickyMovesOnlyWhatMustMove (KIP-429): franz-go's
// default balancer is cooperative-sticky; when a fourth member joins, the
// three others each revoke only the partition that moves to it.
func TestGroupFranzCooperativeStickyMovesOnlyWhatMustMove(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	testFourthMemberMovesOnlyWhatMustMove(t, b, "grp-franz-coop", nil, kgo.Balancers(kgo.CooperativeStickyBalancer()))
}

// TestGroupFranzKIP848MovesOnlyWhatMustMove (KIP-848): with
// group.protocol=consumer the broker assigns partitions (uniform assignor)
// and a fourth member joining makes the others revoke only what it takes.
func TestGroupFranzKIP848MovesOnlyWhatMustMove(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	// franz-go falls back to the classic protocol silently when the broker
	// does not offer ConsumerGroupHeartbeat v1; that would not test KIP-848.
	versions, err := kmsg.NewPtrApiVersionsRequest().RequestWith(testContext(t, 10*time.Second), b.client())
	if err != nil {
		t.Fatalf("api versions: %v", err)
	}
	offered := false
	for _, k := range versions.ApiKeys {
		if k.ApiKey == int16(kmsg.ConsumerGroupHeartbeat) && k.MaxVersion >= 1 {
			offered = true
		}
	}
	if !offered {
		t.Fatal("ApiVersions does not offer ConsumerGroupHeartbeat v1 (KIP-848), so no client can use group.protocol=consumer")
	}
	const group = "grp-franz-848"
	describe := func() kmsg.ConsumerGroupDescribeResponseGroup {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(testContext(t, 10*time.Second), b.client())
		if err != nil || len(resp.Groups) != 1 {
			t.Fatalf("ConsumerGroupDescribe: %v %+v", err, resp)
		}
		return resp.Groups[0]
	}
	// While the four members are in the group, it is a consumer-protocol
	// group whose members own exactly what the broker assigned them.
	during := func(members ...*franzMember) {
		var g kmsg.ConsumerGroupDescribeResponseGroup
		waitFor(t, 30*time.Second, "ConsumerGroupDescribe to show the four members reconciled", func() bool {
			g = describe()
			if g.ErrorCode != 0 || g.State != "Stable" || len(g.Members) != 4 || g.AssignmentEpoch != g.Epoch {
				return false
			}
			for _, dm := range g.Members {
				if dm.MemberEpoch != g.Epoch {
					return false
				}
			}
			return true
		})
		if g.AssignorName != "uniform" {
			t.Fatalf("ConsumerGroupDescribe: assignor %q, want uniform (the client asked for it)", g.AssignorName)
		}
		byID := map[string]kmsg.ConsumerGroupDescribeResponseGroupMember{}
		for _, dm := range g.Members {
			byID[dm.MemberID] = dm
		}
		for _, m := range members {
			id, _ := m.generation()
			dm, ok := byID[id]
			if !ok {
				t.Fatalf("ConsumerGroupDescribe does not list member %s (%s)", m.name, id)
			}
			got := map[int32]bool{}
			for _, tp := range dm.Assignment.TopicPartitions {
				for _, p := range tp.Partitions {
					got[p] = true
				}
			}
			if !groupEqualSets(got, m.ownedSet()) {
				t.Fatalf("ConsumerGroupDescribe: member %s is assigned %v, owns %v", m.name, groupSortedParts(got), groupSortedParts(m.ownedSet()))
			}
		}
	}
	testFourthMemberMovesOnlyWhatMustMove(t, b, group, during, kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))

	// All members left: the group is empty, still a consumer group.
	if g := describe(); g.ErrorCode != 0 || g.State != "Empty" || len(g.Members) != 0 {
		t.Fatalf("ConsumerGroupDescribe after all members left: state %q, %d members, error %v; want Empty", g.State, len(g.Members), kerr.ErrorForCode(g.ErrorCode))
	}
}
