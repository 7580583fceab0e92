package broker

// UnregisterBroker, version 0 (KIP-631; kafka-cluster.sh unregister).
// It removes a broker that is gone for good from the cluster metadata
// (cluster.UnregisterBroker): the broker leaves its ISRs, its leaderships
// move, and Metadata and DescribeCluster stop listing it. As in Kafka, an
// unknown ID is BROKER_ID_NOT_REGISTERED and a live broker is removed all
// the same; Sluice's broker then registers again at its next heartbeat.
// Authorization (ALTER on the cluster) is checked in authorize.go.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) unregisterBroker(ctx context.Context, _ *Client, req *kmsg.UnregisterBrokerRequest) *kmsg.UnregisterBrokerResponse {
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	err := b.cfg.Cluster.UnregisterBroker(ctx, req.BrokerID) // ErrBrokerNotRegistered: errors.go
	resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
	return resp
}
