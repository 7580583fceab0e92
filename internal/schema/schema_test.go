package schema

import (
	"errors"
	"strings"
	"testing"
)

func mustParse(t *testing.T, typ Type, text string) Parsed {
	t.Helper()
	p, err := Parse(typ, text, nil)
	if err != nil {
		t.Fatalf("Parse(%s, %s): %v", typ, text, err)
	}
	return p
}

func TestParseTypeAndLevel(t *testing.T) {
	for in, want := range map[string]Type{"": Avro, "AVRO": Avro, "avro": Avro, "JSON": JSON, " Protobuf ": Protobuf} {
		if got, err := ParseType(in); err != nil || got != want {
			t.Errorf("ParseType(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseType("XML"); !IsInvalid(err) {
		t.Errorf("ParseType(XML) error = %v, want an invalid schema error", err)
	}
	for _, l := range Levels() {
		if got, err := ParseLevel(strings.ToLower(string(l))); err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %v, %v", l, got, err)
		}
	}
	if _, err := ParseLevel("SIDEWAYS"); err == nil {
		t.Error("ParseLevel(SIDEWAYS) accepted")
	}
	if got := Types(); len(got) != 3 {
		t.Errorf("Types() = %v", got)
	}
}

func TestParseDefaultsToAvro(t *testing.T) {
	p := mustParse(t, "", `{"type": "string"}`)
	if p.Type() != Avro || p.String() != `"string"` {
		t.Errorf("got %s %q, want AVRO \"string\"", p.Type(), p.String())
	}
}

// Invalid schemas of every format are refused with an *InvalidSchemaError (the registry's
// 42201), never a panic.
func TestInvalidSchemas(t *testing.T) {
	cases := []struct {
		typ  Type
		text string
	}{
		{Avro, ``},
		{Avro, `not json`},
		{Avro, `{"type":"record","name":"R"}`}, // no fields
		{Avro, `{"type":"record","name":"R","fields":[{"name":"a","type":"nope"}]}`},              // unknown type
		{Avro, `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`}, // bad default
		{Avro, `{"type":"enum","name":"E","symbols":["A","A"]}`},                                  // duplicate symbol
		{Avro, `{"type":"record","name":"1R","fields":[]}`},                                       // bad name
		{Avro, `["int","int"]`},     // duplicate union branch
		{Avro, `"string" "string"`}, // trailing text
		{JSON, `{`},
		{JSON, `{"type":"strin"}`},
		{JSON, `{"type":"object","properties":{"a":{"$ref":"#/definitions/missing"}}}`},
		{JSON, `{"$ref":"file:///etc/passwd"}`},
		{JSON, `{"$ref":"http://example.com/remote.json"}`},
		{JSON, `{"minLength":-1}`},
		{Protobuf, `syntax = "proto3"; message M { int32 a = 1`},
		{Protobuf, `syntax = "proto3"; message M { Unknown a = 1; }`},
		{Protobuf, `syntax = "proto3"; import "other.proto"; message M {}`},
		{Protobuf, `syntax = "proto3"; message M { int32 a = 1; int32 b = 1; }`},
		{Protobuf, `syntax = "proto4";`},
	}
	for _, c := range cases {
		_, err := Parse(c.typ, c.text, nil)
		var ise *InvalidSchemaError
		if !errors.As(err, &ise) {
			t.Errorf("Parse(%s, %q) error = %v, want *InvalidSchemaError", c.typ, c.text, err)
			continue
		}
		if ise.Type != c.typ || !strings.Contains(err.Error(), "invalid "+string(c.typ)+" schema") {
			t.Errorf("Parse(%s, %q) error = %q", c.typ, c.text, err)
		}
	}
	if _, err := Parse("XML", "<a/>", nil); !IsInvalid(err) {
		t.Errorf("unknown type error = %v", err)
	}
}

// Two spellings of one schema share a canonical form; different schemas do not.
func TestCanonicalForms(t *testing.T) {
	same := []struct {
		typ  Type
		a, b string
	}{
		{Avro, `"int"`, `{"type": "int"}`},
		{Avro,
			`{"type":"record","name":"com.acme.User","fields":[{"name":"id","type":"long"},{"name":"addr","type":{"type":"record","name":"Addr","fields":[{"name":"zip","type":"string"}]}}]}`,
			`{
			  "fields": [
			    {"type": {"type": "long"}, "name": "id"},
			    {"name": "addr", "type": {"name": "Addr", "namespace": "com.acme", "type": "record", "fields": [{"type": "string", "name": "zip"}]}}
			  ],
			  "namespace": "com.acme", "name": "User", "type": "record"
			}`},
		{Avro, `{"type":"record","name":"R","fields":[{"name":"a","type":"int","order":"ascending"}]}`, `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`},
		{JSON, `{"type":"object","properties":{"a":{"type":"string"}}}`, "{\n  \"type\": \"object\",\n  \"properties\": { \"a\": { \"type\": \"string\" } }\n}"},
		{Protobuf, `syntax = "proto3"; package p; message M { string a = 1; }`, "syntax = \"proto3\";\n\n// a comment\npackage p;\n\nmessage M {\n    string a = 1; // trailing\n}\n"},
	}
	for _, c := range same {
		a, b := mustParse(t, c.typ, c.a), mustParse(t, c.typ, c.b)
		if a.Canonical() != b.Canonical() {
			t.Errorf("%s canonical forms differ:\n%s\n%s", c.typ, a.Canonical(), b.Canonical())
		}
		if a.Normalized() != b.Normalized() {
			t.Errorf("%s normalized forms differ:\n%s\n%s", c.typ, a.Normalized(), b.Normalized())
		}
		// The stored text parses again to the same canonical form.
		again := mustParse(t, c.typ, a.String())
		if again.Canonical() != a.Canonical() {
			t.Errorf("%s: stored text %q parses to a different schema", c.typ, a.String())
		}
	}
	different := []struct {
		typ  Type
		a, b string
	}{
		{Avro, `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`, `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":0}]}`},
		{Avro, `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`, `{"type":"record","name":"R","doc":"d","fields":[{"name":"a","type":"int"}]}`},
		{Avro, `{"type":"record","name":"a.R","fields":[]}`, `{"type":"record","name":"b.R","fields":[]}`},
		{JSON, `{"type":"string"}`, `{"type":"integer"}`},
		{Protobuf, `syntax = "proto3"; message A {} message B {}`, `syntax = "proto3"; message B {} message A {}`},
	}
	for _, c := range different {
		if mustParse(t, c.typ, c.a).Canonical() == mustParse(t, c.typ, c.b).Canonical() {
			t.Errorf("%s: %s and %s share a canonical form", c.typ, c.a, c.b)
		}
	}
}

// Non-transitive levels compare with the latest version only; transitive ones with every
// version, and the answer describes the newest incompatible one.
func TestTransitiveLevels(t *testing.T) {
	v1 := mustParse(t, Avro, record(`{"name":"a","type":"int"}`))
	v2 := mustParse(t, Avro, record())
	v3 := mustParse(t, Avro, record(`{"name":"a","type":"string","default":""}`))
	existing := []Parsed{v1, v2}
	if msgs := Check(Backward, v3, existing); len(msgs) != 0 {
		t.Fatalf("BACKWARD against the latest: %q", msgs)
	}
	msgs := Check(BackwardTransitive, v3, existing)
	if len(msgs) == 0 || !strings.Contains(strings.Join(msgs, " "), v1.String()) {
		t.Fatalf("BACKWARD_TRANSITIVE: %q, want a verdict naming v1", msgs)
	}
	incs := Incompatibilities(BackwardTransitive, v3, existing)
	if len(incs) != 1 || incs[0].Index != 0 {
		t.Fatalf("Incompatibilities = %+v, want version index 0 only", incs)
	}
	if msgs := Check(None, v1, []Parsed{v3}); len(msgs) != 0 {
		t.Errorf("NONE: %q", msgs)
	}
	if msgs := Check("", v3, nil); len(msgs) != 0 {
		t.Errorf("no versions: %q", msgs)
	}

	// Newest first: v3 breaks both v1 and v2; the answer names v2.
	w1 := mustParse(t, Avro, record(`{"name":"a","type":"int"}`))
	w2 := mustParse(t, Avro, record(`{"name":"a","type":"int"}`, `{"name":"b","type":"int"}`))
	w3 := mustParse(t, Avro, record(`{"name":"a","type":"boolean"}`))
	incs = Incompatibilities(FullTransitive, w3, []Parsed{w1, w2})
	if len(incs) != 2 || incs[0].Index != 1 || incs[1].Index != 0 {
		t.Fatalf("Incompatibilities = %+v, want indexes 1 then 0", incs)
	}
	if msgs := Check(FullTransitive, w3, []Parsed{w1, w2}); !strings.Contains(strings.Join(msgs, " "), w2.String()) {
		t.Errorf("FULL_TRANSITIVE names %q, want w2", msgs)
	}
	msgs = CheckVersions(FullTransitive, w3, []Parsed{w1, w2}, []int{3, 7})
	if n := len(msgs); n < 3 || msgs[n-3] != "{oldSchemaVersion: 7}" || msgs[n-2] != "{oldSchema: '"+w2.String()+"'}" || msgs[n-1] != "{compatibility: 'FULL_TRANSITIVE'}" {
		t.Errorf("CheckVersions = %q", msgs)
	}
}

// A FULL verdict lists what the old schema cannot read, then what the new one cannot.
func TestFullCheckOrder(t *testing.T) {
	old := mustParse(t, Avro, record(`{"name":"a","type":"int"}`))
	nw := mustParse(t, Avro, record(`{"name":"b","type":"int"}`))
	msgs := Check(Full, nw, []Parsed{old})
	if len(msgs) != 4 {
		t.Fatalf("messages = %q, want two differences, the old schema and the level", msgs)
	}
	if !strings.Contains(msgs[0], "'a'") || !strings.Contains(msgs[0], "The old schema") {
		t.Errorf("first message %q: want the old reader missing field a", msgs[0])
	}
	if !strings.Contains(msgs[1], "'b'") || !strings.Contains(msgs[1], "The new schema") {
		t.Errorf("second message %q: want the new reader missing field b", msgs[1])
	}
}

func TestDifferentTypesAreIncompatible(t *testing.T) {
	a := mustParse(t, Avro, `"string"`)
	j := mustParse(t, JSON, `{"type":"string"}`)
	msgs := Check(Backward, j, []Parsed{a})
	if len(msgs) == 0 || !strings.Contains(msgs[0], "different schema type") {
		t.Errorf("messages = %q", msgs)
	}
}

// References resolve for each format, and the referring schema's forms keep referring.
func TestReferences(t *testing.T) {
	addr := `{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"zip","type":"string"}]}`
	user := `{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"home","type":"Address"}]}`
	p, err := Parse(Avro, user, map[string]string{"com.acme.Address": addr})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.String(), "zip") || strings.Contains(p.Canonical(), "zip") {
		t.Errorf("the referenced type is inlined: %s / %s", p.String(), p.Canonical())
	}
	if _, err := Parse(Avro, user, nil); !IsInvalid(err) {
		t.Errorf("missing reference: error = %v", err)
	}

	if _, err := Parse(JSON, `{"type":"object","properties":{"c":{"$ref":"customer.json"}}}`,
		map[string]string{"customer.json": `{"type":"object","properties":{"name":{"type":"string"}}}`}); err != nil {
		t.Errorf("JSON reference: %v", err)
	}
	if _, err := Parse(JSON, `{"$id":"https://example.com/order.json","type":"object","properties":{"c":{"$ref":"customer.json"}}}`,
		map[string]string{"customer.json": `{"type":"string"}`}); err != nil {
		t.Errorf("JSON reference against $id: %v", err)
	}

	other := "syntax = \"proto3\";\npackage other;\nmessage Money { int64 units = 1; }\n"
	order := "syntax = \"proto3\";\npackage shop;\nimport \"other.proto\";\nimport \"google/protobuf/timestamp.proto\";\nmessage Order { other.Money total = 1; google.protobuf.Timestamp at = 2; }\n"
	if _, err := Parse(Protobuf, order, map[string]string{"other.proto": other}); err != nil {
		t.Errorf("Protobuf import: %v", err)
	}
}

// A change inside an imported Protobuf message is found through the field that uses it.
func TestProtobufReferencedMessageChange(t *testing.T) {
	order := "syntax = \"proto3\";\npackage shop;\nimport \"other.proto\";\nmessage Order { other.Money total = 1; }\n"
	v1, err := Parse(Protobuf, order, map[string]string{"other.proto": "syntax = \"proto3\";\npackage other;\nmessage Money { int64 units = 1; }\n"})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := Parse(Protobuf, order, map[string]string{"other.proto": "syntax = \"proto3\";\npackage other;\nmessage Money { string units = 1; }\n"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := Check(Backward, v2, []Parsed{v1})
	if !strings.Contains(strings.Join(msgs, " "), "FIELD_NAMED_TYPE_CHANGED") {
		t.Errorf("messages = %q", msgs)
	}
}

func TestFormatted(t *testing.T) {
	p := mustParse(t, Protobuf, "syntax = \"proto3\";\nmessage M { string a = 1; }\n")
	ser := Formatted(p, "serialized")
	if ser == p.String() || ser != ProtobufSchema(p).Serialized() {
		t.Errorf("serialized = %q", ser)
	}
	back, err := Parse(Protobuf, ser, nil)
	if err != nil || back.Canonical() != p.Canonical() {
		t.Errorf("the serialized form reads back as %v, %v", back, err)
	}
	if Formatted(p, "") != p.String() || Formatted(p, "ignore_extensions") != p.String() {
		t.Error("other formats do not give the stored text")
	}
	a := mustParse(t, Avro, `{"type":"string"}`)
	if Formatted(a, "serialized") != `"string"` || AvroSchema(a) == nil || JSONSchema(a) != nil || ProtobufSchema(a) != nil {
		t.Error("Avro schema formats")
	}
	if JSONSchema(mustParse(t, JSON, `{}`)) == nil {
		t.Error("JSONSchema")
	}
}

// The normalized form is a schema too: it parses, and normalizes to itself.
func TestNormalizedReparses(t *testing.T) {
	for _, c := range []struct {
		typ  Type
		text string
	}{
		{Avro, `{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["X"]}},{"name":"b","type":"E"}]}`},
		{JSON, `{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"}},"required":["b"]}`},
		{Protobuf, "syntax = \"proto3\";\npackage p;\nimport \"google/protobuf/timestamp.proto\";\nmessage M { N n = 1; google.protobuf.Timestamp t = 2; message N { map<string, N> m = 1; } }\n"},
	} {
		p := mustParse(t, c.typ, c.text)
		n := mustParse(t, c.typ, p.Normalized())
		if n.Normalized() != p.Normalized() {
			t.Errorf("%s: normalizing twice changes the schema:\n%s\n%s", c.typ, p.Normalized(), n.Normalized())
		}
		if msgs := Check(FullTransitive, n, []Parsed{p}); len(msgs) != 0 {
			t.Errorf("%s: the normalized schema is not compatible with the original: %q", c.typ, msgs)
		}
	}
}

// fake is a Parsed this package did not make.
type fake struct{}

func (fake) Type() Type         { return Avro }
func (fake) String() string     { return `"int"` }
func (fake) Canonical() string  { return `"int"` }
func (fake) Normalized() string { return `"int"` }

func TestForeignParsedIsRefusedNotPanicked(t *testing.T) {
	msgs := Check(Backward, mustParse(t, Avro, `"int"`), []Parsed{fake{}})
	if len(msgs) == 0 || !strings.Contains(msgs[0], "not parsed by schema.Parse") {
		t.Errorf("messages = %q", msgs)
	}
}
