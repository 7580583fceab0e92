package pmap

import (
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// check fails unless m holds exactly want's entries, through every reader.
func check[K comparable, V comparable](t *testing.T, m Map[K, V], want map[K]V) {
	t.Helper()
	if m.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", m.Len(), len(want))
	}
	got := maps.Collect(m.All())
	if !maps.Equal(got, want) {
		t.Fatalf("All = %v, want %v", got, want)
	}
	if n := len(slices.Collect(m.Keys())); n != len(want) {
		t.Fatalf("Keys yields %d keys, want %d", n, len(want))
	}
	if n := len(slices.Collect(m.Values())); n != len(want) {
		t.Fatalf("Values yields %d values, want %d", n, len(want))
	}
	for k, v := range want {
		if got, ok := m.Get(k); !ok || got != v || m.Value(k) != v || !m.Has(k) {
			t.Fatalf("Get(%v) = %v, %v; want %v, true", k, got, ok, v)
		}
	}
}

func TestZeroMapIsEmpty(t *testing.T) {
	t.Parallel()
	var m Map[string, int]
	check(t, m, map[string]int{})
	if v, ok := m.Get("a"); ok || v != 0 {
		t.Fatalf("Get on the zero Map = %v, %v", v, ok)
	}
	if m.Without("a") != m {
		t.Fatal("Without on an absent key made a new Map")
	}
	check(t, m.With("a", 1), map[string]int{"a": 1})
	check(t, Of(map[string]int{}), map[string]int{})
}

// Random changes through With, Without and Builder runs, checked against
// a Go map after each step; every earlier version must still read as it
// did when it was made.
func TestChangesLeaveEveryEarlierMapAsItWas(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	type version struct {
		m    Map[string, int]
		want map[string]int
	}
	var versions []version
	m, model := Map[string, int]{}, map[string]int{}
	for step := range 2000 {
		key := strconv.Itoa(rng.IntN(600))
		switch op := rng.IntN(10); {
		case op < 5:
			m = m.With(key, step)
			model[key] = step
		case op < 8:
			m = m.Without(key)
			delete(model, key)
		default: // a run of changes in one Builder
			b := m.Builder()
			for range rng.IntN(50) {
				k := strconv.Itoa(rng.IntN(600))
				if rng.IntN(3) == 0 {
					b.Delete(k)
					delete(model, k)
				} else {
					b.Set(k, step)
					model[k] = step
				}
				if got, ok := b.Get(k); ok != (model[k] == step) || (ok && got != step) {
					t.Fatalf("step %d: Builder.Get(%s) = %d, %v", step, k, got, ok)
				}
			}
			if b.Len() != len(model) {
				t.Fatalf("step %d: Builder.Len = %d, want %d", step, b.Len(), len(model))
			}
			m = b.Map()
		}
		if step%20 == 0 {
			check(t, m, model)
		}
		want, wantOK := model[key]
		if got, ok := m.Get(key); m.Len() != len(model) || got != want || ok != wantOK {
			t.Fatalf("step %d: Len %d, Get(%s) = %d, %v; want Len %d, %d, %v", step, m.Len(), key, got, ok, len(model), want, wantOK)
		}
		versions = append(versions, version{m, maps.Clone(model)})
	}
	for i, v := range versions {
		if i%97 == 0 {
			check(t, v.m, v.want)
		}
	}
}

// A Builder that goes on after Map copies again: the Map it returned
// does not see its later changes.
func TestBuilderChangesAfterMapDoNotReachIt(t *testing.T) {
	t.Parallel()
	var b Builder[int, string]
	for i := range 1000 {
		b.Set(i, "a")
	}
	first := b.Map()
	for i := range 1000 {
		b.Set(i, "b")
	}
	b.Delete(7)
	b.Set(5000, "c")
	second := b.Map()
	want := map[int]string{}
	for i := range 1000 {
		want[i] = "a"
	}
	check(t, first, want)
	for i := range 1000 {
		want[i] = "b"
	}
	delete(want, 7)
	want[5000] = "c"
	check(t, second, want)
}

func TestAllStopsWhenYieldReturnsFalse(t *testing.T) {
	t.Parallel()
	m := Of(map[int]int{1: 1, 2: 2, 3: 3, 4: 4})
	n := 0
	for range m.All() {
		n++
		if n == 2 {
			break
		}
	}
	for range m.Keys() {
		break
	}
	for range m.Values() {
		break
	}
	if n != 2 {
		t.Fatalf("iterated %d entries after break at 2", n)
	}
}

func TestArrayKeys(t *testing.T) {
	t.Parallel()
	type id [16]byte
	m := Of(map[id]string{{1}: "a", {2}: "b"})
	m = m.With(id{3}, "c").Without(id{1})
	check(t, m, map[id]string{{2}: "b", {3}: "c"})
}

// One change to a map of 10,000 entries copies one shard, not the map.
func BenchmarkWithOneOf10k(b *testing.B) {
	var bl Builder[string, int]
	for i := range 10000 {
		bl.Set(strconv.Itoa(i), i)
	}
	m := bl.Map()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m = m.With(strconv.Itoa(i%10000), i)
	}
}

func BenchmarkGet(b *testing.B) {
	m := Map[string, int]{}
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
		m = m.With(keys[i], i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := m.Get(keys[i%len(keys)]); !ok {
			b.Fatal("missing")
		}
	}
}
