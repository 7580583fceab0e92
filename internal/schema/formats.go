package schema

import (
	"github.com/sluice-io/sluice/internal/schema/avro"
	"github.com/sluice-io/sluice/internal/schema/jsonschema"
	"github.com/sluice-io/sluice/internal/schema/protobuf"
)

// avroSchema, jsonSchema and protoSchema adapt each format's package to Parsed.

type avroSchema struct{ *avro.Schema }

func (avroSchema) Type() Type { return Avro }

func (s avroSchema) readerOf(w Parsed) []string { return avro.Check(s.Schema, w.(avroSchema).Schema) }

func parseAvro(text string, refs map[string]string) (Parsed, error) {
	s, err := avro.Parse(text, refs)
	if err != nil {
		return nil, err
	}
	return avroSchema{s}, nil
}

type jsonSchema struct{ *jsonschema.Schema }

func (jsonSchema) Type() Type { return JSON }

func (s jsonSchema) readerOf(w Parsed) []string {
	return jsonschema.Check(s.Schema, w.(jsonSchema).Schema)
}

func parseJSON(text string, refs map[string]string) (Parsed, error) {
	s, err := jsonschema.Parse(text, refs)
	if err != nil {
		return nil, err
	}
	return jsonSchema{s}, nil
}

type protoSchema struct{ *protobuf.Schema }

func (protoSchema) Type() Type { return Protobuf }

func (s protoSchema) readerOf(w Parsed) []string {
	return protobuf.Check(s.Schema, w.(protoSchema).Schema)
}

func parseProtobuf(text string, refs map[string]string) (Parsed, error) {
	s, err := protobuf.Parse(text, refs)
	if err != nil {
		return nil, err
	}
	return protoSchema{s}, nil
}

// ProtobufSchema returns the Protobuf schema behind p, or nil when p is of another format; it
// gives serializers the message indexes (protobuf.Schema.MessageIndexes and MessageName).
func ProtobufSchema(p Parsed) *protobuf.Schema {
	if s, ok := p.(protoSchema); ok {
		return s.Schema
	}
	return nil
}

// AvroSchema returns the Avro schema behind p, or nil when p is of another format.
func AvroSchema(p Parsed) *avro.Schema {
	if s, ok := p.(avroSchema); ok {
		return s.Schema
	}
	return nil
}

// JSONSchema returns the JSON Schema behind p, or nil when p is of another format.
func JSONSchema(p Parsed) *jsonschema.Schema {
	if s, ok := p.(jsonSchema); ok {
		return s.Schema
	}
	return nil
}
