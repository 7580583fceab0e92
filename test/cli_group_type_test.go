package test

// `sluice group list` shows each group's type, classic or consumer, as
// ListGroups v5 reports it (KIP-848), and --type lists only groups of some
// types, as kafka-consumer-groups.sh --list --type does. group delete and
// group reset-offsets work on a KIP-848 group as on a classic one.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// listedGroup is one entry of group list's JSON.
type listedGroup struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
	Type         string `json:"type"`
}

// groupListRows runs group list with args and returns its table rows, each
// as its space-separated fields, after checking the header.
func groupListRows(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out := cli(t, addr, "", append([]string{"group", "list"}, args...)...)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "GROUP STATE PROTOCOL-TYPE COORDINATOR TYPE" {
		t.Fatalf("group list %v header %q, want GROUP STATE PROTOCOL-TYPE COORDINATOR TYPE", args, lines[0])
	}
	var rows []string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(rows, "\n")
}

// A classic group and two KIP-848 groups (one with a member, one whose
// member left) are listed with their types; --type filters by type, in any
// case, comma-separated; an unknown type is a usage error.
func TestCLIGroupListShowsTypeAndFiltersByType(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic = "typed"
	shareTopic(t, b, topic, 2)
	holdAll(t, b, topic, "typed-live", 6, kgo.ServerSideBalancer())
	cli(t, b.addr, "", "consume", topic, "--group", "typed-classic", "-e")
	cli(t, b.addr, "", "consume", topic, "--group", "typed-left", "--group-protocol", "consumer", "-e")
	waitFor(t, 20*time.Second, "the KIP-848 groups to settle", func() bool {
		return strings.Contains(groupListRows(t, b.addr), "typed-live Stable") && strings.Contains(groupListRows(t, b.addr), "typed-left Empty")
	})

	all := strings.Join([]string{
		"typed-classic Empty consumer 1 classic",
		"typed-left Empty consumer 1 consumer",
		"typed-live Stable consumer 1 consumer",
	}, "\n")
	if got := groupListRows(t, b.addr); got != all {
		t.Fatalf("group list:\n%s\nwant:\n%s", got, all)
	}
	consumers := "typed-left Empty consumer 1 consumer\ntyped-live Stable consumer 1 consumer"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--type", "consumer"}, consumers},
		{[]string{"--type", "classic"}, "typed-classic Empty consumer 1 classic"},
		{[]string{"--type", "CLASSIC,consumer"}, all},
		{[]string{"--type", "classic", "--type", "consumer"}, all},
	} {
		if got := groupListRows(t, b.addr, c.args...); got != c.want {
			t.Fatalf("group list %v:\n%s\nwant:\n%s", c.args, got, c.want)
		}
	}

	rows := cliJSON[[]listedGroup](t, "group list --type consumer", cli(t, b.addr, "", "group", "list", "--type", "consumer", "--output", "json"))
	if got := fmt.Sprint(rows); got != "[{typed-left Empty consumer 1 consumer} {typed-live Stable consumer 1 consumer}]" {
		t.Fatalf("group list --type consumer --output json: %s", got)
	}
	cliMisused(t, b.addr, `--type "share"`, "group", "list", "--type", "share")
	cliMisused(t, b.addr, `did you mean "consumer"`, "group", "list", "--type", "consumers")
}

// group delete refuses a KIP-848 group with a member and deletes it, with
// its committed offsets, once the member has left: it is no longer listed
// or described, and a consumer in a group of the same name starts afresh.
// reset-offsets refuses while the member is there, then moves the offsets
// of the group's topics.
func TestCLIGroupDeleteAndResetOffsetsOfConsumerProtocolGroup(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic, group = "del848", "del848-g"
	recs := shareTopic(t, b, topic, 2)

	member := b.client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	ctx := testContext(t, 30*time.Second)
	for got := 0; got < 6; {
		fs := member.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the KIP-848 member read %d of 6 records", got)
		}
		got += fs.NumRecords()
	}
	if err := member.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cliFails(t, b.addr, "NON_EMPTY_GROUP", "group", "delete", group)
	cliFails(t, b.addr, "active member", "group", "reset-offsets", group, "--all-topics", "--to", "earliest")
	if c := committed(t, b.admin(), group, topic); fmt.Sprint(c) != "map[0:3 1:3]" {
		t.Fatalf("committed %v after the refusals, want 3 on both partitions", c)
	}

	member.Close()
	waitFor(t, 20*time.Second, "the group to be Empty", func() bool {
		return groupListRows(t, b.addr, "--type", "consumer") == group+" Empty consumer 1 consumer"
	})
	out := cli(t, b.addr, "", "group", "reset-offsets", group, "--all-topics", "--to", "shift:-1")
	if c := committed(t, b.admin(), group, topic); fmt.Sprint(c) != "map[0:2 1:2]" {
		t.Fatalf("committed %v after reset-offsets --to shift:-1, want 2 on both partitions:\n%s", c, out)
	}
	d := cliJSON[describedGroup](t, "group describe", cli(t, b.addr, "", "group", "describe", group, "--output", "json"))
	if want := topic + "/0 2/3/1  \n" + topic + "/1 2/3/1  "; d.Type != "consumer" || d.partitionRows() != want {
		t.Fatalf("group describe after reset: type %q, partitions:\n%s\nwant consumer and:\n%s", d.Type, d.partitionRows(), want)
	}

	expectLines(t, "group delete", cli(t, b.addr, "", "group", "delete", group), "deleted group "+group)
	if got := groupListRows(t, b.addr); got != "" {
		t.Fatalf("group list after delete:\n%s\nwant no group", got)
	}
	if c := committed(t, b.admin(), group, topic); len(c) != 0 {
		t.Fatalf("committed %v after delete, want nothing", c)
	}
	cliFails(t, b.addr, "does not exist", "group", "describe", group)

	// The name is free: a classic consumer starts from the beginning.
	got := groupLines(t, cli(t, b.addr, "", "consume", topic, "--group", group, "-e", "--format", "%p %v"))
	if fmt.Sprint(got) != fmt.Sprint(recs) {
		t.Fatalf("consume in the recreated group printed %v, want %v", got, recs)
	}
	if got := groupListRows(t, b.addr); got != group+" Empty consumer 1 classic" {
		t.Fatalf("group list after the classic consumer:\n%s", got)
	}
}
