package group

import (
	"fmt"
	"testing"
)

// scaleTopics is 50 topics of 200 partitions, every one subscribed by
// every member of scaleMembers.
func scaleTopics() (map[[16]byte]TopicInfo, map[[16]byte]bool) {
	topics, all := map[[16]byte]TopicInfo{}, map[[16]byte]bool{}
	for i := range 50 {
		id := [16]byte{byte(i), 7}
		topics[id] = TopicInfo{Name: fmt.Sprintf("t%03d", i), ID: id, Partitions: 200}
		all[id] = true
	}
	return topics, all
}

func scaleMembers(n int, all map[[16]byte]bool) []assigneeSpec {
	ms := make([]assigneeSpec, n)
	for i := range ms {
		ms[i] = assigneeSpec{id: fmt.Sprintf("m%03d", i), topics: all}
	}
	return ms
}

// checkUniform checks that got assigns every partition once, that no two
// members differ by more than one partition, and that no member holds a
// partition it held before anywhere but with that member, beyond what
// the balance makes it give up.
func checkUniform(t *testing.T, topics map[[16]byte]TopicInfo, prev, got map[string]assignment) {
	t.Helper()
	seen := map[tpID]string{}
	lo, hi := -1, 0
	for id, a := range got {
		n := a.size()
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
		a.each(func(tt [16]byte, p int32) {
			if o, dup := seen[tpID{tt, p}]; dup {
				t.Fatalf("partition %x/%d given to %s and %s", tt[:2], p, o, id)
			}
			seen[tpID{tt, p}] = id
		})
	}
	total := 0
	for _, info := range topics {
		total += int(info.Partitions)
	}
	if len(seen) != total {
		t.Fatalf("%d partitions assigned, want %d", len(seen), total)
	}
	if hi-lo > 1 {
		t.Fatalf("members hold %d to %d partitions", lo, hi)
	}
	// Sticky: a member that held more than its share gives up only the
	// excess, and one that held no more keeps everything.
	for id, was := range prev {
		now, ok := got[id]
		if !ok {
			continue
		}
		kept := 0
		was.each(func(tt [16]byte, p int32) {
			if now.has(tt, p) {
				kept++
			}
		})
		if want := min(was.size(), now.size()); kept != want {
			t.Fatalf("%s kept %d of its %d partitions, want %d", id, kept, was.size(), want)
		}
	}
}

// The uniform assignor keeps balance and stickiness at 10,000 partitions:
// a second member takes half, and 200 members take 50 each, the old ones
// keeping what they can.
func TestUniformAssignorAtScale(t *testing.T) {
	t.Parallel()
	topics, all := scaleTopics()
	one := assignUniform(assignorInput{members: scaleMembers(1, all), topics: topics})
	checkUniform(t, topics, nil, one)
	two := assignUniform(assignorInput{members: scaleMembers(2, all), topics: topics, prev: one})
	checkUniform(t, topics, one, two)
	many := assignUniform(assignorInput{members: scaleMembers(200, all), topics: topics, prev: two})
	checkUniform(t, topics, two, many)
	fewer := assignUniform(assignorInput{members: scaleMembers(150, all), topics: topics, prev: many})
	checkUniform(t, topics, many, fewer)
}

// Members subscribing to different topics: each topic goes to its
// subscribers alone, spread as evenly as they allow.
func TestUniformAssignorUnevenSubscriptions(t *testing.T) {
	t.Parallel()
	a, b := [16]byte{1}, [16]byte{2}
	topics := map[[16]byte]TopicInfo{a: {Name: "a", ID: a, Partitions: 6}, b: {Name: "b", ID: b, Partitions: 2}}
	members := []assigneeSpec{
		{id: "x", topics: map[[16]byte]bool{a: true}},
		{id: "y", topics: map[[16]byte]bool{a: true, b: true}},
		{id: "z", topics: map[[16]byte]bool{b: true}},
	}
	got := assignUniform(assignorInput{members: members, topics: topics})
	if got["z"].size() == 0 || len(got["x"][b]) > 0 || len(got["z"][a]) > 0 {
		t.Fatalf("assignment %v", got)
	}
	sizes := []int{got["x"].size(), got["y"].size(), got["z"].size()}
	if sizes[0]+sizes[1]+sizes[2] != 8 || max(sizes[0], sizes[1], sizes[2])-min(sizes[0], sizes[1], sizes[2]) > 1 {
		t.Fatalf("sizes %v of %v", sizes, got)
	}
}

// BenchmarkUniformAssignor is a member joining a group of 199 holding
// 10,000 partitions between them.
func BenchmarkUniformAssignor(b *testing.B) { benchmarkJoin(b, 199) }

// BenchmarkUniformAssignorSecondMember is a second member joining one that
// holds 10,000 partitions.
func BenchmarkUniformAssignorSecondMember(b *testing.B) { benchmarkJoin(b, 1) }

// benchmarkJoin assigns 10,000 partitions to had+1 members, had of which
// held them all before.
func benchmarkJoin(b *testing.B, had int) {
	topics, all := scaleTopics()
	prev := assignUniform(assignorInput{members: scaleMembers(had, all), topics: topics})
	members := scaleMembers(had+1, all)
	b.ResetTimer()
	for range b.N {
		assignUniform(assignorInput{members: members, topics: topics, prev: prev})
	}
}
