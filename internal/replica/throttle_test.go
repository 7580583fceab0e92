package replica

import (
	"testing"

	"github.com/sluice-io/sluice/internal/cluster"
)

// KIP-73: leader.replication.throttled.replicas and
// follower.replication.throttled.replicas list partition:broker pairs, or
// "*"; a broker applies the pairs that name it.
func TestThrottledReplicasApplyToTheNamedBroker(t *testing.T) {
	t.Parallel()
	topic := &cluster.Topic{Name: "t", Configs: map[string]string{
		"leader.replication.throttled.replicas":   "0:1, 1:2,2:1",
		"follower.replication.throttled.replicas": "*",
	}}
	for _, tc := range []struct {
		node      int32
		partition int32
		want      uint32
	}{
		{1, 0, throttleLeader | throttleFollower},
		{1, 1, throttleFollower},
		{1, 2, throttleLeader | throttleFollower},
		{2, 1, throttleLeader | throttleFollower},
		{2, 0, throttleFollower},
		{3, 5, throttleFollower},
	} {
		if got := throttledFor(topic, tc.node).bits(tc.partition); got != tc.want {
			t.Errorf("broker %d partition %d: bits %b, want %b", tc.node, tc.partition, got, tc.want)
		}
	}
	if got := throttledFor(&cluster.Topic{Name: "u"}, 1).bits(0); got != 0 {
		t.Errorf("a topic with no throttled replicas: bits %b", got)
	}
}
