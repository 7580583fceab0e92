package keys

import (
	"slices"
	"testing"
)

func TestSorted(t *testing.T) {
	got := Sorted(map[string]int{"b": 1, "a": 2}, map[string]int{"c": 3, "a": 4}, nil)
	if !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("Sorted = %v", got)
	}
	if got := Sorted[int, bool](); len(got) != 0 {
		t.Errorf("Sorted() = %v", got)
	}
}
