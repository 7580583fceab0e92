package metrics

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/broker"
)

// BenchmarkHandlerProduce is what the metrics add to one Produce request
// of one partition answered at once: the count, the latency and the
// topic's bytes and records. Compare with BenchmarkUnwrappedProduce.
func BenchmarkHandlerProduce(b *testing.B) {
	req, fb := benchProduce()
	h := NewHandler(prometheus.NewRegistry(), fb, NewTopics(prometheus.NewRegistry(), nil, nil))
	c := &broker.Client{}
	b.ReportAllocs()
	for b.Loop() {
		h.Handle(context.Background(), c, req)
	}
}

func BenchmarkUnwrappedProduce(b *testing.B) {
	req, fb := benchProduce()
	c := &broker.Client{}
	b.ReportAllocs()
	for b.Loop() {
		fb.Handle(context.Background(), c, req)
	}
}

func benchProduce() (*kmsg.ProduceRequest, fakeBroker) {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "bench"
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = batch(100, 16<<10)
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	rt := kmsg.NewProduceResponseTopic()
	rt.Topic = "bench"
	rt.Partitions = append(rt.Partitions, kmsg.NewProduceResponseTopicPartition())
	resp.Topics = append(resp.Topics, rt)
	return req, fakeBroker{reply: func(kmsg.Request) broker.Reply { return broker.Reply{Response: resp} }}
}
