// Package jsonschema parses JSON Schemas (drafts 4 to 2020-12) for the Schema Registry,
// renders their text forms and checks compatibility by the rules Confluent's registry applies,
// which turn on whether an object's content model is open (any extra property allowed),
// partially open (extra properties must match a schema) or closed (additionalProperties false).
package jsonschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	sjs "github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is a parsed JSON Schema.
type Schema struct {
	compiled  *sjs.Schema
	text      string
	canonical string
	normal    string
}

// rootURL is where the schema being parsed lives while it compiles; references without an
// absolute name are placed beside it.
const rootURL = "sluice://schema/root.json"

// Parse parses text as a JSON Schema. A schema without "$schema" is read as draft 7, as
// Confluent's registry reads it. refs maps the names its "$ref"s use to the texts of the
// referenced schemas; a name is resolved against the schema's "$id" when it has one. No other
// document is ever loaded: a "$ref" to anything else is an error.
func Parse(text string, refs map[string]string) (*Schema, error) {
	doc, err := unmarshal(text)
	if err != nil {
		return nil, err
	}
	c := sjs.NewCompiler()
	c.DefaultDraft(sjs.Draft7)
	c.UseLoader(noLoader{})
	c.UseRegexpEngine(lenientRegexp)
	base := rootURL
	if id := absoluteID(doc); id != "" {
		base = id
	}
	if err := c.AddResource(base, doc); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rdoc, err := unmarshal(refs[n])
		if err != nil {
			return nil, fmt.Errorf("reference %q: %w", n, err)
		}
		at := refURLs(base, n)
		if id := absoluteID(rdoc); id != "" {
			at = append(at, id) // so a "$ref" may also name the reference by its own "$id"
		}
		for _, at := range at {
			if err := c.AddResource(at, rdoc); err != nil {
				var exists *sjs.ResourceExistsError
				if !errors.As(err, &exists) {
					return nil, fmt.Errorf("reference %q: %w", n, err)
				}
			}
		}
	}
	compiled, err := c.Compile(base)
	if err != nil {
		return nil, err
	}
	s := &Schema{compiled: compiled}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return nil, err
	}
	s.text, s.canonical = b.String(), b.String()
	s.normal = marshalSorted(doc)
	return s, nil
}

// absoluteID is a document's "$id" (draft 4: "id") when it is an absolute URL, else "".
func absoluteID(doc any) string {
	m, ok := doc.(map[string]any)
	if !ok {
		return ""
	}
	for _, k := range []string{"$id", "id"} {
		if id, ok := m[k].(string); ok {
			if u, err := url.Parse(id); err == nil && u.IsAbs() {
				u.Fragment = ""
				return u.String()
			}
			return ""
		}
	}
	return ""
}

// refURLs lists where a referenced schema named name is placed: resolved against the schema's
// base, and against the default base when the schema has its own "$id".
func refURLs(base, name string) []string {
	var out []string
	for _, b := range []string{base, rootURL} {
		bu, err := url.Parse(b)
		if err != nil {
			continue
		}
		ru, err := url.Parse(name)
		if err != nil {
			continue
		}
		u := bu.ResolveReference(ru)
		u.Fragment = ""
		if s := u.String(); len(out) == 0 || out[0] != s {
			out = append(out, s)
		}
	}
	return out
}

func unmarshal(text string) (any, error) {
	doc, err := sjs.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	return doc, nil
}

// noLoader refuses to load documents: a schema may only refer to itself, the meta-schemas and
// its references, never to files or the network.
type noLoader struct{}

func (noLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("%s is not among the schema's references", u)
}

// lenientRegexp compiles patterns with Go's regexp; a pattern it cannot compile (lookarounds,
// backreferences: valid ECMA-262, which JSON Schema specifies) is kept as written and matches
// everything, since the registry compares patterns as text and never validates data.
func lenientRegexp(s string) (sjs.Regexp, error) {
	if re, err := regexp.Compile(s); err == nil {
		return re, nil
	}
	return uncompiled(s), nil
}

type uncompiled string

func (u uncompiled) String() string          { return string(u) }
func (u uncompiled) MatchString(string) bool { return true }

// marshalSorted writes a document compactly with object keys sorted.
func marshalSorted(doc any) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(doc) // a decoded document always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// String is the schema as compact JSON, keys in the order written: the text the registry
// stores and returns.
func (s *Schema) String() string { return s.text }

// Canonical is the form schemas are compared by: the compact JSON.
func (s *Schema) Canonical() string { return s.canonical }

// Normalized is the compact JSON with object keys sorted: the form stored for normalize=true.
func (s *Schema) Normalized() string { return s.normal }

// Compiled is the compiled schema, for validating documents.
func (s *Schema) Compiled() *sjs.Schema { return s.compiled }
