package schema

import (
	"strings"
	"testing"
)

// evolution is one change from an old schema to a new one, with whether the new schema reads
// data written with the old one (backward) and the old one reads data written with the new one
// (forward). Under every level the verdict follows from these two: BACKWARD and
// BACKWARD_TRANSITIVE ask for backward, FORWARD and FORWARD_TRANSITIVE for forward, FULL and
// FULL_TRANSITIVE for both, NONE for neither.
type evolution struct {
	name       string
	old, new   string
	backward   bool
	forward    bool
	why        string // what the messages must hold when the check fails
	whyForward string // what they must hold when the forward check fails, if not why
}

func runEvolutions(t *testing.T, typ Type, evs []evolution) {
	t.Helper()
	for _, ev := range evs {
		t.Run(ev.name, func(t *testing.T) {
			old, err := Parse(typ, ev.old, nil)
			if err != nil {
				t.Fatalf("old schema: %v", err)
			}
			nw, err := Parse(typ, ev.new, nil)
			if err != nil {
				t.Fatalf("new schema: %v", err)
			}
			for _, level := range Levels() {
				want := true
				switch level {
				case Backward, BackwardTransitive:
					want = ev.backward
				case Forward, ForwardTransitive:
					want = ev.forward
				case Full, FullTransitive:
					want = ev.backward && ev.forward
				}
				msgs := Check(level, nw, []Parsed{old})
				if got := len(msgs) == 0; got != want {
					t.Errorf("%s: compatible = %v, want %v; messages: %q", level, got, want, msgs)
					continue
				}
				if !want {
					joined := strings.Join(msgs, "\n")
					why := ev.why
					if ev.whyForward != "" && ev.backward {
						why = ev.whyForward
					}
					if ev.whyForward != "" && (level == Forward || level == ForwardTransitive) {
						why = ev.whyForward
					}
					if why != "" && !strings.Contains(joined, why) {
						t.Errorf("%s: messages %q do not mention %s", level, msgs, why)
					}
					if !strings.Contains(joined, "{compatibility: '"+string(level)+"'}") || !strings.Contains(joined, "{oldSchema: '") {
						t.Errorf("%s: messages %q lack the old schema or the level", level, msgs)
					}
				}
			}
		})
	}
}

// record builds an Avro record schema named ns.R from field definitions.
func record(fields ...string) string {
	return `{"type":"record","name":"R","namespace":"ns","fields":[` + strings.Join(fields, ",") + `]}`
}

// The verdicts follow Avro's schema resolution rules as Confluent's documentation summarises
// them: BACKWARD allows deleting fields and adding fields with defaults, FORWARD allows adding
// fields and deleting fields with defaults, FULL only fields with defaults, and types may only
// be promoted int -> long -> float -> double (string and bytes read each other).
func TestAvroCompatibilityTable(t *testing.T) {
	a := `{"name":"a","type":"int"}`
	runEvolutions(t, Avro, []evolution{
		{name: "identical", old: record(a), new: record(a), backward: true, forward: true},
		{name: "field added with default", old: record(a), new: record(a, `{"name":"b","type":"string","default":"x"}`), backward: true, forward: true},
		{name: "field added without default", old: record(a), new: record(a, `{"name":"b","type":"string"}`), backward: false, forward: true, why: "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{name: "nullable field added with null default", old: record(a), new: record(a, `{"name":"b","type":["null","string"],"default":null}`), backward: true, forward: true},
		{name: "field with default removed", old: record(a, `{"name":"b","type":"string","default":"x"}`), new: record(a), backward: true, forward: true},
		{name: "field without default removed", old: record(a, `{"name":"b","type":"string"}`), new: record(a), backward: true, forward: false, why: "READER_FIELD_MISSING_DEFAULT_VALUE"},
		{name: "int promoted to long", old: record(a), new: record(`{"name":"a","type":"long"}`), backward: true, forward: false, why: "TYPE_MISMATCH"},
		{name: "int promoted to double", old: record(a), new: record(`{"name":"a","type":"double"}`), backward: true, forward: false, why: "TYPE_MISMATCH"},
		{name: "float promoted to double", old: record(`{"name":"a","type":"float"}`), new: record(`{"name":"a","type":"double"}`), backward: true, forward: false},
		{name: "long narrowed to int", old: record(`{"name":"a","type":"long"}`), new: record(a), backward: false, forward: true, why: "reader type: INT not compatible with writer type: LONG"},
		{name: "string to bytes", old: record(`{"name":"a","type":"string"}`), new: record(`{"name":"a","type":"bytes"}`), backward: true, forward: true},
		{name: "int to string", old: record(a), new: record(`{"name":"a","type":"string"}`), backward: false, forward: false, why: "TYPE_MISMATCH"},
		{name: "field made nullable", old: record(a), new: record(`{"name":"a","type":["null","int"],"default":null}`), backward: true, forward: false, whyForward: "reader type: INT not compatible with writer type: NULL"},
		{name: "union branch added", old: record(`{"name":"a","type":["null","int"]}`), new: record(`{"name":"a","type":["null","int","string"]}`), backward: true, forward: false, why: "MISSING_UNION_BRANCH"},
		{name: "union branch removed", old: record(`{"name":"a","type":["null","int","string"]}`), new: record(`{"name":"a","type":["null","int"]}`), backward: false, forward: true, why: "MISSING_UNION_BRANCH"},
		{name: "enum symbol added", old: `{"type":"enum","name":"E","symbols":["A","B"]}`, new: `{"type":"enum","name":"E","symbols":["A","B","C"]}`, backward: true, forward: false, why: "MISSING_ENUM_SYMBOLS"},
		{name: "enum symbol added, old reader has a default", old: `{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`, new: `{"type":"enum","name":"E","symbols":["A","B","C"],"default":"A"}`, backward: true, forward: true},
		{name: "enum symbol removed", old: `{"type":"enum","name":"E","symbols":["A","B"]}`, new: `{"type":"enum","name":"E","symbols":["A"]}`, backward: false, forward: true, why: "[B]"},
		{name: "nested record gains a field without default", old: record(`{"name":"n","type":{"type":"record","name":"N","fields":[]}}`), new: record(`{"name":"n","type":{"type":"record","name":"N","fields":[{"name":"x","type":"int"}]}}`), backward: false, forward: true, why: "/fields/0/type/fields/0"},
		{name: "array items promoted", old: `{"type":"array","items":"int"}`, new: `{"type":"array","items":"long"}`, backward: true, forward: false},
		{name: "map values changed", old: `{"type":"map","values":"int"}`, new: `{"type":"map","values":"boolean"}`, backward: false, forward: false},
		{name: "array to map", old: `{"type":"array","items":"int"}`, new: `{"type":"map","values":"int"}`, backward: false, forward: false},
		{name: "fixed size changed", old: `{"type":"fixed","name":"F","size":4}`, new: `{"type":"fixed","name":"F","size":8}`, backward: false, forward: false, why: "FIXED_SIZE_MISMATCH"},
		{name: "record renamed", old: record(a), new: strings.Replace(record(a), `"R"`, `"S"`, 1), backward: false, forward: false, why: "NAME_MISMATCH"},
		{name: "record renamed with an alias for the old name", old: record(a), new: `{"type":"record","name":"S","namespace":"ns","aliases":["R"],"fields":[` + a + `]}`, backward: true, forward: false},
		{name: "namespace changed", old: record(a), new: strings.Replace(record(a), `"ns"`, `"other"`, 1), backward: true, forward: true},
		{name: "field renamed with an alias for the old name", old: record(a), new: record(`{"name":"b","type":"int","aliases":["a"]}`), backward: true, forward: false},
		{name: "enum renamed with an alias", old: `{"type":"enum","name":"E","symbols":["A"]}`, new: `{"type":"enum","name":"F","aliases":["E"],"symbols":["A"]}`, backward: true, forward: false, why: "NAME_MISMATCH"},
		{name: "doc changed", old: record(a), new: `{"type":"record","name":"R","namespace":"ns","doc":"now documented","fields":[` + a + `]}`, backward: true, forward: true},
		{name: "recursive list gains an optional field", old: `{"type":"record","name":"L","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","L"]}]}`, new: `{"type":"record","name":"L","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","L"]},{"name":"w","type":"int","default":0}]}`, backward: true, forward: true},
	})
}

// The verdicts follow Confluent's JSON Schema rules: a writer whose content model is open may
// have put any value under a property the reader now declares, so adding a typed property is
// only backward compatible to a closed (additionalProperties false) or partially open model,
// and then only if it is optional or has a default.
func TestJSONCompatibilityTable(t *testing.T) {
	obj := func(props, extra string) string {
		return `{"type":"object","properties":{` + props + `}` + extra + `}`
	}
	a := `"a":{"type":"string"}`
	b := `"b":{"type":"string"}`
	closed := `,"additionalProperties":false`
	runEvolutions(t, JSON, []evolution{
		{name: "identical", old: obj(a, ""), new: obj(a, ""), backward: true, forward: true},
		{name: "open model, property added", old: obj(a, ""), new: obj(a+","+b, ""), backward: false, forward: true, why: "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"},
		{name: "open model, property without constraints added", old: obj(a, ""), new: obj(a+`,"b":{}`, ""), backward: true, forward: true},
		{name: "open model, property removed", old: obj(a+","+b, ""), new: obj(a, ""), backward: true, forward: false},
		{name: "closed model, optional property added", old: obj(a, closed), new: obj(a+","+b, closed), backward: true, forward: false, why: "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
		{name: "closed model, required property added", old: obj(a, closed), new: obj(a+","+b, `,"required":["b"]`+closed), backward: false, forward: false, why: "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", whyForward: "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
		{name: "closed model, required property with default added", old: obj(a, closed), new: obj(a+`,"b":{"type":"string","default":"x"}`, `,"required":["b"]`+closed), backward: true, forward: false},
		{name: "closed model, property removed", old: obj(a+","+b, closed), new: obj(a, closed), backward: false, forward: true, why: "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"},
		{name: "partially open model covers the added property", old: obj(a, `,"additionalProperties":{"type":"string"}`), new: obj(a+","+b, `,"additionalProperties":{"type":"string"}`), backward: true, forward: true},
		{name: "partially open model does not cover the added property", old: obj(a, `,"additionalProperties":{"type":"string"}`), new: obj(a+`,"b":{"type":"integer"}`, `,"additionalProperties":{"type":"string"}`), backward: false, forward: false, why: "NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"},
		{name: "property made required", old: obj(a, ""), new: obj(a, `,"required":["a"]`), backward: false, forward: true, why: "REQUIRED_ATTRIBUTE_ADDED"},
		{name: "additionalProperties false dropped", old: obj(a, closed), new: obj(a, ""), backward: true, forward: false, why: "ADDITIONAL_PROPERTIES_REMOVED"},
		{name: "integer widened to number", old: obj(`"a":{"type":"integer"}`, ""), new: obj(`"a":{"type":"number"}`, ""), backward: true, forward: false, why: "TYPE_NARROWED"},
		{name: "string widened to string or null", old: obj(a, ""), new: obj(`"a":{"type":["string","null"]}`, ""), backward: true, forward: false},
		{name: "string changed to integer", old: obj(a, ""), new: obj(`"a":{"type":"integer"}`, ""), backward: false, forward: false, why: "TYPE_CHANGED"},
		{name: "enum value added", old: `{"enum":["A","B"]}`, new: `{"enum":["A","B","C"]}`, backward: true, forward: false, why: "ENUM_ARRAY_NARROWED"},
		{name: "enum constraint dropped", old: `{"type":"string","enum":["A","B"]}`, new: `{"type":"string"}`, backward: true, forward: false, why: "TYPE_CHANGED"},
		{name: "enum value replaced", old: `{"enum":["A","B"]}`, new: `{"enum":["A","C"]}`, backward: false, forward: false, why: "ENUM_ARRAY_CHANGED"},
		{name: "maxLength increased", old: `{"type":"string","maxLength":5}`, new: `{"type":"string","maxLength":10}`, backward: true, forward: false, why: "MAX_LENGTH_DECREASED"},
		{name: "minimum added", old: `{"type":"number"}`, new: `{"type":"number","minimum":0}`, backward: false, forward: true, why: "MINIMUM_ADDED"},
		{name: "minimum lowered", old: `{"type":"number","minimum":5}`, new: `{"type":"number","minimum":0}`, backward: true, forward: false},
		{name: "pattern changed", old: `{"type":"string","pattern":"^a"}`, new: `{"type":"string","pattern":"^b"}`, backward: false, forward: false, why: "PATTERN_CHANGED"},
		{name: "array items changed", old: `{"type":"array","items":{"type":"string"}}`, new: `{"type":"array","items":{"type":"number"}}`, backward: false, forward: false, why: "#/items"},
		{name: "maxItems decreased", old: `{"type":"array","maxItems":5}`, new: `{"type":"array","maxItems":3}`, backward: false, forward: true},
		{name: "anyOf branch added", old: `{"anyOf":[{"type":"string"},{"type":"integer"}]}`, new: `{"anyOf":[{"type":"string"},{"type":"integer"},{"type":"boolean"}]}`, backward: true, forward: false, why: "SUM_TYPE_NARROWED"},
		{name: "referenced definition changed", old: `{"type":"object","properties":{"x":{"$ref":"#/definitions/X"}},"definitions":{"X":{"type":"string"}}}`, new: `{"type":"object","properties":{"x":{"$ref":"#/definitions/X"}},"definitions":{"X":{"type":"boolean"}}}`, backward: false, forward: false, why: "#/properties/x"},
		{name: "closed model, property type changed", old: obj(a, closed), new: obj(`"a":{"type":"boolean"}`, closed), backward: false, forward: false, why: "#/properties/a"},
		{name: "nested object gains an open property", old: obj(`"n":{"type":"object","properties":{}}`, ""), new: obj(`"n":{"type":"object","properties":{"x":{"type":"string"}}}`, ""), backward: false, forward: true, why: "#/properties/n/properties/x"},
		{name: "description changed", old: `{"type":"string","description":"a"}`, new: `{"type":"string","description":"b"}`, backward: true, forward: true},
	})
}

// The verdicts follow Confluent's Protobuf rules: fields are matched by number and may be
// added, removed or renamed; a field keeps its kind and a wire-compatible type; messages a
// writer used must stay (so adding a message is backward but not forward compatible, which is
// why Confluent recommends BACKWARD_TRANSITIVE for Protobuf).
func TestProtobufCompatibilityTable(t *testing.T) {
	msg := func(body string) string { return "syntax = \"proto3\";\npackage p;\nmessage M {\n" + body + "\n}\n" }
	runEvolutions(t, Protobuf, []evolution{
		{name: "identical", old: msg("string a = 1;"), new: msg("string a = 1;"), backward: true, forward: true},
		{name: "field added", old: msg("string a = 1;"), new: msg("string a = 1; int64 b = 2;"), backward: true, forward: true},
		{name: "field removed", old: msg("string a = 1; int64 b = 2;"), new: msg("string a = 1;"), backward: true, forward: true},
		{name: "field renamed", old: msg("string a = 1;"), new: msg("string b = 1;"), backward: true, forward: true},
		{name: "field renumbered", old: msg("string a = 1;"), new: msg("string a = 2;"), backward: true, forward: true},
		{name: "field numbers swapped between types", old: msg("string a = 1; int32 b = 2;"), new: msg("string a = 2; int32 b = 1;"), backward: false, forward: false, why: "FIELD_SCALAR_KIND_CHANGED"},
		{name: "int32 to int64", old: msg("int32 a = 1;"), new: msg("int64 a = 1;"), backward: true, forward: true},
		{name: "uint32 to bool", old: msg("uint32 a = 1;"), new: msg("bool a = 1;"), backward: true, forward: true},
		{name: "int32 to sint32", old: msg("int32 a = 1;"), new: msg("sint32 a = 1;"), backward: false, forward: false, why: "FIELD_SCALAR_KIND_CHANGED"},
		{name: "int32 to string", old: msg("int32 a = 1;"), new: msg("string a = 1;"), backward: false, forward: false, why: "#/M/1"},
		{name: "string to bytes", old: msg("string a = 1;"), new: msg("bytes a = 1;"), backward: true, forward: true},
		{name: "fixed32 to sfixed32", old: msg("fixed32 a = 1;"), new: msg("sfixed32 a = 1;"), backward: true, forward: true},
		{name: "scalar to message", old: msg("string a = 1;"), new: msg("N a = 1; message N {}"), backward: false, forward: false, why: "FIELD_KIND_CHANGED"},
		{name: "message type changed", old: msg("N a = 1; message N {} message O {}"), new: msg("O a = 1; message N {} message O {}"), backward: false, forward: false, why: "FIELD_NAMED_TYPE_CHANGED"},
		{name: "map value type changed", old: msg("map<string, int32> a = 1;"), new: msg("map<string, string> a = 1;"), backward: false, forward: false},
		{name: "repeated int32 made singular", old: msg("repeated int32 a = 1;"), new: msg("int32 a = 1;"), backward: false, forward: false, why: "FIELD_NUMERIC_LABEL_CHANGED"},
		{name: "optional message made repeated", old: msg("optional N n = 1; message N {}"), new: msg("repeated N n = 1; message N {}"), backward: true, forward: true},
		{name: "enum value renamed", old: msg("E e = 1; enum E { A = 0; B = 1; }"), new: msg("E e = 1; enum E { A = 0; C = 1; }"), backward: true, forward: true},
		{name: "repeated string made singular", old: msg("repeated string a = 1;"), new: msg("string a = 1;"), backward: true, forward: true},
		{name: "enum value added", old: msg("E e = 1; enum E { A = 0; }"), new: msg("E e = 1; enum E { A = 0; B = 1; }"), backward: true, forward: true},
		{name: "enum to int32", old: msg("E e = 1; enum E { A = 0; }"), new: msg("int32 e = 1; enum E { A = 0; }"), backward: true, forward: true},
		{name: "message added", old: msg("string a = 1;"), new: msg("string a = 1;") + "message N {}\n", backward: true, forward: false, why: "MESSAGE_REMOVED"},
		{name: "message removed", old: msg("string a = 1;") + "message N {}\n", new: msg("string a = 1;"), backward: false, forward: true, why: "MESSAGE_REMOVED"},
		{name: "messages reordered", old: msg("string a = 1;") + "message N {}\n", new: "syntax = \"proto3\";\npackage p;\nmessage N {}\nmessage M { string a = 1; }\n", backward: true, forward: true},
		{name: "message renamed", old: msg("string a = 1;"), new: strings.Replace(msg("string a = 1;"), "message M", "message Renamed", 1), backward: false, forward: false, why: "MESSAGE_REMOVED"},
		{name: "message-typed field removed", old: msg("string a = 1; N n = 2; message N {}"), new: msg("string a = 1; message N {}"), backward: true, forward: true},
		{name: "package changed", old: msg("string a = 1;"), new: strings.Replace(msg("string a = 1;"), "package p;", "package q;", 1), backward: false, forward: false, why: "PACKAGE_CHANGED"},
		{name: "field moved into a new oneof", old: msg("string a = 1; string b = 2;"), new: msg("oneof o { string a = 1; } string b = 2;"), backward: true, forward: true},
		{name: "two fields moved into a new oneof", old: msg("string a = 1; string b = 2;"), new: msg("oneof o { string a = 1; string b = 2; }"), backward: false, forward: true, why: "MULTIPLE_FIELDS_MOVED_TO_ONEOF"},
		{name: "oneof field removed", old: msg("oneof o { string a = 1; string b = 2; }"), new: msg("oneof o { string a = 1; }"), backward: false, forward: true, why: "ONEOF_FIELD_REMOVED"},
		{name: "oneof field added", old: msg("oneof o { string a = 1; }"), new: msg("oneof o { string a = 1; string b = 2; }"), backward: true, forward: false},
		{name: "nested message field changed", old: msg("N n = 1; message N { int32 x = 1; }"), new: msg("N n = 1; message N { double x = 1; }"), backward: false, forward: false, why: "#/M/N/1"},
		{name: "proto2 required field added", old: "syntax = \"proto2\";\nmessage M { optional string a = 1; }\n", new: "syntax = \"proto2\";\nmessage M { optional string a = 1; required int32 b = 2; }\n", backward: false, forward: false, why: "REQUIRED_FIELD"},
	})
}

// proto2 labels: optional made required leaves old data without the field
// unreadable (Confluent's FIELD_NUMERIC_LABEL_CHANGED), where a string's
// label change is wire-compatible.
func TestProtobufProto2LabelChanges(t *testing.T) {
	msg := func(body string) string { return "syntax = \"proto2\";\npackage p;\nmessage M {\n" + body + "\n}\n" }
	runEvolutions(t, Protobuf, []evolution{
		{name: "optional int32 made required", old: msg("optional int32 a = 1;"), new: msg("required int32 a = 1;"), backward: false, forward: false, why: "FIELD_NUMERIC_LABEL_CHANGED"},
		{name: "optional string made repeated", old: msg("optional string a = 1;"), new: msg("repeated string a = 1;"), backward: true, forward: true},
	})
}
