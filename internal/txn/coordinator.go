package txn

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TODO(contract stubs): replaced by the real implementation.

type coordinator struct{ cfg Config }

func newCoordinator(cfg Config) *coordinator                                  { return &coordinator{cfg: cfg} }
func (c *coordinator) run(ctx context.Context)                                { <-ctx.Done() }
func (c *coordinator) tick(ctx context.Context)                               {}
func (c *coordinator) partitionFor(id string) int32                           { return 0 }
func (c *coordinator) load(ctx context.Context, partition, epoch int32) error { return nil }
func (c *coordinator) unload(partition int32)                                 {}
func (c *coordinator) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	return req.ResponseKind().(*kmsg.InitProducerIDResponse)
}
func (c *coordinator) addPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	return req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
}
func (c *coordinator) addOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	return req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
}
func (c *coordinator) endTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	return req.ResponseKind().(*kmsg.EndTxnResponse)
}
func (c *coordinator) describeTransactions(ctx context.Context, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	return req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
}
func (c *coordinator) listTransactions(ctx context.Context, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	return req.ResponseKind().(*kmsg.ListTransactionsResponse)
}
