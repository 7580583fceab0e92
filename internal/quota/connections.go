package quota

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ConnectionLimits are Kafka's connection limits (KIP-308 overrides,
// KIP-612 rates): max.connections, max.connections.per.ip,
// max.connections.per.ip.overrides and max.connection.creation.rate.
// Kafka's defaults (2147483647) mean no limit; an override of 0 refuses
// every connection from that address.
type ConnectionLimits struct {
	Max       int
	PerIP     int
	Overrides map[netip.Addr]int
	// CreationRate is new connections accepted per second, broker-wide;
	// zero or less is no limit.
	CreationRate float64
}

// ParseOverrides parses max.connections.per.ip.overrides: host:count
// pairs separated by commas. Hosts are IP addresses (Sluice resolves no
// names).
func ParseOverrides(s string) (map[netip.Addr]int, error) {
	out := map[netip.Addr]int{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		i := strings.LastIndexByte(kv, ':')
		if i <= 0 {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: %q: want host:count", kv)
		}
		ip, err := netip.ParseAddr(strings.Trim(kv[:i], "[]"))
		if err != nil {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: %q: the host must be an IP address: %w", kv, err)
		}
		n, err := strconv.Atoi(kv[i+1:])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("max.connections.per.ip.overrides: %q: bad count", kv)
		}
		out[ip.Unmap()] = n
	}
	return out, nil
}

// Connections counts open connections against ConnectionLimits, as Kafka's
// ConnectionQuotas does: a connection over the broker-wide maximum waits
// for a slot (the listener stops accepting), one over its address's
// maximum is refused, and accepting slows down to the creation rate.
type Connections struct {
	mu     sync.Mutex
	limits ConnectionLimits
	total  int
	perIP  map[netip.Addr]int
	freed  chan struct{}
	rate   *rate
	// ipRate returns an address's connection_creation_rate quota (ip
	// entities, KIP-612); ipRates measure the addresses that have one.
	ipRate    func(netip.Addr) (float64, bool)
	ipRates   map[netip.Addr]*rate
	lastSweep time.Time
}

// SetIPRates sets where Open finds an address's connection_creation_rate
// quota (the cluster's ip quota entities); nil is none.
func (c *Connections) SetIPRates(f func(netip.Addr) (float64, bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ipRate = f
}

// NewConnections returns a counter with limits.
func NewConnections(limits ConnectionLimits) *Connections {
	c := &Connections{perIP: map[netip.Addr]int{}, freed: make(chan struct{}), ipRates: map[netip.Addr]*rate{}}
	c.SetLimits(limits)
	return c
}

// SetLimits replaces the limits (dynamic broker configs).
func (c *Connections) SetLimits(l ConnectionLimits) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.CreationRate != c.limits.CreationRate || c.rate == nil {
		c.rate = newRate(2, time.Second, time.Now())
	}
	c.limits = l
	close(c.freed)
	c.freed = make(chan struct{})
}

// WaitForSlot returns once fewer than the broker-wide maximum connections
// are open and the creation rate allows another, or ctx's error. The
// listener calls it before accepting.
func (c *Connections) WaitForSlot(ctx context.Context) error {
	for {
		c.mu.Lock()
		l := c.limits
		var delay time.Duration
		if l.CreationRate > 0 {
			now := time.Now()
			if v := c.rate.value(now); v >= l.CreationRate {
				delay = max(c.rate.throttle(l.CreationRate, now), 10*time.Millisecond)
			}
		}
		full := c.total >= l.Max
		freed := c.freed
		c.mu.Unlock()
		switch {
		case full:
			select {
			case <-freed:
			case <-ctx.Done():
				return ctx.Err()
			}
		case delay > 0:
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		default:
			return nil
		}
	}
}

// Open counts a new connection from ip. It returns an error, counting
// nothing, when ip already has its maximum (max.connections.per.ip or its
// override) or, as a *ThrottledError, when the connection would take ip
// over its connection_creation_rate; the connection is then to be closed.
func (c *Connections) Open(ip netip.Addr) error { return c.open(ip, true) }

// OpenProtected is Open for a connection on the inter-broker listener
// beside others: as in Kafka it counts against its address's limits and
// in the total, but not in the broker-wide max.connection.creation.rate,
// which it never waits for (Server.waitToAccept).
func (c *Connections) OpenProtected(ip netip.Addr) error { return c.open(ip, false) }

func (c *Connections) open(ip netip.Addr, brokerRate bool) error {
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.limits.PerIP
	if n, ok := c.limits.Overrides[ip]; ok {
		limit = n
	}
	if c.perIP[ip] >= limit {
		return fmt.Errorf("quota: %s has %d connections open, the most max.connections.per.ip allows", ip, c.perIP[ip])
	}
	now := time.Now()
	if c.ipRate != nil {
		if bound, ok := c.ipRate(ip); ok {
			r := c.ipRates[ip]
			if r == nil {
				r = newRate(ipRateSamples, time.Second, now)
				c.ipRates[ip] = r
			}
			r.record(1, now)
			if d := r.throttle(bound, now); d > 0 {
				// A refused connection is not counted, so a client that
				// keeps retrying gets in once its rate allows it again.
				r.record(-1, now)
				return &ThrottledError{IP: ip, Rate: bound, Throttle: min(d, r.window)}
			}
		}
		c.sweepLocked(now)
	}
	c.perIP[ip]++
	c.total++
	if brokerRate {
		c.rate.record(1, now)
	}
	return nil
}

// ThrottledError refuses a connection from an address over its
// connection_creation_rate quota (Kafka's ConnectionThrottledException).
// Throttle is how long the address's rate takes to come back under the
// quota, at most one quota window as in Kafka; Kafka closes the refused
// connection only after that delay, so a client that reconnects at once
// does not spin.
type ThrottledError struct {
	IP       netip.Addr
	Rate     float64
	Throttle time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("quota: %s opens connections faster than its connection_creation_rate of %g a second (throttled for %v)", e.IP, e.Rate, e.Throttle)
}

// ipRateSamples is Kafka's default quota.window.num, used for the
// per-address connection rates.
const ipRateSamples = 11

// sweepLocked forgets per-address rates idle for a minute, at most once a
// minute.
func (c *Connections) sweepLocked(now time.Time) {
	if now.Sub(c.lastSweep) < time.Minute {
		return
	}
	c.lastSweep = now
	for ip, r := range c.ipRates {
		if now.Sub(r.last) > time.Minute {
			delete(c.ipRates, ip)
		}
	}
}

// Close counts a connection from ip as closed.
func (c *Connections) Close(ip netip.Addr) {
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.perIP[ip]--; c.perIP[ip] <= 0 {
		delete(c.perIP, ip)
	}
	c.total--
	close(c.freed)
	c.freed = make(chan struct{})
}

// Count is how many connections are open.
func (c *Connections) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}
