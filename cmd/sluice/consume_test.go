package main

import (
	"context"
	"testing"
)

// TestGroupEndFollowsTheAssignment walks groupEnd through the callbacks a
// group consumer gets, saying after each step whether `consume --group -e`
// would end: only once the group has settled and every partition assigned
// to this consumer is read to the end it had when assigned.
func TestGroupEndFollowsTheAssignment(t *testing.T) {
	g := newGroupEnd()
	tp := func(ps ...int32) map[string][]int32 { return map[string][]int32{"t": ps} }
	for i, step := range []struct {
		what string
		do   func()
		want bool
	}{
		{"before the group answers", func() {}, false},
		{"assigned 0 and 1, offsets not fetched", func() { g.assign(tp(0, 1)) }, false},
		{"0 is at its end, 1 two behind", func() { g.positioned(0, 5, 5); g.positioned(1, 1, 3) }, false},
		{"1 read to 2", func() { g.read(1, 2) }, false},
		{"1 read to its end", func() { g.read(1, 3) }, true},
		{"a stale record does not move 1 back", func() { g.read(1, 1) }, true},
		{"a rebalance revokes 1", func() { g.remove(tp(1)) }, false},
		{"it ends with nothing added", func() { g.assign(nil) }, true},
		{"2 is added", func() { g.assign(tp(2)) }, false},
		{"2's end cannot be listed: not waited for", func() { g.skip(2) }, true},
		{"3 is added, already at its end", func() { g.assign(tp(3)); g.positioned(3, 7, 7) }, true},
		{"everything is lost", func() { g.remove(tp(0, 2, 3)) }, false},
		{"the rejoin assigns nothing", func() { g.assign(nil) }, true},
	} {
		step.do()
		if got := g.reached(); got != step.want {
			t.Fatalf("step %d (%s): reached %v, want %v", i, step.what, got, step.want)
		}
	}
	if !g.none() {
		t.Fatalf("none() is false with no partition assigned: %v", g.parts)
	}
}

// TestGroupEndWakesThePoll checks that a change of assignment ends the
// poll under way, and that one made after the loop last asked reached ends
// the next poll at once, so that the loop asks again.
func TestGroupEndWakesThePoll(t *testing.T) {
	g := newGroupEnd()
	defer g.stop()
	ctx := g.pollContext(context.Background())
	if ctx.Err() != nil {
		t.Fatal("a poll with nothing changed was ended at once")
	}
	g.assign(nil)
	if ctx.Err() == nil {
		t.Fatal("an assignment did not end the poll under way")
	}
	g.reached() // the loop looks
	if g.pollContext(context.Background()).Err() != nil {
		t.Fatal("the next poll was ended at once, with nothing changed since the loop looked")
	}
	g.reached()
	g.remove(nil) // after the loop looked, before it polls again
	if g.pollContext(context.Background()).Err() == nil {
		t.Fatal("a change after the loop looked did not end the next poll at once")
	}
}
