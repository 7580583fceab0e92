package protobuf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/schema/internal/keys"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The kinds of difference between two versions of a schema, named as Confluent's registry
// names them.
const (
	PackageChanged             = "PACKAGE_CHANGED"
	MessageAdded               = "MESSAGE_ADDED"
	MessageRemoved             = "MESSAGE_REMOVED"
	MessageMoved               = "MESSAGE_MOVED"
	EnumAdded                  = "ENUM_ADDED"
	EnumRemoved                = "ENUM_REMOVED"
	FieldAdded                 = "FIELD_ADDED"
	FieldRemoved               = "FIELD_REMOVED"
	FieldNameChanged           = "FIELD_NAME_CHANGED"
	FieldKindChanged           = "FIELD_KIND_CHANGED"
	FieldScalarKindChanged     = "FIELD_SCALAR_KIND_CHANGED"
	FieldNamedTypeChanged      = "FIELD_NAMED_TYPE_CHANGED"
	FieldNumericLabelChanged   = "FIELD_NUMERIC_LABEL_CHANGED"
	FieldStringOrBytesLabelChg = "FIELD_STRING_OR_BYTES_LABEL_CHANGED"
	RequiredFieldAdded         = "REQUIRED_FIELD_ADDED"
	RequiredFieldRemoved       = "REQUIRED_FIELD_REMOVED"
	OneofAdded                 = "ONEOF_ADDED"
	OneofRemoved               = "ONEOF_REMOVED"
	OneofFieldAdded            = "ONEOF_FIELD_ADDED"
	OneofFieldRemoved          = "ONEOF_FIELD_REMOVED"
	MultipleFieldsMovedToOneof = "MULTIPLE_FIELDS_MOVED_TO_ONEOF"
	FieldMovedToExistingOneof  = "FIELD_MOVED_TO_EXISTING_ONEOF"
)

// compatible lists the differences a reader tolerates: what the wire format makes harmless.
var compatible = map[string]bool{
	MessageAdded: true, MessageMoved: true, EnumAdded: true, EnumRemoved: true,
	FieldAdded: true, FieldRemoved: true, FieldNameChanged: true, FieldStringOrBytesLabelChg: true,
	OneofAdded: true, OneofRemoved: true, OneofFieldAdded: true,
}

// Difference is one change from a writer schema to a reader schema.
type Difference struct {
	Kind string // one of the constants above
	Path string // where: "#/" then message names, then a field number or oneof name
}

// Compatible reports whether a reader tolerates the difference.
func (d Difference) Compatible() bool { return compatible[d.Kind] }

// Message renders the difference as the registry reports it, naming the reader and writer
// schemas by the given words ("new" and "old" for a backward check, the reverse for forward).
func (d Difference) Message(reader, writer string) string {
	var s string
	switch d.Kind {
	case PackageChanged:
		s = fmt.Sprintf("The package differs between the %s and the %s schema", reader, writer)
	case MessageRemoved:
		s = fmt.Sprintf("The message at path '%s' in the %s schema is missing in the %s schema", d.Path, writer, reader)
	case FieldKindChanged:
		s = fmt.Sprintf("The field at path '%s' is not the same kind (scalar, message or map) in the %s and the %s schema", d.Path, reader, writer)
	case FieldScalarKindChanged:
		s = fmt.Sprintf("The field at path '%s' has scalar types that are not wire compatible in the %s and the %s schema", d.Path, reader, writer)
	case FieldNamedTypeChanged:
		s = fmt.Sprintf("The field at path '%s' has a message type in the %s schema that cannot read the %s schema's", d.Path, reader, writer)
	case FieldNumericLabelChanged:
		s = fmt.Sprintf("The numeric field at path '%s' is repeated in only one of the %s and the %s schema", d.Path, reader, writer)
	case RequiredFieldAdded:
		s = fmt.Sprintf("The %s schema has a required field at path '%s' that is missing in the %s schema", reader, d.Path, writer)
	case RequiredFieldRemoved:
		s = fmt.Sprintf("The %s schema has a required field at path '%s' that is missing in the %s schema", writer, d.Path, reader)
	case OneofFieldRemoved:
		s = fmt.Sprintf("The oneof field at path '%s' in the %s schema is missing in the %s schema", d.Path, writer, reader)
	case MultipleFieldsMovedToOneof:
		s = fmt.Sprintf("The oneof at path '%s' in the %s schema takes in several fields that are outside any oneof in the %s schema", d.Path, reader, writer)
	case FieldMovedToExistingOneof:
		s = fmt.Sprintf("The oneof at path '%s' in the %s schema takes in a field from outside any oneof in the %s schema beside fields of an existing oneof", d.Path, reader, writer)
	default:
		s = fmt.Sprintf("The element at path '%s' changed from the %s to the %s schema", d.Path, writer, reader)
	}
	return fmt.Sprintf("{errorType:'%s', description:'%s'}", d.Kind, s)
}

// Check returns the differences that keep reader from reading data written with writer, by
// the rules of Confluent's registry: the package and the messages a writer may have used must
// stay; fields are matched by number, and a field may be added, removed or renamed, but keeps
// its kind (scalar, message, map) and a wire-compatible type (int32, uint32, int64, uint64,
// bool and enums read each other; sint32 and sint64; string and bytes; fixed32 and sfixed32;
// fixed64 and sfixed64); a oneof keeps its fields, and at most one outside field moves into it.
func Check(reader, writer *Schema) []Difference {
	return slices.DeleteFunc(Differences(reader, writer), Difference.Compatible)
}

// Differences returns every change from writer to reader, compatible or not.
func Differences(reader, writer *Schema) []Difference {
	c := &differ{orig: writer.file, update: reader.file, seen: map[[2]protoreflect.FullName]bool{}}
	if writer.file.Package() != reader.file.Package() {
		c.add(PackageChanged, "#/")
	}
	c.types("#/", writer.file.Messages(), reader.file.Messages(), writer.file.Enums(), reader.file.Enums())
	return c.diffs
}

type differ struct {
	orig, update protoreflect.FileDescriptor
	seen         map[[2]protoreflect.FullName]bool
	diffs        []Difference
}

func (c *differ) add(kind, path string) {
	c.diffs = append(c.diffs, Difference{Kind: kind, Path: path})
}

func byName(ms protoreflect.MessageDescriptors) (map[string]protoreflect.MessageDescriptor, map[string]int) {
	m, idx := map[string]protoreflect.MessageDescriptor{}, map[string]int{}
	for i, d := range declared(ms) {
		n := string(d.Name())
		m[n], idx[n] = d, i
	}
	return m, idx
}

// types compares the messages and enums declared at one level (file or message).
func (c *differ) types(path string, om, um protoreflect.MessageDescriptors, oe, ue protoreflect.EnumDescriptors) {
	oByName, oIdx := byName(om)
	uByName, uIdx := byName(um)
	for _, n := range keys.Sorted(oByName, uByName) {
		p := path + n
		o, u := oByName[n], uByName[n]
		switch {
		case u == nil:
			c.add(MessageRemoved, p)
		case o == nil:
			c.add(MessageAdded, p)
		default:
			c.message(p, o, u)
			if oIdx[n] != uIdx[n] {
				c.add(MessageMoved, p)
			}
		}
	}
	oEnums, uEnums := map[string]bool{}, map[string]bool{}
	for i := 0; i < oe.Len(); i++ {
		oEnums[string(oe.Get(i).Name())] = true
	}
	for i := 0; i < ue.Len(); i++ {
		uEnums[string(ue.Get(i).Name())] = true
	}
	for _, n := range keys.Sorted(oEnums, uEnums) {
		switch {
		case !uEnums[n]:
			c.add(EnumRemoved, path+n)
		case !oEnums[n]:
			c.add(EnumAdded, path+n)
		}
	}
}

// realOneof is the oneof a field belongs to, not counting the synthetic oneof of a proto3
// optional field.
func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o
	}
	return nil
}

func tag(f protoreflect.FieldDescriptor) string { return strconv.Itoa(int(f.Number())) }

func (c *differ) message(path string, o, u protoreflect.MessageDescriptor) {
	key := [2]protoreflect.FullName{o.FullName(), u.FullName()}
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	defer c.types(path+"/", o.Messages(), u.Messages(), o.Enums(), u.Enums())

	oTop, uTop := map[int]protoreflect.FieldDescriptor{}, map[int]protoreflect.FieldDescriptor{}
	oAll, uAll := map[int]protoreflect.FieldDescriptor{}, map[int]protoreflect.FieldDescriptor{}
	for i := 0; i < o.Fields().Len(); i++ {
		f := o.Fields().Get(i)
		oAll[int(f.Number())] = f
		if realOneof(f) == nil {
			oTop[int(f.Number())] = f
		}
	}
	for i := 0; i < u.Fields().Len(); i++ {
		f := u.Fields().Get(i)
		uAll[int(f.Number())] = f
		if realOneof(f) == nil {
			uTop[int(f.Number())] = f
		}
	}

	// A oneof of the update may take in one field that was outside any oneof, but not more,
	// and not one beside fields of an existing oneof.
	oOneofs, uOneofs := oneofs(o), oneofs(u)
	for _, name := range keys.Sorted(uOneofs) {
		moved, existing := 0, 0
		fs := uOneofs[name].Fields()
		for i := 0; i < fs.Len(); i++ {
			n := int(fs.Get(i).Number())
			if _, ok := oTop[n]; ok {
				moved++
				delete(oTop, n) // not a removed field
			} else if of, ok := oAll[n]; ok && realOneof(of) != nil {
				existing++
			}
		}
		switch {
		case moved > 1:
			c.add(MultipleFieldsMovedToOneof, path+"/"+name)
		case moved == 1 && existing > 0:
			c.add(FieldMovedToExistingOneof, path+"/"+name)
		}
	}
	for _, name := range keys.Sorted(oOneofs, uOneofs) {
		oo, uo := oOneofs[name], uOneofs[name]
		switch {
		case uo == nil:
			c.add(OneofRemoved, path+"/"+name)
		case oo == nil:
			c.add(OneofAdded, path+"/"+name)
		default:
			c.oneof(path+"/"+name, oo, uo)
		}
	}

	for _, n := range keys.Sorted(oTop, uTop) {
		of, uf := oTop[n], uTop[n]
		p := path + "/" + strconv.Itoa(n)
		switch {
		case uf == nil:
			if of.Cardinality() == protoreflect.Required {
				c.add(RequiredFieldRemoved, p)
			} else {
				c.add(FieldRemoved, p)
			}
		case of == nil:
			if uf.Cardinality() == protoreflect.Required {
				c.add(RequiredFieldAdded, p)
			} else {
				c.add(FieldAdded, p)
			}
		default:
			c.field(p, of, uf)
		}
	}
	// Fields whose oneof changed (into, out of, or between oneofs) are compared by number too.
	for _, n := range keys.Sorted(oAll) {
		of, uf := oAll[n], uAll[n]
		if uf == nil {
			continue
		}
		oo, uo := realOneof(of), realOneof(uf)
		if (oo == nil && uo == nil) || (oo != nil && uo != nil && oo.Name() == uo.Name()) {
			continue
		}
		c.field(path+"/"+tag(of), of, uf)
	}
}

func oneofs(m protoreflect.MessageDescriptor) map[string]protoreflect.OneofDescriptor {
	out := map[string]protoreflect.OneofDescriptor{}
	for i := 0; i < m.Oneofs().Len(); i++ {
		if o := m.Oneofs().Get(i); !o.IsSynthetic() {
			out[string(o.Name())] = o
		}
	}
	return out
}

func (c *differ) oneof(path string, o, u protoreflect.OneofDescriptor) {
	of, uf := map[int]protoreflect.FieldDescriptor{}, map[int]protoreflect.FieldDescriptor{}
	for i := 0; i < o.Fields().Len(); i++ {
		of[int(o.Fields().Get(i).Number())] = o.Fields().Get(i)
	}
	for i := 0; i < u.Fields().Len(); i++ {
		uf[int(u.Fields().Get(i).Number())] = u.Fields().Get(i)
	}
	for _, n := range keys.Sorted(of, uf) {
		p := path + "/" + strconv.Itoa(n)
		switch {
		case uf[n] == nil:
			c.add(OneofFieldRemoved, p)
		case of[n] == nil:
			c.add(OneofFieldAdded, p)
		default:
			c.field(p, of[n], uf[n])
		}
	}
}

func (c *differ) field(path string, o, u protoreflect.FieldDescriptor) {
	if o.Name() != u.Name() {
		c.add(FieldNameChanged, path)
	}
	c.fieldType(path, o, u)
	if o.IsMap() || u.IsMap() || kind(o) != scalarField || kind(u) != scalarField {
		return
	}
	// Confluent compares the labels written in the files where both have
	// one (Wire's FieldElement.label): proto2's optional against required
	// too. A change between repeated and an implicit proto3 singular is
	// counted as well, which Confluent lets through: a reader of the other
	// kind drops a packed value of a numeric field.
	lo, lu := writtenLabel(o), writtenLabel(u)
	if o.IsList() != u.IsList() || lo != "" && lu != "" && lo != lu {
		if scalarGroup(o) == "string" && scalarGroup(u) == "string" {
			c.add(FieldStringOrBytesLabelChg, path)
		} else if scalarGroup(o) == scalarGroup(u) {
			c.add(FieldNumericLabelChanged, path)
		}
	}
}

// writtenLabel is the label a field has in its .proto file: repeated,
// required or optional, or "" where none is written (a proto3 field
// without the optional keyword, a oneof member).
func writtenLabel(f protoreflect.FieldDescriptor) string {
	switch {
	case f.Cardinality() == protoreflect.Repeated:
		return "repeated"
	case f.ContainingOneof() != nil && !f.ContainingOneof().IsSynthetic():
		return ""
	case f.Syntax() == protoreflect.Proto3 && !f.HasOptionalKeyword():
		return ""
	case f.Cardinality() == protoreflect.Required:
		return "required"
	}
	return "optional"
}

type fieldKind int

const (
	scalarField fieldKind = iota
	messageField
	mapField
)

func kind(f protoreflect.FieldDescriptor) fieldKind {
	switch {
	case f.IsMap():
		return mapField
	case f.Kind() == protoreflect.MessageKind || f.Kind() == protoreflect.GroupKind:
		return messageField
	}
	return scalarField
}

// scalarGroup names the set of scalar types that read each other on the wire.
func scalarGroup(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind,
		protoreflect.BoolKind, protoreflect.EnumKind:
		return "varint"
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return "zigzag"
	case protoreflect.StringKind, protoreflect.BytesKind:
		return "string"
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return "fixed32"
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return "fixed64"
	case protoreflect.FloatKind:
		return "float"
	case protoreflect.DoubleKind:
		return "double"
	}
	return f.Kind().String()
}

func (c *differ) fieldType(path string, o, u protoreflect.FieldDescriptor) {
	ok, uk := kind(o), kind(u)
	if ok != uk {
		c.add(FieldKindChanged, path)
		return
	}
	switch ok {
	case scalarField:
		if scalarGroup(o) != scalarGroup(u) {
			c.add(FieldScalarKindChanged, path)
		}
	case mapField:
		c.fieldType(path, o.MapKey(), u.MapKey())
		c.fieldType(path, o.MapValue(), u.MapValue())
	case messageField:
		c.messageType(path, o.Message(), u.Message())
	}
}

// localName is a message's full name without its file's package.
func localName(m protoreflect.MessageDescriptor) string {
	pkg := string(m.ParentFile().Package())
	n := string(m.FullName())
	if pkg != "" {
		n = strings.TrimPrefix(n, pkg+".")
	}
	return n
}

// messageType compares the message types of a field. Types of the schema's own file are
// compared where they are declared; a type from an imported file is compared here.
func (c *differ) messageType(path string, o, u protoreflect.MessageDescriptor) {
	if localName(o) != localName(u) {
		c.add(FieldNamedTypeChanged, path)
		return
	}
	if o.ParentFile().Path() == c.orig.Path() && u.ParentFile().Path() == c.update.Path() {
		return
	}
	sub := &differ{orig: c.orig, update: c.update, seen: c.seen}
	sub.message("#/"+localName(o), o, u)
	c.diffs = append(c.diffs, sub.diffs...)
	if slices.ContainsFunc(sub.diffs, func(d Difference) bool { return !d.Compatible() }) {
		c.add(FieldNamedTypeChanged, path)
	}
}
