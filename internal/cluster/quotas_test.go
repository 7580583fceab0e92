package cluster

import (
	"bytes"
	"log/slog"
	"reflect"
	"testing"

	"github.com/sluice-io/sluice/internal/quota"
)

// KIP-546: client quotas are set and removed per entity, each command a
// delta on the previous image, and survive a snapshot.
func TestClientQuotasApplyAndSnapshot(t *testing.T) {
	t.Parallel()
	f := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	img := f.state
	apply := func(cmd Command) error {
		t.Helper()
		data, err := encodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCommand(data)
		if err != nil || !reflect.DeepEqual(got, cmd) {
			t.Fatalf("round trip of %#v: %#v, %v", cmd, got, err)
		}
		next, err := f.applyCommand(img, data, img.Index+1)
		if err == nil {
			img = next
		}
		return err
	}
	alice := quota.Entity{User: quota.Named("alice")}
	aliceApp := quota.Entity{User: quota.Named("alice"), ClientID: quota.Named("app")}
	defaultClient := quota.Entity{ClientID: quota.DefaultPart}
	for _, cmd := range []Command{
		AlterClientQuota{Entity: alice, Set: map[string]float64{quota.ProducerByteRate: 1 << 20, quota.ConsumerByteRate: 2 << 20}},
		AlterClientQuota{Entity: aliceApp, Set: map[string]float64{quota.RequestPercentage: 50}},
		AlterClientQuota{Entity: defaultClient, Set: map[string]float64{quota.ProducerByteRate: 100}},
	} {
		if err := apply(cmd); err != nil {
			t.Fatal(err)
		}
	}
	before := img
	if err := apply(AlterClientQuota{Entity: alice, Remove: []string{quota.ConsumerByteRate}}); err != nil {
		t.Fatal(err)
	}
	if q, _ := before.ClientQuota(alice); len(q) != 2 {
		t.Fatalf("a removal changed the previous image: %v", q)
	}
	if q, _ := img.ClientQuota(alice); !reflect.DeepEqual(q, map[string]float64{quota.ProducerByteRate: 1 << 20}) {
		t.Fatalf("alice after removing consumer_byte_rate: %v", q)
	}
	if err := apply(AlterClientQuota{Entity: defaultClient, Remove: []string{quota.ProducerByteRate}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := img.ClientQuota(defaultClient); ok {
		t.Fatal("an entity with no value left is still listed")
	}
	if err := apply(AlterClientQuota{Entity: alice, Set: map[string]float64{quota.ProducerByteRate: -1}}); err == nil {
		t.Fatal("a negative quota was accepted")
	}
	if err := apply(AlterClientQuota{Entity: quota.Entity{}, Set: map[string]float64{quota.ProducerByteRate: 1}}); err == nil {
		t.Fatal("an empty entity was accepted")
	}

	// Kafka's precedence: user and client ID before the user alone.
	lookup := func(e quota.Entity) (map[string]float64, bool) { return img.ClientQuota(e) }
	if v, key, ok := quota.Resolve(lookup, quota.ProducerByteRate, "alice", "other"); !ok || v != 1<<20 || key != (quota.SensorKey{User: "alice"}) {
		t.Fatalf("alice/other produce quota: %v %+v %v", v, key, ok)
	}
	if v, key, ok := quota.Resolve(lookup, quota.RequestPercentage, "alice", "app"); !ok || v != 50 || key != (quota.SensorKey{User: "alice", ClientID: "app"}) {
		t.Fatalf("alice/app request quota: %v %+v %v", v, key, ok)
	}

	var buf bytes.Buffer
	if err := (&fsmSnapshot{img: img}).Persist(&memSink{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	restored, err := decodeSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []quota.Entity{alice, aliceApp} {
		a, _ := img.ClientQuota(e)
		b, ok := restored.ClientQuota(e)
		if !ok || !reflect.DeepEqual(a, b) {
			t.Errorf("%+v after a snapshot: %v, want %v", e, b, a)
		}
	}
}
