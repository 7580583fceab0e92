// Package schema parses the three schema formats of the Schema Registry (Avro, JSON Schema,
// Protobuf), gives each schema the text forms the registry stores and compares (as written,
// canonical, normalized), and checks a new schema against earlier versions under one of the
// compatibility levels Confluent Schema Registry defines.
//
// The format-specific work lives in the sub-packages avro, jsonschema and protobuf, which know
// nothing of this package; this package picks the format, resolves the direction of each check
// from the level, and formats the verdicts.
package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Type names a schema format as the REST API spells it ("schemaType").
type Type string

// The schema formats. An empty Type means Avro, as in Confluent's API.
const (
	Avro     Type = "AVRO"
	JSON     Type = "JSON"
	Protobuf Type = "PROTOBUF"
)

// Types lists the supported formats, in the order /schemas/types returns them.
func Types() []Type { return []Type{JSON, Protobuf, Avro} }

// ParseType turns a "schemaType" value into a Type: empty means Avro; the match ignores case.
// An unknown name is an *InvalidSchemaError.
func ParseType(s string) (Type, error) {
	switch Type(strings.ToUpper(strings.TrimSpace(s))) {
	case "", Avro:
		return Avro, nil
	case JSON:
		return JSON, nil
	case Protobuf:
		return Protobuf, nil
	}
	return "", &InvalidSchemaError{Err: fmt.Errorf("unknown schema type %q", s)}
}

// Reference names a schema that another schema refers to: Name is how the referring schema
// calls it (an Avro full name, a JSON Schema $ref URL, a Protobuf import path), Subject and
// Version where the registry keeps it.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Parsed is a schema that parsed successfully.
type Parsed interface {
	// Type is the schema's format.
	Type() Type
	// String is the schema text to store and to return to clients: the text as given.
	String() string
	// Canonical is the form two schemas are compared by for lookup and deduplication: two
	// spellings of the same schema have the same canonical form.
	Canonical() string
	// Normalized is the form stored when a request asks for normalize=true.
	Normalized() string
}

// InvalidSchemaError says why a schema text could not be parsed; the registry answers it with
// error code 42201.
type InvalidSchemaError struct {
	Type Type
	Err  error
}

func (e *InvalidSchemaError) Error() string {
	if e.Type == "" {
		return "invalid schema: " + e.Err.Error()
	}
	return "invalid " + string(e.Type) + " schema: " + e.Err.Error()
}

func (e *InvalidSchemaError) Unwrap() error { return e.Err }

// IsInvalid reports whether err is (or wraps) an *InvalidSchemaError.
func IsInvalid(err error) bool {
	var ise *InvalidSchemaError
	return errors.As(err, &ise)
}

// Parse parses text as a schema of type t (empty means Avro). refs maps each reference name to
// the referenced schema's text, already resolved by the registry (recursively: it holds the
// references of references too). Every error is an *InvalidSchemaError.
func Parse(t Type, text string, refs map[string]string) (Parsed, error) {
	t, err := ParseType(string(t))
	if err != nil {
		return nil, err
	}
	var p Parsed
	switch t {
	case Avro:
		p, err = parseAvro(text, refs)
	case JSON:
		p, err = parseJSON(text, refs)
	case Protobuf:
		p, err = parseProtobuf(text, refs)
	}
	if err != nil {
		return nil, &InvalidSchemaError{Type: t, Err: err}
	}
	return p, nil
}
