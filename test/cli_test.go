package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cliResult is what one run of the sluice binary printed and returned.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the sluice binary against addr with stdin and args, as a user
// would, and returns its output and exit status. No profile file applies.
func runCLI(t testing.TB, addr, stdin string, args ...string) cliResult {
	t.Helper()
	return runSluice(t, append(os.Environ(), "SLUICE_BROKERS=", "SLUICE_CONFIG=/dev/null"), stdin, append([]string{"-b", addr}, args...)...)
}

// runSluice runs the sluice binary with env, stdin and args.
func runSluice(t testing.TB, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("run sluice %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("sluice %v did not finish in 30s; stdout:\n%s\nstderr:\n%s", args, res.stdout, res.stderr)
	}
	return res
}

// cli runs a command that must succeed and returns its stdout.
func cli(t testing.TB, addr, stdin string, args ...string) string {
	t.Helper()
	r := runCLI(t, addr, stdin, args...)
	if r.code != 0 {
		t.Fatalf("sluice %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// cliFails runs a command that must fail with exit status 1 and one line
// on stderr containing want.
func cliFails(t testing.TB, addr, want string, args ...string) {
	t.Helper()
	cliFailsWith(t, 1, addr, want, args...)
}

// cliMisused runs a command whose arguments or flags are wrong: exit
// status 2 and one line on stderr containing want.
func cliMisused(t testing.TB, addr, want string, args ...string) {
	t.Helper()
	cliFailsWith(t, 2, addr, want, args...)
}

func cliFailsWith(t testing.TB, code int, addr, want string, args ...string) {
	t.Helper()
	r := runCLI(t, addr, "", args...)
	if r.code != code {
		t.Fatalf("sluice %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "sluice: ") || !strings.Contains(lines[0], want) {
		t.Fatalf("sluice %s: stderr %q, want one line 'sluice: ...%s...'", strings.Join(args, " "), r.stderr, want)
	}
}

func expectLines(t testing.TB, what, got string, want ...string) {
	t.Helper()
	w := strings.Join(want, "\n") + "\n"
	if len(want) == 0 {
		w = ""
	}
	if g := got; g != w {
		t.Fatalf("%s printed:\n%s\nwant:\n%s", what, g, w)
	}
}

func TestCLITopic(t *testing.T) {
	b := startBroker(t, nil)
	cl := b.client()
	adm := kadm.NewClient(cl)

	out := cli(t, b.addr, "", "topic", "create", "orders", "-p", "3", "-c", "retention.ms=123456", "-c", "cleanup.policy=compact")
	if !strings.Contains(out, "created topic orders with 3 partitions") {
		t.Fatalf("create printed %q", out)
	}
	expectPartitions(t, cl, "orders", 3)
	expectTopicConfigs(t, adm, "orders", map[string]configWant{
		"retention.ms":   dynamicTopic("123456"),
		"cleanup.policy": dynamicTopic("compact"),
	})
	cli(t, b.addr, "", "topic", "create", "other")

	out = cli(t, b.addr, "", "topic", "list", "--output", "json")
	var listed []struct {
		Topic      string `json:"topic"`
		Partitions int    `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("topic list json %q: %v", out, err)
	}
	got := map[string]int{}
	for _, l := range listed {
		got[l.Topic] = l.Partitions
	}
	if got["orders"] != 3 || got["other"] == 0 {
		t.Fatalf("topic list = %v, want orders with 3 partitions and other", got)
	}

	// orders is compacted, which refuses records without a key.
	if err := manualClient(b).ProduceSync(testContext(t, 15*time.Second),
		&kgo.Record{Topic: "orders", Partition: 1, Key: []byte("a"), Value: []byte("a")},
		&kgo.Record{Topic: "orders", Partition: 1, Key: []byte("b"), Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatalf("produce to orders/1: %v", err)
	}
	out = cli(t, b.addr, "", "topic", "describe", "orders")
	for _, want := range []string{"Partitions: 3", "cleanup.policy=compact,retention.ms=123456", "LOG-END"} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe printed:\n%s\nwant %q in it", out, want)
		}
	}
	out = cli(t, b.addr, "", "topic", "describe", "orders", "--output", "json")
	var desc struct {
		Partitions []struct {
			Partition int32   `json:"partition"`
			Leader    int32   `json:"leader"`
			Replicas  []int32 `json:"replicas"`
			ISR       []int32 `json:"isr"`
			LogStart  int64   `json:"log_start_offset"`
			LogEnd    int64   `json:"log_end_offset"`
		} `json:"partitions"`
		Configs map[string]string `json:"configs"`
	}
	if err := json.Unmarshal([]byte(out), &desc); err != nil {
		t.Fatalf("describe json %q: %v", out, err)
	}
	if len(desc.Partitions) != 3 || len(desc.Configs) != 2 || desc.Configs["retention.ms"] != "123456" {
		t.Fatalf("describe json = %+v", desc)
	}
	for _, p := range desc.Partitions {
		wantEnd := int64(0)
		if p.Partition == 1 {
			wantEnd = 2
		}
		if p.Leader != 1 || fmt.Sprint(p.Replicas) != "[1]" || fmt.Sprint(p.ISR) != "[1]" || p.LogStart != 0 || p.LogEnd != wantEnd {
			t.Fatalf("describe partition %+v, want leader 1, replicas and ISR [1], offsets 0..%d", p, wantEnd)
		}
	}

	cli(t, b.addr, "", "topic", "alter-config", "orders", "--set", "retention.ms=999999", "--delete", "cleanup.policy")
	expectTopicConfigs(t, adm, "orders", map[string]configWant{
		"retention.ms":   dynamicTopic("999999"),
		"cleanup.policy": defaultConfig("delete"),
	})

	cli(t, b.addr, "", "topic", "add-partitions", "orders", "--total", "5")
	expectPartitions(t, cl, "orders", 5)

	out = cli(t, b.addr, "", "topic", "delete", "orders")
	if !strings.Contains(out, "deleted topic orders") {
		t.Fatalf("delete printed %q", out)
	}
	expectNoTopic(t, cl, "orders")

	cliFails(t, b.addr, "UNKNOWN_TOPIC_OR_PARTITION", "topic", "describe", "orders")
	cliFails(t, b.addr, "TOPIC_ALREADY_EXISTS", "topic", "create", "other")
	cliFailsWith(t, 2, b.addr, "want name=value", "topic", "create", "x", "-c", "retention.ms")
}

func TestCLIProduceConsume(t *testing.T) {
	b := startBroker(t, nil)
	cl := b.client()
	createTopicWith(t, cl, "events", 2)

	out := cli(t, b.addr, "k1:v1\nk2:v2:with:colons\nno-key\n", "produce", "events",
		"--key-separator", ":", "--header", "src=cli", "-H", "n=1", "--partition", "1", "--acks", "all", "--compression", "gzip")
	expectLines(t, "produce", out, "produced 3 records to events")

	recs := consumeAll(t, b.addr, "events", 3)
	var got []string
	for _, r := range recs {
		var hs []string
		for _, h := range r.Headers {
			hs = append(hs, h.Key+"="+string(h.Value))
		}
		key := "<nil>"
		if r.Key != nil {
			key = string(r.Key)
		}
		got = append(got, fmt.Sprintf("%d/%d %s %s %s", r.Partition, r.Offset, key, r.Value, strings.Join(hs, ",")))
	}
	want := []string{"1/0 k1 v1 src=cli,n=1", "1/1 k2 v2:with:colons src=cli,n=1", "1/2 <nil> no-key src=cli,n=1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("records read back by franz-go:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// acks=1 and acks=0 produce too; partition 0 so the order below is known.
	cli(t, b.addr, "x\ny\n", "produce", "events", "-p", "0", "--acks", "1", "--compression", "zstd")
	expectLines(t, "produce acks=0", cli(t, b.addr, "z\n", "produce", "events", "-p", "0", "--acks", "0"), "produced 1 record to events")
	waitFor(t, 10*time.Second, "acks=0 record to land", func() bool { return endOffsets(t, cl, "events")[0] == 3 })

	expectLines(t, "consume -e", cli(t, b.addr, "", "consume", "events", "-p", "1", "-e"),
		"v1", "v2:with:colons", "no-key")
	expectLines(t, "consume --format", cli(t, b.addr, "", "consume", "events", "-p", "1", "-e", "--format", "%p:%o %k=%v [%h] 100%%"),
		"1:0 k1=v1 [src=cli,n=1] 100%", "1:1 k2=v2:with:colons [src=cli,n=1] 100%", "1:2 =no-key [src=cli,n=1] 100%")
	expectLines(t, "consume -n 2", cli(t, b.addr, "", "consume", "events", "-p", "0", "-n", "2"), "x", "y")
	expectLines(t, "consume --read-committed", cli(t, b.addr, "", "consume", "events", "-p", "0", "--read-committed", "-e"), "x", "y", "z")
	expectLines(t, "consume --from 1", cli(t, b.addr, "", "consume", "events", "-p", "0", "--from", "1", "-e"), "y", "z")
	expectLines(t, "consume --from -1", cli(t, b.addr, "", "consume", "events", "--from", "-1", "-e", "--format", "%p %v"), "0 z", "1 no-key")
	expectLines(t, "consume --from end", cli(t, b.addr, "", "consume", "events", "--from", "end", "-e"))
	out = cli(t, b.addr, "", "consume", "events", "--from", "timestamp:0", "-e")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 6 {
		t.Fatalf("consume --from timestamp:0 printed %q, want all 6 records", out)
	}

	out = cli(t, b.addr, "", "consume", "events", "-p", "1", "-n", "1", "--output", "json")
	var jr struct {
		Partition int32   `json:"partition"`
		Offset    int64   `json:"offset"`
		Key       *string `json:"key"`
		Value     string  `json:"value"`
		Headers   []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"headers"`
	}
	if err := json.Unmarshal([]byte(out), &jr); err != nil || jr.Key == nil || *jr.Key != "k1" || jr.Value != "v1" || len(jr.Headers) != 2 || jr.Headers[0].Key != "src" || jr.Headers[0].Value != "cli" {
		t.Fatalf("consume --output json printed %q (%v)", out, err)
	}

	cliFails(t, b.addr, "does not exist", "consume", "missing", "-e")
	cliMisused(t, b.addr, "--acks", "produce", "events", "--acks", "2")
}

// committed returns a group's committed offsets on topic.
func committed(t testing.TB, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(testContext(t, 10*time.Second), group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range offs[topic] {
		if o.Err != nil {
			t.Fatalf("fetch offset %s/%d: %v", topic, p, o.Err)
		}
		out[p] = o.At
	}
	return out
}

func TestCLIGroups(t *testing.T) {
	b := startBroker(t, groupSettings())
	cl := manualClient(b)
	adm := kadm.NewClient(cl)
	createTopicWith(t, cl, "jobs", 2)
	produceTo(t, cl, "jobs", 0, "a0", "a1", "a2", "a3", "a4")
	produceTo(t, cl, "jobs", 1, "b0", "b1", "b2", "b3", "b4")

	// A group consumer prints -n records and commits exactly those.
	out := cli(t, b.addr, "", "consume", "jobs", "--group", "workers", "-n", "4")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 {
		t.Fatalf("group consume -n 4 printed %q", out)
	}
	sum := int64(0)
	for _, o := range committed(t, adm, "workers", "jobs") {
		sum += o
	}
	if sum != 4 {
		t.Fatalf("group committed %v after printing 4 records", committed(t, adm, "workers", "jobs"))
	}
	// The next run continues where the group left off.
	out = cli(t, b.addr, "", "consume", "jobs", "--group", "workers", "-e")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 6 {
		t.Fatalf("second group consume printed %q, want the other 6 records", out)
	}
	if c := committed(t, adm, "workers", "jobs"); c[0] != 5 || c[1] != 5 {
		t.Fatalf("committed %v, want 5 on both partitions", c)
	}

	if out := cli(t, b.addr, "", "group", "list"); !strings.Contains(out, "workers") {
		t.Fatalf("group list printed %q", out)
	}
	out = cli(t, b.addr, "", "group", "describe", "workers", "--output", "json")
	var desc struct {
		State      string `json:"state"`
		Partitions []struct {
			Partition int32 `json:"partition"`
			Committed int64 `json:"committed"`
			Lag       int64 `json:"lag"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(out), &desc); err != nil || desc.State != "Empty" || len(desc.Partitions) != 2 || desc.Partitions[0].Committed != 5 || desc.Partitions[0].Lag != 0 {
		t.Fatalf("group describe printed %q (%v)", out, err)
	}

	// Dry run prints the plan and commits nothing.
	out = cli(t, b.addr, "", "group", "reset-offsets", "workers", "--topic", "jobs", "--to", "earliest", "--dry-run")
	expectLines(t, "reset --dry-run", out,
		"TOPIC  PARTITION  CURRENT  NEW", "jobs   0          5        0", "jobs   1          5        0", "dry run: nothing committed")
	if c := committed(t, adm, "workers", "jobs"); c[0] != 5 || c[1] != 5 {
		t.Fatalf("dry run moved committed offsets to %v", c)
	}

	for _, step := range []struct {
		to   string
		want map[int32]int64
	}{
		{"earliest", map[int32]int64{0: 0, 1: 0}},
		{"shift:3", map[int32]int64{0: 3, 1: 3}},
		{"shift:-1", map[int32]int64{0: 2, 1: 2}},
		{"offset:4", map[int32]int64{0: 4, 1: 4}},
		{"offset:99", map[int32]int64{0: 5, 1: 5}},
		{"timestamp:0", map[int32]int64{0: 0, 1: 0}},
		{"latest", map[int32]int64{0: 5, 1: 5}},
	} {
		cli(t, b.addr, "", "group", "reset-offsets", "workers", "--topic", "jobs", "--to", step.to)
		if c := committed(t, adm, "workers", "jobs"); fmt.Sprint(c) != fmt.Sprint(step.want) {
			t.Fatalf("after --to %s committed %v, want %v", step.to, c, step.want)
		}
	}
	cli(t, b.addr, "", "group", "reset-offsets", "workers", "--topic", "jobs", "--to", "offset:1")
	out = cli(t, b.addr, "", "consume", "jobs", "--group", "workers", "-e")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sort.Strings(lines)
	if fmt.Sprint(lines) != "[a1 a2 a3 a4 b1 b2 b3 b4]" {
		t.Fatalf("group consume after reset to offset:1 printed %v", lines)
	}
	cli(t, b.addr, "", "group", "reset-offsets", "workers", "--topic", "jobs", "--to", "offset:1")

	// While a member is in the group, reset-offsets refuses and changes nothing.
	member := b.client(kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("jobs"), kgo.DisableAutoCommit())
	ctx := testContext(t, 15*time.Second)
	for {
		member.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("the member never joined")
		}
		if len(describeGroup(t, cl, "workers").Members) > 0 {
			break
		}
	}
	cliFails(t, b.addr, "active member", "group", "reset-offsets", "workers", "--topic", "jobs", "--to", "earliest")
	cliFails(t, b.addr, "active member", "group", "reset-offsets", "workers", "--topic", "jobs", "--to", "earliest", "--dry-run")
	if c := committed(t, adm, "workers", "jobs"); c[0] != 1 || c[1] != 1 {
		t.Fatalf("refused reset moved committed offsets to %v", c)
	}
	member.Close()

	out = cli(t, b.addr, "", "group", "delete", "workers")
	expectLines(t, "group delete", out, "deleted group workers")
	if gs := listGroups(t, cl, nil, nil); len(gs) != 0 {
		t.Fatalf("groups after delete: %v", gs)
	}
}

func TestCLIClusterConfigAndErrors(t *testing.T) {
	b := startBroker(t, nil)
	cl := b.client()
	adm := kadm.NewClient(cl)

	meta, err := adm.BrokerMetadata(testContext(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	out := cli(t, b.addr, "", "cluster", "info", "--output", "json")
	var info struct {
		ClusterID  string `json:"cluster_id"`
		Controller int32  `json:"controller"`
		Brokers    []struct {
			ID   int32  `json:"id"`
			Host string `json:"host"`
			Port int32  `json:"port"`
		} `json:"brokers"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil || info.ClusterID != meta.Cluster || info.Controller != meta.Controller ||
		len(info.Brokers) != 1 || fmt.Sprintf("%s:%d", info.Brokers[0].Host, info.Brokers[0].Port) != b.addr {
		t.Fatalf("cluster info printed %q (%v), want cluster %s at %s", out, err, meta.Cluster, b.addr)
	}
	if out := cli(t, b.addr, "", "cluster", "info"); !strings.Contains(out, "Cluster ID: "+meta.Cluster) {
		t.Fatalf("cluster info printed %q", out)
	}

	createTopicWith(t, cl, "cfg", 1)
	cli(t, b.addr, "", "config", "set", "topic", "cfg", "retention.ms=5000", "segment.bytes=1048576")
	expectTopicConfigs(t, adm, "cfg", map[string]configWant{
		"retention.ms":  dynamicTopic("5000"),
		"segment.bytes": dynamicTopic("1048576"),
	})
	expectLines(t, "config get topic", cli(t, b.addr, "", "config", "get", "topic", "cfg", "retention.ms"),
		"NAME          VALUE  SOURCE", "retention.ms  5000   DYNAMIC_TOPIC_CONFIG")

	cli(t, b.addr, "", "config", "set", "broker", "1", "log.retention.ms=7200000")
	rcs, err := adm.DescribeBrokerConfigs(testContext(t, 10*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	if c := configOf(t, rcs, "1", "log.retention.ms"); c.MaybeValue() != "7200000" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Fatalf("log.retention.ms after config set: %q from %v", c.MaybeValue(), c.Source)
	}
	out = cli(t, b.addr, "", "config", "get", "broker", "1", "--non-default", "--output", "json")
	var rows []struct{ Name, Value, Source string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("config get json %q: %v", out, err)
	}
	var names []string
	for _, r := range rows {
		names = append(names, r.Name+"="+r.Value)
	}
	sort.Strings(names)
	if !strings.Contains(strings.Join(names, " "), "log.retention.ms=7200000") {
		t.Fatalf("config get broker --non-default: %v", names)
	}

	// Errors: exit status 1 (failed) or 2 (misused) and one line on stderr.
	cliFails(t, b.addr, "INVALID_CONFIG", "config", "set", "topic", "cfg", "retention.ms=abc")
	cliFailsWith(t, 2, b.addr, "want broker or topic", "config", "get", "group", "x")
	cliMisused(t, b.addr, "accepts 1 arg(s)", "topic", "describe")
	cliMisused(t, b.addr, "unknown flag", "topic", "list", "--nope")
	cliMisused(t, b.addr, "--output", "topic", "list", "--output", "yaml")
	cliMisused(t, b.addr, "--to", "group", "reset-offsets", "g", "--topic", "cfg", "--to", "sideways")
	cliFails(t, "127.0.0.1:1", "127.0.0.1:1", "topic", "list", "--timeout", "2s")

	// SLUICE_BROKERS is the default for -b.
	cmd := exec.Command(sluiceBin, "topic", "list")
	cmd.Env = append(os.Environ(), "SLUICE_BROKERS="+b.addr)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "cfg") {
		t.Fatalf("topic list with SLUICE_BROKERS: %v\n%s", err, out)
	}

	// Every command has help with examples.
	for _, c := range [][]string{{"topic", "create"}, {"topic", "describe"}, {"produce"}, {"consume"},
		{"group", "reset-offsets"}, {"cluster", "info"}, {"config", "set"}} {
		if out := cli(t, b.addr, "", append(c, "--help")...); !strings.Contains(out, "Examples:") {
			t.Fatalf("%v --help has no examples:\n%s", c, out)
		}
	}
}
