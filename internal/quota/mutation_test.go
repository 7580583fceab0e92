package quota

import (
	"fmt"
	"testing"
	"time"
)

// KIP-599's token bucket: a burst of bound × samples × window, refilled at
// bound a second; the mutation that empties it passes and puts the client
// in debt, which strict quotas then refuse until it is paid back.
func TestMutationsBurstDebtAndRefill(t *testing.T) {
	m := NewMutations(10, time.Second) // burst: 10 s of the bound
	k := SensorKey{ClientID: "admin"}
	now := time.Unix(1000, 0)
	const bound = 2 // partitions a second: a burst of 20
	if d := m.Exceeded(k, bound, now); d != 0 {
		t.Fatalf("a new client is exceeded by %v", d)
	}
	if d := m.Record(k, bound, 20, now); d != 0 {
		t.Fatalf("the whole burst throttled %v", d)
	}
	// The bucket is empty, not in debt: one more topic of 10 partitions
	// passes and puts it 10 in debt, 5 s at 2 a second.
	if d := m.Exceeded(k, bound, now); d != 0 {
		t.Fatalf("an empty bucket is exceeded by %v", d)
	}
	if d := m.Record(k, bound, 10, now); d != 5*time.Second {
		t.Fatalf("debt of 10 at 2/s throttles %v, want 5s", d)
	}
	if d := m.Exceeded(k, bound, now.Add(time.Second)); d != 4*time.Second {
		t.Fatalf("a second later: exceeded by %v, want 4s", d)
	}
	if d := m.Exceeded(k, bound, now.Add(5*time.Second)); d != 0 {
		t.Fatalf("after the debt is paid: exceeded by %v", d)
	}
	// Refilling stops at the burst.
	if d := m.Record(k, bound, 20, now.Add(time.Hour/2)); d != 0 {
		t.Fatalf("a full burst after a long pause throttled %v", d)
	}
	if d := m.Record(k, bound, 1, now.Add(time.Hour/2)); d != 500*time.Millisecond {
		t.Fatalf("one past the burst throttled %v, want 500ms", d)
	}
}

// A bucket left in debt and then idle is dropped once its debt would be
// paid back, not kept for good.
func TestMutationBucketsInDebtAreSweptOncePaidBack(t *testing.T) {
	m := NewMutations(11, time.Second)
	t0 := time.Unix(1_000_000, 0)
	for i := range 100 {
		m.Record(SensorKey{ClientID: fmt.Sprint("client-", i)}, 1, 1000, t0) // 989 in debt
	}
	m.Record(SensorKey{ClientID: "later"}, 1, 1, t0.Add(24*time.Hour))
	m.Record(SensorKey{ClientID: "later"}, 1, 1, t0.Add(24*time.Hour+2*time.Minute))
	if n := len(m.buckets); n != 1 {
		t.Fatalf("%d buckets a day after their debt was paid back, want 1", n)
	}
}
