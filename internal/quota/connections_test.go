package quota

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestConnectionsPerIPMaximumAndOverrides(t *testing.T) {
	a, b, vip := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.9")
	ov, err := ParseOverrides("10.0.0.9:3, 10.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	c := NewConnections(ConnectionLimits{Max: 100, PerIP: 2, Overrides: ov})
	for i := 0; i < 2; i++ {
		if err := c.Open(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Open(a); err == nil {
		t.Fatal("a third connection from 10.0.0.1 was counted; max.connections.per.ip is 2")
	}
	if err := c.Open(b); err == nil {
		t.Fatal("10.0.0.2 has an override of 0 and was let in")
	}
	for i := 0; i < 3; i++ {
		if err := c.Open(vip); err != nil {
			t.Fatalf("override of 3 for 10.0.0.9, connection %d: %v", i+1, err)
		}
	}
	c.Close(a)
	if err := c.Open(netip.MustParseAddr("::ffff:10.0.0.1")); err != nil {
		t.Fatalf("after a close, 10.0.0.1 (as a mapped address) was refused: %v", err)
	}
	if c.Count() != 5 {
		t.Fatalf("count %d, want 5", c.Count())
	}
	if _, err := ParseOverrides("localhost:3"); err == nil {
		t.Fatal("a host name was accepted as an override")
	}
}

func TestConnectionsWaitForASlotAtTheMaximum(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	c := NewConnections(ConnectionLimits{Max: 1, PerIP: 10})
	if err := c.WaitForSlot(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Open(a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := c.WaitForSlot(ctx); err == nil {
		t.Fatal("a slot was given with max.connections open")
	}
	go func() { time.Sleep(10 * time.Millisecond); c.Close(a) }()
	if err := c.WaitForSlot(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConnectionsCreationRateDelaysAccepting(t *testing.T) {
	c := NewConnections(ConnectionLimits{Max: 1 << 30, PerIP: 1 << 30, CreationRate: 20})
	a := netip.MustParseAddr("10.0.0.1")
	start := time.Now()
	for i := 0; i < 60; i++ {
		if err := c.WaitForSlot(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.Open(a)
	}
	// 60 connections at 20/s over a two-second window: the first 20 or so
	// pass at once, the rest are spread over about two seconds.
	if took := time.Since(start); took < time.Second || took > 5*time.Second {
		t.Fatalf("60 connections at max.connection.creation.rate=20 took %v", took)
	}
}

// KIP-612: an ip entity's connection_creation_rate refuses an address's
// connections beyond that rate, other addresses unaffected.
func TestConnectionsPerIPCreationRate(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	c := NewConnections(ConnectionLimits{Max: 1 << 30, PerIP: 1 << 30})
	c.SetIPRates(func(ip netip.Addr) (float64, bool) { return 1, ip == a }) // one a second
	refused := 0
	for i := 0; i < 20; i++ {
		if err := c.Open(a); err != nil {
			refused++
		}
		if err := c.Open(b); err != nil {
			t.Fatalf("10.0.0.2 has no rate quota and was refused: %v", err)
		}
	}
	// One a second over a ten-second window lets about ten in at once.
	if refused < 5 || refused > 15 {
		t.Fatalf("%d of 20 quick connections from 10.0.0.1 refused at 1/s", refused)
	}
}

// KIP-612: a connection refused for its address's connection_creation_rate
// is not counted in that rate (Kafka un-records it), so a client retrying
// faster than the rate still gets in at the rate once it has recovered,
// and the refusal says how long to hold the connection before closing it.
func TestConnectionsRefusedByRateAreNotCounted(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	c := NewConnections(ConnectionLimits{Max: 1 << 30, PerIP: 1 << 30})
	c.SetIPRates(func(ip netip.Addr) (float64, bool) { return 2, ip == a })
	admitted := 0
	var throttled *ThrottledError
	for i := 0; i < 200; i++ {
		err := c.Open(a)
		if err == nil {
			admitted++
			c.Close(a)
			continue
		}
		if !errors.As(err, &throttled) || throttled.Throttle <= 0 || throttled.Throttle > time.Second {
			t.Fatalf("refusal %v, want a ThrottledError of at most one window", err)
		}
	}
	if admitted == 0 || throttled == nil {
		t.Fatalf("%d of 200 admitted at once; want some admitted and some refused", admitted)
	}
	// The retries above did not add to the rate: it still measures only
	// the admitted connections, below the quota once the refused ones
	// are left out.
	c.mu.Lock()
	v := c.ipRates[a].value(time.Now())
	c.mu.Unlock()
	if want := float64(admitted) / 10; v > want+0.01 {
		t.Fatalf("rate %.2f/s after %d admitted and %d refused connections; want %.2f/s", v, admitted, 200-admitted, want)
	}
}
