package test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	havro "github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// TestSchemaRegistryClusterForwardsWritesAndKeepsIDsAcrossWriterFailover
// registers through every broker of a three-node cluster (writes are
// forwarded to the writer, the leader of _schemas-0), reads through the
// others, kills the writer (SIGKILL, or a power cut in process) and
// registers again: IDs stay unique and increasing, and nothing registered
// is lost. On processes and on in-process brokers.
func TestSchemaRegistryClusterForwardsWritesAndKeepsIDsAcrossWriterFailover(t *testing.T) {
	t.Parallel()
	forEachKind(t, 3, fastFailover, registryFailover, withSchemaRegistry())
}

func registryFailover(t *testing.T, c cluster) {
	urls := map[int32]string{}
	for _, id := range c.ids() {
		urls[id] = c.registryURL(id)
	}
	ctx := testContext(t, 3*time.Minute)
	record := func(name string) string {
		return `{"type":"record","name":"` + name + `","fields":[{"name":"id","type":"long"}]}`
	}
	want := map[int]string{} // ID -> schema
	for i, id := range []int32{1, 2, 3} {
		cl := newRegistryClient(t, urls[id])
		s := record(fmt.Sprintf("R%d", i))
		ss, err := cl.CreateSchema(ctx, fmt.Sprintf("s%d-value", i), sr.Schema{Schema: s})
		if err != nil {
			t.Fatalf("register through node %d: %v", id, err)
		}
		if ss.ID != i+1 {
			t.Fatalf("register through node %d: id %d, want %d", id, ss.ID, i+1)
		}
		want[ss.ID] = s
	}
	// Every node serves every schema.
	for id, url := range urls {
		cl := newRegistryClient(t, url)
		for sid, s := range want {
			waitForErr(t, 30*time.Second, fmt.Sprintf("schema %d through node %d", sid, id), func() error {
				got, err := cl.SchemaByID(ctx, sid)
				if err == nil && got.Schema != s {
					return fmt.Errorf("schema %d = %q, want %q", sid, got.Schema, s)
				}
				return err
			})
		}
	}

	writer := waitTopic(c, "_schemas", 1, 30*time.Second, "a writer", func(td kadm.TopicDetail) bool {
		return td.Partitions[0].Leader >= 0
	}).Partitions[0].Leader
	t.Logf("the writer is node %d; killing it", writer)
	c.kill(writer)

	survivors := others(c, writer)
	next := len(want) + 1
	for i, id := range survivors {
		cl := newRegistryClient(t, urls[id])
		s := record(fmt.Sprintf("After%d", i))
		var got int
		waitForErr(t, 90*time.Second, fmt.Sprintf("register through node %d after the writer died", id), func() error {
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			ss, err := cl.CreateSchema(rctx, fmt.Sprintf("after%d-value", i), sr.Schema{Schema: s})
			got = ss.ID
			return err
		})
		if got != next {
			t.Fatalf("register through node %d after failover: id %d, want %d (unique and increasing)", id, got, next)
		}
		want[got] = s
		next++
	}
	for _, id := range survivors {
		cl := newRegistryClient(t, urls[id])
		for sid, s := range want {
			waitForErr(t, 30*time.Second, fmt.Sprintf("schema %d through node %d after failover", sid, id), func() error {
				got, err := cl.SchemaByID(ctx, sid)
				if err == nil && got.Schema != s {
					return fmt.Errorf("schema %d = %q, want %q", sid, got.Schema, s)
				}
				return err
			})
		}
	}
}

// TestSchemaCLI drives sluice schema and sluice consume --decode-schema
// against a broker's registry.
func TestSchemaCLI(t *testing.T) {
	t.Parallel()
	b, url := startRegistryBroker(t)
	dir := t.TempDir()
	v1, v3 := filepath.Join(dir, "v1.avsc"), filepath.Join(dir, "v3.avsc")
	os.WriteFile(v1, []byte(avroOrderV1), 0o644)
	os.WriteFile(v3, []byte(avroOrderV3), 0o644)
	reg := []string{"schema", "--registry", url}

	expectLines(t, "register", cli(t, b.addr, "", append(reg, "register", "orders-value", "--file", v1)...),
		"registered orders-value version 1 with id 1")
	expectLines(t, "register v2", cli(t, b.addr, "", append(reg, "register", "orders-value", "--schema", avroOrderV2)...),
		"registered orders-value version 2 with id 2")
	expectLines(t, "list", cli(t, b.addr, "", append(reg, "list")...), "orders-value")
	expectLines(t, "list versions", cli(t, b.addr, "", append(reg, "list", "orders-value")...), "1", "2")
	expectLines(t, "get", cli(t, b.addr, "", append(reg, "get", "orders-value", "--version", "1")...),
		"subject: orders-value", "version: 1", "id:      1", "type:    AVRO", avroOrderV1)
	expectLines(t, "get by id", cli(t, b.addr, "", append(reg, "get", "--id", "2")...),
		"id:      2", "type:    AVRO", avroOrderV2)
	// An incompatible schema: exit status 1 and the reasons.
	r := runCLI(t, b.addr, "", append(reg, "check-compat", "orders-value", "--file", v3)...)
	if r.code != 1 || !strings.HasPrefix(r.stdout, "incompatible:\n") {
		t.Fatalf("check-compat v3: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	expectLines(t, "check-compat v2", cli(t, b.addr, "", append(reg, "check-compat", "orders-value", "--schema", avroOrderV2)...), "compatible")
	expectLines(t, "config", cli(t, b.addr, "", append(reg, "config", "orders-value", "--set", "none")...),
		"compatibility: NONE", "mode:          READWRITE")
	expectLines(t, "config global", cli(t, b.addr, "", append(reg, "config")...),
		"compatibility: BACKWARD", "mode:          READWRITE")
	cliFails(t, b.addr, "Subject 'nothing-value' not found", append(reg, "get", "nothing-value")...)
	cliMisused(t, b.addr, "--type", append(reg, "register", "x", "--schema", "{}", "--type", "XML")...)

	// A record framed as the serializers frame it (magic 0, ID 2, Avro)
	// prints as JSON with --decode-schema.
	s := havro.MustParse(avroOrderV2)
	payload, err := havro.Marshal(s, map[string]any{"id": int64(42), "note": "gift"})
	if err != nil {
		t.Fatal(err)
	}
	framed := append([]byte{0, 0, 0, 0, 2}, payload...)
	b.createTopic("orders", 1, nil)
	cl := b.client()
	if err := cl.ProduceSync(testContext(t, 30*time.Second), &kgo.Record{Topic: "orders", Key: []byte("k1"), Value: framed}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	out := cli(t, b.addr, "", "consume", "orders", "-e", "--format", "%k %v", "--decode-schema", "--schema-registry", url)
	expectLines(t, "consume --decode-schema", out, `k1 {"id":42,"note":"gift"}`)

	// JSON Schema and Protobuf records too (the first message of the
	// .proto: message index [0], written as the single byte 0).
	const jsonSchema = `{"type":"object","properties":{"sku":{"type":"string"}}}`
	const protoSchema = "syntax = \"proto3\";\npackage shop;\nmessage Item {\n  string sku = 1;\n  int32 qty = 2;\n}\n"
	jsonOut := cli(t, b.addr, "", append(reg, "register", "items-json", "--type", "JSON", "--schema", jsonSchema)...)
	protoOut := cli(t, b.addr, "", append(reg, "register", "items-proto", "--type", "PROTOBUF", "--schema", protoSchema)...)
	if jsonOut != "registered items-json version 1 with id 3\n" || protoOut != "registered items-proto version 1 with id 4\n" {
		t.Fatalf("register JSON and Protobuf: %q %q", jsonOut, protoOut)
	}
	b.createTopic("items", 1, nil)
	for _, v := range [][]byte{
		append([]byte{0, 0, 0, 0, 3}, `{"sku":"abc"}`...),
		{0, 0, 0, 0, 4, 0, 0x0a, 3, 'x', 'y', 'z', 0x10, 5},
	} {
		if err := cl.ProduceSync(testContext(t, 30*time.Second), &kgo.Record{Topic: "items", Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	out = cli(t, b.addr, "", "consume", "items", "-e", "--decode-schema", "--schema-registry", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	wantItems := []map[string]any{{"sku": "abc"}, {"sku": "xyz", "qty": float64(5)}}
	if len(lines) != 2 {
		t.Fatalf("consume items --decode-schema printed %q", out)
	}
	for i, line := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil || !maps.Equal(got, wantItems[i]) {
			t.Fatalf("item %d printed as %q, want %v", i, line, wantItems[i])
		}
	}

	expectLines(t, "delete", cli(t, b.addr, "", append(reg, "delete", "orders-value", "--version", "2")...), "deleted orders-value version 2")
	expectLines(t, "list after delete", cli(t, b.addr, "", append(reg, "list", "orders-value")...), "1")
}
