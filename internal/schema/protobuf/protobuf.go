// Package protobuf parses Protobuf schemas (.proto text, or a base64 FileDescriptorProto as
// Confluent's serializers send) for the Schema Registry, renders their text forms, checks
// compatibility by the wire-compatibility rules of Confluent's registry, and maps message names
// to and from the message indexes serialized records carry.
package protobuf

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"github.com/jhump/protoreflect/v2/protoprint"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Schema is a parsed Protobuf schema.
type Schema struct {
	file      protoreflect.FileDescriptor
	name      string // the file name a descriptor input carried, for Serialized
	text      string
	canonical string
	normal    string
}

// mainFile is the path the schema being parsed compiles under; references are imported by
// their names.
const mainFile = "__sluice_schema__.proto"

// Parse parses text as a Protobuf schema: .proto source, or the base64 encoding of a
// serialized FileDescriptorProto. refs maps import paths to the imported files, in either
// form; the well-known types (google/protobuf/*.proto) are always available.
func Parse(text string, refs map[string]string) (*Schema, error) {
	if _, ok := refs[mainFile]; ok {
		return nil, fmt.Errorf("reference name %q is reserved", mainFile)
	}
	main := source(text)
	srcs := map[string]file{mainFile: main}
	for k, v := range refs {
		srcs[k] = source(v)
	}
	var (
		mu   sync.Mutex
		errs []string
	)
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
			s, ok := srcs[path]
			if !ok {
				return protocompile.SearchResult{}, fmt.Errorf("import %q is not among the schema's references", path)
			}
			if s.desc != nil {
				d := proto.Clone(s.desc).(*descriptorpb.FileDescriptorProto)
				d.Name = proto.String(path)
				return protocompile.SearchResult{Proto: d}, nil
			}
			return protocompile.SearchResult{Source: strings.NewReader(s.text)}, nil
		})),
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, strings.TrimPrefix(err.Error(), mainFile+":"))
			return nil
		}, nil),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := c.Compile(context.Background(), mainFile)
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	if err != nil {
		return nil, err
	}
	s := &Schema{file: files[0], name: mainFile}
	if main.desc != nil && main.desc.GetName() != "" {
		s.name = main.desc.GetName()
	}
	if s.text, err = print(s.file, protoprint.Printer{}); err != nil {
		return nil, err
	}
	if s.canonical, err = print(s.file, protoprint.Printer{OmitComments: protoprint.CommentsAll}); err != nil {
		return nil, err
	}
	if s.normal, err = print(s.file, protoprint.Printer{OmitComments: protoprint.CommentsAll, ForceFullyQualifiedNames: true}); err != nil {
		return nil, err
	}
	return s, nil
}

// file is one file given to the compiler: source text or a descriptor.
type file struct {
	text string
	desc *descriptorpb.FileDescriptorProto
}

// source tells a base64 FileDescriptorProto from .proto text. Source text always holds
// characters base64 does not (spaces, semicolons), so a string that decodes is a descriptor.
func source(text string) file {
	t := strings.TrimSpace(text)
	if t != "" && !strings.ContainsAny(t, " \t\r\n;{") {
		if b, err := base64.StdEncoding.DecodeString(t); err == nil {
			var d descriptorpb.FileDescriptorProto
			if proto.Unmarshal(b, &d) == nil {
				return file{desc: &d}
			}
		}
	}
	return file{text: text}
}

func print(fd protoreflect.FileDescriptor, p protoprint.Printer) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot print schema: %v", r)
		}
	}()
	var b bytes.Buffer
	if err := p.PrintProtoFile(fd, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// String is the schema as .proto source, printed from the parsed file with its comments: the
// text the registry stores and returns (a descriptor given in base64 comes back as source).
func (s *Schema) String() string { return s.text }

// Canonical is the source without comments: the form schemas are compared by.
func (s *Schema) Canonical() string { return s.canonical }

// Normalized is the canonical source with every type name fully qualified: the form stored
// for normalize=true.
func (s *Schema) Normalized() string { return s.normal }

// File is the compiled file descriptor, for serializers and deserializers (dynamicpb).
func (s *Schema) File() protoreflect.FileDescriptor { return s.file }

// Serialized is the base64 encoding of the schema's FileDescriptorProto, the "serialized"
// format Confluent's clients may ask for.
func (s *Schema) Serialized() string {
	d := protodesc.ToFileDescriptorProto(s.file)
	d.Name = proto.String(s.name)
	d.SourceCodeInfo = nil
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(d)
	return base64.StdEncoding.EncodeToString(b)
}

// FirstMessage is the full name of the first message the file declares: the message a
// serializer writes when none is named ("" if the file declares none).
func (s *Schema) FirstMessage() string {
	if s.file.Messages().Len() == 0 {
		return ""
	}
	return string(s.file.Messages().Get(0).FullName())
}
