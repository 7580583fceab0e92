package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionReq is a fetch of topic "t" partitions parts at fetch offset 0.
func sessionReq(version int16, id, epoch int32, parts ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.SessionID, req.SessionEpoch, req.ReplicaID = version, id, epoch, -1
	if len(parts) > 0 {
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = "t", [16]byte{1}
		for _, p := range parts {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = p, 1<<20
			t.Partitions = append(t.Partitions, rp)
		}
		req.Topics = append(req.Topics, t)
	}
	return req
}

// forget adds partitions of topic "t" to a request's forgotten topics.
func forget(req *kmsg.FetchRequest, parts ...int32) *kmsg.FetchRequest {
	ft := kmsg.NewFetchRequestForgottenTopic()
	ft.Topic, ft.TopicID, ft.Partitions = "t", [16]byte{1}, parts
	req.ForgottenTopics = append(req.ForgottenTopics, ft)
	return req
}

// served fills every item as a read at high watermark hw with no records
// would, except the partitions in withData, which get one byte.
func served(fc *fetchContext, hw int64, withData ...int32) {
	for i := range fc.items {
		it := &fc.items[i]
		it.hw, it.lso, it.logStart, it.records, it.errCode = hw, hw, 0, nil, 0
		for _, p := range withData {
			if it.partition == p {
				it.records = []byte{1}
			}
		}
	}
}

func included(fc *fetchContext) []int32 {
	var out []int32
	for _, it := range fc.items {
		if it.include {
			out = append(out, it.partition)
		}
	}
	return out
}

func equalParts(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// newSession runs a full fetch with epoch 0 and returns the session ID.
func newSession(t *testing.T, c *fetchSessions, version int16, follower bool, now time.Time, slots int, parts ...int32) int32 {
	t.Helper()
	fc, code := c.open(sessionReq(version, 0, 0, parts...), follower, now)
	if code != 0 || fc.mode != sessionFull {
		t.Fatalf("full fetch: code %d mode %d", code, fc.mode)
	}
	served(fc, 10)
	id, code := c.finish(fc, now, slots)
	if code != 0 {
		t.Fatalf("full fetch finish: code %d", code)
	}
	return id
}

// KIP-227 "Fetch Session Epochs": 0 creates, the next epoch continues, a
// repeated epoch or an unknown ID is an error, -1 closes.
func TestFetchSessionEpochs(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &fetchSessions{}
	id := newSession(t, c, 16, false, now, 10, 0, 1)
	if id <= 0 {
		t.Fatalf("session ID %d, want > 0", id)
	}
	for _, tc := range []struct {
		name  string
		req   *kmsg.FetchRequest
		code  int16
		mode  sessionMode
		after int // sessions cached after the request
	}{
		{"first incremental", sessionReq(16, id, 1), 0, sessionIncremental, 1},
		{"repeated epoch", sessionReq(16, id, 1), kerr.InvalidFetchSessionEpoch.Code, 0, 1},
		{"epoch from the future", sessionReq(16, id, 5), kerr.InvalidFetchSessionEpoch.Code, 0, 1},
		{"unknown session", sessionReq(16, id+1, 1), kerr.FetchSessionIDNotFound.Code, 0, 1},
		{"session 0 incremental", sessionReq(16, 0, 1), kerr.FetchSessionIDNotFound.Code, 0, 1},
		{"v12 on a v13+ session", sessionReq(12, id, 2), kerr.FetchSessionTopicIDError.Code, 0, 1},
		{"second incremental", sessionReq(16, id, 2), 0, sessionIncremental, 1},
		{"final epoch closes", sessionReq(16, id, -1, 0), 0, sessionless, 0},
		{"closed session", sessionReq(16, id, 3), kerr.FetchSessionIDNotFound.Code, 0, 0},
	} {
		fc, code := c.open(tc.req, false, now)
		if code != tc.code {
			t.Fatalf("%s: code %d, want %d", tc.name, code, tc.code)
		}
		if code == 0 && fc.mode != tc.mode {
			t.Fatalf("%s: mode %d, want %d", tc.name, fc.mode, tc.mode)
		}
		if code == 0 {
			served(fc, 10)
			if got, code := c.finish(fc, now, 10); code != 0 || (tc.mode == sessionIncremental) != (got == id) {
				t.Fatalf("%s: finish gave session %d code %d", tc.name, got, code)
			}
		}
		if n := c.len(); n != tc.after {
			t.Fatalf("%s: %d sessions cached, want %d", tc.name, n, tc.after)
		}
	}
}

// A full fetch with epoch 0 naming a session closes it and opens another
// (the Java client's reconnect path).
func TestFetchSessionFullFetchReplacesNamedSession(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &fetchSessions{}
	old := newSession(t, c, 16, false, now, 10, 0)
	fc, _ := c.open(sessionReq(16, old, 0, 0), false, now)
	served(fc, 10)
	id, _ := c.finish(fc, now, 10)
	if id == 0 || id == old || c.len() != 1 {
		t.Fatalf("new session %d (old %d), %d cached; want a new one only", id, old, c.len())
	}
	if _, code := c.open(sessionReq(16, old, 1), false, now); code != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("old session answered code %d", code)
	}
}

// Kafka's CachedPartition.maybeUpdateResponseData: an incremental response
// carries a partition with records, an error, or an offset the client has
// not been told; partitions that returned records move to the back.
func TestFetchSessionIncrementalResponseListsOnlyChanges(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &fetchSessions{}
	id := newSession(t, c, 16, false, now, 10, 0, 1, 2)
	epoch := int32(1)
	step := func(name string, req *kmsg.FetchRequest, fill func(fc *fetchContext), wantOrder, want []int32) {
		t.Helper()
		req.SessionID, req.SessionEpoch = id, epoch
		epoch++
		fc, code := c.open(req, false, now)
		if code != 0 {
			t.Fatalf("%s: code %d", name, code)
		}
		var order []int32
		for _, it := range fc.items {
			order = append(order, it.partition)
		}
		if !equalParts(order, wantOrder) {
			t.Fatalf("%s: read order %v, want %v", name, order, wantOrder)
		}
		fill(fc)
		if _, code := c.finish(fc, now, 10); code != 0 {
			t.Fatalf("%s: finish code %d", name, code)
		}
		if got := included(fc); !equalParts(got, want) {
			t.Fatalf("%s: response lists %v, want %v", name, got, want)
		}
	}
	step("nothing new", sessionReq(16, 0, 0), func(fc *fetchContext) { served(fc, 10) }, []int32{0, 1, 2}, nil)
	step("records for 1", sessionReq(16, 0, 0), func(fc *fetchContext) { served(fc, 10, 1) }, []int32{0, 1, 2}, []int32{1})
	step("1 went to the back", sessionReq(16, 0, 0), func(fc *fetchContext) { served(fc, 10) }, []int32{0, 2, 1}, nil)
	step("high watermark moved", sessionReq(16, 0, 0), func(fc *fetchContext) {
		served(fc, 10)
		fc.items[0].hw = 11
	}, []int32{0, 2, 1}, []int32{0})
	step("last stable offset moved", sessionReq(16, 0, 0), func(fc *fetchContext) {
		served(fc, 10)
		fc.items[0].hw = 11
		fc.items[1].lso = 9
	}, []int32{0, 2, 1}, []int32{2})
	step("last stable offset caught up", sessionReq(16, 0, 0), func(fc *fetchContext) {
		served(fc, 10)
		fc.items[0].hw = 11
	}, []int32{0, 2, 1}, []int32{2})
	step("error", sessionReq(16, 0, 0), func(fc *fetchContext) {
		served(fc, 10)
		fc.items[0].hw = 11
		fc.items[2].errCode = kerr.NotLeaderForPartition.Code
	}, []int32{0, 2, 1}, []int32{1})
	step("fixed after an error", sessionReq(16, 0, 0), func(fc *fetchContext) {
		served(fc, 10)
		fc.items[0].hw = 11
	}, []int32{0, 2, 1}, []int32{1})
	step("added partition", sessionReq(16, 0, 0, 3), func(fc *fetchContext) {
		served(fc, 10)
		fc.items[0].hw = 11
	}, []int32{0, 2, 1, 3}, []int32{3})
	step("forgotten partitions", forget(sessionReq(16, 0, 0), 0, 1), func(fc *fetchContext) {
		served(fc, 10)
	}, []int32{2, 3}, nil)
	// An update changes the fetch offset the session reads from.
	upd := sessionReq(16, 0, 0, 3)
	upd.Topics[0].Partitions[0].FetchOffset = 7
	step("updated fetch offset", upd, func(fc *fetchContext) {
		served(fc, 10)
		if fc.items[1].fetchOffset != 7 {
			t.Fatalf("partition 3 reads from %d, want 7", fc.items[1].fetchOffset)
		}
	}, []int32{2, 3}, nil)
	// Forgetting the rest closes the session: answered without one.
	fc, code := c.open(forget(sessionReq(16, id, epoch), 2, 3), false, now)
	if code != 0 || fc.mode != sessionless || len(fc.items) != 0 || c.len() != 0 {
		t.Fatalf("emptied session: code %d mode %d items %d cached %d", code, fc.mode, len(fc.items), c.len())
	}
}

// A fetch that waited while the client sent the session's next epoch (a
// retry) is answered INVALID_FETCH_SESSION_EPOCH, as Kafka does.
func TestFetchSessionDuplicateRequestLosesTheRace(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &fetchSessions{}
	id := newSession(t, c, 16, false, now, 10, 0)
	slow, _ := c.open(sessionReq(16, id, 1), false, now)
	fast, code := c.open(sessionReq(16, id, 2), false, now)
	if code != 0 {
		t.Fatalf("next epoch: code %d", code)
	}
	served(fast, 10)
	served(slow, 10)
	if _, code := c.finish(fast, now, 10); code != 0 {
		t.Fatalf("fast: code %d", code)
	}
	if _, code := c.finish(slow, now, 10); code != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("slow: code %d, want INVALID_FETCH_SESSION_EPOCH", code)
	}
}

// Kafka's FetchSessionCache.tryEvict, with max.incremental.fetch.session.cache.slots = 2.
func TestFetchSessionEviction(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name        string
		follower    bool // the new session's fetcher
		size        int  // its partitions
		at          time.Duration
		touchFirst  bool // the first consumer session fetched just before
		wantCreated bool
		wantEvicted int // index of the session evicted, -1 none
	}{
		{"young consumer sessions are kept from a consumer", false, 5, time.Minute, false, false, -1},
		{"a follower evicts a young consumer session", true, 1, time.Minute, false, true, 0},
		{"an idle session goes first", false, 1, 3 * time.Minute, false, true, 0},
		{"an old but used session goes to a bigger one", false, 3, 3 * time.Minute, true, true, 1},
		{"an old session is kept from one no bigger", false, 1, 3 * time.Minute, true, false, -1},
	} {
		next := int32(0)
		c := &fetchSessions{newID: func() int32 { next++; return next }}
		ids := []int32{
			newSession(t, c, 16, false, t0, 2, 0, 1),
			newSession(t, c, 16, false, t0.Add(time.Second), 2, 0, 1),
		}
		now := t0.Add(tc.at)
		if tc.touchFirst {
			// Both used recently; only their age makes them evictable.
			for i, id := range ids {
				fc, code := c.open(sessionReq(16, id, 1), false, now.Add(-time.Second))
				if code != 0 {
					t.Fatalf("%s: touch %d: code %d", tc.name, i, code)
				}
				served(fc, 10)
				c.finish(fc, now, 2)
			}
			// The second is the smaller one.
			fc, _ := c.open(forget(sessionReq(16, ids[1], 2), 1), false, now.Add(-time.Second))
			served(fc, 10)
			c.finish(fc, now, 2)
		}
		parts := make([]int32, tc.size)
		for i := range parts {
			parts[i] = int32(i)
		}
		fc, _ := c.open(sessionReq(16, 0, 0, parts...), tc.follower, now)
		served(fc, 10)
		id, _ := c.finish(fc, now, 2)
		if (id != 0) != tc.wantCreated {
			t.Fatalf("%s: created %d, want created %v", tc.name, id, tc.wantCreated)
		}
		if c.len() > 2 {
			t.Fatalf("%s: %d sessions cached above the 2 slots", tc.name, c.len())
		}
		for i, old := range ids {
			_, code := c.open(sessionReq(16, old, -2), false, now)
			gone := code == kerr.FetchSessionIDNotFound.Code
			if gone != (i == tc.wantEvicted) {
				t.Fatalf("%s: session %d gone %v, want evicted %d", tc.name, i, gone, tc.wantEvicted)
			}
		}
	}
}

// max.incremental.fetch.session.cache.slots = 0 turns sessions off: the
// full fetch is answered with session ID 0.
func TestFetchSessionNoSlotsAnswersWithoutSession(t *testing.T) {
	c := &fetchSessions{}
	fc, _ := c.open(sessionReq(16, 0, 0, 0), false, time.Unix(1000, 0))
	served(fc, 10)
	if id, code := c.finish(fc, time.Unix(1000, 0), 0); id != 0 || code != 0 || c.len() != 0 {
		t.Fatalf("session %d code %d cached %d", id, code, c.len())
	}
}

// Sessions created before v13 key partitions by topic name.
func TestFetchSessionByNameBeforeV13(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &fetchSessions{}
	id := newSession(t, c, 12, false, now, 10, 0)
	fc, code := c.open(sessionReq(12, id, 1, 0), false, now)
	if code != 0 || len(fc.items) != 1 || fc.items[0].topic != "t" {
		t.Fatalf("code %d items %+v", code, fc.items)
	}
	if _, code := c.open(sessionReq(13, id, 2), false, now); code != kerr.FetchSessionTopicIDError.Code {
		t.Fatalf("v13 on a v12 session: code %d", code)
	}
}
