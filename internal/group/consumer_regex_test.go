package group

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-848: a regex subscription is resolved against every topic of the
// cluster, internal ones included, as Kafka's GroupMetadataManager
// resolves it; a member that wants them left out says so in its regex.
func TestConsumerRegexMatchesInternalTopics(t *testing.T) {
	t.Parallel()
	offsets := TopicInfo{Name: OffsetsTopic, ID: [16]byte{2}, Partitions: 3}
	txnState := TopicInfo{Name: "__transaction_state", ID: [16]byte{3}, Partitions: 2}
	h := consumerHarness(t, topicT, offsets, txnState)
	assigned := func(regex string) map[[16]byte]int {
		t.Helper()
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group, req.MemberID, req.MemberEpoch = "g-"+regex, "m", 0
		req.RebalanceTimeoutMillis = 60000
		req.SubscribedTopicRegex = &regex
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		resp := h.c.ConsumerGroupHeartbeat(context.Background(), req)
		wantCode(t, "heartbeat with regex "+regex, resp.ErrorCode, 0)
		got := map[[16]byte]int{}
		if resp.Assignment != nil {
			for _, tp := range resp.Assignment.Topics {
				got[tp.TopicID] = len(tp.Partitions)
			}
		}
		return got
	}
	for _, c := range []struct {
		regex string
		want  map[[16]byte]int
	}{
		{".*", map[[16]byte]int{topicT.ID: 6, offsets.ID: 3, txnState.ID: 2}},
		{"__.*", map[[16]byte]int{offsets.ID: 3, txnState.ID: 2}},
		{"__consumer_offsets|t", map[[16]byte]int{topicT.ID: 6, offsets.ID: 3}},
		{"[^_].*", map[[16]byte]int{topicT.ID: 6}}, // the client's own exclusion
	} {
		got := assigned(c.regex)
		if len(got) != len(c.want) {
			t.Errorf("regex %q assigned %v, want %v", c.regex, got, c.want)
			continue
		}
		for id, n := range c.want {
			if got[id] != n {
				t.Errorf("regex %q assigned %v, want %v", c.regex, got, c.want)
			}
		}
	}
}
