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

// A holder with many uses holds, beyond one use, at most its fair share:
// another holder is served though the first asks for more, and the
// holder's one use past the share still completes.
func TestBudgetUsesKeepEachHolderToItsFairShare(t *testing.T) {
	b := NewBudget(100)
	first, second, third := b.NewUse("attacker"), b.NewUse("attacker"), b.NewUse("attacker")
	// Within the share (half while alone): 20 and 20.
	if !first.TryGrow(20) || !second.TryGrow(20) {
		t.Fatal("uses within the holder's share refused")
	}
	// One use may go past the share: the first grows to 70.
	if !first.TryGrow(50) {
		t.Fatal("the holder's one use past its share refused")
	}
	// No other use of the holder may then pass it.
	if second.TryGrow(5) || third.TryGrow(1) {
		t.Fatal("a second use past the holder's share granted")
	}
	normal := b.NewUse("normal")
	if !normal.TryGrow(10) {
		t.Fatal("another holder refused with room left")
	}
	waiting := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { waiting <- third.Grow(ctx, 5) }()
	select {
	case err := <-waiting:
		t.Fatalf("attacker past its share granted more: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	if got := b.Holders(); got != 2 {
		t.Fatalf("holders %d, want 2", got)
	}
	// Releasing the big use brings the attacker back within its share.
	first.Release()
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
	if second.Held() != 20 || third.Held() != 5 || b.InUse() != 35 {
		t.Fatalf("held %d and %d, in use %d; want 20, 5, 35", second.Held(), third.Held(), b.InUse())
	}
	second.Release()
	third.Release()
	normal.Release()
	if b.InUse() != 0 || b.Holders() != 0 {
		t.Fatalf("in use %d, holders %d after every release", b.InUse(), b.Holders())
	}
}

func TestBudgetUseGrowStopsWithItsContextAndForgetsTheWaiter(t *testing.T) {
	b := NewBudget(10)
	a := b.NewUse("a")
	a.TryGrow(10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	u := b.NewUse("b")
	if err := u.Grow(ctx, 1); err == nil {
		t.Fatal("grow on a full budget returned without its context ending")
	}
	if b.InUse() != 10 || b.Holders() != 1 || u.Held() != 0 {
		t.Fatalf("a failed grow left in use %d, holders %d, held %d", b.InUse(), b.Holders(), u.Held())
	}
}
