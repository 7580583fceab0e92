package test

// Committed offsets and group state survive what a single node survives
// (issue 3, "What to show"): a kill -9 of the broker process, and a clean
// restart. The coordinator rebuilds its state by replaying
// __consumer_offsets; the tests compare committed offsets before and after,
// and check that a consumer resumes exactly at its last commit.

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchCommitted returns every committed offset of group, failing the test
// on any error.
func fetchCommitted(t testing.TB, addr, group string) map[int32]kadm.Offset {
	t.Helper()
	resps, err := kadm.NewClient(newClient(t, addr)).FetchOffsets(testContext(t, 30*time.Second), group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := map[int32]kadm.Offset{}
	resps.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			t.Fatalf("fetch offsets of %s, %s/%d: %v", group, o.Topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out
}

// sameCommitted asserts that after holds exactly the offsets, leader
// epochs and metadata of before.
func sameCommitted(t testing.TB, group string, before, after map[int32]kadm.Offset) {
	t.Helper()
	if len(after) != len(before) {
		t.Fatalf("group %s: %d committed partitions after the restart, %d before: %v vs %v", group, len(after), len(before), after, before)
	}
	for k, b := range before {
		a, ok := after[k]
		if !ok || a.Topic != b.Topic || a.At != b.At || a.LeaderEpoch != b.LeaderEpoch || a.Metadata != b.Metadata {
			t.Fatalf("group %s partition %d: committed %+v after the restart, %+v before", group, k, a, b)
		}
	}
}

// TestGroupOffsetsSurviveKill9: a consumer group commits as it goes, then
// the consumer and the broker process both die (the consumer vanishes
// without leaving; the broker gets SIGKILL). After the broker restarts,
// OffsetFetch returns exactly the offsets (and metadata) committed before,
// and a new consumer in the group starts each partition exactly at its
// committed offset and reads the rest once.
func TestGroupOffsetsSurviveKill9(t *testing.T) {
	t.Parallel()
	const (
		topic  = "grp-kill9"
		group  = "grp-kill9"
		simple = "grp-kill9-simple"
		n      = 30_000
	)
	p := startProcess(t, t.TempDir(), "127.0.0.1:0",
		"--config", "group.initial.rebalance.delay.ms=0",
		"--config", "group.min.session.timeout.ms=1000",
		"--config", "offsets.topic.num.partitions=4")
	setup := newClient(t, p.addr)
	createTopicWith(t, setup, topic, 6)
	records := makeRecords(topic, n, 41)
	produceAll(t, setup, records)

	l := newGroupLedger(records)
	m := startFranzMember(t, p.addr, group, topic, "m", l, 2*time.Millisecond)
	waitFor(t, 60*time.Second, "the consumer to process a third of the records", func() bool { return l.distinct() >= n/3 })
	m.crash()
	if l.distinct() >= n {
		t.Fatal("every record was processed before the crash")
	}
	m.mu.Lock()
	committed := groupCopyOffsets(m.committed)
	m.mu.Unlock()
	m.checkNoErrors(t)

	// A simple consumer's commits, with metadata strings, in another group.
	simpleOffsets := kadm.Offsets{}
	for part := int32(0); part < 6; part++ {
		simpleOffsets.Add(kadm.Offset{Topic: topic, Partition: part, At: int64(100 + part), LeaderEpoch: -1, Metadata: fmt.Sprintf("checkpoint-%d", part)})
	}
	if err := kadm.NewClient(setup).CommitAllOffsets(testContext(t, 10*time.Second), simple, simpleOffsets); err != nil {
		t.Fatalf("simple commit: %v", err)
	}

	before := fetchCommitted(t, p.addr, group)
	if len(before) != len(committed) {
		t.Fatalf("the coordinator has %d committed partitions, the consumer's commits acknowledged %d", len(before), len(committed))
	}
	for k, o := range before {
		if o.At != committed[k] {
			t.Fatalf("partition %d: committed offset %d, the consumer's last acknowledged commit was %d", k, o.At, committed[k])
		}
	}
	beforeSimple := fetchCommitted(t, p.addr, simple)
	if len(beforeSimple) != 6 || beforeSimple[3].Metadata != "checkpoint-3" {
		t.Fatalf("simple commits: %+v", beforeSimple)
	}

	p.kill(syscall.SIGKILL)
	p.restart()

	sameCommitted(t, group, before, fetchCommitted(t, p.addr, group))
	sameCommitted(t, simple, beforeSimple, fetchCommitted(t, p.addr, simple))

	// A new consumer resumes exactly at the commits. The dead member is
	// still in the group until its session times out.
	rest := newGroupLedger(nil)
	var want []*kgo.Record
	for _, r := range records {
		if r.Offset >= before[r.Partition].At {
			want = append(want, r)
		}
	}
	rest.expect(want)
	again := startFranzMember(t, p.addr, group, topic, "again", rest, 0)
	waitFor(t, 60*time.Second, fmt.Sprintf("the %d uncommitted records to be processed after the restart", len(want)), func() bool {
		return rest.distinct() == len(want)
	})
	again.stop()
	again.checkNoErrors(t)
	rest.check(t, nil)
	again.mu.Lock()
	defer again.mu.Unlock()
	for part, first := range again.firstSeen {
		if c, ok := before[part]; ok && first != c.At {
			t.Fatalf("partition %d: resumed at offset %d, committed was %d", part, first, c.At)
		} else if !ok && first != 0 {
			t.Fatalf("partition %d had no commit; resumed at %d, want 0", part, first)
		}
	}
}

// TestGroupStateSurvivesCleanRestart: across a clean restart of the node,
// the coordinator keeps committed offsets and group state: an empty group
// is still Empty with its protocol type and listed; a live member keeps
// its member ID and generation (its heartbeats go on), keeps its
// partitions and consumes what is produced after the restart from its
// commits, exactly once.
func TestGroupStateSurvivesCleanRestart(t *testing.T) {
	t.Parallel()
	const (
		topic    = "grp-restart"
		empty    = "grp-restart-empty"
		liveName = "grp-restart-live"
		n        = 8_000
	)
	b := startBroker(t, groupSettings())
	b.createTopic(topic, 4, nil)
	records := makeRecords(topic, n, 42)
	produceAll(t, b.client(), records)

	// One group consumes everything and leaves.
	le := newGroupLedger(records)
	e := startFranzMember(t, b.addr, empty, topic, "e", le, 0)
	waitFor(t, 60*time.Second, "the empty-to-be group to consume everything", func() bool { return le.distinct() == n })
	e.leaveGroup()
	e.checkNoErrors(t)
	le.check(t, nil)
	// Another consumes everything and stays.
	ll := newGroupLedger(records)
	live := startFranzMember(t, b.addr, liveName, topic, "live", ll, 0, kgo.SessionTimeout(20*time.Second))
	waitFor(t, 60*time.Second, "the live group to consume everything", func() bool { return ll.distinct() == n })
	waitFor(t, 10*time.Second, "the live group to commit everything", func() bool {
		live.mu.Lock()
		defer live.mu.Unlock()
		var sum int64
		for _, o := range live.committed {
			sum += o
		}
		return sum == n
	})
	memberID, gen := live.generation()

	beforeEmpty := fetchCommitted(t, b.addr, empty)
	beforeLive := fetchCommitted(t, b.addr, liveName)
	for _, before := range []map[int32]kadm.Offset{beforeEmpty, beforeLive} {
		var sum int64
		for _, o := range before {
			sum += o.At
		}
		if len(before) != 4 || sum != n {
			t.Fatalf("before the restart: %d partitions committed summing to %d; want 4 summing to %d", len(before), sum, n)
		}
	}

	b.restart()

	sameCommitted(t, empty, beforeEmpty, fetchCommitted(t, b.addr, empty))
	sameCommitted(t, liveName, beforeLive, fetchCommitted(t, b.addr, liveName))
	adm := kadm.NewClient(b.client())
	described, err := adm.DescribeGroups(testContext(t, 15*time.Second), empty, liveName)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if d := described[empty]; d.Err != nil || d.State != "Empty" || d.ProtocolType != "consumer" || len(d.Members) != 0 {
		t.Fatalf("after the restart %s is %q (err %v), protocol type %q, %d members; want Empty, consumer, none", empty, d.State, d.Err, d.ProtocolType, len(d.Members))
	}
	listed, err := adm.ListGroups(testContext(t, 15*time.Second))
	if err != nil {
		t.Fatalf("list groups: %v", err)
	}
	if g, ok := listed[empty]; !ok || g.State != "Empty" || g.ProtocolType != "consumer" {
		t.Fatalf("after the restart ListGroups has %s as %+v (listed %v); want Empty consumer", empty, g, ok)
	}
	if _, ok := listed[liveName]; !ok {
		t.Fatalf("after the restart ListGroups does not list %s", liveName)
	}

	// The live member carries on: records produced now are consumed from
	// its commits, exactly once, without it rejoining.
	more := makeRecords(topic, 4000, 43)
	produceAll(t, b.client(), more)
	ll.expect(more)
	waitFor(t, 60*time.Second, "the live member to consume what was produced after the restart", func() bool { return ll.distinct() == n+len(more) })
	if id, g := live.generation(); id != memberID || g != gen {
		t.Fatalf("the live member is %q in generation %d after the restart, was %q in %d; the coordinator must restore members", id, g, memberID, gen)
	}
	described, err = adm.DescribeGroups(testContext(t, 15*time.Second), liveName)
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	if d := described[liveName]; d.Err != nil || d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != memberID {
		t.Fatalf("after the restart %s is %q (err %v) with %d members; want Stable with member %s", liveName, d.State, d.Err, len(d.Members), memberID)
	}
	live.stop()
	live.checkNoErrors(t)
	ll.check(t, nil)
	groupCheckCommittedAtEnd(t, b.addr, liveName, topic)
}
