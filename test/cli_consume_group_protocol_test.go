package test

// `sluice consume --group G --group-protocol consumer` joins G as a KIP-848
// member (Kafka's group.protocol=consumer): the broker assigns its
// partitions through ConsumerGroupHeartbeat. With -e it ends at the end of
// the partitions of its target assignment, which the broker hands over only
// once their previous owner has released them (KIP-848, "Reconciliation").

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// groupLines reads `consume --format '%p %v'` output into each partition's
// values.
func groupLines(t *testing.T, out string) map[int32][]string {
	t.Helper()
	got := map[int32][]string{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var p int32
		var v string
		if _, err := fmt.Sscanf(line, "%d %s", &p, &v); err != nil {
			t.Fatalf("consume printed %q: %v", line, err)
		}
		got[p] = append(got[p], v)
	}
	return got
}

// Alone in a new group, a KIP-848 consumer with -e reads every partition,
// commits what it printed and leaves: the group is a consumer group, Empty,
// with those offsets. A second run resumes there and prints nothing.
func TestCLIConsumeGroupProtocolConsumerReadsAndCommits(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic, group = "proto848", "proto848-g"
	recs := shareTopic(t, b, topic, 2)

	r := runCLI(t, b.addr, "", "consume", topic, "--group", group, "--group-protocol", "consumer", "-e", "--format", "%p %v")
	if r.code != 0 {
		t.Fatalf("consume --group-protocol consumer -e: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if got := groupLines(t, r.stdout); !slices.Equal(got[0], recs[0]) || !slices.Equal(got[1], recs[1]) || len(got) != 2 {
		t.Fatalf("consume printed %v, want %v", got, recs)
	}
	if c := committed(t, b.admin(), group, topic); fmt.Sprint(c) != "map[0:3 1:3]" {
		t.Fatalf("committed %v, want 3 on both partitions", c)
	}
	var d describedGroup
	waitFor(t, 20*time.Second, "the group to be an Empty consumer group", func() bool {
		d = cliJSON[describedGroup](t, "group describe", cli(t, b.addr, "", "group", "describe", group, "--output", "json"))
		return d.State == "Empty"
	})
	if d.Type != "consumer" || len(d.Members) != 0 {
		t.Fatalf("group describe after consume: %+v; want an Empty consumer group", d)
	}
	expectLines(t, "consume --group-protocol consumer -e, again",
		cli(t, b.addr, "", "consume", topic, "--group", group, "--group-protocol", "consumer", "-e"))
}

// Another KIP-848 member holds all four partitions. The broker's target
// gives the CLI two of them, but hands them over only after the holder
// releases them, so its first assignment is empty. The CLI waits for the
// two, reads them to their ends, commits them, and stops.
func TestCLIConsumeGroupProtocolConsumerExitAtEndOfTargetAssignment(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic, group = "shared848-e", "shared848-e-group"
	recs := shareTopic(t, b, topic, 4)
	holdAll(t, b, topic, group, 12, kgo.ServerSideBalancer())

	r := runCLI(t, b.addr, "", "consume", topic, "--group", group, "--group-protocol", "consumer", "-e", "--format", "%p %v")
	if r.code != 0 {
		t.Fatalf("consume --group-protocol consumer -e: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	got := groupLines(t, r.stdout)
	if len(got) != 2 {
		t.Fatalf("consume read partitions %v, want two of the four (uniform over two members)\nstderr:\n%s", got, r.stderr)
	}
	wantOwnPartitionsCommitted(t, got, recs, committed(t, b.admin(), group, topic))
}

// Another KIP-848 member holds the topic's one partition and keeps it: the
// broker's target for the CLI is empty, so it says so and ends.
func TestCLIConsumeGroupProtocolConsumerExitAtEndWithNoAssignment(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic, group = "held848-e", "held848-e-group"
	shareTopic(t, b, topic, 1)
	holdAll(t, b, topic, group, 3, kgo.ServerSideBalancer())

	r := runCLI(t, b.addr, "", "consume", topic, "--group", group, "--group-protocol", "consumer", "-e")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "assigned no partition to this consumer") {
		t.Fatalf("consume --group-protocol consumer -e: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0, nothing printed, and a note", r.code, r.stdout, r.stderr)
	}
}

// A group is of one protocol while it has members: a classic CLI consumer
// cannot join a live KIP-848 group, nor a KIP-848 one a live classic
// group; each fails with one line naming the flag that joins it, rather
// than hanging. --group-protocol is
// checked as a usage error.
func TestCLIConsumeGroupProtocolMismatchAndMisuse(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic = "mixed848"
	shareTopic(t, b, topic, 1)
	holdAll(t, b, topic, "mixed848-consumer", 3, kgo.ServerSideBalancer())
	holdAll(t, b, topic, "mixed848-classic", 3)

	cliFails(t, b.addr, "INCONSISTENT_GROUP_PROTOCOL", "consume", topic, "--group", "mixed848-consumer", "-e")
	cliFails(t, b.addr, "join it with --group-protocol consumer", "consume", topic, "--group", "mixed848-consumer", "-e")
	cliFails(t, b.addr, "GROUP_ID_NOT_FOUND", "consume", topic, "--group", "mixed848-classic", "--group-protocol", "consumer", "-e")
	cliFails(t, b.addr, "join it with --group-protocol classic", "consume", topic, "--group", "mixed848-classic", "--group-protocol", "consumer", "-e")

	cliMisused(t, b.addr, "--group-protocol", "consume", topic, "--group", "g", "--group-protocol", "consumers")
	cliMisused(t, b.addr, "--group-protocol needs --group", "consume", topic, "--group-protocol", "consumer", "-e")
}

// --group-remote-assignor range (Kafka's group.remote.assignor) asks the
// broker for its range assignor: while the CLI is the group's member, the
// group reports range as its assignor, and it reads what comes. The flag is
// checked as a usage error.
func TestCLIConsumeGroupRemoteAssignor(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic, group = "assignor848", "assignor848-g"
	shareTopic(t, b, topic, 2)

	ctx := testContext(t, 60*time.Second)
	cmd := exec.CommandContext(ctx, sluiceBin, "-b", b.addr, "consume", topic, "--group", group,
		"--group-protocol", "consumer", "--group-remote-assignor", "range", "--from", "end", "-n", "1", "--format", "%v")
	cmd.Env = append(os.Environ(), "SLUICE_BROKERS=", "SLUICE_CONFIG=/dev/null")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var d describedGroup
	waitFor(t, 20*time.Second, "the CLI to be the group's member", func() bool {
		r := runCLI(t, b.addr, "", "group", "describe", group, "--output", "json")
		if r.code != 0 { // the group is made when the CLI first joins
			return false
		}
		d = cliJSON[describedGroup](t, "group describe", r.stdout)
		return len(d.Members) == 1 && slices.Equal(d.Members[0].Assignment, []string{topic + ":0,1"})
	})
	if d.Type != "consumer" || d.Protocol != "range" {
		t.Fatalf("group describe while the CLI is a member: type %q assignor %q, want a consumer group with range", d.Type, d.Protocol)
	}
	produceTo(t, manualClient(b), topic, 1, "after")
	select {
	case err := <-done:
		if err != nil || out.String() != "after\n" {
			t.Fatalf("consume --group-remote-assignor range: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
		}
	case <-ctx.Done():
		t.Fatalf("consume did not end after the record it waited for\nstderr:\n%s", errOut.String())
	}

	cliMisused(t, b.addr, "--group-remote-assignor", "consume", topic, "--group", "g", "--group-protocol", "consumer", "--group-remote-assignor", "sticky")
	cliMisused(t, b.addr, "--group-remote-assignor needs --group-protocol consumer", "consume", topic, "--group", "g", "--group-remote-assignor", "range")
}
