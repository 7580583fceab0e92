package txn

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddPartitionsToTxn v0-v5 and AddOffsetsToTxn v0-v4 (KIP-98). v0-v3 carry
// one transaction from the producer; v4+ (KIP-890 part 1) batch
// transactions from brokers, and VerifyOnly asks whether partitions are
// already in the ongoing transaction without adding them: a partition that
// is not gets TRANSACTION_ABORTABLE (v5) or INVALID_TXN_STATE (v4). v5
// adds partitions for a transaction-version-2 producer. PRODUCER_FENCED
// is INVALID_PRODUCER_EPOCH before v2 (KIP-588).

func (c *coordinator) addPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version < 4 {
		var tps []topicPartition
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, topicPartition{t.Topic, p})
			}
		}
		codes := c.addPartitions(ctx, req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, tps, false)
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition = p
				rp.ErrorCode = codes[topicPartition{t.Topic, p}]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, tx := range req.Transactions {
		var tps []topicPartition
		for _, t := range tx.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, topicPartition{t.Topic, p})
			}
		}
		codes := c.addPartitions(ctx, req.Version, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tps, tx.VerifyOnly)
		rtx := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rtx.TransactionalID = tx.TransactionalID
		for _, t := range tx.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition = p
				rp.ErrorCode = codes[topicPartition{t.Topic, p}]
				rt.Partitions = append(rt.Partitions, rp)
			}
			rtx.Topics = append(rtx.Topics, rt)
		}
		resp.Transactions = append(resp.Transactions, rtx)
	}
	return resp
}

func (c *coordinator) addOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if req.TransactionalID == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	tp := topicPartition{consumerOffsetsTopic, c.cfg.GroupPartition(req.Group)}
	code := c.add(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []topicPartition{tp}, -1)
	if code == kerr.ProducerFenced.Code && req.Version < 2 {
		code = kerr.InvalidProducerEpoch.Code
	}
	resp.ErrorCode = code
	return resp
}

// addPartitions answers one transaction of an AddPartitionsToTxn request
// with a code per partition.
func (c *coordinator) addPartitions(ctx context.Context, version int16, id string, producerID int64, epoch int16, tps []topicPartition, verifyOnly bool) map[topicPartition]int16 {
	codes := make(map[topicPartition]int16, len(tps))
	all := func(code int16) map[topicPartition]int16 {
		if code == kerr.ProducerFenced.Code && version < 2 {
			code = kerr.InvalidProducerEpoch.Code
		}
		for _, tp := range tps {
			codes[tp] = code
		}
		return codes
	}
	if id == "" {
		return all(kerr.InvalidRequest.Code)
	}
	if exists := c.cfg.PartitionExists; exists != nil {
		missing := false
		for _, tp := range tps {
			if !exists(tp.topic, tp.partition) {
				codes[tp] = kerr.UnknownTopicOrPartition.Code
				missing = true
			}
		}
		if missing {
			for _, tp := range tps {
				if codes[tp] == 0 {
					codes[tp] = kerr.OperationNotAttempted.Code
				}
			}
			return codes
		}
	}
	if verifyOnly {
		return c.verify(ctx, version, id, producerID, epoch, tps, all)
	}
	tv := int16(-1)
	if version >= 5 {
		tv = 2
	}
	return all(c.add(ctx, id, producerID, epoch, tps, tv))
}

// add adds partitions to a transaction (Kafka's
// handleAddPartitionsToTransaction), starting it if none is ongoing. tv is
// the client's transaction version, or -1 to keep the one known.
func (c *coordinator) add(ctx context.Context, id string, producerID int64, epoch int16, tps []topicPartition, tv int16) int16 {
	p, t, code := c.lookupSettled(ctx, id)
	if code != 0 {
		return code
	}
	// A transition in progress comes first: while the markers of an
	// EndTxn v5 that moved the ID to a new producer ID are written, the
	// producer already holds the new ID, which becomes current only once
	// the Complete* state is written. It retries rather than fail.
	switch {
	case t == nil:
		code = kerr.InvalidProducerIDMapping.Code
	case t.pending != nil, t.cur.state == statePrepareCommit, t.cur.state == statePrepareAbort:
		code = kerr.ConcurrentTransactions.Code
	case t.cur.producerID != producerID:
		code = kerr.InvalidProducerIDMapping.Code
	case t.cur.producerEpoch != epoch:
		code = kerr.ProducerFenced.Code
	case t.cur.state == stateOngoing && t.cur.partitions.containsAll(tps):
		// Already there: nothing to write.
		p.mu.Unlock()
		return 0
	}
	if code != 0 {
		p.mu.Unlock()
		return code
	}
	v := t.cur
	now := c.nowMs()
	if v.state != stateOngoing {
		v.startMs = now
	}
	v.state = stateOngoing
	v.partitions = v.partitions.union(tps)
	v.updateMs = now
	if tv >= 0 {
		v.tv = tv
	}
	t.pending = &v
	p.mu.Unlock()
	return c.write(ctx, p, t, &v)
}

// lookupSettled is lookup for a request about to change or check an ID's
// transaction: when the ID's previous transaction is still completing (its
// markers are being written), it first waits for that, briefly
// (awaitCompletion). It returns with p.mu held when code is 0.
func (c *coordinator) lookupSettled(ctx context.Context, id string) (*partition, *txn, int16) {
	waited := false
	for {
		p, code := c.lookup(id)
		if code != 0 {
			return nil, nil, code
		}
		t := p.txns[id]
		if waited || t == nil || !t.completing {
			return p, t, 0
		}
		c.awaitCompletion(ctx, p, t) // releases p.mu
		waited = true
	}
}

// verify is KIP-890 part 1's check, for a partition leader about to append
// a transactional batch, that its partition is in the ongoing transaction
// (Kafka's handleVerifyPartitionsInTransaction). A pending write is not
// checked: partitions join the transaction only once their write is
// durable.
func (c *coordinator) verify(ctx context.Context, version int16, id string, producerID int64, epoch int16, tps []topicPartition, all func(int16) map[topicPartition]int16) map[topicPartition]int16 {
	p, t, code := c.lookupSettled(ctx, id)
	if code != 0 {
		return all(code)
	}
	defer p.mu.Unlock()
	switch {
	case t == nil || t.cur.producerID != producerID:
		return all(kerr.InvalidProducerIDMapping.Code)
	case t.cur.producerEpoch != epoch:
		return all(kerr.ProducerFenced.Code)
	case t.cur.state == statePrepareCommit || t.cur.state == statePrepareAbort:
		return all(kerr.ConcurrentTransactions.Code)
	}
	missing := kerr.TransactionAbortable.Code
	if version < 5 {
		missing = kerr.InvalidTxnState.Code
	}
	codes := all(0)
	for _, tp := range tps {
		if !t.cur.partitions.containsAll([]topicPartition{tp}) {
			codes[tp] = missing
		}
	}
	return codes
}
