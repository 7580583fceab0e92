package test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// TestSchemaValidationPassesNullKeysAndValues checks that broker-side schema
// validation lets a null value (a tombstone) and a null key through, as
// Confluent Server documents: "Messages with a null value or a null key will
// pass validation."
func TestSchemaValidationPassesNullKeysAndValues(t *testing.T) {
	t.Parallel()
	b, url := startRegistryBroker(t)
	ctx := testContext(t, 60*time.Second)
	id, err := newRegistryClient(t, url).RegisterSchema(ctx, "orders-value", sr.Schema{Schema: avroOrderV1}, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	on := "true"
	both := map[string]*string{"confluent.value.schema.validation": &on, "confluent.key.schema.validation": &on}
	b.createTopic("both-validated", 1, both)
	framed := append([]byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}, 2)
	cl := b.client(kgo.RecordRetries(0))
	defer cl.Close()
	for _, c := range []struct {
		name string
		rec  *kgo.Record
	}{
		{"tombstone", &kgo.Record{Topic: "both-validated", Key: framed}},
		{"null key", &kgo.Record{Topic: "both-validated", Value: framed}},
		{"null key and value", &kgo.Record{Topic: "both-validated"}},
	} {
		if err := cl.ProduceSync(ctx, c.rec).FirstErr(); err != nil {
			t.Errorf("%s: produce err %v, want none", c.name, err)
		}
	}
	if ends := endOffsets(t, b.client(), "both-validated"); ends[0] != 3 {
		t.Errorf("both-validated end offset = %d, want 3", ends[0])
	}
}
