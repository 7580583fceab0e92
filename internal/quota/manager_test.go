package quota

import (
	"testing"
	"time"
)

// Kafka's Rate: the sum of the samples over the time they span, at least
// (samples-1) windows; throttle = (rate - bound) / bound * that span.
func TestManagerThrottlesByKafkasFormula(t *testing.T) {
	m := NewManager(11, time.Second)
	now := time.Unix(1000, 0)
	k := SensorKey{ClientID: "c"}
	// 5 MB at once against 1 MB/s: the rate is 5 MB over 10 s = 0.5 MB/s.
	if d := m.Record(Produce, k, 1e6, 5e6, now); d != 0 {
		t.Fatalf("0.5 MB/s against 1 MB/s throttled %v", d)
	}
	// 15 MB more: 2 MB/s over 10 s, twice the bound: throttled 10 s.
	if d := m.Record(Produce, k, 1e6, 15e6, now); d != 10*time.Second {
		t.Fatalf("2 MB/s against 1 MB/s throttled %v, want 10s", d)
	}
	// Request percentage is capped at one window.
	if d := m.Record(Request, k, 10, 1000, now); d != time.Second {
		t.Fatalf("request throttle %v, want the 1s cap", d)
	}
	// After the samples age out the client starts afresh.
	if d := m.Record(Produce, k, 1e6, 1, now.Add(12*time.Second)); d != 0 {
		t.Fatalf("12 s later still throttled %v", d)
	}
}

func TestResolveFollowsKafkasPrecedence(t *testing.T) {
	quotas := map[Entity]map[string]float64{
		{ClientID: DefaultPart}:                       {ProducerByteRate: 1},
		{ClientID: Named("app")}:                      {ProducerByteRate: 2},
		{User: DefaultPart}:                           {ProducerByteRate: 3},
		{User: Named("alice"), ClientID: DefaultPart}: {ProducerByteRate: 4},
	}
	lookup := func(e Entity) (map[string]float64, bool) { q, ok := quotas[e]; return q, ok }
	for _, c := range []struct {
		user, client string
		want         float64
		key          SensorKey
	}{
		{"alice", "app", 4, SensorKey{"alice", "app"}},
		{"bob", "app", 3, SensorKey{User: "bob"}},
	} {
		v, key, ok := Resolve(lookup, ProducerByteRate, c.user, c.client)
		if !ok || v != c.want || key != c.key {
			t.Errorf("%s/%s: %v %+v %v, want %v %+v", c.user, c.client, v, key, ok, c.want, c.key)
		}
	}
	delete(quotas, Entity{User: DefaultPart})
	if v, key, _ := Resolve(lookup, ProducerByteRate, "bob", "app"); v != 2 || key != (SensorKey{ClientID: "app"}) {
		t.Errorf("bob/app without user quotas: %v %+v, want the client-id quota", v, key)
	}
	if v, _, _ := Resolve(lookup, ProducerByteRate, "bob", "other"); v != 1 {
		t.Errorf("bob/other: %v, want the default client-id quota", v)
	}
	if _, _, ok := Resolve(lookup, ConsumerByteRate, "bob", "other"); ok {
		t.Error("a key no entity sets resolved")
	}
}
