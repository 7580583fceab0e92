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
