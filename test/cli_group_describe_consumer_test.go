package test

// `sluice group describe` for KIP-848 groups (group.protocol=consumer),
// which DescribeGroups does not know: the CLI asks ConsumerGroupDescribe
// first and falls back to DescribeGroups for a classic group, as Kafka's
// Admin.describeConsumerGroups (and so kafka-consumer-groups.sh --describe)
// does.

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// describedGroup is group describe's JSON.
type describedGroup struct {
	Group       string `json:"group"`
	Type        string `json:"type"`
	State       string `json:"state"`
	Protocol    string `json:"protocol"`
	Epoch       int32  `json:"epoch"`
	Coordinator int32  `json:"coordinator"`
	Members     []struct {
		ID               string   `json:"member_id"`
		InstanceID       *string  `json:"instance_id"`
		ClientID         string   `json:"client_id"`
		Host             string   `json:"host"`
		Epoch            int32    `json:"member_epoch"`
		Subscribed       []string `json:"subscribed_topics"`
		Assignment       []string `json:"assignment"`
		TargetAssignment []string `json:"target_assignment"`
	} `json:"members"`
	Partitions []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Committed int64  `json:"committed"`
		End       int64  `json:"end"`
		Lag       int64  `json:"lag"`
		Member    string `json:"member"`
		Error     string `json:"error"`
	} `json:"partitions"`
}

// partitionRows writes described partitions as "P committed/end/lag
// member" lines, for exact comparison.
func (d describedGroup) partitionRows() string {
	var rows []string
	for _, p := range d.Partitions {
		rows = append(rows, fmt.Sprintf("%s/%d %d/%d/%d %s %s", p.Topic, p.Partition, p.Committed, p.End, p.Lag, p.Member, p.Error))
	}
	return strings.Join(rows, "\n")
}

// A KIP-848 group is described with its state, assignor, epoch, members
// (member ID, instance ID, client ID, host, epoch, assignment) and lag,
// rather than as a Dead classic group; once its member leaves it is Empty
// and keeps its committed offsets. A classic group's output is unchanged.
func TestCLIGroupDescribeConsumerProtocolGroup(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	const topic, group = "desc848", "desc848-group"
	cl := manualClient(b)
	createTopicWith(t, cl, topic, 3)
	produceTo(t, cl, topic, 0, "a0", "a1", "a2")
	produceTo(t, cl, topic, 1, "b0", "b1")

	// One static member reads all five records and commits the first
	// record of partition 0 only: committed 1 there, nothing elsewhere.
	member := b.client(kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
		kgo.InstanceID("inst-a"), kgo.ClientID("desc-a"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testContext(t, 30*time.Second)
	var first *kgo.Record
	for got := 0; got < 5; {
		fs := member.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the KIP-848 member read %d of 5 records", got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got++
			if r.Partition == 0 && r.Offset == 0 {
				first = r
			}
		})
	}
	if err := member.CommitRecords(ctx, first); err != nil {
		t.Fatalf("commit p0 offset 0: %v", err)
	}
	memberID, _ := member.GroupMetadata()

	var d describedGroup
	waitFor(t, 20*time.Second, "the KIP-848 group to be Stable with its member", func() bool {
		d = cliJSON[describedGroup](t, "group describe", cli(t, b.addr, "", "group", "describe", group, "--output", "json"))
		return d.State == "Stable" && len(d.Members) == 1 && len(d.Members[0].Assignment) == 1
	})
	if d.Group != group || d.Type != "consumer" || d.Protocol != "uniform" || d.Epoch < 1 || d.Coordinator != 1 {
		t.Fatalf("group describe: %+v; want group %s, type consumer, protocol uniform, an epoch, coordinator 1", d, group)
	}
	m := d.Members[0]
	if m.ID != memberID || m.InstanceID == nil || *m.InstanceID != "inst-a" || m.ClientID != "desc-a" || m.Host == "" ||
		m.Epoch != d.Epoch || fmt.Sprint(m.Subscribed) != "["+topic+"]" ||
		fmt.Sprint(m.Assignment) != "["+topic+":0,1,2]" || fmt.Sprint(m.TargetAssignment) != "["+topic+":0,1,2]" {
		t.Fatalf("group describe member: %+v; want %s, instance inst-a, client desc-a, epoch %d, assigned %s:0,1,2", m, memberID, d.Epoch, topic)
	}
	// Partition 0: committed 1 of 3. Partition 1: nothing committed, all
	// 2 behind. Partition 2: empty.
	want := strings.Join([]string{
		fmt.Sprintf("%s/0 1/3/2 %s ", topic, memberID),
		fmt.Sprintf("%s/1 -1/2/2 %s ", topic, memberID),
		fmt.Sprintf("%s/2 -1/0/0 %s ", topic, memberID),
	}, "\n")
	if got := d.partitionRows(); got != want {
		t.Fatalf("group describe partitions:\n%s\nwant:\n%s", got, want)
	}

	table := cli(t, b.addr, "", "group", "describe", group)
	t.Logf("group describe %s:\n%s", group, table)
	header := fmt.Sprintf("Group: %s\tState: Stable\tProtocol: uniform\tCoordinator: 1\tMembers: 1\tType: consumer\tEpoch: %d\n\n", group, d.Epoch)
	if !strings.HasPrefix(table, header) {
		t.Fatalf("group describe table starts:\n%q\nwant:\n%q", table, header)
	}
	for _, re := range []string{
		`(?m)^MEMBER\s+INSTANCE-ID\s+CLIENT-ID\s+HOST\s+EPOCH\s+ASSIGNMENT$`,
		fmt.Sprintf(`(?m)^%s\s+inst-a\s+desc-a\s+\S+\s+%d\s+%s:0,1,2$`, regexp.QuoteMeta(memberID), d.Epoch, topic),
		`(?m)^TOPIC\s+PARTITION\s+COMMITTED\s+END\s+LAG\s+MEMBER\s+NOTE$`,
		fmt.Sprintf(`(?m)^%s\s+0\s+1\s+3\s+2\s+%s\s*$`, topic, regexp.QuoteMeta(memberID)),
		fmt.Sprintf(`(?m)^%s\s+1\s+-\s+2\s+2\s+%s\s*$`, topic, regexp.QuoteMeta(memberID)),
		fmt.Sprintf(`(?m)^%s\s+2\s+-\s+0\s+0\s+%s\s*$`, topic, regexp.QuoteMeta(memberID)),
	} {
		if !regexp.MustCompile(re).MatchString(table) {
			t.Fatalf("group describe table has no line matching %s:\n%s", re, table)
		}
	}

	// reset-offsets sees the KIP-848 group's member, as it does a classic
	// group's, and refuses.
	cliFails(t, b.addr, "active member", "group", "reset-offsets", group, "--topic", topic, "--to", "earliest", "--dry-run")

	// A dynamic member that leaves leaves the group Empty, with its
	// committed offsets and their lag.
	const emptied = "desc848-emptied"
	dyn := b.client(kgo.ConsumerGroup(emptied), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < 5; {
		fs := dyn.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the dynamic KIP-848 member read %d of 5 records", got)
		}
		got += fs.NumRecords()
	}
	if err := dyn.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	dyn.Close()
	waitFor(t, 20*time.Second, "the emptied KIP-848 group to be Empty", func() bool {
		d = cliJSON[describedGroup](t, "group describe", cli(t, b.addr, "", "group", "describe", emptied, "--output", "json"))
		return d.State == "Empty"
	})
	want = strings.Join([]string{topic + "/0 3/3/0  ", topic + "/1 2/2/0  ", topic + "/2 -1/0/0  "}, "\n")
	if got := d.partitionRows(); d.Type != "consumer" || len(d.Members) != 0 || got != want {
		t.Fatalf("group describe of the emptied group: type %q, members %+v, partitions:\n%s\nwant none and:\n%s", d.Type, d.Members, got, want)
	}

	// With no member left, reset-offsets moves its offsets.
	cli(t, b.addr, "", "group", "reset-offsets", emptied, "--topic", topic, "--to", "earliest")
	if c := committed(t, b.admin(), emptied, topic); fmt.Sprint(c) != "map[0:0 1:0 2:0]" {
		t.Fatalf("committed %v after reset-offsets --to earliest, want 0 on every partition", c)
	}

	// A classic group reads as it always has: no type, no epoch, no
	// instance column.
	const classic = "desc-classic"
	old := b.client(kgo.ConsumerGroup(classic), kgo.ConsumeTopics(topic), kgo.ClientID("desc-c"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < 5; {
		fs := old.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the classic member read %d of 5 records", got)
		}
		got += fs.NumRecords()
	}
	waitFor(t, 20*time.Second, "the classic group to be Stable", func() bool {
		return strings.HasPrefix(cli(t, b.addr, "", "group", "describe", classic), "Group: "+classic+"\tState: Stable\t")
	})
	table = cli(t, b.addr, "", "group", "describe", classic)
	header = "Group: " + classic + "\tState: Stable\tProtocol: cooperative-sticky\tCoordinator: 1\tMembers: 1\n\n"
	if !strings.HasPrefix(table, header) || !regexp.MustCompile(`(?m)^MEMBER\s+CLIENT-ID\s+HOST\s+ASSIGNMENT$`).MatchString(table) ||
		!regexp.MustCompile(`(?m)^\S+\s+desc-c\s+\S+\s+`+topic+`:0,1,2$`).MatchString(table) {
		t.Fatalf("classic group describe:\n%s\nwant it to start %q with a MEMBER CLIENT-ID HOST ASSIGNMENT table", table, header)
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(cli(t, b.addr, "", "group", "describe", classic, "--output", "json")), &c); err != nil {
		t.Fatal(err)
	}
	if _, ok := c["type"]; ok || c["state"] != "Stable" || c["protocol"] != "cooperative-sticky" {
		t.Fatalf("classic group describe JSON: %v", c)
	}

	cliFails(t, b.addr, "does not exist", "group", "describe", "no-such-group")
}
