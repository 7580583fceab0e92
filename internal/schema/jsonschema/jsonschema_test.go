package jsonschema

import (
	"strings"
	"testing"
	"time"
)

func mustParse(t testing.TB, text string, refs map[string]string) *Schema {
	t.Helper()
	s, err := Parse(text, refs)
	if err != nil {
		t.Fatalf("Parse(%s): %v", text, err)
	}
	return s
}

func TestDrafts(t *testing.T) {
	for _, draft := range []string{
		"http://json-schema.org/draft-04/schema#",
		"http://json-schema.org/draft-06/schema#",
		"http://json-schema.org/draft-07/schema#",
		"https://json-schema.org/draft/2019-09/schema",
		"https://json-schema.org/draft/2020-12/schema",
	} {
		mustParse(t, `{"$schema":"`+draft+`","type":"object","properties":{"a":{"type":"integer","minimum":0}}}`, nil)
	}
	// Draft 4 spells exclusiveMaximum as a flag: compiled, both read as the same limit.
	d4 := mustParse(t, `{"$schema":"http://json-schema.org/draft-04/schema#","type":"number","maximum":10,"exclusiveMaximum":true}`, nil)
	d7 := mustParse(t, `{"type":"number","exclusiveMaximum":10}`, nil)
	if ds := Check(d7, d4); len(ds) != 0 {
		t.Errorf("draft 4 and draft 7 spellings differ: %+v", ds)
	}
}

func TestTextForms(t *testing.T) {
	s := mustParse(t, "{\n  \"type\": \"object\",\n  \"properties\": {\"b\": {}, \"a\": {\"description\": \"<a>\"}}\n}", nil)
	if s.String() != `{"type":"object","properties":{"b":{},"a":{"description":"<a>"}}}` || s.Canonical() != s.String() {
		t.Errorf("String() = %s", s.String())
	}
	if s.Normalized() != `{"properties":{"a":{"description":"<a>"},"b":{}},"type":"object"}` {
		t.Errorf("Normalized() = %s", s.Normalized())
	}
	if s.Compiled() == nil {
		t.Error("no compiled schema")
	}
}

// Patterns JSON Schema allows but Go's regexp does not compile are kept, and compared as text.
func TestECMAPatterns(t *testing.T) {
	a := mustParse(t, `{"type":"string","pattern":"^(?!x)a"}`, nil)
	b := mustParse(t, `{"type":"string","pattern":"^(?!y)a"}`, nil)
	if ds := Check(b, a); len(ds) != 1 || ds[0].Kind != "PATTERN_CHANGED" {
		t.Errorf("Check = %+v", ds)
	}
	if ds := Check(a, a); len(ds) != 0 {
		t.Errorf("a pattern differs from itself: %+v", ds)
	}
}

func TestReferencesByName(t *testing.T) {
	refs := map[string]string{"customer.json": `{"type":"object","properties":{"name":{"type":"string"}},"additionalProperties":false}`}
	v1 := mustParse(t, `{"type":"object","properties":{"c":{"$ref":"customer.json"}}}`, refs)
	refs2 := map[string]string{"customer.json": `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["age"],"additionalProperties":false}`}
	v2 := mustParse(t, `{"type":"object","properties":{"c":{"$ref":"customer.json"}}}`, refs2)
	ds := Check(v2, v1)
	if len(ds) != 1 || ds[0].Kind != "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL" || ds[0].Path != "#/properties/c/properties/age" {
		t.Errorf("Check = %+v", ds)
	}
	byID := map[string]string{"customer": `{"$id":"https://example.com/schemas/customer.json","type":"string"}`}
	if _, err := Parse(`{"type":"object","properties":{"c":{"$ref":"https://example.com/schemas/customer.json"}}}`, byID); err != nil {
		t.Errorf("a reference named by its $id: %v", err)
	}
	if _, err := Parse(`{"$ref":"customer.json"}`, nil); err == nil {
		t.Error("a reference that was not given resolved")
	}
}

// 2020-12 tuples: an item added to a tuple whose rest is closed is compatible one way only.
func TestTuples(t *testing.T) {
	const d = `"$schema":"https://json-schema.org/draft/2020-12/schema",`
	old := mustParse(t, `{`+d+`"type":"array","prefixItems":[{"type":"string"}],"items":false}`, nil)
	nw := mustParse(t, `{`+d+`"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":false}`, nil)
	if ds := Check(nw, old); len(ds) != 0 {
		t.Errorf("backward: %+v", ds)
	}
	if ds := Check(old, nw); len(ds) != 1 || ds[0].Kind != "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL" || ds[0].Path != "#/items/1" {
		t.Errorf("forward: %+v", ds)
	}
	// Draft 7 tuples behave the same.
	old7 := mustParse(t, `{"type":"array","items":[{"type":"string"}],"additionalItems":false}`, nil)
	nw7 := mustParse(t, `{"type":"array","items":[{"type":"string"},{"type":"integer"}],"additionalItems":false}`, nil)
	if ds := Check(old7, nw7); len(ds) != 1 || ds[0].Kind != "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL" {
		t.Errorf("draft 7 forward: %+v", ds)
	}
}

// A recursive schema compared with itself and with a changed copy ends.
func TestRecursiveSchemas(t *testing.T) {
	tree := `{"type":"object","properties":{"v":{"type":"%s"},"kids":{"type":"array","items":{"$ref":"#"}}}}`
	a := mustParse(t, strings.Replace(tree, "%s", "integer", 1), nil)
	b := mustParse(t, strings.Replace(tree, "%s", "string", 1), nil)
	if ds := Check(a, a); len(ds) != 0 {
		t.Errorf("itself: %+v", ds)
	}
	if ds := Check(b, a); len(ds) == 0 || ds[0].Path != "#/properties/v" {
		t.Errorf("changed: %+v", ds)
	}
}

func TestMessages(t *testing.T) {
	d := Difference{Kind: "TYPE_CHANGED", Path: "#/properties/a"}
	want := `{errorType:"TYPE_CHANGED", description:"The type at path '#/properties/a' differs between the new and the old schema"}`
	if got := d.Message("new", "old"); got != want {
		t.Errorf("Message = %s", got)
	}
	for k := range compatible {
		if (Difference{Kind: k}).Message("new", "old") == "" {
			t.Errorf("no message for %s", k)
		}
	}
}

// Wide combinations stay within the comparison budget and end quickly.
func TestCombinationBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"definitions":{"x":{"anyOf":[`)
	for i := 0; i < 40; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"type":"object","properties":{"p":{"$ref":"#/definitions/x"},"q":{"type":"integer","minimum":` + strings.Repeat("1", i%5+1) + `}}}`)
	}
	b.WriteString(`]}},"$ref":"#/definitions/x"}`)
	s := mustParse(t, b.String(), nil)
	start := time.Now()
	Check(s, s)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("comparison took %v", d)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`,
		`{"type":["string","null"],"maxLength":3}`,
		`{"enum":[1,"a",null]}`,
		`{"anyOf":[{"type":"integer","multipleOf":3},{"not":{"const":4}}]}`,
		`{"type":"array","items":[{"type":"string"}],"additionalItems":{"type":"integer"}}`,
		`{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}`,
		`{"patternProperties":{"^x":{"type":"boolean"}},"dependencies":{"a":["b"],"c":{"required":["d"]}}}`,
		`true`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(text, nil)
		if err != nil {
			return
		}
		again, err := Parse(s.String(), nil)
		if err != nil || again.Canonical() != s.Canonical() {
			t.Fatalf("the stored form %s does not read back: %v", s.String(), err)
		}
		norm, err := Parse(s.Normalized(), nil)
		if err != nil || norm.Normalized() != s.Normalized() {
			t.Fatalf("the normalized form %s does not normalize to itself: %v", s.Normalized(), err)
		}
		if ds := Check(s, s); len(ds) != 0 {
			t.Fatalf("%s does not accept itself: %+v", text, ds)
		}
	})
}

// allOf, anyOf and oneOf: each side is a set, the criterion may widen, an allOf that drops a
// part constrains less and an anyOf or oneOf that drops a branch allows less.
func TestCombinedSchemas(t *testing.T) {
	cases := []struct {
		old, new string
		ok       bool
	}{
		{`{"allOf":[{"type":"integer"}]}`, `{"allOf":[{"type":"integer"},{"type":"integer"}]}`, true},
		{`{"allOf":[{"type":"integer"},{"minimum":1}]}`, `{"allOf":[{"type":"integer"}]}`, true},
		{`{"allOf":[{"type":"integer"}]}`, `{"allOf":[{"type":"integer"},{"minimum":1}]}`, false},
		{`{"allOf":[{"type":"integer"},{"minimum":1}]}`, `{"anyOf":[{"type":"integer"}]}`, true},
		{`{"allOf":[{"type":"integer"},{"minimum":1}]}`, `{"oneOf":[{"type":"integer"}]}`, true},
		{`{"anyOf":[{"type":"integer"},{"type":"string"}]}`, `{"oneOf":[{"type":"integer"}]}`, false},
		{`{"oneOf":[{"type":"integer"},{"type":"string"}]}`, `{"anyOf":[{"type":"string"}]}`, false},
		{`{"oneOf":[{"type":"integer"}]}`, `{"allOf":[{"type":"integer"}]}`, true},
		{`{"oneOf":[{"type":"integer"}]}`, `{"allOf":[{"type":"integer"},{"type":"string"}]}`, false},
		{`{"type":"integer"}`, `{"oneOf":[{"type":"string"},{"type":"integer"}]}`, true},
		// allOf to oneOf only when the oneOf is a single subschema (Confluent's
		// CombinedSchemaDiff.compareCriteria): a value meeting both parts of the allOf fails a
		// oneOf of the same two.
		{`{"allOf":[{"type":"integer"},{"minimum":1}]}`, `{"oneOf":[{"type":"integer"},{"minimum":1}]}`, false},
		{`{"anyOf":[{"type":"integer"}]}`, `{"allOf":[{"type":"integer"}]}`, true},
		{`{"anyOf":[{"type":"integer"}]}`, `{"oneOf":[{"type":"integer"},{"type":"string"}]}`, true},
	}
	for _, c := range cases {
		ds := Check(mustParse(t, c.new, nil), mustParse(t, c.old, nil))
		if (len(ds) == 0) != c.ok {
			t.Errorf("%s -> %s: compatible = %v, want %v (%+v)", c.old, c.new, len(ds) == 0, c.ok, ds)
		}
	}
	ds := Check(mustParse(t, `{"oneOf":[{"type":"integer"},{"minimum":1}]}`, nil), mustParse(t, `{"allOf":[{"type":"integer"},{"minimum":1}]}`, nil))
	if len(ds) != 1 || ds[0].Kind != "COMBINED_TYPE_CHANGED" {
		t.Errorf("allOf[a,b] -> oneOf[a,b]: %+v, want COMBINED_TYPE_CHANGED only", ds)
	}
}
