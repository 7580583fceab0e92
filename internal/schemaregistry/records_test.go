package schemaregistry

import (
	"testing"

	"github.com/sluice-io/sluice/internal/schema"
)

// The keys are Confluent Schema Registry's, byte for byte: compaction
// compares key bytes, so a topic written by either registry compacts the
// same.
func TestRecordKeysAreConfluentsBytes(t *testing.T) {
	cases := []struct{ got, want string }{
		{string(schemaKey("orders-value", 3)), `{"keytype":"SCHEMA","subject":"orders-value","version":3,"magic":1}`},
		{string(subjectKey(keyConfig, "")), `{"keytype":"CONFIG","subject":null,"magic":0}`},
		{string(subjectKey(keyConfig, "orders-value")), `{"keytype":"CONFIG","subject":"orders-value","magic":0}`},
		{string(subjectKey(keyMode, "")), `{"keytype":"MODE","subject":null,"magic":0}`},
		{string(noopKey()), `{"keytype":"NOOP","magic":0}`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("key %s, want %s", c.got, c.want)
		}
	}
}

// A state rebuilt from records applies them in order: the last record of
// a key wins, soft deletes keep IDs, permanent deletes (tombstones) remove
// them, and a NOOP's highest ID outlives the removed schemas.
func TestStateReplay(t *testing.T) {
	const avro1 = `{"type":"record","name":"A","fields":[{"name":"x","type":"long"}]}`
	const avro2 = `{"type":"record","name":"B","fields":[{"name":"y","type":"long"}]}`
	recs := []Record{
		schemaRecord(schemaValue{Subject: "s", Version: 1, ID: 1, Schema: avro1}),
		schemaRecord(schemaValue{Subject: "t", Version: 1, ID: 1, Schema: avro1}),
		schemaRecord(schemaValue{Subject: "s", Version: 2, ID: 2, Schema: avro2}),
		{Key: subjectKey(keyConfig, "s"), Value: mustJSON(configValue{CompatibilityLevel: "FULL"})},
		{Key: subjectKey(keyMode, ""), Value: mustJSON(modeValue{Mode: "READONLY"})},
		schemaRecord(schemaValue{Subject: "s", Version: 2, ID: 2, Schema: avro2, Deleted: true}),
		{Key: noopKey(), Value: mustJSON(noopValue{MaxID: 2})},
		{Key: schemaKey("s", 2)}, // permanent delete of s/2
		{Key: []byte(`not json`), Value: []byte(`{}`)},
		{Key: []byte(`{"keytype":"SOMETHING_NEW","magic":0}`), Value: []byte(`{}`)},
		{Key: subjectKey(keyDeleteSubject, "t"), Value: []byte(`{"subject":"t","version":1}`)},
	}
	st := newState()
	for i, r := range recs {
		d, err := decodeRecord(r.Key, r.Value)
		if i == 8 || i == 9 {
			if err == nil {
				t.Fatalf("record %d (%s) decoded without error", i, r.Key)
			}
			continue
		}
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		st.apply(d)
	}
	if st.schemas[2] != nil || st.version("s", 2, true) != nil {
		t.Fatalf("s/2 and ID 2 were permanently deleted but remain")
	}
	if st.maxID != 2 {
		t.Fatalf("maxID = %d, want 2: the NOOP keeps the removed schema's ID given", st.maxID)
	}
	if v := st.version("s", -1, false); v == nil || v.version != 1 || v.id != 1 {
		t.Fatalf("latest of s = %+v, want version 1 id 1", v)
	}
	if !st.version("t", 1, true).deleted || st.live("t") {
		t.Fatal("DELETE_SUBJECT t up to version 1 did not soft-delete it")
	}
	if st.schemas[1] == nil || st.schemas[1].uses != 2 {
		t.Fatalf("ID 1 = %+v, want held by s/1 and t/1", st.schemas[1])
	}
	if st.level("s") != schema.Full || st.level("t") != schema.Backward || st.mode("s") != modeReadOnly {
		t.Fatalf("levels %s %s, mode %s", st.level("s"), st.level("t"), st.mode("s"))
	}
}

// FuzzDecodeRecord feeds the decoder what a _schemas topic might hold,
// written by anyone: it must return an error or a record, never panic,
// and applying what it returns must not panic either.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(schemaKey("s", 1), mustJSON(schemaValue{Subject: "s", Version: 1, ID: 1, Schema: `"string"`}))
	f.Add(subjectKey(keyConfig, ""), []byte(`{"compatibilityLevel":"NONE"}`))
	f.Add(subjectKey(keyMode, "s"), []byte(`{"mode":"IMPORT"}`))
	f.Add(noopKey(), []byte(`{"sluice_writer_node":1,"sluice_writer_url":"http://x","sluice_max_id":9}`))
	f.Add(subjectKey(keyClearSubject, "s"), []byte(`{"subject":"s"}`))
	f.Add([]byte(`{"keytype":"SCHEMA"}`), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		d, err := decodeRecord(key, value)
		if err != nil {
			return
		}
		st := newState()
		st.apply(d)
		st.apply(d)
	})
}
