package quota

import (
	"context"
	"testing"
	"time"
)

func TestBudgetGrantsSmallAmountsWhileALargeOneWaits(t *testing.T) {
	b := NewBudget(100)
	if !b.TryAcquire(60) {
		t.Fatal("60 of 100 refused")
	}
	large := make(chan error, 1)
	go func() { large <- b.Acquire(context.Background(), 50) }()
	// Not FIFO: 30 fits beside the 60 and is granted though 50 waits.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.Acquire(ctx, 30); err != nil {
		t.Fatalf("small acquire behind a waiting large one: %v", err)
	}
	select {
	case err := <-large:
		t.Fatalf("50 granted with 90 of 100 in use: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	b.Release(60)
	if err := <-large; err != nil {
		t.Fatal(err)
	}
	if got := b.InUse(); got != 80 {
		t.Fatalf("in use %d, want 80", got)
	}
}

func TestBudgetClampsOversizedAmountsToTheWholeBudget(t *testing.T) {
	b := NewBudget(100)
	if err := b.Acquire(context.Background(), 1000); err != nil {
		t.Fatal(err)
	}
	if b.InUse() != 100 || b.TryAcquire(1) {
		t.Fatalf("an oversized acquire should hold the whole budget alone (in use %d)", b.InUse())
	}
	b.Release(1000)
	if b.InUse() != 0 {
		t.Fatalf("in use %d after release", b.InUse())
	}
}

func TestBudgetAcquireStopsWithItsContext(t *testing.T) {
	b := NewBudget(10)
	b.TryAcquire(10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.Acquire(ctx, 1); err == nil {
		t.Fatal("acquire of a full budget returned without its context ending")
	}
	if b.InUse() != 10 {
		t.Fatalf("a failed acquire took bytes: in use %d", b.InUse())
	}
}

func TestDefaultDecompressionBudgetIsASmallFractionOfMemory(t *testing.T) {
	for _, c := range []struct{ mem, want int64 }{
		{0, 256 << 20},
		{512 << 20, 32 << 20},
		{4 << 30, 128 << 20},
		{64 << 30, 256 << 20},
	} {
		if got := DefaultDecompressionBudget(c.mem); got != c.want {
			t.Errorf("memory %d: budget %d, want %d", c.mem, got, c.want)
		}
	}
}
