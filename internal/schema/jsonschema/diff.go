package jsonschema

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"

	sjs "github.com/santhosh-tekuri/jsonschema/v6"
)

// The comparison works on a view of each compiled schema that sorts it into one class, as
// Confluent's registry sees schemas: a schema with several kinds of constraint (a type and an
// enum, a type and an allOf) is the allOf of one part per kind; a list of types is the anyOf
// of one part per type; a schema that only refers elsewhere is what it refers to.

type class int

const (
	classEmpty class = iota // accepts everything
	classFalse              // accepts nothing
	classString
	classNumber
	classBoolean
	classNull
	classObject
	classArray
	classEnum
	classConst
	classCombined
	classNot
)

type node struct {
	class     class
	s         *sjs.Schema // where the keywords are
	part      string      // which part of s this node views, to tell nodes of one schema apart
	integer   bool        // classNumber: only integers
	criterion string      // classCombined: "allOf", "anyOf" or "oneOf"
	subs      []*node     // classCombined
	lazy      *sjs.Schema // set on a placeholder for view(lazy), so views are built on demand
}

type nodeKey struct {
	s    *sjs.Schema
	part string
}

func (n *node) key() nodeKey { return nodeKey{n.s, n.part} }

func lazy(s *sjs.Schema) *node {
	if s == nil {
		return nil
	}
	return &node{lazy: s}
}

func resolve(n *node) *node {
	if n != nil && n.lazy != nil {
		return view(n.lazy)
	}
	return n
}

// refTarget is what a "$ref" (or "$recursiveRef", "$dynamicRef") of s points to.
func refTarget(s *sjs.Schema) *sjs.Schema {
	switch {
	case s.Ref != nil:
		return s.Ref
	case s.RecursiveRef != nil:
		return s.RecursiveRef
	case s.DynamicRef != nil && s.DynamicRef.Ref != nil:
		return s.DynamicRef.Ref
	}
	return nil
}

// typesOf lists the types a schema constrains: its "type", or else the types its keywords
// apply to.
func typesOf(s *sjs.Schema) []string {
	if s.Types != nil {
		return s.Types.ToStrings()
	}
	var out []string
	if s.Properties != nil || s.Required != nil || s.AdditionalProperties != nil || s.PatternProperties != nil ||
		s.MinProperties != nil || s.MaxProperties != nil || s.Dependencies != nil || s.DependentRequired != nil ||
		s.DependentSchemas != nil || s.PropertyNames != nil || s.UnevaluatedProperties != nil {
		out = append(out, "object")
	}
	if s.Items != nil || s.AdditionalItems != nil || s.PrefixItems != nil || s.Items2020 != nil ||
		s.MinItems != nil || s.MaxItems != nil || s.UniqueItems || s.Contains != nil || s.UnevaluatedItems != nil {
		out = append(out, "array")
	}
	if s.MinLength != nil || s.MaxLength != nil || s.Pattern != nil {
		out = append(out, "string")
	}
	if s.Minimum != nil || s.Maximum != nil || s.ExclusiveMinimum != nil || s.ExclusiveMaximum != nil || s.MultipleOf != nil {
		out = append(out, "number")
	}
	return out
}

func typed(s *sjs.Schema, t string) *node {
	n := &node{s: s, part: "type:" + t}
	switch t {
	case "string":
		n.class = classString
	case "integer":
		n.class, n.integer = classNumber, true
	case "number":
		n.class = classNumber
	case "boolean":
		n.class = classBoolean
	case "null":
		n.class = classNull
	case "object":
		n.class = classObject
	case "array":
		n.class = classArray
	}
	return n
}

// view sorts a schema into its class.
func view(s *sjs.Schema) *node {
	if s == nil {
		return nil
	}
	for hops := 0; ; hops++ {
		t := refTarget(s)
		if t == nil || !onlyRef(s) {
			break
		}
		if hops > 64 {
			return &node{class: classEmpty, s: s} // a cycle of bare references accepts anything
		}
		s = t
	}
	if s.Bool != nil {
		if *s.Bool {
			return &node{class: classEmpty, s: s}
		}
		return &node{class: classFalse, s: s}
	}
	var parts []*node
	if t := refTarget(s); t != nil {
		parts = append(parts, lazy(t))
	}
	if ts := typesOf(s); len(ts) == 1 {
		parts = append(parts, typed(s, ts[0]))
	} else if len(ts) > 1 {
		any := &node{class: classCombined, s: s, part: "types", criterion: "anyOf"}
		for _, t := range ts {
			any.subs = append(any.subs, typed(s, t))
		}
		parts = append(parts, any)
	}
	if s.Enum != nil {
		parts = append(parts, &node{class: classEnum, s: s, part: "enum"})
	}
	if s.Const != nil {
		parts = append(parts, &node{class: classConst, s: s, part: "const"})
	}
	for _, c := range []struct {
		name string
		subs []*sjs.Schema
	}{{"allOf", s.AllOf}, {"anyOf", s.AnyOf}, {"oneOf", s.OneOf}} {
		if c.subs == nil {
			continue
		}
		n := &node{class: classCombined, s: s, part: c.name, criterion: c.name}
		for _, sub := range c.subs {
			n.subs = append(n.subs, lazy(sub))
		}
		parts = append(parts, n)
	}
	if s.Not != nil {
		parts = append(parts, &node{class: classNot, s: s, part: "not"})
	}
	switch len(parts) {
	case 0:
		return &node{class: classEmpty, s: s}
	case 1:
		return parts[0]
	}
	return &node{class: classCombined, s: s, part: "parts", criterion: "allOf", subs: parts}
}

// onlyRef reports whether s constrains nothing besides its reference.
func onlyRef(s *sjs.Schema) bool {
	return s.Types == nil && s.Enum == nil && s.Const == nil && s.AllOf == nil && s.AnyOf == nil &&
		s.OneOf == nil && s.Not == nil && len(typesOf(s)) == 0 && s.Bool == nil
}

// -- the comparison

type pairKey struct{ o, u nodeKey }

// maxComparisons bounds the work one check may do: combined schemas compare every pair of
// their subschemas, and a crafted schema could otherwise make that explode.
const maxComparisons = 200000

type differ struct {
	memo   map[pairKey][]Difference
	active map[pairKey]bool
	count  int
}

func isCompatible(ds []Difference) bool {
	for _, d := range ds {
		if !d.Compatible() {
			return false
		}
	}
	return true
}

func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// at moves differences found relative to a subschema to their place under path segment seg.
func at(seg string, ds []Difference) []Difference {
	out := make([]Difference, len(ds))
	for i, d := range ds {
		rest := strings.TrimPrefix(d.Path, "#/")
		p := "#/" + seg
		if rest != "" {
			p += "/" + rest
		}
		out[i] = Difference{Kind: d.Kind, Path: p}
	}
	return out
}

func diff(kind, seg string) Difference {
	return Difference{Kind: kind, Path: "#/" + seg}
}

// compare returns the differences from o (the writer) to u (the reader), with paths relative
// to the two schemas compared. Results are remembered per pair, and a pair met again while it
// is being compared (a recursive schema) counts as compatible.
func (c *differ) compare(o, u *node) []Difference {
	o, u = resolve(o), resolve(u)
	switch {
	case o == nil && u == nil:
		return nil
	case o == nil:
		return []Difference{diff("SCHEMA_ADDED", "")}
	case u == nil:
		return []Difference{diff("SCHEMA_REMOVED", "")}
	}
	key := pairKey{o.key(), u.key()}
	if ds, ok := c.memo[key]; ok {
		return ds
	}
	if c.active[key] {
		return nil
	}
	c.count++
	if c.count > maxComparisons {
		return []Difference{diff("TYPE_CHANGED", "")}
	}
	c.active[key] = true
	ds := c.nodes(o, u)
	delete(c.active, key)
	c.memo[key] = ds
	return ds
}

func (c *differ) nodes(o, u *node) []Difference {
	if o.class != classCombined && u.class == classCombined {
		if len(u.subs) == 1 {
			if ds := c.compare(o, u.subs[0]); isCompatible(ds) {
				return ds
			}
		} else if u.criterion == "anyOf" || u.criterion == "oneOf" {
			for _, sub := range u.subs {
				if ds := c.compare(o, sub); isCompatible(ds) {
					return append(append([]Difference{}, ds...), diff("SUM_TYPE_EXTENDED", ""))
				}
			}
		}
	} else if o.class == classCombined && u.class != classCombined {
		if len(o.subs) == 1 {
			if ds := c.compare(o.subs[0], u); isCompatible(ds) {
				return ds
			}
		} else if o.criterion == "allOf" {
			// Dropping all but one constraint of an allOf accepts more.
			for _, sub := range o.subs {
				if ds := c.compare(sub, u); isCompatible(ds) {
					return append(append([]Difference{}, ds...), diff("PRODUCT_TYPE_NARROWED", ""))
				}
			}
		}
	}
	if o.class != u.class {
		if o.class == classFalse || u.class == classEmpty {
			return nil
		}
		return []Difference{diff("TYPE_CHANGED", "")}
	}
	switch o.class {
	case classString:
		return stringDiff(o.s, u.s)
	case classNumber:
		return numberDiff(o, u)
	case classEnum:
		return enumDiff(o.s.Enum.Values, u.s.Enum.Values)
	case classConst:
		if jsonText(*o.s.Const) != jsonText(*u.s.Const) {
			return []Difference{diff("ENUM_ARRAY_CHANGED", "const")}
		}
	case classNot:
		// A reader whose "not" excludes less accepts more: compare the two the other way round.
		if isCompatible(c.compare(lazy(u.s.Not), lazy(o.s.Not))) {
			return []Difference{diff("NOT_TYPE_NARROWED", "not")}
		}
		return []Difference{diff("NOT_TYPE_EXTENDED", "not")}
	case classCombined:
		return c.combined(o, u)
	case classObject:
		return c.object(o.s, u.s)
	case classArray:
		return c.array(o.s, u.s)
	}
	return nil
}

func jsonText(v any) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return ""
	}
	return b.String()
}

func enumDiff(o, u []any) []Difference {
	os, us := map[string]bool{}, map[string]bool{}
	for _, v := range o {
		os[jsonText(v)] = true
	}
	for _, v := range u {
		us[jsonText(v)] = true
	}
	contains := func(a, b map[string]bool) bool {
		for k := range b {
			if !a[k] {
				return false
			}
		}
		return true
	}
	switch {
	case contains(os, us) && contains(us, os):
		return nil
	case contains(us, os):
		return []Difference{diff("ENUM_ARRAY_EXTENDED", "enum")}
	case contains(os, us):
		return []Difference{diff("ENUM_ARRAY_NARROWED", "enum")}
	}
	return []Difference{diff("ENUM_ARRAY_CHANGED", "enum")}
}

// bound compares an optional limit: added, removed, increased or decreased.
func bound(name, kw string, o, u *big.Rat) []Difference {
	switch {
	case o == nil && u == nil:
		return nil
	case o == nil:
		return []Difference{diff(name+"_ADDED", kw)}
	case u == nil:
		return []Difference{diff(name+"_REMOVED", kw)}
	}
	switch o.Cmp(u) {
	case -1:
		return []Difference{diff(name+"_INCREASED", kw)}
	case 1:
		return []Difference{diff(name+"_DECREASED", kw)}
	}
	return nil
}

func rat(i *int) *big.Rat {
	if i == nil {
		return nil
	}
	return new(big.Rat).SetInt64(int64(*i))
}

func stringDiff(o, u *sjs.Schema) []Difference {
	ds := append(bound("MAX_LENGTH", "maxLength", rat(o.MaxLength), rat(u.MaxLength)),
		bound("MIN_LENGTH", "minLength", rat(o.MinLength), rat(u.MinLength))...)
	switch {
	case o.Pattern == nil && u.Pattern != nil:
		ds = append(ds, diff("PATTERN_ADDED", "pattern"))
	case o.Pattern != nil && u.Pattern == nil:
		ds = append(ds, diff("PATTERN_REMOVED", "pattern"))
	case o.Pattern != nil && o.Pattern.String() != u.Pattern.String():
		ds = append(ds, diff("PATTERN_CHANGED", "pattern"))
	}
	return ds
}

func numberDiff(o, u *node) []Difference {
	ds := append(bound("MAXIMUM", "maximum", o.s.Maximum, u.s.Maximum),
		bound("MINIMUM", "minimum", o.s.Minimum, u.s.Minimum)...)
	ds = append(ds, bound("EXCLUSIVE_MAXIMUM", "exclusiveMaximum", o.s.ExclusiveMaximum, u.s.ExclusiveMaximum)...)
	ds = append(ds, bound("EXCLUSIVE_MINIMUM", "exclusiveMinimum", o.s.ExclusiveMinimum, u.s.ExclusiveMinimum)...)
	om, um := o.s.MultipleOf, u.s.MultipleOf
	switch {
	case om == nil && um == nil:
	case om == nil:
		ds = append(ds, diff("MULTIPLE_OF_ADDED", "multipleOf"))
	case um == nil:
		ds = append(ds, diff("MULTIPLE_OF_REMOVED", "multipleOf"))
	case om.Cmp(um) == 0:
	case om.Sign() != 0 && new(big.Rat).Quo(um, om).IsInt():
		ds = append(ds, diff("MULTIPLE_OF_EXPANDED", "multipleOf"))
	case um.Sign() != 0 && new(big.Rat).Quo(om, um).IsInt():
		ds = append(ds, diff("MULTIPLE_OF_REDUCED", "multipleOf"))
	default:
		ds = append(ds, diff("MULTIPLE_OF_CHANGED", "multipleOf"))
	}
	if o.integer != u.integer {
		if o.integer {
			ds = append(ds, diff("TYPE_EXTENDED", ""))
		} else {
			ds = append(ds, diff("TYPE_NARROWED", ""))
		}
	}
	return ds
}

// combined compares two allOf/anyOf/oneOf: the criterion may only widen (to anyOf; from a single
// subschema to oneOf or another single subschema; from allOf to a single subschema), as
// Confluent's CombinedSchemaDiff.compareCriteria allows, and the subschemas of the smaller side
// must each pair off with a compatible subschema of the other.
func (c *differ) combined(o, u *node) []Difference {
	osubs, usubs := c.distinct(o.subs), c.distinct(u.subs)
	var ds []Difference
	switch {
	case o.criterion == u.criterion:
	case u.criterion == "anyOf",
		len(osubs) == 1 && (len(usubs) == 1 || u.criterion == "oneOf"),
		len(usubs) == 1 && o.criterion == "allOf":
		ds = append(ds, diff("COMBINED_TYPE_EXTENDED", ""))
	default:
		return []Difference{diff("COMBINED_TYPE_CHANGED", "")}
	}
	if len(osubs) < len(usubs) {
		if u.criterion == "allOf" {
			ds = append(ds, diff("PRODUCT_TYPE_EXTENDED", ""))
		} else {
			ds = append(ds, diff("SUM_TYPE_EXTENDED", ""))
		}
	} else if len(osubs) > len(usubs) {
		// Fewer parts of an allOf constrain less; fewer branches of an anyOf or oneOf allow less.
		if o.criterion == "allOf" {
			ds = append(ds, diff("PRODUCT_TYPE_NARROWED", ""))
		} else {
			ds = append(ds, diff("SUM_TYPE_NARROWED", ""))
		}
	}
	edges := make([][][]Difference, len(osubs)) // edges[i][j]: the differences; nil if incompatible
	for i, os := range osubs {
		edges[i] = make([][]Difference, len(usubs))
		for j, us := range usubs {
			if sub := c.compare(os, us); isCompatible(sub) {
				edges[i][j] = at(o.criterion+"/"+strconv.Itoa(i), sub) // never nil
			}
		}
	}
	match := maxMatching(edges, len(usubs))
	for j, i := range match {
		if i >= 0 {
			ds = append(ds, edges[i][j]...)
		}
	}
	if matched(match) < min(len(osubs), len(usubs)) {
		ds = append(ds, diff("COMBINED_TYPE_SUBSCHEMAS_CHANGED", ""))
	}
	return ds
}

// distinct drops subschemas that say the same as an earlier one (each side of an allOf, anyOf
// or oneOf is a set).
func (c *differ) distinct(subs []*node) []*node {
	var out []*node
next:
	for _, s := range subs {
		for _, t := range out {
			if len(c.compare(s, t)) == 0 && len(c.compare(t, s)) == 0 {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// maxMatching pairs left and right vertices along present edges, as many as possible
// (augmenting paths); it returns, for each right vertex, its left partner or -1.
func maxMatching(edges [][][]Difference, right int) []int {
	match := make([]int, right)
	for j := range match {
		match[j] = -1
	}
	var try func(i int, seen []bool) bool
	try = func(i int, seen []bool) bool {
		for j := 0; j < right; j++ {
			if edges[i][j] == nil || seen[j] {
				continue
			}
			seen[j] = true
			if match[j] < 0 || try(match[j], seen) {
				match[j] = i
				return true
			}
		}
		return false
	}
	for i := range edges {
		try(i, make([]bool, right))
	}
	return match
}

func matched(match []int) int {
	n := 0
	for _, i := range match {
		if i >= 0 {
			n++
		}
	}
	return n
}
