package jsonschema

import (
	"slices"
	"sort"
	"strconv"

	"github.com/sluice-io/sluice/internal/schema/internal/keys"

	sjs "github.com/santhosh-tekuri/jsonschema/v6"
)

// An object's content model is open when any extra property may hold any value (no
// additionalProperties, or true, and no patternProperties), partially open when extra
// properties must match a schema, and closed when additionalProperties is false.

func isTrue(s *sjs.Schema) bool  { return s != nil && s.Bool != nil && *s.Bool }
func isFalse(s *sjs.Schema) bool { return s != nil && s.Bool != nil && !*s.Bool }

func openObject(s *sjs.Schema) bool {
	if len(s.PatternProperties) > 0 {
		return false
	}
	switch a := s.AdditionalProperties.(type) {
	case bool:
		if !a {
			return false
		}
	case *sjs.Schema:
		return false
	}
	return s.UnevaluatedProperties == nil || isTrue(s.UnevaluatedProperties)
}

// partialSchema is the schema an extra property named name must match, or nil.
func partialSchema(s *sjs.Schema, name string) *sjs.Schema {
	pats := make([]sjs.Regexp, 0, len(s.PatternProperties))
	for re := range s.PatternProperties {
		pats = append(pats, re)
	}
	sort.Slice(pats, func(i, j int) bool { return pats[i].String() < pats[j].String() })
	for _, re := range pats {
		if re.MatchString(name) {
			return s.PatternProperties[re]
		}
	}
	if a, ok := s.AdditionalProperties.(*sjs.Schema); ok {
		return a
	}
	if s.AdditionalProperties == nil && s.UnevaluatedProperties != nil && s.UnevaluatedProperties.Bool == nil {
		return s.UnevaluatedProperties
	}
	return nil
}

func permitsAdditional(v any) bool {
	b, ok := v.(bool)
	return !ok || b
}

func additionalSchema(v any) *sjs.Schema {
	s, _ := v.(*sjs.Schema)
	return s
}

func (c *differ) object(o, u *sjs.Schema) []Difference {
	var ds []Difference
	// required, for properties both versions declare
	for _, k := range keys.Sorted(o.Properties) {
		us, ok := u.Properties[k]
		if !ok {
			continue
		}
		seg := "required/" + escape(k)
		or, ur := slices.Contains(o.Required, k), slices.Contains(u.Required, k)
		switch {
		case or && !ur:
			ds = append(ds, diff("REQUIRED_ATTRIBUTE_REMOVED", seg))
		case !or && ur && us.Default != nil:
			ds = append(ds, diff("REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", seg))
		case !or && ur:
			ds = append(ds, diff("REQUIRED_ATTRIBUTE_ADDED", seg))
		}
	}
	// properties
	for _, k := range keys.Sorted(o.Properties, u.Properties) {
		seg := "properties/" + escape(k)
		os, us := o.Properties[k], u.Properties[k]
		switch {
		case us == nil:
			// Removing a property is safe when the reader still accepts whatever it held.
			if openObject(u) {
				ds = append(ds, diff("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", seg))
			} else if p := partialSchema(u, k); p != nil {
				sub := c.compare(lazy(os), lazy(p))
				ds = append(ds, at(seg, sub)...)
				if isCompatible(sub) {
					ds = append(ds, diff("PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg))
				} else {
					ds = append(ds, diff("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg))
				}
			} else if view(os).class == classFalse {
				ds = append(ds, diff("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", seg))
			} else {
				ds = append(ds, diff("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", seg))
			}
		case os == nil:
			// Adding a property is safe when the writer could not have put anything else there.
			if openObject(o) {
				if view(us).class == classEmpty {
					ds = append(ds, diff("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", seg))
				} else {
					ds = append(ds, diff("PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", seg))
				}
				continue
			}
			if p := partialSchema(o, k); p != nil {
				sub := c.compare(lazy(p), lazy(us))
				ds = append(ds, at(seg, sub)...)
				if isCompatible(sub) {
					ds = append(ds, diff("PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg))
				} else {
					ds = append(ds, diff("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg))
				}
			}
			switch {
			case slices.Contains(u.Required, k) && us.Default != nil:
				ds = append(ds, diff("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL", seg))
			case slices.Contains(u.Required, k):
				ds = append(ds, diff("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", seg))
			default:
				ds = append(ds, diff("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", seg))
			}
		default:
			ds = append(ds, at(seg, c.compare(lazy(os), lazy(us)))...)
		}
	}
	ds = append(ds, c.dependencies(o, u)...)
	// additionalProperties
	switch op, up := permitsAdditional(o.AdditionalProperties), permitsAdditional(u.AdditionalProperties); {
	case op != up && up:
		ds = append(ds, diff("ADDITIONAL_PROPERTIES_ADDED", "additionalProperties"))
	case op != up:
		ds = append(ds, diff("ADDITIONAL_PROPERTIES_REMOVED", "additionalProperties"))
	default:
		oa, ua := additionalSchema(o.AdditionalProperties), additionalSchema(u.AdditionalProperties)
		switch {
		case oa == nil && ua != nil:
			ds = append(ds, diff("ADDITIONAL_PROPERTIES_NARROWED", "additionalProperties"))
		case oa != nil && ua == nil:
			ds = append(ds, diff("ADDITIONAL_PROPERTIES_EXTENDED", "additionalProperties"))
		case oa != nil:
			ds = append(ds, at("additionalProperties", c.compare(lazy(oa), lazy(ua)))...)
		}
	}
	ds = append(ds, bound("MAX_PROPERTIES", "maxProperties", rat(o.MaxProperties), rat(u.MaxProperties))...)
	ds = append(ds, bound("MIN_PROPERTIES", "minProperties", rat(o.MinProperties), rat(u.MinProperties))...)
	return ds
}

// dependencyLists and dependencySchemas gather draft 4-7 "dependencies" and 2019+
// "dependentRequired" / "dependentSchemas" into one shape.
func dependencyLists(s *sjs.Schema) map[string][]string {
	out := map[string][]string{}
	for k, v := range s.Dependencies {
		if l, ok := v.([]string); ok {
			out[k] = l
		}
	}
	for k, l := range s.DependentRequired {
		out[k] = l
	}
	return out
}

func dependencySchemas(s *sjs.Schema) map[string]*sjs.Schema {
	out := map[string]*sjs.Schema{}
	for k, v := range s.Dependencies {
		if d, ok := v.(*sjs.Schema); ok {
			out[k] = d
		}
	}
	for k, d := range s.DependentSchemas {
		out[k] = d
	}
	return out
}

func (c *differ) dependencies(o, u *sjs.Schema) []Difference {
	var ds []Difference
	ol, ul := dependencyLists(o), dependencyLists(u)
	for _, k := range keys.Sorted(ol, ul) {
		seg := "dependencies/" + escape(k)
		a, aok := ol[k]
		b, bok := ul[k]
		switch {
		case !bok:
			ds = append(ds, diff("DEPENDENCY_ARRAY_REMOVED", seg))
		case !aok:
			ds = append(ds, diff("DEPENDENCY_ARRAY_ADDED", seg))
		default:
			ab, ba := subset(a, b), subset(b, a)
			switch {
			case ab && ba:
			case ab:
				ds = append(ds, diff("DEPENDENCY_ARRAY_EXTENDED", seg))
			case ba:
				ds = append(ds, diff("DEPENDENCY_ARRAY_NARROWED", seg))
			default:
				ds = append(ds, diff("DEPENDENCY_ARRAY_CHANGED", seg))
			}
		}
	}
	os, us := dependencySchemas(o), dependencySchemas(u)
	for _, k := range keys.Sorted(os, us) {
		seg := "dependencies/" + escape(k)
		switch {
		case us[k] == nil:
			ds = append(ds, diff("DEPENDENCY_SCHEMA_REMOVED", seg))
		case os[k] == nil:
			ds = append(ds, diff("DEPENDENCY_SCHEMA_ADDED", seg))
		default:
			ds = append(ds, at(seg, c.compare(lazy(os[k]), lazy(us[k])))...)
		}
	}
	return ds
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

// Arrays: "items" as one schema for every item, or a tuple of schemas by position (draft 4-7
// "items": [...], 2020-12 "prefixItems") whose content model is set by what follows the tuple
// (draft 4-7 "additionalItems", 2020-12 "items").

func allItems(s *sjs.Schema) *sjs.Schema {
	if it, ok := s.Items.(*sjs.Schema); ok {
		return it
	}
	if s.PrefixItems == nil {
		return s.Items2020
	}
	return nil
}

func tuple(s *sjs.Schema) []*sjs.Schema {
	if it, ok := s.Items.([]*sjs.Schema); ok {
		return it
	}
	return s.PrefixItems
}

// rest returns whether items after the tuple are allowed, and the schema they must match.
func rest(s *sjs.Schema) (bool, *sjs.Schema) {
	var v any
	switch {
	case s.PrefixItems != nil:
		if s.Items2020 != nil {
			v = s.Items2020
		}
	default:
		v = s.AdditionalItems
	}
	switch a := v.(type) {
	case bool:
		return a, nil
	case *sjs.Schema:
		if a.Bool != nil {
			return *a.Bool, nil
		}
		return true, a
	}
	return true, nil
}

func openArray(s *sjs.Schema) bool {
	permits, schema := rest(s)
	return permits && schema == nil && (s.UnevaluatedItems == nil || isTrue(s.UnevaluatedItems))
}

func partialItems(s *sjs.Schema) *sjs.Schema {
	if _, schema := rest(s); schema != nil {
		return schema
	}
	if u := s.UnevaluatedItems; u != nil && u.Bool == nil {
		return u
	}
	return nil
}

func (c *differ) array(o, u *sjs.Schema) []Difference {
	ds := at("items", c.compare(lazy(allItems(o)), lazy(allItems(u))))
	ot, ut := tuple(o), tuple(u)
	for i := 0; i < len(ot) || i < len(ut); i++ {
		seg := "items/" + strconv.Itoa(i)
		switch {
		case i < len(ot) && i < len(ut):
			ds = append(ds, at(seg, c.compare(lazy(ot[i]), lazy(ut[i])))...)
		case i < len(ot): // an item the reader's tuple lacks
			if openArray(u) {
				ds = append(ds, diff("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", seg))
			} else if p := partialItems(u); p != nil {
				sub := c.compare(lazy(ot[i]), lazy(p))
				ds = append(ds, at(seg, sub)...)
				if isCompatible(sub) {
					ds = append(ds, diff("ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg))
				} else {
					ds = append(ds, diff("ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg))
				}
			} else if view(ot[i]).class == classFalse {
				ds = append(ds, diff("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", seg))
			} else {
				ds = append(ds, diff("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", seg))
			}
		default: // an item the writer's tuple lacks
			if openArray(o) {
				if view(ut[i]).class == classEmpty {
					ds = append(ds, diff("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", seg))
				} else {
					ds = append(ds, diff("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", seg))
				}
			} else if p := partialItems(o); p != nil {
				sub := c.compare(lazy(p), lazy(ut[i]))
				ds = append(ds, at(seg, sub)...)
				if isCompatible(sub) {
					ds = append(ds, diff("ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg))
				} else {
					ds = append(ds, diff("ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", seg))
				}
			} else {
				ds = append(ds, diff("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", seg))
			}
		}
	}
	op, os := rest(o)
	up, us := rest(u)
	switch {
	case op != up && op:
		ds = append(ds, diff("ADDITIONAL_ITEMS_REMOVED", "additionalItems"))
	case op != up:
		ds = append(ds, diff("ADDITIONAL_ITEMS_ADDED", "additionalItems"))
	case os == nil && us != nil:
		ds = append(ds, diff("ADDITIONAL_ITEMS_NARROWED", "additionalItems"))
	case os != nil && us == nil:
		ds = append(ds, diff("ADDITIONAL_ITEMS_EXTENDED", "additionalItems"))
	case os != nil:
		ds = append(ds, at("additionalItems", c.compare(lazy(os), lazy(us)))...)
	}
	ds = append(ds, bound("MAX_ITEMS", "maxItems", rat(o.MaxItems), rat(u.MaxItems))...)
	ds = append(ds, bound("MIN_ITEMS", "minItems", rat(o.MinItems), rat(u.MinItems))...)
	if o.UniqueItems != u.UniqueItems {
		if o.UniqueItems {
			ds = append(ds, diff("UNIQUE_ITEMS_REMOVED", "uniqueItems"))
		} else {
			ds = append(ds, diff("UNIQUE_ITEMS_ADDED", "uniqueItems"))
		}
	}
	ds = append(ds, bound("MAX_CONTAINS", "maxContains", rat(o.MaxContains), rat(u.MaxContains))...)
	ds = append(ds, bound("MIN_CONTAINS", "minContains", rat(o.MinContains), rat(u.MinContains))...)
	return ds
}
