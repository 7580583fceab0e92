package broker

import (
	"crypto/rand"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
)

// A follower answers DescribeProducers from its own log, as Kafka's
// replicas do: kafka-transactions.sh find-hanging --broker-id asks every
// broker about each partition it hosts. Before, a follower answered
// NOT_LEADER_OR_FOLLOWER and the tool failed.
func TestDescribeProducersAtAFollower(t *testing.T) {
	e := newLeaderEnv(t)
	e.propose(cluster.RegisterBroker{Broker: cluster.Broker{ID: 2, Host: "127.0.0.1", Port: 1}})
	var id cluster.TopicID
	rand.Read(id[:])
	e.propose(cluster.CreateTopic{Name: "followed", ID: id, Replicas: [][]int32{{2, 1}}})
	e.waitFor("the follower replica", func() bool { p, ok := e.mgr.Partition("followed", 0); return ok && !p.IsLeader() })

	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = "followed", []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := e.b.Handle(e.ctx, &Client{ID: "dp-test", Principal: Anonymous}, req).Response.(*kmsg.DescribeProducersResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("DescribeProducers at a follower: error %d", code)
	}
}
