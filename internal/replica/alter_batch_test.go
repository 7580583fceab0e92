package replica

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/cluster"
)

// ISR changes queued together, or while proposals are in flight, go
// together: 200 changes take at most two AlterPartitions proposals, not
// 200. A
// change the controller refuses ends that partition's pending change
// (and only that one), so its leader may try again.
func TestAlterPartitionsAreBatched(t *testing.T) {
	t.Parallel()
	const n = 200
	release, all := make(chan struct{}), make(chan struct{})
	var (
		mu    sync.Mutex
		calls [][]cluster.AlterPartition
		sent  int
	)
	propose := func(ctx context.Context, cmd cluster.Command) error {
		c, ok := cmd.(cluster.AlterPartitions)
		if !ok {
			return fmt.Errorf("proposed %T, want AlterPartitions", cmd)
		}
		mu.Lock()
		calls = append(calls, c.Items)
		first := len(calls) == 1
		if sent += len(c.Items); sent == n {
			close(all)
		}
		mu.Unlock()
		if first {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		errs := make([]error, len(c.Items))
		refused := false
		for i, it := range c.Items {
			if it.Partition%50 == 7 {
				errs[i] = fmt.Errorf("partition %d: %w", it.Partition, cluster.ErrInvalidUpdateVersion)
				refused = true
			}
		}
		if !refused {
			return nil
		}
		return &cluster.ItemErrors{Errs: errs}
	}
	m := NewManager(Config{NodeID: 1, Propose: propose})
	defer m.stopBackground()
	parts := make([]*Partition, n)
	for i := range parts {
		p := &Partition{Topic: "t", Index: int32(i)}
		p.pending = &isrChange{isr: []int32{1, 2}, seq: 1}
		parts[i] = p
		m.alter(p, cluster.AlterPartition{Partition: int32(i), Leader: 1, ISR: []int32{1, 2}}, 1)
	}
	close(release)
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d changes proposed in %d proposals", sent, n, len(calls))
	}
	m.stopBackground() // waits for the sender: every answer is handled
	if len(calls) > 2 || sent != n {
		t.Fatalf("%d changes took %d proposals (%d sent), want at most 2", n, len(calls), sent)
	}
	for i, p := range parts {
		p.stateMu.Lock()
		pending := p.pending
		p.stateMu.Unlock()
		if refused := i%50 == 7; (pending == nil) != refused {
			t.Errorf("partition %d: pending change %v, refused %v", i, pending, refused)
		}
	}
}

// Up to maxAltersInFlight proposals are in flight at once: a change queued
// while one waits for its commit goes in another at once, and a change
// queued while both wait goes when one of them is answered.
func TestAlterPartitionsInFlightAtOnce(t *testing.T) {
	t.Parallel()
	type call struct {
		items   []cluster.AlterPartition
		release chan struct{}
	}
	calls := make(chan call, 10)
	propose := func(ctx context.Context, cmd cluster.Command) error {
		c := call{items: cmd.(cluster.AlterPartitions).Items, release: make(chan struct{})}
		calls <- c
		select {
		case <-c.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m := NewManager(Config{NodeID: 1, Propose: propose})
	defer m.stopBackground()
	queue := func(i int) {
		p := &Partition{Topic: "t", Index: int32(i)}
		p.pending = &isrChange{isr: []int32{1, 2}, seq: 1}
		m.alter(p, cluster.AlterPartition{Partition: int32(i), Leader: 1, ISR: []int32{1, 2}}, 1)
	}
	next := func(what string) call {
		t.Helper()
		select {
		case c := <-calls:
			return c
		case <-time.After(10 * time.Second):
			t.Fatalf("no proposal %s within 10s", what)
			return call{}
		}
	}
	queue(0)
	first := next("of the first change")
	queue(1)
	second := next("of a change queued while the first is in flight")
	if len(first.items) != 1 || len(second.items) != 1 || second.items[0].Partition != 1 {
		t.Fatalf("proposals %+v and %+v, want partitions 0 and 1 apart", first.items, second.items)
	}
	queue(2)
	queue(3)
	select {
	case c := <-calls:
		t.Fatalf("a third proposal %+v while two are in flight", c.items)
	case <-time.After(3 * alterLinger):
		// None may come; waiting a few lingers gives one the chance.
	}
	close(first.release)
	third := next("after the first is answered")
	if len(third.items) != 2 {
		t.Fatalf("third proposal %+v, want the two changes queued meanwhile", third.items)
	}
	close(second.release)
	close(third.release)
}
