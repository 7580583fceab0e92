package txn

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn v0-v5 (KIP-98). The answer goes out once the PrepareCommit or
// PrepareAbort state is durable; the markers and the Complete* state are
// written in the background (markers.go). v5 is transaction version 2
// (KIP-890 part 2): every EndTxn bumps the producer epoch, and the new
// producer ID and epoch are in the answer; a retry at the epoch before the
// bump is recognised. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2
// (KIP-588).

type endDecision struct {
	code   int16
	v      *txnValue
	needID bool
}

func (c *coordinator) endTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = noProducerID, noProducerEpoch
	fail := func(code int16) *kmsg.EndTxnResponse {
		if code == kerr.ProducerFenced.Code && req.Version < 2 {
			code = kerr.InvalidProducerEpoch.Code
		}
		resp.ErrorCode = code
		return resp
	}
	id := req.TransactionalID
	if id == "" {
		return fail(kerr.InvalidRequest.Code)
	}
	tv2 := req.Version >= 5
	newID := int64(noProducerID)
	for {
		p, code := c.lookup(id)
		if code != 0 {
			return fail(code)
		}
		t := p.txns[id]
		if t == nil {
			p.mu.Unlock()
			return fail(kerr.InvalidProducerIDMapping.Code)
		}
		var d endDecision
		if tv2 {
			d = c.decideEndV2(t, req.ProducerID, req.ProducerEpoch, req.Commit, newID)
		} else {
			d = c.decideEndV1(t, req.ProducerID, req.ProducerEpoch, req.Commit)
		}
		switch {
		case d.needID:
			p.mu.Unlock()
			if newID, code = c.nextProducerID(ctx); code != 0 {
				return fail(code)
			}
			continue
		case d.v == nil:
			if d.code == 0 && tv2 {
				// A retry of an EndTxn that was done.
				resp.ProducerID, resp.ProducerEpoch = t.cur.producerID, t.cur.producerEpoch
			}
			p.mu.Unlock()
			return fail(d.code)
		}
		t.pending = d.v
		p.mu.Unlock()
		if code := c.write(ctx, p, t, d.v); code != 0 {
			return fail(code)
		}
		if tv2 {
			next := d.v.completeValue(0)
			resp.ProducerID, resp.ProducerEpoch = next.producerID, next.producerEpoch
		}
		return resp
	}
}

// prepareValue is the PrepareCommit or PrepareAbort state ending t's
// transaction (Kafka's prepareAbortOrCommit). The caller holds p.mu.
func (c *coordinator) prepareValue(t *txn, commit bool) *txnValue {
	v := t.cur
	v.state = statePrepareAbort
	if commit {
		v.state = statePrepareCommit
	}
	v.updateMs = c.nowMs()
	v.tv = 0
	return &v
}

// decideEndV1 is Kafka's endTransactionWithTV1 for a client's request. The
// caller holds p.mu.
func (c *coordinator) decideEndV1(t *txn, producerID int64, epoch int16, commit bool) endDecision {
	cur := &t.cur
	switch {
	case cur.producerID != producerID:
		return endDecision{code: kerr.InvalidProducerIDMapping.Code}
	case cur.producerEpoch != epoch:
		return endDecision{code: kerr.ProducerFenced.Code}
	case t.pending != nil:
		return endDecision{code: kerr.ConcurrentTransactions.Code}
	}
	switch cur.state {
	case stateOngoing:
		return endDecision{v: c.prepareValue(t, commit)}
	case stateCompleteCommit:
		if commit {
			return endDecision{} // a retry
		}
	case stateCompleteAbort:
		if !commit {
			return endDecision{}
		}
	case statePrepareCommit:
		if commit {
			return endDecision{code: kerr.ConcurrentTransactions.Code}
		}
	case statePrepareAbort:
		if !commit {
			return endDecision{code: kerr.ConcurrentTransactions.Code}
		}
	}
	c.logger.Debug("EndTxn in a state that does not allow it", "transactional_id", t.id, "state", stateName(cur.state), "commit", commit)
	return endDecision{code: kerr.InvalidTxnState.Code}
}

// decideEndV2 is Kafka's endTransaction for transaction version 2. An
// epoch one below the current one is a retry of an EndTxn whose bump is
// done; so is the last epoch of the previous producer ID after an
// overflow moved the ID to a new producer ID. newID is a fresh producer ID
// for an exhausted epoch, or -1. The caller holds p.mu.
//
//	state            abort: retry / current   commit: retry / current
//	Empty            FENCED / bump            FENCED / INVALID_TXN_STATE
//	CompleteAbort    NONE   / bump            INVALID_TXN_STATE (both)
//	CompleteCommit   INVALID_TXN_STATE / bump NONE / INVALID_TXN_STATE
func (c *coordinator) decideEndV2(t *txn, producerID int64, epoch int16, commit bool, newID int64) endDecision {
	cur := &t.cur
	retryOnOverflow := cur.prevProducerID == producerID && epoch == maxClientEpoch && cur.producerEpoch == 0
	// Short.MaxValue is handed to no client: reached with no new producer
	// ID to move to, it is a fence's epoch, and the epoch below it belongs
	// to the fenced producer, not to a retry.
	fencedAtMax := cur.producerEpoch == math.MaxInt16 && cur.nextProducerID == noProducerID
	retryOnBump := int32(cur.producerEpoch) == int32(epoch)+1 && !fencedAtMax
	var validEpoch bool
	switch cur.state {
	case statePrepareCommit, statePrepareAbort:
		validEpoch = retryOnBump
	case stateCompleteCommit, stateCompleteAbort:
		validEpoch = retryOnBump || retryOnOverflow || epoch == cur.producerEpoch
	default:
		validEpoch = epoch == cur.producerEpoch
	}
	retry := retryOnBump || retryOnOverflow
	switch {
	case cur.producerID != producerID && !retryOnOverflow:
		return endDecision{code: kerr.InvalidProducerIDMapping.Code}
	case !validEpoch:
		return endDecision{code: kerr.ProducerFenced.Code}
	case t.pending != nil:
		return endDecision{code: kerr.ConcurrentTransactions.Code}
	}
	prepare := func(commit, nothingAdded bool) endDecision {
		v := c.prepareValue(t, commit)
		v.tv = 2
		v.nextProducerID = noProducerID
		if epochExhausted(cur.producerEpoch) {
			if newID == noProducerID {
				return endDecision{needID: true}
			}
			v.nextProducerID = newID
		}
		v.producerEpoch, v.lastEpoch = cur.producerEpoch+1, cur.producerEpoch
		if nothingAdded {
			// Aborting with no partitions: the transaction starts now.
			v.startMs = v.updateMs
		}
		return endDecision{v: v}
	}
	switch cur.state {
	case stateOngoing:
		return prepare(commit, false)
	case stateCompleteCommit:
		switch {
		case commit && retry:
			return endDecision{}
		case !commit && !retry:
			return prepare(false, true)
		}
	case stateCompleteAbort:
		switch {
		case !commit && retry:
			return endDecision{}
		case !commit:
			return prepare(false, true)
		}
	case statePrepareCommit:
		if commit {
			return endDecision{code: kerr.ConcurrentTransactions.Code}
		}
	case statePrepareAbort:
		if !commit {
			return endDecision{code: kerr.ConcurrentTransactions.Code}
		}
	case stateEmpty:
		if !commit {
			return prepare(false, true)
		}
	}
	c.logger.Debug("EndTxn in a state that does not allow it", "transactional_id", t.id, "state", stateName(cur.state), "commit", commit)
	return endDecision{code: kerr.InvalidTxnState.Code}
}
