package test

import (
	"encoding/json"
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
