package test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The command-line fixes a new user following the README needs, each run
// as a subprocess against a real broker.

// TestCLIProduceCreatesTopics: produce to a missing topic honours the
// broker's auto-creation, and --create creates it where the broker does
// not.
func TestCLIProduceCreatesTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	expectLines(t, "produce to a new topic", cli(t, b.addr, "hello\n", "produce", "fresh"), "produced 1 record to fresh")
	expectLines(t, "consume it", cli(t, b.addr, "", "consume", "fresh", "-e"), "hello")

	off := startBroker(t, map[string]string{"auto.create.topics.enable": "false"})
	r := runCLI(t, off.addr, "x\n", "produce", "absent", "--timeout", "5s")
	if r.code != 1 || !strings.Contains(r.stderr, "--create") || !strings.Contains(r.stderr, "UNKNOWN_TOPIC_OR_PARTITION") ||
		!strings.Contains(r.stdout, "produced 0 records to absent") {
		t.Fatalf("produce to a missing topic without auto-creation: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	expectLines(t, "produce --create", cli(t, off.addr, "a\nb\n", "produce", "absent", "--create"), "produced 2 records to absent")
	expectLines(t, "produce --create again", cli(t, off.addr, "c\n", "produce", "absent", "--create"), "produced 1 record to absent")
	expectLines(t, "consume", cli(t, off.addr, "", "consume", "absent", "-e"), "a", "b", "c")
}

// TestCLIConsumeFewerThanCount: -n on a topic with fewer records prints
// what there is, says so and exits; --from end -n waits for new ones.
func TestCLIConsumeFewerThanCount(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := manualClient(b)
	createTopicWith(t, cl, "few", 2)
	produceTo(t, cl, "few", 0, "a", "b")
	produceTo(t, cl, "few", 1, "c")

	start := time.Now()
	r := runCLI(t, b.addr, "", "consume", "few", "--from", "-10", "-n", "10", "--format", "%p %v")
	if r.code != 0 || time.Since(start) > 15*time.Second {
		t.Fatalf("consume --from -10 -n 10: exit %d after %v\n%s%s", r.code, time.Since(start), r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(r.stdout, "0 a\n0 b\n") || !strings.Contains(r.stdout, "1 c") {
		t.Fatalf("consume --from -10 -n 10 printed %q, want the 3 records", r.stdout)
	}
	if want := "sluice: reached the end of few after 3 records, fewer than -n 10"; !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
	// Exactly n when there are enough: no note.
	r = runCLI(t, b.addr, "", "consume", "few", "-p", "0", "-n", "2")
	if r.code != 0 || r.stdout != "a\nb\n" || r.stderr != "" {
		t.Fatalf("consume -n 2: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	// An empty topic: nothing, at once.
	createTopicWith(t, cl, "empty", 1)
	r = runCLI(t, b.addr, "", "consume", "empty", "-n", "5")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "after 0 records") {
		t.Fatalf("consume -n 5 of an empty topic: exit %d %q %q", r.code, r.stdout, r.stderr)
	}

	// --from end -n 1 waits for the next record, and so does --follow.
	for i, args := range [][]string{{"--from", "end", "-n", "1"}, {"--from", "beginning", "--follow", "-p", "0", "-n"}} {
		if i == 1 { // one more than partition 0 has now
			args = append(args, fmt.Sprint(endOffsets(t, cl, "few")[0]+1))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, sluiceBin, append([]string{"-b", b.addr, "consume", "few"}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// It keeps waiting while nothing new comes; produce until it has
		// what it waits for (the consumer may join after the first one).
		var err error
		for i := 0; ; i++ {
			produceTo(t, cl, "few", 0, fmt.Sprintf("new-%d", i))
			select {
			case err = <-done:
			case <-time.After(time.Second):
				continue
			}
			break
		}
		cancel()
		if err != nil || !strings.Contains(out.String(), "new-") || strings.Contains(out.String(), "reached the end") {
			t.Fatalf("consume %v: %v\n%s", args, err, out.String())
		}
	}
}

// TestCLIMisuseExitCodes: every kind of misuse exits 2 with one line, and
// a likely typo gets a suggestion.
func TestCLIMisuseExitCodes(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	createTopicWith(t, b.client(), "t", 1)
	for _, c := range []struct {
		want string
		args []string
	}{
		{`unknown command "crate" for "sluice topic"; did you mean "create"?`, []string{"topic", "crate", "x"}},
		{`unknown command "tpoic" for "sluice"; did you mean "topic"?`, []string{"tpoic", "list"}},
		{`unknown command "reset" for "sluice group"; did you mean "reset-offsets"?`, []string{"group", "reset", "g"}},
		{`unknown command "frobnicate" for "sluice group" (see`, []string{"group", "frobnicate"}},
		{`unknown command "lst" for "sluice topic"; did you mean "list"?`, []string{"topic", "lst"}},
		{`--from "bogus": want beginning, end`, []string{"consume", "t", "--from", "bogus"}},
		{`did you mean "beginning"?`, []string{"consume", "t", "--from", "begining"}},
		{`--output "yaml": want table or json`, []string{"topic", "list", "--output", "yaml"}},
		{`--output "jsn": want table or json; did you mean "json"?`, []string{"topic", "list", "--output", "jsn"}},
		{`unknown flag: --ouput; did you mean --output?`, []string{"topic", "list", "--ouput", "json"}},
		{`--to "sideways": want earliest, latest`, []string{"group", "reset-offsets", "g", "--topic", "t", "--to", "sideways"}},
		{`--to "earlest": want earliest, latest, current, offset:N, timestamp:MILLIS, datetime:RFC3339 or shift:N; did you mean "earliest"?`, []string{"group", "reset-offsets", "g", "--topic", "t", "--to", "earlest"}},
		{`--to "datetime:yesterday": want datetime:RFC3339`, []string{"group", "reset-offsets", "g", "--topic", "t", "--to", "datetime:yesterday"}},
		{`--to "shift:x": want shift:N`, []string{"group", "reset-offsets", "g", "--topic", "t", "--to", "shift:x"}},
		{`give --to or --by-duration`, []string{"group", "reset-offsets", "g", "--topic", "t"}},
		{`give --topic or --all-topics`, []string{"group", "reset-offsets", "g", "--to", "earliest"}},
		{`--by-duration "an hour": want PnDTnHnMnS`, []string{"group", "reset-offsets", "g", "--all-topics", "--by-duration", "an hour"}},
		{`--encoding "b64": want auto, utf8, base64 or hex`, []string{"consume", "t", "--encoding", "b64"}},
		{`--input "jsonl": want text or json; did you mean "json"?`, []string{"produce", "t", "--input", "jsonl"}},
		{`--acks "2": want all, 1 or 0`, []string{"produce", "t", "--acks", "2"}},
		{`--compression "zstandard": want none, gzip, snappy, lz4 or zstd`, []string{"produce", "t", "--compression", "zstandard"}},
		{`invalid argument "many" for "-n, --count"`, []string{"consume", "t", "-n", "many"}},
		{`accepts 1 arg(s), received 0`, []string{"consume"}},
	} {
		cliMisused(t, b.addr, c.want, c.args...)
	}
	// Without arguments a command group prints its help and succeeds.
	if out := cli(t, b.addr, "", "topic"); !strings.Contains(out, "Available Commands:") {
		t.Fatalf("sluice topic printed %q", out)
	}
}

// TestCLIJSONEncodings: binary keys, values and headers survive
// consume --output json and produce --input json; null is null.
func TestCLIJSONEncodings(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	cl := manualClient(b)
	createTopicWith(t, cl, "bin", 1)
	binary := []byte{'a', 0, 0xff, 0xfe}
	want := []*kgo.Record{
		{Topic: "bin", Key: []byte("k1"), Value: []byte("text"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "h", Value: []byte("again")}}},
		{Topic: "bin", Key: binary, Value: binary, Headers: []kgo.RecordHeader{{Key: "raw", Value: binary}, {Key: "null", Value: nil}}},
		{Topic: "bin", Key: []byte("gone"), Value: nil},
		{Topic: "bin", Key: nil, Value: []byte{}},
	}
	if err := cl.ProduceSync(testContext(t, 15*time.Second), want...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	type header struct {
		Key      string  `json:"key"`
		Value    *string `json:"value"`
		Encoding string  `json:"encoding"`
	}
	type jrec struct {
		Key           *string  `json:"key"`
		KeyEncoding   string   `json:"key_encoding"`
		Value         *string  `json:"value"`
		ValueEncoding string   `json:"value_encoding"`
		Headers       []header `json:"headers"`
	}
	parse := func(out string) []jrec {
		t.Helper()
		var recs []jrec
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r jrec
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			recs = append(recs, r)
		}
		return recs
	}
	str := func(p *string) string {
		if p == nil {
			return "<null>"
		}
		return *p
	}
	b64 := base64.StdEncoding.EncodeToString(binary)

	// auto: UTF-8 as text, the rest base64, and every field says which.
	auto := cli(t, b.addr, "", "consume", "bin", "-e", "--output", "json")
	got := parse(auto)
	if len(got) != 4 {
		t.Fatalf("consumed %d records: %s", len(got), auto)
	}
	check := func(what, gotS, wantS string) {
		t.Helper()
		if gotS != wantS {
			t.Fatalf("%s = %s, want %s\n%s", what, gotS, wantS, auto)
		}
	}
	check("record 0", fmt.Sprintf("%s/%s %s/%s %d", str(got[0].Key), got[0].KeyEncoding, str(got[0].Value), got[0].ValueEncoding, len(got[0].Headers)), "k1/utf8 text/utf8 2")
	check("record 1", fmt.Sprintf("%s/%s %s/%s", str(got[1].Key), got[1].KeyEncoding, str(got[1].Value), got[1].ValueEncoding), b64+"/base64 "+b64+"/base64")
	check("record 1 headers", fmt.Sprintf("%s=%s/%s %s=%s", got[1].Headers[0].Key, str(got[1].Headers[0].Value), got[1].Headers[0].Encoding, got[1].Headers[1].Key, str(got[1].Headers[1].Value)), "raw="+b64+"/base64 null=<null>")
	check("record 2 (tombstone)", str(got[2].Key)+" "+str(got[2].Value), "gone <null>")
	check("record 3 (empty value, null key)", str(got[3].Key)+" ["+str(got[3].Value)+"]", "<null> []")
	if !strings.Contains(auto, `"value":null`) {
		t.Fatalf("no JSON null in %s", auto)
	}

	// hex for everything.
	hexed := parse(cli(t, b.addr, "", "consume", "bin", "-e", "--output", "json", "--encoding", "hex"))
	check("hex record 1", str(hexed[1].Value)+"/"+hexed[1].ValueEncoding+" "+str(hexed[0].Key)+"/"+hexed[0].KeyEncoding, hex.EncodeToString(binary)+"/hex "+hex.EncodeToString([]byte("k1"))+"/hex")
	// utf8 refuses bytes that are not UTF-8 rather than mangle them.
	cliFails(t, b.addr, "key of bin/0 offset 1: not valid UTF-8", "consume", "bin", "-e", "--output", "json", "--encoding", "utf8")
	// An explicit encoding applies to --format too.
	expectLines(t, "--format with --encoding base64", cli(t, b.addr, "", "consume", "bin", "-e", "-n", "2", "--format", "%k %v", "--encoding", "base64"),
		base64.StdEncoding.EncodeToString([]byte("k1"))+" "+base64.StdEncoding.EncodeToString([]byte("text")), b64+" "+b64)

	// Round trip: what consume printed, produce --input json sends again,
	// byte for byte, nulls included.
	expectLines(t, "produce --input json", cli(t, b.addr, auto, "produce", "copy", "--input", "json"), "produced 4 records to copy")
	copied := consumeAll(t, b.addr, "copy", 4)
	for i, r := range copied {
		w := want[i]
		if !bytes.Equal(r.Key, w.Key) || (r.Key == nil) != (w.Key == nil) || !bytes.Equal(r.Value, w.Value) || (r.Value == nil) != (w.Value == nil) ||
			fmt.Sprintf("%q", r.Headers) != fmt.Sprintf("%q", w.Headers) {
			t.Fatalf("copied record %d = key %q value %q headers %q, want key %q value %q headers %q", i, r.Key, r.Value, r.Headers, w.Key, w.Value, w.Headers)
		}
	}

	// Hand-written JSON lines: headers as an object, a field's own
	// encoding, --encoding for the rest, a tombstone.
	in := `{"key":"user-1","key_encoding":"utf8","value":null}
{"key":"6869","value":"aGk=","value_encoding":"base64","headers":{"src":"636c69"}}
`
	expectLines(t, "produce --input json --encoding hex", cli(t, b.addr, in, "produce", "hand", "--input", "json", "--encoding", "hex", "-p", "0"),
		"produced 2 records to hand")
	hand := consumeAll(t, b.addr, "hand", 2)
	if string(hand[0].Key) != "user-1" || hand[0].Value != nil {
		t.Fatalf("hand record 0 = %q %q", hand[0].Key, hand[0].Value)
	}
	if string(hand[1].Key) != "hi" || string(hand[1].Value) != "hi" || len(hand[1].Headers) != 1 || string(hand[1].Headers[0].Value) != "cli" {
		t.Fatalf("hand record 1 = %q %q %q", hand[1].Key, hand[1].Value, hand[1].Headers)
	}
	// A bad line stops the input there, names it and loses nothing before it.
	r := runCLI(t, b.addr, "{\"value\":\"ok\"}\n{\"vaule\":\"typo\"}\n{\"value\":\"after\"}\n", "produce", "bad", "--input", "json")
	if r.code != 1 || !strings.Contains(r.stderr, `line 2: want a JSON object`) || !strings.Contains(r.stderr, `unknown field "vaule"`) ||
		r.stdout != "produced 1 record to bad\n" {
		t.Fatalf("bad JSON line: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	expectLines(t, "the line before the bad one", cli(t, b.addr, "", "consume", "bad", "-e"), "ok")

	// Text input: -Z sends an empty value as null, a tombstone.
	expectLines(t, "produce -Z", cli(t, b.addr, "k1:\nk2:v2\n", "produce", "tomb", "--key-separator", ":", "-Z", "-p", "0"), "produced 2 records to tomb")
	tomb := consumeAll(t, b.addr, "tomb", 2)
	if string(tomb[0].Key) != "k1" || tomb[0].Value != nil || string(tomb[1].Value) != "v2" {
		t.Fatalf("-Z records: %q=%q %q=%q", tomb[0].Key, tomb[0].Value, tomb[1].Key, tomb[1].Value)
	}
	cliMisused(t, b.addr, "--key-separator and --null-empty are for text input", "produce", "tomb", "--input", "json", "-Z")
}

// TestCLIResetOffsetsByTime: --all-topics, --to datetime: and
// --by-duration, as kafka-consumer-groups.sh has them.
func TestCLIResetOffsetsByTime(t *testing.T) {
	t.Parallel()
	b := startBroker(t, groupSettings())
	cl := manualClient(b)
	adm := kadm.NewClient(cl)
	createTopicWith(t, cl, "old-new", 1)
	createTopicWith(t, cl, "other", 1)
	createTopicWith(t, cl, "untouched", 1)
	now := time.Now()
	var recs []*kgo.Record
	for i, age := range []time.Duration{72 * time.Hour, 48 * time.Hour, 3 * time.Hour, 30 * time.Minute, time.Minute} {
		recs = append(recs, &kgo.Record{Topic: "old-new", Value: fmt.Appendf(nil, "r%d", i), Timestamp: now.Add(-age)},
			&kgo.Record{Topic: "other", Value: fmt.Appendf(nil, "r%d", i), Timestamp: now.Add(-age)})
	}
	if err := cl.ProduceSync(testContext(t, 15*time.Second), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produceTo(t, cl, "untouched", 0, "u0", "u1")
	// The group has committed offsets on two topics.
	cli(t, b.addr, "", "group", "reset-offsets", "g", "--topic", "old-new", "--topic", "other", "--to", "latest")
	if c := committed(t, adm, "g", "old-new"); c[0] != 5 {
		t.Fatalf("committed %v", c)
	}

	// --by-duration: the first record younger than the duration.
	for _, c := range []struct {
		dur  string
		want int64
	}{{"PT1H", 3}, {"P1D", 2}, {"P2DT12H", 1}, {"90m", 3}, {"PT30S", 5}, {"P30D", 0}} {
		out := cli(t, b.addr, "", "group", "reset-offsets", "g", "--all-topics", "--by-duration", c.dur, "--output", "json")
		var plan struct {
			Partitions []struct {
				Topic string `json:"topic"`
				New   int64  `json:"new"`
			} `json:"partitions"`
		}
		if err := json.Unmarshal([]byte(out), &plan); err != nil || len(plan.Partitions) != 2 {
			t.Fatalf("--by-duration %s printed %s (%v); want both committed topics and no other", c.dur, out, err)
		}
		for _, p := range plan.Partitions {
			if p.New != c.want || (p.Topic != "old-new" && p.Topic != "other") {
				t.Fatalf("--by-duration %s planned %+v, want offset %d", c.dur, plan.Partitions, c.want)
			}
		}
		if got := committed(t, adm, "g", "other"); got[0] != c.want {
			t.Fatalf("--by-duration %s committed %v", c.dur, got)
		}
	}
	// --to datetime: a time between the second and third records.
	at := now.Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	out := cli(t, b.addr, "", "group", "reset-offsets", "g", "--all-topics", "--to", "datetime:"+at)
	expectLines(t, "reset --to datetime", out,
		"TOPIC    PARTITION  CURRENT  NEW", "old-new  0          0        2", "other    0          0        2", "reset 2 partitions of group g")
	// One partition of one topic, named as TOPIC:P.
	out = cli(t, b.addr, "", "group", "reset-offsets", "g", "--topic", "other:0", "--to", "current", "--dry-run")
	expectLines(t, "reset --to current", out, "TOPIC  PARTITION  CURRENT  NEW", "other  0          2        2", "dry run: nothing committed")
	cliFails(t, b.addr, "topic other has no partition 3", "group", "reset-offsets", "g", "--topic", "other:3", "--to", "earliest")
	cliFails(t, b.addr, "no committed offsets", "group", "reset-offsets", "fresh-group", "--all-topics", "--to", "earliest")
}

// TestCLIPlainOutput: Kafka's topic ID form, counts with the right
// plural.
func TestCLIPlainOutput(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	expectLines(t, "create", cli(t, b.addr, "", "topic", "create", "one", "-p", "1"), "created topic one with 1 partition")
	expectLines(t, "add-partitions", cli(t, b.addr, "", "topic", "add-partitions", "one", "--total", "2"), "topic one now has 2 partitions")
	expectLines(t, "alter-config", cli(t, b.addr, "", "topic", "alter-config", "one", "--set", "retention.ms=1000"), "altered 1 config of topic one")
	td, err := b.admin().ListTopics(testContext(t, 10*time.Second), "one")
	if err != nil {
		t.Fatal(err)
	}
	raw := td["one"].ID
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	if out := cli(t, b.addr, "", "topic", "describe", "one"); !strings.Contains(out, "ID: "+id+"\t") {
		t.Fatalf("describe printed %q, want ID %s (unpadded URL-safe base64, as Kafka)", out, id)
	}
	var desc struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(cli(t, b.addr, "", "topic", "describe", "one", "--output", "json")), &desc); err != nil || desc.ID != id {
		t.Fatalf("describe --output json id %q (%v), want %s", desc.ID, err, id)
	}
	if strings.ContainsAny(id, "=+/") {
		t.Fatalf("topic ID %s is not unpadded URL-safe base64", id)
	}
}
