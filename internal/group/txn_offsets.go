package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TODO(contract stubs): replaced by the real implementation.

func (c *Coordinator) txnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	return req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
}

func (c *Coordinator) completeTxn(partition int32, producerID int64, commit bool) {}
