package avro

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// render writes a decoded schema document back as compact JSON with keys in a fixed order.
// With full set, every name is written fully qualified and no "namespace" key appears (the
// canonical form); otherwise names are written as the schema's author would read them: short,
// with a "namespace" where it differs from the enclosing one.
//
// The document has already been parsed successfully, so render only needs to be total: on
// shapes a parser would refuse it writes something stable rather than failing.
func render(doc any, full bool) string {
	r := renderer{full: full}
	return r.render(doc)
}

// render writes doc with r's settings.
func (r *renderer) render(doc any) string {
	r.enc = json.NewEncoder(&r.scratch)
	r.enc.SetEscapeHTML(false)
	r.schema(doc, "")
	return r.b.String()
}

type renderer struct {
	full bool
	// inline, when set, holds the definitions of names the document uses but does not define
	// (those of its references): each is written in full where the name first appears, and by
	// name after. defined records the names written so far.
	inline  map[string]namedDef
	defined map[string]bool
	// noDoc leaves out doc and aliases, which Avro's schema equality does not compare.
	noDoc   bool
	b       bytes.Buffer
	scratch bytes.Buffer  // what enc writes, before it is copied to b
	enc     *json.Encoder // writes values compactly, without escaping <, > and &
}

var primitives = map[string]bool{
	"null": true, "boolean": true, "int": true, "long": true,
	"float": true, "double": true, "bytes": true, "string": true,
}

// Keys a type or field writes in its own place; every other key is an extra attribute.
var (
	namedKeys = map[string]bool{"type": true, "name": true, "namespace": true, "doc": true, "aliases": true}
	fieldKeys = map[string]bool{"name": true, "type": true, "doc": true, "default": true, "order": true, "aliases": true}
)

// splitName returns the namespace and short name of name as written where ns is the enclosing
// namespace.
func splitName(name, ns string) (string, string) {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return ns, name
}

func qualify(space, short string) string {
	if space == "" {
		return short
	}
	return space + "." + short
}

func (r *renderer) schema(v any, ns string) {
	switch t := v.(type) {
	case string:
		r.typeName(t, ns)
	case []any:
		r.b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				r.b.WriteByte(',')
			}
			r.schema(e, ns)
		}
		r.b.WriteByte(']')
	case map[string]any:
		r.object(t, ns)
	default:
		r.value(v)
	}
}

// typeName writes a primitive or a reference to a named type.
func (r *renderer) typeName(name, ns string) {
	if primitives[name] {
		r.value(name)
		return
	}
	space, short := splitName(name, ns)
	if full := qualify(space, short); r.inline != nil && !r.defined[full] {
		if d, ok := r.inline[full]; ok {
			r.named(d.kind, d.m, d.ns)
			return
		}
	}
	if r.full || space != ns {
		r.value(qualify(space, short))
		return
	}
	r.value(short)
}

func (r *renderer) object(m map[string]any, ns string) {
	switch t := m["type"].(type) {
	case []any:
		r.schema(t, ns) // a union spelled as {"type": [...]}
		return
	case string:
		switch t {
		case "record", "error", "enum", "fixed":
			r.named(t, m, ns)
			return
		case "array":
			r.b.WriteString(`{"type":"array","items":`)
			r.schema(m["items"], ns)
			r.props(m, map[string]bool{"type": true, "items": true})
			r.b.WriteByte('}')
			return
		case "map":
			r.b.WriteString(`{"type":"map","values":`)
			r.schema(m["values"], ns)
			r.props(m, map[string]bool{"type": true, "values": true})
			r.b.WriteByte('}')
			return
		}
		if !primitives[t] || len(m) == 1 {
			r.typeName(t, ns) // {"type":"int"} is "int"; {"type":"Named"} is "Named"
			return
		}
		r.b.WriteString(`{"type":`)
		r.value(t)
		r.props(m, map[string]bool{"type": true})
		r.b.WriteByte('}')
		return
	}
	r.value(m)
}

// named writes a record, error, enum or fixed definition.
func (r *renderer) named(kind string, m map[string]any, ns string) {
	name, _ := m["name"].(string)
	space, short := splitName(name, ns)
	if !strings.Contains(name, ".") {
		if explicit, ok := m["namespace"].(string); ok {
			space = explicit
		}
	}
	if r.defined != nil {
		r.defined[qualify(space, short)] = true // before the fields: a record may refer to itself
	}
	r.b.WriteString(`{"type":`)
	r.value(kind)
	r.b.WriteString(`,"name":`)
	if r.full {
		r.value(qualify(space, short))
	} else {
		r.value(short)
		if space != ns {
			r.b.WriteString(`,"namespace":`)
			r.value(space)
		}
	}
	if doc, ok := m["doc"]; ok && !r.noDoc {
		r.b.WriteString(`,"doc":`)
		r.value(doc)
	}
	skip := map[string]bool{}
	for k := range namedKeys {
		skip[k] = true
	}
	switch kind {
	case "record", "error":
		skip["fields"] = true
		r.b.WriteString(`,"fields":[`)
		fields, _ := m["fields"].([]any)
		for i, f := range fields {
			if i > 0 {
				r.b.WriteByte(',')
			}
			r.field(f, space)
		}
		r.b.WriteByte(']')
	case "enum":
		skip["symbols"], skip["default"] = true, true
		r.b.WriteString(`,"symbols":`)
		r.value(m["symbols"])
		if d, ok := m["default"]; ok {
			r.b.WriteString(`,"default":`)
			r.value(d)
		}
	case "fixed":
		skip["size"] = true
		r.b.WriteString(`,"size":`)
		r.value(m["size"])
	}
	r.props(m, skip)
	if aliases, ok := m["aliases"].([]any); ok && !r.noDoc {
		r.b.WriteString(`,"aliases":[`)
		for i, a := range aliases {
			if i > 0 {
				r.b.WriteByte(',')
			}
			if s, ok := a.(string); ok && r.full {
				r.value(qualify(splitName(s, space)))
			} else {
				r.value(a)
			}
		}
		r.b.WriteByte(']')
	}
	r.b.WriteByte('}')
}

func (r *renderer) field(f any, ns string) {
	m, ok := f.(map[string]any)
	if !ok {
		r.value(f)
		return
	}
	r.b.WriteString(`{"name":`)
	r.value(m["name"])
	r.b.WriteString(`,"type":`)
	r.schema(m["type"], ns)
	for _, k := range []string{"doc", "default"} {
		if v, ok := m[k]; ok && (k != "doc" || !r.noDoc) {
			r.b.WriteString(`,"` + k + `":`)
			r.value(v)
		}
	}
	if order, ok := m["order"]; ok && order != "ascending" {
		r.b.WriteString(`,"order":`)
		r.value(order)
	}
	if aliases, ok := m["aliases"]; ok && !r.noDoc {
		r.b.WriteString(`,"aliases":`)
		r.value(aliases)
	}
	r.props(m, fieldKeys)
	r.b.WriteByte('}')
}

// props writes the extra attributes of m (those not in skip), sorted by key.
func (r *renderer) props(m map[string]any, skip map[string]bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !skip[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.b.WriteByte(',')
		r.value(k)
		r.b.WriteByte(':')
		r.value(m[k])
	}
}

// value writes any JSON value compactly (object keys sorted, numbers as written).
func (r *renderer) value(v any) {
	if s, ok := v.(string); ok && plain(s) {
		r.b.WriteByte('"')
		r.b.WriteString(s)
		r.b.WriteByte('"')
		return
	}
	r.scratch.Reset()
	if err := r.enc.Encode(v); err != nil {
		r.b.WriteString("null")
		return
	}
	r.b.Write(bytes.TrimSuffix(r.scratch.Bytes(), []byte("\n")))
}

// plain reports whether s needs no escaping in JSON: printable ASCII without quotes or
// backslashes, as names and most attributes are.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
