package acl

import (
	"slices"

	"github.com/benbjohnson/immutable"
)

// Set is an immutable set of ACLs indexed for checks: per resource type, a
// persistent map from literal name to its ACLs, one from prefix to its
// ACLs, and the distinct prefix lengths. The zero value and nil are empty.
// Add and Remove return a new Set sharing everything unchanged.
type Set struct {
	literal  [numResourceTypes]*immutable.Map[string, []Binding]
	prefixed [numResourceTypes]*immutable.Map[string, []Binding]
	// prefixLens holds, per resource type, the lengths of the prefixes of
	// its prefixed ACLs, ascending, with how many distinct prefixes have
	// each length.
	prefixLens [numResourceTypes][]prefixLen
	n          int
}

type prefixLen struct {
	len, count int
}

// Len is the number of ACLs in s.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

func (s *Set) lookup(pattern PatternType, rt ResourceType, name string) []Binding {
	var m *immutable.Map[string, []Binding]
	if pattern == PatternLiteral {
		m = s.literal[rt]
	} else {
		m = s.prefixed[rt]
	}
	if m == nil {
		return nil
	}
	bs, _ := m.Get(name)
	return bs
}

func (s *Set) clone() *Set {
	if s == nil {
		return &Set{}
	}
	c := *s
	return &c
}

func (s *Set) put(b Binding, bs []Binding) {
	rt := b.ResourceType
	m := &s.literal[rt]
	if b.PatternType == PatternPrefixed {
		m = &s.prefixed[rt]
	}
	if *m == nil {
		*m = immutable.NewMap[string, []Binding](nil)
	}
	if len(bs) == 0 {
		*m = (*m).Delete(b.ResourceName)
	} else {
		*m = (*m).Set(b.ResourceName, bs)
	}
}

// addPrefixLen counts one more (delta 1) or one fewer (-1) distinct prefix
// of length n for rt; the slice is copied, never changed in place.
func (s *Set) addPrefixLen(rt ResourceType, n, delta int) {
	old := s.prefixLens[rt]
	i, found := slices.BinarySearchFunc(old, n, func(p prefixLen, n int) int { return p.len - n })
	next := slices.Clone(old)
	switch {
	case found && next[i].count+delta == 0:
		next = slices.Delete(next, i, i+1)
	case found:
		next[i].count += delta
	case delta > 0:
		next = slices.Insert(next, i, prefixLen{len: n, count: delta})
	}
	s.prefixLens[rt] = next
}

// Add returns s with bs added; an ACL already present is not added twice.
// added reports, per binding, whether it was new. Bindings must be valid.
func (s *Set) Add(bs []Binding) (next *Set, added []bool) {
	next = s.clone()
	added = make([]bool, len(bs))
	for i, b := range bs {
		cur := next.lookup(b.PatternType, b.ResourceType, b.ResourceName)
		if slices.Contains(cur, b) {
			continue
		}
		if b.PatternType == PatternPrefixed && len(cur) == 0 {
			next.addPrefixLen(b.ResourceType, len(b.ResourceName), 1)
		}
		nb := make([]Binding, len(cur), len(cur)+1)
		copy(nb, cur)
		next.put(b, append(nb, b))
		next.n++
		added[i] = true
	}
	return next, added
}

// Remove returns s without the given ACLs; ACLs not present are ignored.
func (s *Set) Remove(bs []Binding) *Set {
	next := s.clone()
	for _, b := range bs {
		if b.ResourceType <= ResourceAny || b.ResourceType >= numResourceTypes ||
			(b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed) {
			continue
		}
		cur := next.lookup(b.PatternType, b.ResourceType, b.ResourceName)
		i := slices.Index(cur, b)
		if i < 0 {
			continue
		}
		nb := slices.Delete(slices.Clone(cur), i, i+1)
		next.put(b, nb)
		if b.PatternType == PatternPrefixed && len(nb) == 0 {
			next.addPrefixLen(b.ResourceType, len(b.ResourceName), -1)
		}
		next.n--
	}
	return next
}

// Match returns the ACLs f selects, in canonical order (resource type,
// pattern type, name, principal, host, operation, permission), so that
// every node lists, and deletes, the same ACLs in the same order.
func (s *Set) Match(f Filter) []Binding {
	var out []Binding
	s.each(func(b Binding) {
		if f.Matches(b) {
			out = append(out, b)
		}
	})
	slices.SortFunc(out, compareBindings)
	return out
}

// All returns every ACL in canonical order.
func (s *Set) All() []Binding {
	out := make([]Binding, 0, s.Len())
	s.each(func(b Binding) { out = append(out, b) })
	slices.SortFunc(out, compareBindings)
	return out
}

func (s *Set) each(fn func(Binding)) {
	if s == nil {
		return
	}
	for rt := range numResourceTypes {
		for _, m := range []*immutable.Map[string, []Binding]{s.literal[rt], s.prefixed[rt]} {
			if m == nil {
				continue
			}
			it := m.Iterator()
			for !it.Done() {
				_, bs, _ := it.Next()
				for _, b := range bs {
					fn(b)
				}
			}
		}
	}
}

// forResource calls fn with each group of ACLs whose pattern matches the
// resource rt/name: the literal name, the literal wildcard, then every
// prefix of name that has prefixed ACLs. fn returns false to stop.
func (s *Set) forResource(rt ResourceType, name string, fn func([]Binding) bool) {
	if s == nil || rt <= ResourceAny || rt >= numResourceTypes {
		return
	}
	if m := s.literal[rt]; m != nil {
		if bs, ok := m.Get(name); ok && !fn(bs) {
			return
		}
		if name != Wildcard {
			if bs, ok := m.Get(Wildcard); ok && !fn(bs) {
				return
			}
		}
	}
	m := s.prefixed[rt]
	if m == nil {
		return
	}
	for _, pl := range s.prefixLens[rt] {
		if pl.len > len(name) {
			break
		}
		if bs, ok := m.Get(name[:pl.len]); ok && !fn(bs) {
			return
		}
	}
}
