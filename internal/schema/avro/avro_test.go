package avro

import (
	"strings"
	"testing"
)

func mustParse(t testing.TB, text string, refs map[string]string) *Schema {
	t.Helper()
	s, err := Parse(text, refs)
	if err != nil {
		t.Fatalf("Parse(%s): %v", text, err)
	}
	return s
}

func TestTextForms(t *testing.T) {
	s := mustParse(t, `{
		"namespace": "com.acme", "type": "record", "name": "User", "doc": "a <user>",
		"fields": [
			{"name": "id", "type": {"type": "long", "logicalType": "timestamp-millis"}},
			{"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
			{"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}, "order": "descending"},
			{"name": "other", "type": {"type": "fixed", "name": "x.F", "size": 2}, "aliases": ["o"]},
			{"name": "again", "type": "Kind", "custom": 1}
		]
	}`, nil)
	wantText := `{"type":"record","name":"User","namespace":"com.acme","doc":"a <user>","fields":[` +
		`{"name":"id","type":{"type":"long","logicalType":"timestamp-millis"}},` +
		`{"name":"tags","type":{"type":"array","items":"string"},"default":[]},` +
		`{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]},"order":"descending"},` +
		`{"name":"other","type":{"type":"fixed","name":"F","namespace":"x","size":2},"aliases":["o"]},` +
		`{"name":"again","type":"Kind","custom":1}]}`
	if s.String() != wantText {
		t.Errorf("String() =\n%s\nwant\n%s", s.String(), wantText)
	}
	wantCanonical := `{"type":"record","name":"com.acme.User","doc":"a <user>","fields":[` +
		`{"name":"id","type":{"type":"long","logicalType":"timestamp-millis"}},` +
		`{"name":"tags","type":{"type":"array","items":"string"},"default":[]},` +
		`{"name":"kind","type":{"type":"enum","name":"com.acme.Kind","symbols":["A","B"]},"order":"descending"},` +
		`{"name":"other","type":{"type":"fixed","name":"x.F","size":2},"aliases":["o"]},` +
		`{"name":"again","type":"com.acme.Kind","custom":1}]}`
	if s.Canonical() != wantCanonical || s.Normalized() != wantCanonical {
		t.Errorf("Canonical() =\n%s\nwant\n%s", s.Canonical(), wantCanonical)
	}
	if !strings.HasPrefix(s.ParsingCanonicalForm(), `{"name":"com.acme.User","type":"record","fields":[`) || strings.Contains(s.ParsingCanonicalForm(), "doc") {
		t.Errorf("ParsingCanonicalForm() = %s", s.ParsingCanonicalForm())
	}
	if s.Name() != "com.acme.User" || mustParse(t, `"int"`, nil).Name() != "" {
		t.Errorf("Name() = %q", s.Name())
	}
}

// References may depend on each other; the registry hands them over as a map, in no order.
func TestReferencesInAnyOrder(t *testing.T) {
	refs := map[string]string{
		"a": `{"type":"record","name":"A","namespace":"n","fields":[{"name":"b","type":"n.B"}]}`,
		"b": `{"type":"record","name":"B","namespace":"n","fields":[{"name":"c","type":"n.C"}]}`,
		"c": `{"type":"enum","name":"C","namespace":"n","symbols":["X"]}`,
	}
	s := mustParse(t, `{"type":"record","name":"Top","fields":[{"name":"a","type":"n.A"}]}`, refs)
	if s.String() != `{"type":"record","name":"Top","fields":[{"name":"a","type":"n.A"}]}` {
		t.Errorf("String() = %s", s.String())
	}
	if _, err := Parse(`{"type":"record","name":"Top","fields":[{"name":"a","type":"n.A"}]}`,
		map[string]string{"a": refs["a"], "b": refs["b"]}); err == nil {
		t.Error("a reference to a missing type was accepted")
	}
}

func TestIncompatibilityMessages(t *testing.T) {
	old := mustParse(t, `{"type":"record","name":"R","fields":[{"name":"a","type":"double"}]}`, nil)
	nw := mustParse(t, `{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"w","type":"int"}]}`, nil)
	ins := Check(nw, old)
	if len(ins) != 2 {
		t.Fatalf("Check = %+v", ins)
	}
	want := []string{
		`{errorType:'TYPE_MISMATCH', description:'The type at path '/fields/0/type' in the new schema cannot read the type of the old schema', additionalInfo:'reader type: STRING not compatible with writer type: DOUBLE'}`,
		`{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The new schema has a field 'w' at path '/fields/1' with no default value, and the old schema has no such field', additionalInfo:'w'}`,
	}
	for i, in := range ins {
		if got := in.Message("new", "old"); got != want[i] {
			t.Errorf("message %d = %s\nwant %s", i, got, want[i])
		}
	}
}

// A recursive type compared with a changed version of itself ends, and finds the change.
func TestRecursiveTypes(t *testing.T) {
	old := mustParse(t, `{"type":"record","name":"Tree","fields":[{"name":"v","type":"int"},{"name":"kids","type":{"type":"array","items":"Tree"}}]}`, nil)
	nw := mustParse(t, `{"type":"record","name":"Tree","fields":[{"name":"v","type":"boolean"},{"name":"kids","type":{"type":"array","items":"Tree"}}]}`, nil)
	if ins := Check(old, old); len(ins) != 0 {
		t.Errorf("a recursive schema does not read itself: %+v", ins)
	}
	if ins := Check(nw, old); len(ins) != 1 || ins[0].Path != "/fields/0/type" {
		t.Errorf("Check = %+v", ins)
	}
}

func TestAmbiguousAliases(t *testing.T) {
	old := mustParse(t, `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"}]}`, nil)
	nw := mustParse(t, `{"type":"record","name":"R","fields":[{"name":"a","type":"int","aliases":["b"]}]}`, nil)
	if ins := Check(nw, old); len(ins) != 1 || ins[0].Kind != TypeMismatch {
		t.Errorf("Check = %+v, want one verdict on the ambiguous field", ins)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`"int"`, `{"type":"string"}`, `["null","long"]`,
		`{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":["null","R"],"default":null}]}`,
		`{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`,
		`{"type":"fixed","name":"F","size":16,"logicalType":"decimal","precision":4}`,
		`{"type":"map","values":{"type":"array","items":"bytes"}}`,
		`{"type":"record","name":"a.b.R","aliases":["c.S"],"fields":[{"name":"x","type":{"type":"record","name":"Q","fields":[]},"aliases":["y"],"order":"ignore"}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(text, nil)
		if err != nil {
			return
		}
		again, err := Parse(s.String(), nil)
		if err != nil {
			t.Fatalf("the stored form %s of %s does not parse: %v", s.String(), text, err)
		}
		if again.Canonical() != s.Canonical() {
			t.Fatalf("the stored form of %s changes its canonical form:\n%s\n%s", text, s.Canonical(), again.Canonical())
		}
		norm, err := Parse(s.Normalized(), nil)
		if err != nil || norm.Normalized() != s.Normalized() {
			t.Fatalf("the normalized form %s does not normalize to itself: %v", s.Normalized(), err)
		}
		if ins := Check(s, s); len(ins) != 0 {
			t.Fatalf("%s does not read itself: %+v", text, ins)
		}
		if !again.Equal(s) {
			t.Fatalf("the stored form of %s is not Equal to it:\n%s\n%s", text, s.resolved(), again.resolved())
		}
	})
}

// An error type is a record to the reader.
func TestErrorReadsRecord(t *testing.T) {
	rec := mustParse(t, `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`, nil)
	errType := mustParse(t, `{"type":"error","name":"R","fields":[{"name":"a","type":"long"}]}`, nil)
	if ins := Check(errType, rec); len(ins) != 0 {
		t.Errorf("Check = %+v", ins)
	}
	if ins := Check(rec, errType); len(ins) != 1 || ins[0].Info != "reader type: INT not compatible with writer type: LONG" {
		t.Errorf("Check = %+v", ins)
	}
}

// Equal is Avro's Schema.equals with references resolved, which Confluent's registry falls
// back to when a lookup sends a schema with its referenced types inline (KafkaAvroSerializer
// sends the schema it derives from a record that way).
func TestEqualResolvesReferences(t *testing.T) {
	const customer = `{"type":"record","name":"Customer","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["GOLD","BASIC"]}}]}`
	const order = `{"type":"record","name":"Order","namespace":"com.example","fields":[` +
		`{"name":"buyer","type":"com.example.Customer"},{"name":"seller","type":"Customer"},{"name":"tier","type":"Tier","default":"GOLD"}]}`
	withRefs := mustParse(t, order, map[string]string{"com.example.Customer": customer})
	inline := func(customerType, tierDefault string) string {
		return `{"type":"record","name":"Order","namespace":"com.example","fields":[` +
			`{"name":"buyer","type":` + customerType + `},{"name":"seller","type":"com.example.Customer"},{"name":"tier","type":"com.example.Tier","default":` + tierDefault + `}]}`
	}
	tests := []struct {
		name string
		text string
		want bool
	}{
		{"inlined at first use", inline(customer, `"GOLD"`), true},
		{"inlined with other namespaces and doc", inline(`{"type":"record","name":"com.example.Customer","doc":"who buys","fields":[{"name":"id","type":{"type":"long"},"doc":"key"},{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["GOLD","BASIC"],"aliases":["Level"]}}]}`, `"GOLD"`), true},
		{"another default", inline(customer, `"BASIC"`), false},
		{"another field type", inline(strings.Replace(customer, `"long"`, `"int"`, 1), `"GOLD"`), false},
		{"a logical type added", inline(strings.Replace(customer, `"long"`, `{"type":"long","logicalType":"timestamp-millis"}`, 1), `"GOLD"`), false},
		{"a descending order", inline(strings.Replace(customer, `"type":"long"`, `"type":"long","order":"descending"`, 1), `"GOLD"`), false},
		{"another property", inline(strings.Replace(customer, `"type":"long"`, `"type":"long","pii":true`, 1), `"GOLD"`), false},
		{"another record name", strings.Replace(inline(customer, `"GOLD"`), `"Order"`, `"Sale"`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, tt.text, nil)
			if got := s.Equal(withRefs); got != tt.want {
				t.Errorf("Equal = %v, want %v\n%s\n%s", got, tt.want, s.resolved(), withRefs.resolved())
			}
			if got := withRefs.Equal(s); got != tt.want {
				t.Errorf("Equal the other way = %v, want %v", got, tt.want)
			}
		})
	}
}
