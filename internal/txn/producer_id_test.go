package txn

import (
	"context"
	"testing"
)

// A block whose next ID is below the floor is dropped for a new one,
// so no reserved ID is handed out even from a block taken before it.
func TestProducerIDsSkipTheFloor(t *testing.T) {
	next, floor := int64(0), int64(0)
	p := NewProducerIDs(func(_ context.Context, n int64) (int64, error) {
		first := max(next, floor)
		next = first + n
		return first, nil
	}).WithFloor(func() int64 { return floor })
	ctx := context.Background()
	id := func() int64 {
		t.Helper()
		v, err := p.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := id(); got != 0 {
		t.Fatalf("first ID %d, want 0", got)
	}
	floor = 501
	if got := id(); got != 1000 {
		t.Fatalf("ID after a floor inside the block: %d, want 1000 (a new block)", got)
	}
	floor = 11
	if got := id(); got != 1001 {
		t.Fatalf("ID after a lower floor: %d, want 1001", got)
	}
}
