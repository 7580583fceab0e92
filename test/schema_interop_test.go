package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestSchemaInteropConfluentKafkaPython drives the registry with
// confluent-kafka's Python SchemaRegistryClient and its Avro and JSON
// Schema serializers end to end through the broker
// (test/interop/schema_registry_clients.py). Debian has no fastavro, so
// the Avro serializer codes Avro with Debian's python3-avro
// (test/interop/avro_codec) unless fastavro is installed.
func TestSchemaInteropConfluentKafkaPython(t *testing.T) {
	t.Parallel()
	needPythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	needPythonModule(t, "requests", "python3-requests")
	needPythonModule(t, "jsonschema", "python3-jsonschema")
	needPythonModule(t, "avro", "python3-avro")
	b, url := startRegistryBroker(t)
	for _, topic := range []string{"pay-avro", "pay-json"} {
		b.createTopic(topic, 3, nil)
	}
	out := runInterop(t, 3*time.Minute, interopPython, "schema_registry_clients.py", url, b.addr, "pay", "20")
	var got struct {
		AvroV1     int      `json:"avro_v1"`
		AvroIDs    []int    `json:"avro_ids"`
		AvroLatest []int    `json:"avro_latest"`
		JSONIDs    []int    `json:"json_ids"`
		Subjects   []string `json:"subjects"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	if got.AvroV1 != 1 || !slices.Equal(got.AvroIDs, []int{2}) || !slices.Equal(got.AvroLatest, []int{2, 2}) || !slices.Equal(got.JSONIDs, []int{3}) {
		t.Fatalf("IDs seen by the Python client = %+v; want Avro v1 id 1, the serializer's v2 id 2 (version 2), JSON id 3", got)
	}
	if !slices.Equal(got.Subjects, []string{"pay-avro-value", "pay-json-value"}) {
		t.Fatalf("subjects = %v", got.Subjects)
	}
	// The Go client sees what Python registered.
	cl := newRegistryClient(t, url)
	s, err := cl.SchemaByID(testContext(t, 30*time.Second), 3)
	if err != nil || s.Type.String() != "JSON" {
		t.Fatalf("schema 3 through franz-go = %+v, %v; want the JSON schema", s, err)
	}
}

// TestSchemaInteropConfluentJS registers and reads Avro, JSON Schema and
// Protobuf schemas with Confluent's JavaScript client,
// @confluentinc/schemaregistry (test/interop/schemaregistry_test.js).
func TestSchemaInteropConfluentJS(t *testing.T) {
	t.Parallel()
	node := needTool(t, "node")
	if _, err := os.Stat(filepath.Join("interop", "node_modules", "@confluentinc", "schemaregistry", "package.json")); err != nil {
		skipOrFail(t, "@confluentinc/schemaregistry is not installed (npm ci --prefix test/interop)")
	}
	_, url := startRegistryBroker(t)
	out := runInterop(t, 2*time.Minute, node, "schemaregistry_test.js", url)
	var got struct {
		Avro     int      `json:"AVRO"`
		JSON     int      `json:"JSON"`
		Protobuf int      `json:"PROTOBUF"`
		AvroV2   int      `json:"AVRO_V2"`
		Subjects []string `json:"subjects"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	if got.Avro != 1 || got.JSON != 2 || got.Protobuf != 3 || got.AvroV2 != 4 {
		t.Fatalf("IDs seen by the JS client = %+v; want AVRO 1, JSON 2, PROTOBUF 3, Avro v2 4", got)
	}
	if !slices.Equal(got.Subjects, []string{"js-avro-value", "js-json-value", "js-proto-value"}) {
		t.Fatalf("subjects = %v", got.Subjects)
	}
	// The Go client reads the Protobuf schema the JS client registered.
	s, err := newRegistryClient(t, url).SchemaByID(testContext(t, 30*time.Second), 3)
	if err != nil || s.Type.String() != "PROTOBUF" {
		t.Fatalf("schema 3 through franz-go = %+v, %v", s, err)
	}
}
