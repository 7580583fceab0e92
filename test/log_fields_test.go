package test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestJSONLogLinesCarryFields runs sluice serve --log-format json and
// checks that known lines about a topic, a group and a client carry their
// structured fields: topic, partition, group, client_id, and the node.
func TestJSONLogLinesCarryFields(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProcess(t, filepath.Join(dir, "data"), "127.0.0.1:0", "--log-format", "json")
	ctx := testContext(t, 30*time.Second)

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.ClientID("log-fields-client"),
		kgo.ConsumeTopics("logged"), kgo.ConsumerGroup("logged-group"))
	if err != nil {
		t.Fatal(err)
	}
	closeClient := sync.OnceFunc(cl.Close)
	defer closeClient()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "logged"); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "logged", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 1; { // joins the group
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}

	// A config change names its topic and the client that made it.
	alter, err := kadm.NewClient(cl).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr("3600000")}}, "logged")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range alter {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}

	// Leaving the group removes the member: the line names the member
	// and its client.
	closeClient()

	// A client naming itself in a request header, then sending a body
	// that does not decode: the connection is closed, and the line says
	// which client it was.
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const clientID = "raw-client"
	frame := binary.BigEndian.AppendUint16(nil, 3) // Metadata
	frame = binary.BigEndian.AppendUint16(frame, 1)
	frame = binary.BigEndian.AppendUint32(frame, 7) // correlation ID
	frame = binary.BigEndian.AppendUint16(frame, uint16(len(clientID)))
	frame = append(frame, clientID...)
	frame = binary.BigEndian.AppendUint32(frame, 0x7fffffff) // topics: more than the body holds
	conn.Write(binary.BigEndian.AppendUint32(nil, uint32(len(frame))))
	conn.Write(frame)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	conn.Read(b[:]) // until the broker closes it

	want := []struct {
		msg    string
		fields map[string]any
	}{
		{"created topic", map[string]any{"topic": "logged", "client_id": "log-fields-client", "node": 1.0}},
		{"preparing to rebalance group", map[string]any{"group": "logged-group", "topic": "__consumer_offsets", "node": 1.0}},
		{"closing connection", map[string]any{"client_id": clientID, "listener": "PLAINTEXT", "node": 1.0}},
		{"altered configs", map[string]any{"topic": "logged", "client_id": "log-fields-client", "node": 1.0}},
		{"removing member from group", map[string]any{"group": "logged-group", "client_id": "log-fields-client", "node": 1.0}},
	}
	waitForErr(t, 10*time.Second, "the JSON log lines", func() error {
		missing := ""
		logs := p.logs()
		lines := jsonLogLines(t, logs)
		for _, w := range want {
			if !hasLogLine(lines, w.msg, w.fields) {
				missing += "\n  " + w.msg + " with " + jsonString(w.fields)
			}
		}
		if missing != "" {
			return fmt.Errorf("no JSON log line:%s\nin:\n%s", missing, logs)
		}
		return nil
	})
	// Every line is a JSON object, every line about a partition
	// names its topic, and every line about a group member names it.
	for _, l := range jsonLogLines(t, p.logs()) {
		if _, ok := l["partition"].(float64); ok && l["topic"] == nil {
			t.Errorf("line about a partition without its topic: %v", l)
		}
		if l["msg"] == "removing member from group" {
			if id, _ := l["member_id"].(string); !strings.HasPrefix(id, "log-fields-client-") {
				t.Errorf("member line without its member_id: %v", l)
			}
		}
	}
}

// jsonLogLines parses the JSON lines of a log; lines that are not JSON
// (the serve banner) are skipped.
func jsonLogLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		out = append(out, m)
	}
	return out
}

func hasLogLine(lines []map[string]any, msg string, fields map[string]any) bool {
next:
	for _, l := range lines {
		if l["msg"] != msg {
			continue
		}
		for k, v := range fields {
			if l[k] != v {
				continue next
			}
		}
		return true
	}
	return false
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
