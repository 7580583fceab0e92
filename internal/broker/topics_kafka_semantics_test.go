package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopics with validate_only answers a topic ID, as Kafka's
// controller does, and creates nothing; DeleteTopics naming neither a
// topic nor an ID is INVALID_REQUEST, as in Kafka (it was UNKNOWN_TOPIC_ID).
func TestCreateValidateOnlyAndDeleteWithoutNameOrID(t *testing.T) {
	e := newLeaderEnv(t)
	client := &Client{ID: "topics-test", Principal: Anonymous}

	create := kmsg.NewPtrCreateTopicsRequest()
	create.Version, create.ValidateOnly, create.TimeoutMillis = 7, true, 5000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "validated", 1, 1
	create.Topics = append(create.Topics, ct)
	cresp := e.b.Handle(e.ctx, client, create).Response.(*kmsg.CreateTopicsResponse)
	if got := cresp.Topics[0]; got.ErrorCode != 0 || got.TopicID == [16]byte{} {
		t.Fatalf("validate_only create: error %d, topic ID %x; want none and an ID", got.ErrorCode, got.TopicID)
	}
	if e.node.Image().Topics.Value("validated") != nil {
		t.Fatal("validate_only created the topic")
	}

	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version, del.TimeoutMillis = 6, 5000
	del.Topics = append(del.Topics, kmsg.NewDeleteTopicsRequestTopic())
	dresp := e.b.Handle(e.ctx, client, del).Response.(*kmsg.DeleteTopicsResponse)
	if code := dresp.Topics[0].ErrorCode; code != kerr.InvalidRequest.Code {
		t.Fatalf("delete with neither name nor ID: error %d, want INVALID_REQUEST", code)
	}
}
