package replica

import (
	"slices"
	"testing"
	"time"
)

// The retention queue hands out the partitions due by a check, earliest
// first, each once; an earlier schedule wins over a later one; a removed
// partition is never handed out; nothing due is nothing visited.
func TestRetentionQueueHandsOutDuePartitionsOnly(t *testing.T) {
	t.Parallel()
	var q retentionQueue
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	tp := func(i int32) TopicPartition { return TopicPartition{"t", i} }
	q.schedule(tp(1), at(30))
	q.schedule(tp(2), at(10))
	q.schedule(tp(3), at(20))
	q.schedule(tp(1), at(40)) // later: ignored
	q.schedule(tp(3), at(5))  // earlier: wins
	q.schedule(tp(4), time.Time{})
	q.remove(tp(4))
	if got := q.popDue(at(1)); len(got) != 0 {
		t.Fatalf("due at 1s: %v, want none", got)
	}
	if got, want := q.popDue(at(20)), []TopicPartition{tp(3), tp(2)}; !slices.Equal(got, want) {
		t.Fatalf("due at 20s: %v, want %v", got, want)
	}
	if got := q.popDue(at(20)); len(got) != 0 {
		t.Fatalf("handed out twice: %v", got)
	}
	if got, want := q.popDue(at(100)), []TopicPartition{tp(1)}; !slices.Equal(got, want) {
		t.Fatalf("due at 100s: %v, want %v", got, want)
	}
	if q.size() != 0 {
		t.Fatalf("%d partitions left scheduled", q.size())
	}
}
