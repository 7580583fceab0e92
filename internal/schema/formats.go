package schema

import (
	"strings"

	"github.com/sluice-io/sluice/internal/schema/avro"
	"github.com/sluice-io/sluice/internal/schema/jsonschema"
	"github.com/sluice-io/sluice/internal/schema/protobuf"
)

// avroSchema, jsonSchema and protoSchema adapt each format's package to Parsed.

// messages renders a format's findings, naming the reader and writer schemas by the words given.
func messages[F interface {
	Message(reader, writer string) string
}](fs []F, readerWord, writerWord string) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Message(readerWord, writerWord))
	}
	return out
}

type avroSchema struct{ *avro.Schema }

func (avroSchema) Type() Type { return Avro }

func (s avroSchema) readerOf(w Parsed, readerWord, writerWord string) []string {
	return messages(avro.Check(s.Schema, w.(avroSchema).Schema), readerWord, writerWord)
}

func parseAvro(text string, refs map[string]string) (Parsed, error) {
	s, err := avro.Parse(text, refs)
	if err != nil {
		return nil, err
	}
	return avroSchema{s}, nil
}

type jsonSchema struct{ *jsonschema.Schema }

func (jsonSchema) Type() Type { return JSON }

func (s jsonSchema) readerOf(w Parsed, readerWord, writerWord string) []string {
	return messages(jsonschema.Check(s.Schema, w.(jsonSchema).Schema), readerWord, writerWord)
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

func (s protoSchema) readerOf(w Parsed, readerWord, writerWord string) []string {
	return messages(protobuf.Check(s.Schema, w.(protoSchema).Schema), readerWord, writerWord)
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

// SameResolved reports whether a and b are one schema once the references of each are resolved,
// as Confluent's ParsedSchema.deepEquals finds them; the registry falls back to it when a
// schema sent without references matches no version by its canonical form. Avro schemas are
// compared as Avro's Schema.equals compares them (doc and aliases aside), so a type defined by
// a reference equals the same type written inline. JSON Schema and Protobuf schemas are never
// the same here: they are matched by their canonical form alone.
func SameResolved(a, b Parsed) bool {
	x, y := AvroSchema(a), AvroSchema(b)
	return x != nil && y != nil && x.Equal(y)
}

// Formatted returns p in the format a client asks for with the "format" query parameter:
// "serialized" gives a Protobuf schema as the base64 encoding of its FileDescriptorProto, as
// Confluent's Protobuf deserializers ask; every other format, and every other schema type,
// gets the stored text (String), as Confluent answers formats it does not know.
func Formatted(p Parsed, format string) string {
	if s := ProtobufSchema(p); s != nil && strings.EqualFold(format, "serialized") {
		return s.Serialized()
	}
	return p.String()
}
