package test

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// TestSchemaValidationRefusesRecordsWithoutARegisteredSchemaID checks
// broker-side schema validation (Confluent Server's
// confluent.value.schema.validation and confluent.key.schema.validation):
// a record whose value (key) does not start with magic byte 0 and the ID
// of a registered schema is refused with INVALID_RECORD, compressed or not,
// and nothing of its batch is stored.
func TestSchemaValidationRefusesRecordsWithoutARegisteredSchemaID(t *testing.T) {
	t.Parallel()
	b, url := startRegistryBroker(t)
	ctx := testContext(t, 60*time.Second)
	id, err := newRegistryClient(t, url).RegisterSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV1}, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	on := "true"
	b.createTopic("validated", 1, map[string]*string{"confluent.value.schema.validation": &on})
	b.createTopic("keys-validated", 1, map[string]*string{"confluent.key.schema.validation": &on})
	framed := func(id int, payload string) []byte {
		return append([]byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, payload...)
	}
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.ZstdCompression()} {
		cl := b.client(kgo.ProducerBatchCompression(codec), kgo.RecordRetries(0))
		cases := []struct {
			name    string
			rec     *kgo.Record
			invalid bool
		}{
			{"value with a registered ID", &kgo.Record{Topic: "validated", Value: framed(id, "\x02")}, false},
			{"plain value", &kgo.Record{Topic: "validated", Value: []byte("hello, no schema")}, true},
			{"value with an unknown ID", &kgo.Record{Topic: "validated", Value: framed(9999, "\x02")}, true},
			{"value too short for an ID", &kgo.Record{Topic: "validated", Value: []byte{0, 0}}, true},
			{"empty value", &kgo.Record{Topic: "validated", Key: []byte("k"), Value: []byte{}}, true},
			{"key with a registered ID", &kgo.Record{Topic: "keys-validated", Key: framed(id, "\x02"), Value: []byte("anything")}, false},
			{"plain key", &kgo.Record{Topic: "keys-validated", Key: []byte("k"), Value: framed(id, "\x02")}, true},
		}
		for _, c := range cases {
			err := cl.ProduceSync(ctx, c.rec).FirstErr()
			if c.invalid != errors.Is(err, kerr.InvalidRecord) || (!c.invalid && err != nil) {
				t.Errorf("%v, %s: produce err %v, want INVALID_RECORD %v", codec, c.name, err, c.invalid)
			}
		}
		cl.Close()
	}
	// Only the accepted records were stored: one per codec and topic.
	if ends := endOffsets(t, b.client(), "validated"); ends[0] != 2 {
		t.Errorf("validated end offset = %d, want 2", ends[0])
	}
	if ends := endOffsets(t, b.client(), "keys-validated"); ends[0] != 2 {
		t.Errorf("keys-validated end offset = %d, want 2", ends[0])
	}
}
