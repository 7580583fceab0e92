// Package avro parses Avro schemas for the Schema Registry, renders their text forms and
// checks compatibility by Avro's schema resolution rules (the reader/writer rules of the Avro
// specification, as Confluent's registry applies them).
package avro

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	havro "github.com/hamba/avro/v2"
)

// Schema is a parsed Avro schema.
type Schema struct {
	schema    havro.Schema
	text      string // the compact form returned to clients
	canonical string // full names, fixed key order: the form schemas are compared by
	// source and refs are what Parse was given, kept for Equal, which needs the referenced
	// types' definitions (rarely: only when a lookup finds no version by its canonical form).
	source string
	refs   map[string]string
}

// Parse parses text as an Avro schema. refs maps reference names to the texts of the schemas
// that define named types text uses; they are parsed first, in an order that lets each see the
// names the others define, and text may then use those names. Names defined by a reference are
// written by name, not inlined, in every text form of the schema.
func Parse(text string, refs map[string]string) (*Schema, error) {
	doc, err := decodeJSON(text)
	if err != nil {
		return nil, err
	}
	if err := validate(doc); err != nil {
		return nil, err
	}
	cache, err := parseRefs(refs)
	if err != nil {
		return nil, err
	}
	s, err := parse(text, cache)
	if err != nil {
		return nil, err
	}
	out := &Schema{schema: s, source: text, refs: refs}
	out.canonical = render(doc, true)
	out.text = render(doc, false)
	// The compact form is what clients receive and parse again: make sure it means the same
	// (the fuzz test checks it also parses).
	if render(mustDecode(out.text), true) != out.canonical {
		var b bytes.Buffer
		_ = json.Compact(&b, []byte(text)) // text is valid JSON: decodeJSON said so
		out.text = b.String()
	}
	return out, nil
}

// parse runs the Avro parser, turning a panic on a malformed schema into an error.
func parse(text string, cache *havro.SchemaCache) (s havro.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("malformed schema: %v", r)
		}
	}()
	return havro.ParseWithCache(text, "", cache)
}

// decodeJSON decodes a schema text, keeping numbers as written.
func decodeJSON(text string) (any, error) {
	d := json.NewDecoder(bytes.NewReader([]byte(text)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	if d.More() {
		return nil, errors.New("schema is not valid JSON: text after the schema")
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("schema is not valid JSON: text after the schema")
	}
	return v, nil
}

func mustDecode(text string) any {
	v, _ := decodeJSON(text)
	return v
}

// parseRefs parses the referenced schemas into one name cache. The map carries no order, so
// it parses in passes: each pass adds the references whose names can now all be resolved.
func parseRefs(refs map[string]string) (*havro.SchemaCache, error) {
	cache := &havro.SchemaCache{}
	names := make([]string, 0, len(refs))
	for n := range refs {
		doc, err := decodeJSON(refs[n])
		if err == nil {
			err = validate(doc)
		}
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", n, err)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for len(names) > 0 {
		var left []string
		var lastErr error
		for _, n := range names {
			// ParseWithCache adds names to cache only when the whole schema parses.
			if _, err := parse(refs[n], cache); err != nil {
				left, lastErr = append(left, n), fmt.Errorf("reference %q: %w", n, err)
			}
		}
		if len(left) == len(names) {
			return nil, lastErr
		}
		names = left
	}
	return cache, nil
}

// String is the schema in compact form: no white space, keys in a fixed order, a "namespace"
// only where it changes, a primitive type without attributes written as its bare name. This is
// the text the registry stores and returns.
func (s *Schema) String() string { return s.text }

// Canonical is the form schemas are compared by: like String, but with every name fully
// qualified and extra attributes sorted, so that two spellings of one schema (white space, key
// order, where namespaces are written, {"type":"int"} for "int") compare equal. Unlike Avro's
// Parsing Canonical Form it keeps what tells two versions apart: doc, default, aliases, order,
// logical types and other attributes.
func (s *Schema) Canonical() string { return s.canonical }

// Normalized is the form stored for normalize=true: the canonical form.
func (s *Schema) Normalized() string { return s.canonical }

// ParsingCanonicalForm is Avro's Parsing Canonical Form of the schema (the specification's
// form for fingerprints: only what affects how data is read).
func (s *Schema) ParsingCanonicalForm() string { return s.schema.String() }

// Raw is the parsed schema, for encoders and decoders.
func (s *Schema) Raw() havro.Schema { return s.schema }

// Name is the full name of the schema's top-level named type, or "" for an unnamed type.
func (s *Schema) Name() string {
	if n, ok := s.schema.(havro.NamedSchema); ok {
		return n.FullName()
	}
	return ""
}
