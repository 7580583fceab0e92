package test

// `sluice consume --group G -e` ends at the end of the partitions the group
// assigns to it, as they were when assigned, not of those other members
// own; it ends too when the group assigns it nothing.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// eagerBalancer assigns as its GroupBalancer does, eagerly (the member
// gives up every partition before a rebalance), under another protocol
// name. Named cooperative-sticky, it shares a group with the CLI's
// cooperative-sticky consumer, but moves partitions to a joining member at
// once instead of in a second rebalance.
type eagerBalancer struct {
	kgo.GroupBalancer
	name string
}

func (b eagerBalancer) ProtocolName() string { return b.name }
func (b eagerBalancer) IsCooperative() bool  { return false }

// shareTopic creates topic with n partitions of three records each,
// "p<partition>-<i>", and returns the records of each partition.
func shareTopic(t *testing.T, b *broker, topic string, n int32) map[int32][]string {
	t.Helper()
	cl := manualClient(b)
	createTopicWith(t, cl, topic, n)
	recs := map[int32][]string{}
	for p := range n {
		for i := range 3 {
			recs[p] = append(recs[p], fmt.Sprintf("p%d-%d", p, i))
		}
		produceTo(t, cl, topic, p, recs[p]...)
	}
	return recs
}

// holdAll starts a group member that reads every partition of topic,
// commits nothing and keeps them until the test ends.
func holdAll(t *testing.T, b *broker, topic, group string, records int, opts ...kgo.Opt) {
	t.Helper()
	member := b.client(append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ClientID("holder"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	ctx := testContext(t, 30*time.Second)
	for got := 0; got < records; {
		fs := member.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the holding member read %d of %d records", got, records)
		}
		got += fs.NumRecords()
	}
}

// Another member holds two of the four partitions: the CLI reads the two
// the group gives it, to their ends, commits them, and stops. Before, it
// waited for the other member's partitions and never ended.
func TestCLIConsumeGroupExitAtEndOfOwnPartitions(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic, group = "shared-e", "shared-e-group"
	recs := shareTopic(t, b, topic, 4)
	holdAll(t, b, topic, group, 12, kgo.Balancers(eagerBalancer{kgo.RangeBalancer(), "cooperative-sticky"}))

	r := runCLI(t, b.addr, "", "consume", topic, "--group", group, "-e", "--format", "%p %v")
	if r.code != 0 {
		t.Fatalf("consume --group -e: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	got := groupLines(t, r.stdout)
	if len(got) != 2 {
		t.Fatalf("consume read partitions %v, want two of the four (range over two members):\n%s", got, r.stdout)
	}
	wantOwnPartitionsCommitted(t, got, recs, committed(t, b.admin(), group, topic))
}

// wantOwnPartitionsCommitted checks that each partition the CLI printed
// (got) is printed whole (recs) and committed at its end (3), and that
// the others are not committed.
func wantOwnPartitionsCommitted(t *testing.T, got, recs map[int32][]string, c map[int32]int64) {
	t.Helper()
	for p := range int32(len(recs)) {
		vs, read := got[p]
		switch {
		case read && !slices.Equal(vs, recs[p]):
			t.Fatalf("consume printed %v of partition %d, want %v", vs, p, recs[p])
		case read && c[p] != 3:
			t.Fatalf("committed %v; want 3 on partition %d, which the CLI read", c, p)
		}
		if _, ok := c[p]; !read && ok {
			t.Fatalf("committed %v; want nothing on partition %d, which the other member holds", c, p)
		}
	}
}

// Another member holds the topic's one partition, and keeps it through the
// rebalance (cooperative-sticky leaves a partition with its owner): the
// group assigns the CLI nothing, and it says so and ends.
func TestCLIConsumeGroupExitAtEndWithNoAssignment(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic, group = "held-e", "held-e-group"
	shareTopic(t, b, topic, 1)
	holdAll(t, b, topic, group, 3)

	r := runCLI(t, b.addr, "", "consume", topic, "--group", group, "-e")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "assigned no partition to this consumer") {
		t.Fatalf("consume --group -e: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0, nothing printed, and a note", r.code, r.stdout, r.stderr)
	}
}

// A group consumer alone in its group reads a log that ends in a COMMIT
// marker to that marker and ends; the group's committed offset is past it.
func TestCLIConsumeGroupExitAtEndAtTransactionMarker(t *testing.T) {
	t.Parallel()
	b := startBroker(t, txnSettings())
	seeds := []string{b.addr}
	cl := txnClient(t, seeds)
	ctx := testContext(t, 50*time.Second)
	const topic, group = "marked-group", "marked-group-g"
	txnCreateTopic(t, cl, topic, 1, 1, nil)
	p := txnProducer(t, seeds, "cli-group-marker")
	if err := txnRun(ctx, p, true, []*kgo.Record{
		{Topic: topic, Partition: 0, Value: []byte("a")},
		{Topic: topic, Partition: 0, Value: []byte("b")},
	}); err != nil {
		t.Fatal(err)
	}
	txnWaitState(t, cl, "cli-group-marker", "CompleteCommit")
	waitFor(t, 10*time.Second, "commit marker to land", func() bool { return endOffsets(t, cl, topic)[0] == 3 })

	expectLines(t, "consume --group -e", cli(t, b.addr, "", "consume", topic, "--group", group, "-e"), "a", "b")
	if c := committed(t, b.admin(), group, topic); c[0] != 3 {
		t.Fatalf("committed %v, want 3 (past the marker)", c)
	}
	expectLines(t, "consume --group -e, again", cli(t, b.addr, "", "consume", topic, "--group", group, "-e", "--read-committed"))
}
