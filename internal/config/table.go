package config

import (
	"fmt"
	"slices"
	"strings"
)

// newTable indexes defs. It panics on a repeated name or a default that its
// own definition refuses: both are mistakes in this package's tables, caught
// by the first test that builds them.
func newTable(kind string, defs []*Def) *Table {
	t := &Table{kind: kind, byName: make(map[string]*Def, len(defs)), defaults: make(map[string]entry, len(defs))}
	for _, d := range defs {
		if _, dup := t.byName[d.Name]; dup {
			panic(fmt.Sprintf("config: %s defined twice", d.Name))
		}
		if d.HasDefault {
			p, reason := check(d, d.Default)
			if reason != "" {
				panic(fmt.Sprintf("config: default %q of %s: %s", d.Default, d.Name, reason))
			}
			if p.s != d.Default {
				panic(fmt.Sprintf("config: default of %s is %q, canonically %q", d.Name, d.Default, p.s))
			}
		}
		t.byName[d.Name] = d
		t.defaults[d.Name] = defaultValue(d)
	}
	t.defs = slices.Clone(defs)
	slices.SortFunc(t.defs, func(a, b *Def) int { return strings.Compare(a.Name, b.Name) })
	return t
}

// parse checks name=value against t and returns the value's canonical form.
func (t *Table) parse(name, value string) (*Def, parsed, error) {
	d, ok := t.byName[name]
	if !ok {
		return nil, parsed{}, unknown(t.kind, name)
	}
	p, reason := check(d, value)
	if reason != "" {
		return nil, parsed{}, invalid(t.kind, name, value, reason)
	}
	return d, p, nil
}

// Normalize validates name=value as Validate does and returns the value in
// the canonical form Sluice stores and reports: trimmed, booleans lower case,
// integers without sign or leading zeros, lists joined by "," and doubles as
// Java prints them.
func (t *Table) Normalize(name, value string) (string, error) {
	_, p, err := t.parse(name, value)
	return p.s, err
}

// defaultValue is d's default as an effective value; tables keep them in
// Table.defaults.
func defaultValue(d *Def) entry {
	if !d.HasDefault {
		return entry{Value: Value{Def: d, IsNull: true, Source: SourceDefault}, from: d.Name}
	}
	p, _ := check(d, d.Default) // checked by newTable
	return entry{Value: Value{Def: d, Value: p.s, Source: SourceDefault}, p: p, from: d.Name}
}

// entry is an effective value with its parsed form and the name of the
// config that supplied it (log.retention.hours may supply log.retention.ms).
type entry struct {
	Value
	p    parsed
	from string
}

func (e entry) int64(name string) int64 {
	switch e.Def.Type {
	case TypeShort, TypeInt, TypeLong:
		return e.p.i
	}
	panic(fmt.Sprintf("config: %s is not an integer config", name))
}

func (e entry) float64(name string) float64 {
	switch e.Def.Type {
	case TypeShort, TypeInt, TypeLong, TypeDouble:
		return e.p.f
	}
	panic(fmt.Sprintf("config: %s is not a numeric config", name))
}

func (e entry) bool(name string) bool {
	if e.Def.Type != TypeBoolean {
		panic(fmt.Sprintf("config: %s is not a boolean config", name))
	}
	return e.p.b
}

func (e entry) list(name string) []string {
	if e.Def.Type != TypeList {
		panic(fmt.Sprintf("config: %s is not a list config", name))
	}
	return slices.Clone(e.p.list)
}

// lookupEntry finds name in values, panicking on an unknown name.
func lookupEntry(values map[string]entry, name string) entry {
	e, ok := values[name]
	if !ok {
		panic(fmt.Sprintf("config: unknown config %q", name))
	}
	return e
}

// sortedValues returns the values of t's definitions in name order.
func sortedValues(t *Table, values map[string]entry) []Value {
	out := make([]Value, 0, len(t.defs))
	for _, d := range t.defs {
		out = append(out, values[d.Name].Value)
	}
	return out
}
