package broker

// DescribeProducers, version 0 (KIP-664): the producers the leader of each
// partition keeps state for, with their epoch, last sequence and
// timestamp, the coordinator epoch of their last marker, and the first
// offset of their open transaction (-1 for none). kafka-transactions.sh
// find-hanging and describe-producers use it.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) describeProducers(_ context.Context, _ *Client, req *kmsg.DescribeProducersRequest) *kmsg.DescribeProducersResponse {
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	img := b.cfg.Cluster.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t := img.Topics.Value(rt.Topic)
		for _, p := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = p
			// Any replica answers from its own log, leader or follower
			// (Kafka's Partition.activeProducerState), as
			// kafka-transactions.sh find-hanging --broker-id asks.
			part, err := b.fetchPartition(t, 11, &kmsg.FetchRequestTopicPartition{Partition: p, CurrentLeaderEpoch: -1}, true)
			if err != nil {
				sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			for _, pi := range part.Log().Producers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch = pi.ProducerID, int32(pi.Epoch)
				ap.LastSequence, ap.LastTimestamp = pi.LastSequence, pi.LastTimestamp
				ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.CoordinatorEpoch, pi.TxnStartOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
