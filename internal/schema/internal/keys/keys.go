// Package keys gives the keys of maps in order, for comparisons that must report their
// findings in the same order every time.
package keys

import (
	"cmp"
	"maps"
	"slices"
)

// Sorted returns the keys of all the maps, each once, in ascending order.
func Sorted[K cmp.Ordered, V any](ms ...map[K]V) []K {
	var out []K
	for _, m := range ms {
		out = slices.AppendSeq(out, maps.Keys(m))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
