package group

// Server-side assignors of KIP-848 consumer groups. An assignor maps every
// partition of the subscribed topics to one subscribing member; the
// coordinator then moves members toward that target incrementally
// (consumer.go).

import (
	"bytes"
	"maps"
	"slices"
	"strings"
)

// assignment is a member's partitions by topic ID, each list sorted.
type assignment map[[16]byte][]int32

func (a assignment) clone() assignment {
	out := make(assignment, len(a))
	for t, ps := range a {
		out[t] = slices.Clone(ps)
	}
	return out
}

func (a assignment) equal(b assignment) bool {
	if a.size() != b.size() {
		return false
	}
	for t, ps := range a {
		if len(ps) > 0 && !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

func (a assignment) size() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func (a assignment) has(t [16]byte, p int32) bool {
	_, ok := slices.BinarySearch(a[t], p)
	return ok
}

func (a assignment) add(t [16]byte, p int32) {
	ps := a[t]
	i, ok := slices.BinarySearch(ps, p)
	if !ok {
		a[t] = slices.Insert(ps, i, p)
	}
}

func (a assignment) remove(t [16]byte, p int32) {
	ps := a[t]
	if i, ok := slices.BinarySearch(ps, p); ok {
		ps = slices.Delete(ps, i, i+1)
		if len(ps) == 0 {
			delete(a, t)
		} else {
			a[t] = ps
		}
	}
}

// each calls fn for every partition, topics in ID order.
func (a assignment) each(fn func(t [16]byte, p int32)) {
	for _, t := range slices.SortedFunc(maps.Keys(a), func(x, y [16]byte) int { return bytes.Compare(x[:], y[:]) }) {
		for _, p := range a[t] {
			fn(t, p)
		}
	}
}

// assignorInput is what an assignor sees: members (sorted by ID) with the
// topics they subscribe to, the topics' partition counts, and the previous
// target for stickiness.
type assignorInput struct {
	members []assigneeSpec
	topics  map[[16]byte]TopicInfo
	prev    map[string]assignment
}

type assigneeSpec struct {
	id     string
	topics map[[16]byte]bool
}

const (
	assignorUniform = "uniform"
	assignorRange   = "range"
)

func knownAssignor(name string) bool { return name == assignorUniform || name == assignorRange }

func runAssignor(name string, in assignorInput) map[string]assignment {
	if name == assignorRange {
		return assignRange(in)
	}
	return assignUniform(in)
}

// sortedTopics returns the topic IDs ordered by topic name.
func (in assignorInput) sortedTopics() [][16]byte {
	ids := slices.Collect(maps.Keys(in.topics))
	slices.SortFunc(ids, func(a, b [16]byte) int { return strings.Compare(in.topics[a].Name, in.topics[b].Name) })
	return ids
}

// assignUniform spreads partitions evenly over the members that can take
// them, keeping every partition where it was when that stays balanced, so
// a rebalance moves as few partitions as it can. It is the idea of Kafka's
// UniformAssignor (sticky, balanced within one partition per member when
// subscriptions allow); the algorithm is a simple greedy one:
//
//  1. keep each partition with its previous owner if it still subscribes;
//  2. give each remaining partition to the eligible member with the fewest;
//  3. while some member has two or more partitions more than an eligible
//     member, move one partition from the former to the latter: members
//     are taken from the most loaded, each giving first the partitions it
//     took last (those of step 2, then of step 1 from the last topic by
//     name back).
//
// Steps 1 and 2 cost the partitions times the subscribers of their topic,
// and a move of step 3 the members (log members) plus the subscribers of
// the topic moved, so a group of thousands of partitions and hundreds of
// members is assigned in milliseconds, with the group's lock held.
func assignUniform(in assignorInput) map[string]assignment {
	type tp struct {
		t [16]byte
		p int32
	}
	index := make(map[string]int, len(in.members))
	for i, m := range in.members {
		index[m.id] = i
	}
	// The previous owner of each partition, among members that still
	// subscribe to its topic; the first in member order if two claim it.
	prevOwner := make(map[tpID]int)
	for i, m := range in.members {
		for t, ps := range in.prev[m.id] {
			info, ok := in.topics[t]
			if !ok || !m.topics[t] {
				continue
			}
			for _, p := range ps {
				if _, claimed := prevOwner[tpID{t, p}]; !claimed && p < info.Partitions {
					prevOwner[tpID{t, p}] = i
				}
			}
		}
	}
	owned := make([][]tp, len(in.members))
	subscribers := make(map[[16]byte][]int, len(in.topics))
	var unowned []tp
	for _, t := range in.sortedTopics() {
		for i, m := range in.members {
			if m.topics[t] {
				subscribers[t] = append(subscribers[t], i)
			}
		}
		for p := range in.topics[t].Partitions {
			if i, ok := prevOwner[tpID{t, p}]; ok {
				owned[i] = append(owned[i], tp{t, p})
			} else {
				unowned = append(unowned, tp{t, p})
			}
		}
	}
	// leastLoaded is the subscriber of t, other than except, holding the
	// fewest partitions (the first in member order among equals), or -1.
	leastLoaded := func(t [16]byte, except int) int {
		best := -1
		for _, i := range subscribers[t] {
			if i != except && (best < 0 || len(owned[i]) < len(owned[best])) {
				best = i
			}
		}
		return best
	}
	for _, x := range unowned {
		if i := leastLoaded(x.t, -1); i >= 0 {
			owned[i] = append(owned[i], x)
		}
	}
	order := make([]int, len(in.members))
	for i := range order {
		order[i] = i
	}
	// move makes one move of step 3, from the most loaded member that can
	// give, and reports whether there was one.
	move := func() bool {
		slices.SortStableFunc(order, func(a, b int) int {
			if c := len(owned[b]) - len(owned[a]); c != 0 {
				return c
			}
			return a - b
		})
		for _, d := range order {
			mine := owned[d]
			// Whether t has a taker depends on t alone: try each topic
			// once.
			var tried map[[16]byte]bool
			for i := len(mine) - 1; i >= 0; i-- {
				x := mine[i]
				if tried[x.t] {
					continue
				}
				if r := leastLoaded(x.t, d); r >= 0 && len(owned[r]) < len(mine)-1 {
					owned[d] = slices.Delete(mine, i, i+1)
					owned[r] = append(owned[r], x)
					return true
				}
				if tried == nil {
					tried = make(map[[16]byte]bool)
				}
				tried[x.t] = true
			}
		}
		return false
	}
	for move() {
	}
	out := make(map[string]assignment, len(in.members))
	for i, m := range in.members {
		a := make(assignment)
		for _, x := range owned[i] {
			a[x.t] = append(a[x.t], x.p)
		}
		for _, ps := range a {
			slices.Sort(ps)
		}
		out[m.id] = a
	}
	return out
}

// assignRange gives each member contiguous ranges of each topic it
// subscribes to: with n partitions over k members (ordered by member ID)
// each gets n/k, the first n%k one more (Kafka's RangeAssignor layout).
func assignRange(in assignorInput) map[string]assignment {
	out := make(map[string]assignment, len(in.members))
	for _, m := range in.members {
		out[m.id] = make(assignment)
	}
	for _, t := range in.sortedTopics() {
		var subs []string
		for _, m := range in.members {
			if m.topics[t] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		n, k := int(in.topics[t].Partitions), len(subs)
		p := 0
		for i, id := range subs {
			take := n / k
			if i < n%k {
				take++
			}
			for range take {
				out[id].add(t, int32(p))
				p++
			}
		}
	}
	return out
}
