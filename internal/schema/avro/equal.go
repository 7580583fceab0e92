package avro

import (
	"sort"
	"strings"
)

// Equal reports whether s and o are one schema once their references are resolved, as Avro's
// Schema.equals finds them: the same names, fields, types, defaults, orders, symbols, sizes,
// logical types and other attributes; doc and aliases are not compared. So a schema that uses
// a type defined by a reference equals the same schema written with that type inline, which
// is how Confluent's serializers send a schema they derive from a record.
func (s *Schema) Equal(o *Schema) bool {
	return s == o || s.resolved() == o.resolved()
}

// resolved is the canonical form with every type a reference defines written inline where
// its name first appears (and by name after), without doc and aliases. A schema that defines
// a type itself defines it before any use, so two schemas that differ only in where their
// types come from get one text.
func (s *Schema) resolved() string {
	defs := map[string]namedDef{}
	names := make([]string, 0, len(s.refs))
	for n := range s.refs {
		names = append(names, n)
	}
	sort.Strings(names) // two references defining one name: the same one wins each time
	for _, n := range names {
		collectDefs(mustDecode(s.refs[n]), "", defs)
	}
	r := renderer{full: true, noDoc: true, inline: defs, defined: map[string]bool{}}
	return r.render(mustDecode(s.source))
}

// namedDef is a named type's definition as written in a referenced schema, with the namespace
// that encloses it there, which its short names are resolved in.
type namedDef struct {
	kind string
	m    map[string]any
	ns   string
}

// collectDefs adds to defs every named type defined in a decoded schema, by full name,
// keeping the first definition of a name.
func collectDefs(v any, ns string, defs map[string]namedDef) {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			collectDefs(e, ns, defs)
		}
	case map[string]any:
		switch kind := t["type"].(type) {
		case []any:
			collectDefs(kind, ns, defs)
		case map[string]any:
			collectDefs(kind, ns, defs)
		case string:
			switch kind {
			case "record", "error", "enum", "fixed":
				name, _ := t["name"].(string)
				space, short := splitName(name, ns)
				if !strings.Contains(name, ".") {
					if explicit, ok := t["namespace"].(string); ok {
						space = explicit
					}
				}
				if full := qualify(space, short); defs[full].m == nil {
					defs[full] = namedDef{kind: kind, m: t, ns: ns}
				}
				fields, _ := t["fields"].([]any)
				for _, f := range fields {
					if fm, ok := f.(map[string]any); ok {
						collectDefs(fm["type"], space, defs)
					}
				}
			case "array":
				collectDefs(t["items"], ns, defs)
			case "map":
				collectDefs(t["values"], ns, defs)
			}
		}
	}
}
