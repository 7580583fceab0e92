package avro

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	havro "github.com/hamba/avro/v2"
)

// The kinds of incompatibility, named as Avro's and Confluent's checkers name them.
const (
	NameMismatch                   = "NAME_MISMATCH"
	FixedSizeMismatch              = "FIXED_SIZE_MISMATCH"
	MissingEnumSymbols             = "MISSING_ENUM_SYMBOLS"
	ReaderFieldMissingDefaultValue = "READER_FIELD_MISSING_DEFAULT_VALUE"
	TypeMismatch                   = "TYPE_MISMATCH"
	MissingUnionBranch             = "MISSING_UNION_BRANCH"
)

// Incompatibility is one reason a reader schema cannot read data written with a writer schema.
type Incompatibility struct {
	Kind string // one of the constants above
	Path string // where in the reader schema, e.g. "/fields/2/type"
	Info string // the detail: a field name, missing symbols, the two types
}

// Message renders the incompatibility as the registry reports it, naming the reader and writer
// schemas by the given words ("new" and "old" for a backward check, the reverse for forward).
func (in Incompatibility) Message(reader, writer string) string {
	var d string
	switch in.Kind {
	case ReaderFieldMissingDefaultValue:
		d = fmt.Sprintf("The %s schema has a field '%s' at path '%s' with no default value, and the %s schema has no such field", reader, in.Info, in.Path, writer)
	case TypeMismatch:
		d = fmt.Sprintf("The type at path '%s' in the %s schema cannot read the type of the %s schema", in.Path, reader, writer)
	case NameMismatch:
		d = fmt.Sprintf("The name of the type at path '%s' differs between the %s and the %s schema", in.Path, reader, writer)
	case FixedSizeMismatch:
		d = fmt.Sprintf("The size of the fixed type at path '%s' differs between the %s and the %s schema", in.Path, reader, writer)
	case MissingEnumSymbols:
		d = fmt.Sprintf("The enum at path '%s' in the %s schema lacks symbols %s of the %s schema and has no default", in.Path, reader, in.Info, writer)
	case MissingUnionBranch:
		d = fmt.Sprintf("The union at path '%s' in the %s schema has no branch that reads a type of the %s schema", in.Path, reader, writer)
	}
	return fmt.Sprintf("{errorType:'%s', description:'%s', additionalInfo:'%s'}", in.Kind, d, in.Info)
}

// Check returns the incompatibilities that keep reader from reading data written with writer,
// by the schema resolution rules of the Avro specification: a reader field missing from the
// writer needs a default, writer fields the reader lacks are skipped, int/long/float/double
// promote upwards, string and bytes read each other, an enum reader needs every writer symbol
// unless it has a default, a reader union needs a branch for each writer branch, named types
// match by unqualified name or reader alias, and fixed sizes must agree.
func Check(reader, writer *Schema) []Incompatibility {
	c := checker{memo: map[[2]havro.Schema]*result{}}
	return c.check(reader.schema, writer.schema, nil).list
}

type result struct{ list []Incompatibility }

type checker struct {
	memo map[[2]havro.Schema]*result
}

func deref(s havro.Schema) havro.Schema {
	if r, ok := s.(*havro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func path(loc []string) string { return "/" + strings.Join(loc, "/") }

func with(loc []string, parts ...string) []string {
	out := make([]string, 0, len(loc)+len(parts))
	return append(append(out, loc...), parts...)
}

// check compares one reader/writer pair. Record pairs are remembered, and a record pair met
// again while it is being compared (a recursive type) counts as compatible, as in Avro's
// checker; only records can recur, so other pairs are simply compared.
func (c *checker) check(reader, writer havro.Schema, loc []string) *result {
	reader, writer = deref(reader), deref(writer)
	_, rr := reader.(*havro.RecordSchema)
	_, wr := writer.(*havro.RecordSchema)
	if !rr || !wr {
		return &result{list: c.compare(reader, writer, loc)}
	}
	key := [2]havro.Schema{reader, writer}
	if r, ok := c.memo[key]; ok {
		if r == nil {
			return &result{}
		}
		return r
	}
	c.memo[key] = nil
	r := &result{list: c.compare(reader, writer, loc)}
	c.memo[key] = r
	return r
}

// kind is a schema's type, an error type counting as a record (Avro reads one as the other).
func kind(s havro.Schema) havro.Type {
	if t := s.Type(); t != havro.Error {
		return t
	}
	return havro.Record
}

// typeName is the type's name as Avro's checker writes it: RECORD, INT, ...
func typeName(s havro.Schema) string {
	switch t := kind(s); t {
	case havro.Record:
		return "RECORD"
	case havro.Int:
		return "INT"
	case havro.Long:
		return "LONG"
	case havro.String:
		return "STRING"
	case havro.Null:
		return "NULL"
	default:
		return strings.ToUpper(string(t))
	}
}

func mismatch(reader, writer havro.Schema, loc []string) []Incompatibility {
	return []Incompatibility{{
		Kind: TypeMismatch,
		Path: path(loc),
		Info: "reader type: " + typeName(reader) + " not compatible with writer type: " + typeName(writer),
	}}
}

func (c *checker) compare(reader, writer havro.Schema, loc []string) []Incompatibility {
	if kind(reader) == kind(writer) {
		switch r := reader.(type) {
		case *havro.ArraySchema:
			return c.check(r.Items(), writer.(*havro.ArraySchema).Items(), with(loc, "items")).list
		case *havro.MapSchema:
			return c.check(r.Values(), writer.(*havro.MapSchema).Values(), with(loc, "values")).list
		case *havro.FixedSchema:
			w := writer.(*havro.FixedSchema)
			out := names(r, w, loc)
			if r.Size() != w.Size() {
				out = append(out, Incompatibility{Kind: FixedSizeMismatch, Path: path(with(loc, "size")),
					Info: fmt.Sprintf("expected: %d, found: %d", w.Size(), r.Size())})
			}
			return out
		case *havro.EnumSchema:
			w := writer.(*havro.EnumSchema)
			return append(names(r, w, loc), symbols(r, w, loc)...)
		case *havro.RecordSchema:
			w := writer.(*havro.RecordSchema)
			return append(names(r, w, loc), c.fields(r, w, loc)...)
		case *havro.UnionSchema:
			// Every branch the writer may have written must be readable.
			var out []Incompatibility
			for i, wb := range writer.(*havro.UnionSchema).Types() {
				bloc := with(loc, strconv.Itoa(i))
				if len(c.check(r, wb, bloc).list) > 0 {
					out = append(out, Incompatibility{Kind: MissingUnionBranch, Path: path(bloc),
						Info: "reader union lacking writer type: " + typeName(deref(wb))})
				}
			}
			return out
		}
		return nil // same primitive type
	}
	if w, ok := writer.(*havro.UnionSchema); ok {
		// A reader that is not a union reads a writer union if it reads every branch.
		var out []Incompatibility
		for _, wb := range w.Types() {
			out = append(out, c.check(reader, wb, loc).list...)
		}
		return out
	}
	switch kind(reader) {
	case havro.Long:
		if writer.Type() == havro.Int {
			return nil
		}
	case havro.Float:
		if writer.Type() == havro.Int || writer.Type() == havro.Long {
			return nil
		}
	case havro.Double:
		if writer.Type() == havro.Int || writer.Type() == havro.Long || writer.Type() == havro.Float {
			return nil
		}
	case havro.Bytes:
		if writer.Type() == havro.String {
			return nil
		}
	case havro.String:
		if writer.Type() == havro.Bytes {
			return nil
		}
	case havro.Union:
		for _, rb := range reader.(*havro.UnionSchema).Types() {
			if len(c.check(rb, writer, loc).list) == 0 {
				return nil
			}
		}
		return []Incompatibility{{Kind: MissingUnionBranch, Path: path(loc),
			Info: "reader union lacking writer type: " + typeName(writer)}}
	}
	return mismatch(reader, writer, loc)
}

// names checks that two named types may resolve to each other: the same unqualified name, or
// the writer's full name among the reader's aliases.
func names(reader, writer havro.NamedSchema, loc []string) []Incompatibility {
	if reader.Name() == writer.Name() {
		return nil
	}
	for _, a := range reader.Aliases() {
		if a == writer.FullName() {
			return nil
		}
	}
	return []Incompatibility{{Kind: NameMismatch, Path: path(with(loc, "name")), Info: "expected: " + writer.FullName()}}
}

func symbols(reader, writer *havro.EnumSchema, loc []string) []Incompatibility {
	have := map[string]bool{}
	for _, s := range reader.Symbols() {
		have[s] = true
	}
	var missing []string
	for _, s := range writer.Symbols() {
		if !have[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 || (reader.HasDefault() && have[reader.Default()]) {
		return nil
	}
	sort.Strings(missing)
	return []Incompatibility{{Kind: MissingEnumSymbols, Path: path(with(loc, "symbols")),
		Info: "[" + strings.Join(missing, ", ") + "]"}}
}

func (c *checker) fields(reader, writer *havro.RecordSchema, loc []string) []Incompatibility {
	byName := map[string]*havro.Field{}
	for _, f := range writer.Fields() {
		byName[f.Name()] = f
	}
	var out []Incompatibility
	for i, rf := range reader.Fields() {
		floc := with(loc, "fields", strconv.Itoa(i))
		// The writer's field is the one named like the reader's, or like one of its aliases.
		var matches []*havro.Field
		for _, n := range append([]string{rf.Name()}, rf.Aliases()...) {
			if wf, ok := byName[n]; ok && !slices.Contains(matches, wf) {
				matches = append(matches, wf)
			}
		}
		switch len(matches) {
		case 0:
			if !rf.HasDefault() {
				out = append(out, Incompatibility{Kind: ReaderFieldMissingDefaultValue, Path: path(floc), Info: rf.Name()})
			}
		case 1:
			out = append(out, c.check(rf.Type(), matches[0].Type(), with(floc, "type")).list...)
		default:
			out = append(out, Incompatibility{Kind: TypeMismatch, Path: path(floc),
				Info: fmt.Sprintf("reader field %s matches %d writer fields through its aliases", rf.Name(), len(matches))})
		}
	}
	return out
}
