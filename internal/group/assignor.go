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
//     member, move one partition from the former to the latter.
func assignUniform(in assignorInput) map[string]assignment {
	out := make(map[string]assignment, len(in.members))
	count := make(map[string]int, len(in.members))
	byID := make(map[string]assigneeSpec, len(in.members))
	for _, m := range in.members {
		out[m.id] = make(assignment)
		byID[m.id] = m
	}
	type tp struct {
		t [16]byte
		p int32
	}
	var unowned []tp
	for _, t := range in.sortedTopics() {
		for p := range in.topics[t].Partitions {
			owner := ""
			for id, a := range in.prev {
				if m, ok := byID[id]; ok && m.topics[t] && a.has(t, p) {
					owner = id
					break
				}
			}
			if owner == "" {
				unowned = append(unowned, tp{t, p})
				continue
			}
			out[owner].add(t, p)
			count[owner]++
		}
	}
	leastLoaded := func(t [16]byte, except string) string {
		best := ""
		for _, m := range in.members {
			if m.id != except && m.topics[t] && (best == "" || count[m.id] < count[best]) {
				best = m.id
			}
		}
		return best
	}
	for _, x := range unowned {
		if id := leastLoaded(x.t, ""); id != "" {
			out[id].add(x.t, x.p)
			count[id]++
		}
	}
	for moved := true; moved; {
		moved = false
		donors := slices.Clone(in.members)
		slices.SortStableFunc(donors, func(a, b assigneeSpec) int { return count[b.id] - count[a.id] })
		for _, d := range donors {
			var move *tp
			to := ""
			// Move the donor's last partitions first: the lowest
			// ones stay put, which keeps assignments readable.
			var own []tp
			out[d.id].each(func(t [16]byte, p int32) { own = append(own, tp{t, p}) })
			for i := len(own) - 1; i >= 0 && move == nil; i-- {
				if id := leastLoaded(own[i].t, d.id); id != "" && count[id] < count[d.id]-1 {
					move, to = &own[i], id
				}
			}
			if move != nil {
				out[d.id].remove(move.t, move.p)
				out[to].add(move.t, move.p)
				count[d.id]--
				count[to]++
				moved = true
				break
			}
		}
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
