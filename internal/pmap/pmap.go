// Package pmap is a persistent hash map: a Map is never changed once made,
// and a change makes a new Map that shares everything it does not touch
// with the old one. Keys are spread by hash over a fixed array of shards,
// each a small Go map, and a change copies the array of shard pointers
// and the one shard it touches, so its cost grows with the map's size
// divided by the number of shards, not with the map's size. Readers on
// other goroutines may hold and read any Map without locks.
//
// A Builder makes a run of changes to one Map, each shard copied at most
// once for the whole run, for changes that touch many keys at once.
//
// Iteration order is unspecified, as with Go maps.
package pmap

import (
	"hash/maphash"
	"iter"
	"maps"
)

// shardCount is a power of two: with 10,000 keys a shard holds about 40,
// and a change copies those plus the array of shardCount pointers.
const shardCount = 256

// Map is a persistent map from K to V. The zero Map is empty and ready to
// use. Maps are values: copying one is cheap and shares its contents.
type Map[K comparable, V any] struct {
	r *root[K, V] // nil: empty
}

type root[K comparable, V any] struct {
	seed   maphash.Seed
	n      int
	shards [shardCount]map[K]V
}

func newRoot[K comparable, V any]() *root[K, V] {
	return &root[K, V]{seed: maphash.MakeSeed()}
}

func (r *root[K, V]) shard(k K) int {
	return int(maphash.Comparable(r.seed, k) & (shardCount - 1))
}

// Of returns a Map holding m's entries.
func Of[K comparable, V any](m map[K]V) Map[K, V] {
	var b Builder[K, V]
	for k, v := range m {
		b.Set(k, v)
	}
	return b.Map()
}

// Get returns the value of k and whether k is present.
func (m Map[K, V]) Get(k K) (V, bool) {
	if m.r == nil {
		var zero V
		return zero, false
	}
	v, ok := m.r.shards[m.r.shard(k)][k]
	return v, ok
}

// Value returns the value of k, or the zero V when k is absent.
func (m Map[K, V]) Value(k K) V {
	v, _ := m.Get(k)
	return v
}

// Has reports whether k is present.
func (m Map[K, V]) Has(k K) bool {
	_, ok := m.Get(k)
	return ok
}

// Len returns the number of entries.
func (m Map[K, V]) Len() int {
	if m.r == nil {
		return 0
	}
	return m.r.n
}

// All yields every entry, in no particular order.
func (m Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		if m.r == nil {
			return
		}
		for _, s := range m.r.shards {
			for k, v := range s {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// Keys yields every key, in no particular order.
func (m Map[K, V]) Keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		for k := range m.All() {
			if !yield(k) {
				return
			}
		}
	}
}

// Values yields every value, in no particular order.
func (m Map[K, V]) Values() iter.Seq[V] {
	return func(yield func(V) bool) {
		for _, v := range m.All() {
			if !yield(v) {
				return
			}
		}
	}
}

// With returns a Map with k set to v; m is unchanged.
func (m Map[K, V]) With(k K, v V) Map[K, V] {
	b := m.Builder()
	b.Set(k, v)
	return b.Map()
}

// Without returns a Map without k; m is unchanged. It returns m itself
// when k is absent.
func (m Map[K, V]) Without(k K) Map[K, V] {
	if !m.Has(k) {
		return m
	}
	b := m.Builder()
	b.Delete(k)
	return b.Map()
}

// Builder returns a Builder starting from m.
func (m Map[K, V]) Builder() *Builder[K, V] {
	return &Builder[K, V]{r: m.r}
}

// Builder makes a run of changes to a Map. It copies the array of shards
// the first time it changes anything, and each shard the first time it
// changes that shard; later changes in the run write into those copies.
// Maps the Builder started from, and those Map returned, never change.
// The zero Builder starts from the empty Map. A Builder is not safe for
// concurrent use.
type Builder[K comparable, V any] struct {
	r       *root[K, V]
	ownRoot bool                    // r is this run's copy
	owned   [shardCount / 64]uint64 // shards of r that are this run's copies
}

// Get returns the value of k as the Builder has it.
func (b *Builder[K, V]) Get(k K) (V, bool) { return Map[K, V]{b.r}.Get(k) }

// Len returns the number of entries as the Builder has them.
func (b *Builder[K, V]) Len() int { return Map[K, V]{b.r}.Len() }

// All yields every entry as the Builder has them, in no particular order.
// The Builder must not change until the iteration ends.
func (b *Builder[K, V]) All() iter.Seq2[K, V] { return Map[K, V]{b.r}.All() }

// Keys yields every key as the Builder has them, in no particular order.
// The Builder must not change until the iteration ends.
func (b *Builder[K, V]) Keys() iter.Seq[K] { return Map[K, V]{b.r}.Keys() }

// writable returns k's shard, copied for this run if it was not already.
func (b *Builder[K, V]) writable(k K) map[K]V {
	switch {
	case b.r == nil:
		b.r, b.ownRoot = newRoot[K, V](), true
	case !b.ownRoot:
		r := *b.r
		b.r, b.ownRoot = &r, true
	}
	i := b.r.shard(k)
	if b.owned[i/64]&(1<<(i%64)) == 0 {
		s := b.r.shards[i]
		if s == nil {
			s = make(map[K]V, 1)
		} else {
			s = maps.Clone(s)
		}
		b.r.shards[i] = s
		b.owned[i/64] |= 1 << (i % 64)
	}
	return b.r.shards[i]
}

// Set sets k to v.
func (b *Builder[K, V]) Set(k K, v V) {
	s := b.writable(k)
	if _, ok := s[k]; !ok {
		b.r.n++
	}
	s[k] = v
}

// Delete removes k; it does nothing when k is absent.
func (b *Builder[K, V]) Delete(k K) {
	if _, ok := b.Get(k); !ok {
		return
	}
	delete(b.writable(k), k)
	b.r.n--
}

// Map returns the Map as changed so far. It ends the run: the Builder
// stays usable, but its next change copies again what it touches, so the
// returned Map never changes.
func (b *Builder[K, V]) Map() Map[K, V] {
	b.ownRoot, b.owned = false, [shardCount / 64]uint64{}
	return Map[K, V]{b.r}
}
