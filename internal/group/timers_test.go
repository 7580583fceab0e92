package group

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A classic member's session runs session.timeout.ms from its last
// heartbeat; when it runs out the member leaves and the group rebalances.
// The clock is the test's: nothing fires before it is advanced.
func TestSessionExpiryOnTheClock(t *testing.T) {
	t.Parallel()
	h := newClockHarness(t, nil)
	ids, gen, _ := h.stableGroup("g", 2) // sessions of 10s
	h.advance(6 * time.Second)
	wantCode(t, "heartbeat at 6s", h.heartbeat("g", ids[0], gen), 0)
	h.advance(4*time.Second - time.Millisecond)
	if n := len(h.describe("g").Members); n != 2 {
		t.Fatalf("%d members just before the session ends", n)
	}
	h.advance(time.Millisecond)
	d := h.describe("g")
	if len(d.Members) != 1 || d.Members[0].MemberID != ids[0] || d.State != "PreparingRebalance" {
		t.Fatalf("after the second member's session: %+v", d)
	}
	wantCode(t, "expired member's heartbeat", h.heartbeat("g", ids[1], gen), kerr.UnknownMemberID.Code)
	wantCode(t, "remaining member's heartbeat", h.heartbeat("g", ids[0], gen), kerr.RebalanceInProgress.Code)

	// The rebalance waits for the remaining member until the rebalance
	// timeout (10s); it does not rejoin and is removed too.
	h.advance(10 * time.Second)
	if d := h.describe("g"); len(d.Members) != 0 || d.State != "Empty" {
		t.Fatalf("after the rebalance timeout: %+v", d)
	}
}

// KIP-848: a member that stops heartbeating is removed after
// group.consumer.session.timeout.ms and the others take its partitions.
func TestConsumerGroupSessionExpiryOnTheClock(t *testing.T) {
	t.Parallel()
	h := newClockHarness(t, func(c *Config) {
		c.Topics = func() []TopicInfo { return []TopicInfo{topicT} }
	})
	a, b := h.newCGMember("g", "a"), h.newCGMember("g", "b")
	a.mustBeat(false)
	b.mustBeat(false)
	settle(t, a, b)
	h.advance(30 * time.Second)
	a.mustBeat(true)
	h.advance(15*time.Second - time.Millisecond)
	if n := len(h.consumerDescribe("g").Members); n != 2 {
		t.Fatalf("%d members just before b's session (45s) ends", n)
	}
	h.advance(time.Millisecond)
	if n := len(h.consumerDescribe("g").Members); n != 1 {
		t.Fatalf("%d members after b's session ended", n)
	}
	settle(t, a)
	if len(a.owned) != 6 {
		t.Fatalf("a owns %v after b expired", a.ownedList())
	}
	wantCode(t, "expired member's heartbeat", b.beat(true).ErrorCode, kerr.UnknownMemberID.Code)
}

// Offset expiry runs every offsets.retention.check.interval.ms of the
// coordinator's clock.
func TestOffsetExpiryRunsOnTheClock(t *testing.T) {
	t.Parallel()
	h := newClockHarness(t, func(c *Config) {
		c.OffsetsRetention = 2 * time.Hour
		c.RetentionCheck = time.Hour
	})
	wantCode(t, "commit", h.commit("simple", "", -1, "t", map[int32]int64{0: 1}), 0)
	h.advance(2 * time.Hour)
	waitFor(t, "expiry", func() bool {
		g, code := h.c.lookup("simple", false)
		return code == 0 && g == nil
	})
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 8
	req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "simple"}}
	if got := h.c.OffsetFetch(context.Background(), req).Groups[0]; len(got.Topics) != 0 {
		t.Fatalf("offsets after expiry: %+v", got.Topics)
	}
}
