package txn

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId v0-v5 (KIP-98; KIP-360 lets a producer give its current
// ID and epoch, v3+, to bump its epoch after an error instead of being
// fenced; KIP-588 answers PRODUCER_FENCED from v4, INVALID_PRODUCER_EPOCH
// before). Without a transactional ID the producer is idempotent only and
// gets a fresh producer ID at epoch 0.

type producerIDEpoch struct {
	id    int64
	epoch int16
}

// initDecision is what InitProducerId does to a transactional ID: answer
// code at once, write v, fence the ongoing transaction, or first get a new
// producer ID.
type initDecision struct {
	code   int16
	v      *txnValue
	fence  bool
	needID bool
}

func (c *coordinator) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = noProducerID, noProducerEpoch
	fail := func(code int16) *kmsg.InitProducerIDResponse {
		if code == kerr.ProducerFenced.Code && req.Version < 4 {
			code = kerr.InvalidProducerEpoch.Code
		}
		resp.ErrorCode = code
		return resp
	}
	if req.TransactionalID == nil {
		id, err := c.cfg.ProducerIDs.Next(ctx)
		if err != nil {
			return fail(producerIDCode(err))
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
		return resp
	}
	id := *req.TransactionalID
	timeout := req.TransactionTimeoutMillis
	switch {
	case id == "":
		return fail(kerr.InvalidRequest.Code)
	case timeout <= 0 || time.Duration(timeout)*time.Millisecond > c.cfg.MaxTimeout:
		return fail(kerr.InvalidTransactionTimeout.Code)
	}
	var expected *producerIDEpoch
	if req.Version >= 3 {
		switch {
		case req.ProducerID == noProducerID && req.ProducerEpoch == noProducerEpoch:
		case req.ProducerID == noProducerID || req.ProducerEpoch == noProducerEpoch:
			return fail(kerr.InvalidRequest.Code)
		default:
			expected = &producerIDEpoch{req.ProducerID, req.ProducerEpoch}
		}
	}

	newID := int64(noProducerID) // a fresh producer ID, once one was needed
	for {
		p, code := c.lookup(id)
		if code != 0 {
			return fail(code)
		}
		t := p.txns[id]
		if t == nil {
			if newID == noProducerID {
				p.mu.Unlock()
				if newID, code = c.nextProducerID(ctx); code != 0 {
					return fail(code)
				}
				continue
			}
			// Not written until the epoch is set below (Kafka's
			// putTransactionStateIfNotExists).
			t = &txn{id: id, cur: txnValue{
				producerID:     newID,
				prevProducerID: noProducerID,
				nextProducerID: noProducerID,
				producerEpoch:  noProducerEpoch,
				lastEpoch:      noProducerEpoch,
				timeoutMs:      timeout,
				state:          stateEmpty,
				partitions:     make(partitionSet),
				startMs:        -1,
				updateMs:       c.nowMs(),
			}}
			p.txns[id] = t
			newID = noProducerID
		}
		d := c.decideInit(t, timeout, expected, newID)
		switch {
		case d.needID:
			p.mu.Unlock()
			if newID, code = c.nextProducerID(ctx); code != 0 {
				return fail(code)
			}
			continue
		case d.code != 0:
			p.mu.Unlock()
			return fail(d.code)
		case d.fence:
			v := c.fenceValue(t)
			t.pending = v
			p.mu.Unlock()
			if code := c.writeFence(ctx, p, t, v); code != 0 {
				return fail(code)
			}
			// The client retries once the abort is complete and
			// then gets the epoch after the fence's.
			return fail(kerr.ConcurrentTransactions.Code)
		}
		t.pending = d.v
		p.mu.Unlock()
		if code := c.write(ctx, p, t, d.v); code != 0 {
			return fail(code)
		}
		resp.ProducerID, resp.ProducerEpoch = d.v.producerID, d.v.producerEpoch
		return resp
	}
}

// decideInit is Kafka's prepareInitProducerIdTransit. newID is a fresh
// producer ID, or -1 when none was allocated yet. The caller holds p.mu.
func (c *coordinator) decideInit(t *txn, timeout int32, expected *producerIDEpoch, newID int64) initDecision {
	cur := &t.cur
	if t.pending != nil {
		return initDecision{code: kerr.ConcurrentTransactions.Code}
	}
	// A producer giving its ID is fenced unless the ID was just created,
	// is the current one (its epoch is checked below), or is the previous
	// one with an exhausted epoch: a retry after a rotation whose answer
	// was lost.
	if expected != nil && cur.producerEpoch != noProducerEpoch && expected.id != cur.producerID &&
		!(expected.id == cur.prevProducerID && epochExhausted(expected.epoch)) {
		return initDecision{code: kerr.ProducerFenced.Code}
	}
	switch cur.state {
	case statePrepareCommit, statePrepareAbort:
		return initDecision{code: kerr.ConcurrentTransactions.Code}
	case stateOngoing:
		// Abort it first at a bumped epoch that is never handed out;
		// the client retries and gets a second bump (or a new ID).
		return initDecision{fence: true}
	case stateEmpty, stateCompleteCommit, stateCompleteAbort:
	default:
		return initDecision{code: kerr.InvalidTxnState.Code}
	}

	v := *cur
	v.state = stateEmpty
	v.timeoutMs = timeout
	v.partitions = make(partitionSet)
	v.startMs = -1
	v.updateMs = c.nowMs()
	v.prevProducerID = cur.producerID
	v.nextProducerID = noProducerID
	if epochExhausted(cur.producerEpoch) && (expected == nil || expected.epoch == cur.producerEpoch) {
		if newID == noProducerID {
			return initDecision{needID: true}
		}
		v.producerID, v.producerEpoch = newID, 0
		v.lastEpoch = noProducerEpoch
		if expected != nil {
			v.lastEpoch = cur.producerEpoch
		}
		return initDecision{v: &v}
	}
	switch {
	case expected == nil:
		// A new producer, or one that lost its epoch.
		v.producerEpoch, v.lastEpoch = cur.producerEpoch+1, noProducerEpoch
	case cur.producerEpoch == noProducerEpoch || expected.epoch == cur.producerEpoch:
		v.producerEpoch, v.lastEpoch = cur.producerEpoch+1, cur.producerEpoch
	case expected.epoch == cur.lastEpoch:
		// A retry of a bump that succeeded: the same epoch again.
	default:
		return initDecision{code: kerr.ProducerFenced.Code}
	}
	return initDecision{v: &v}
}

// fenceValue is the PrepareAbort state that fences an Ongoing transaction
// (Kafka's prepareFenceProducerEpoch followed by the abort). The fence
// bumps the epoch; for a transaction-version-2 transaction the abort bumps
// it once more, as every version-2 EndTxn does, so the fenced producer's
// epoch ends two below the new one and its EndTxn is never taken for the
// retry of a bump it asked for. Neither epoch is handed to a client, so no
// retry may claim them (lastEpoch -1). The epoch stops at Short.MaxValue,
// which is kept for fences (decideEndV2 takes no retry at it); the next
// InitProducerId then moves the transactional ID to a new producer ID.
// After a fence whose write failed the epoch in memory is already the
// fence's and is kept. The caller holds p.mu.
func (c *coordinator) fenceValue(t *txn) *txnValue {
	v := t.cur
	if !t.failedFence {
		bumps := int32(1)
		if v.tv >= 2 {
			bumps = 2
		}
		v.producerEpoch = int16(min(int32(v.producerEpoch)+bumps, math.MaxInt16))
	}
	v.lastEpoch = noProducerEpoch
	v.nextProducerID = noProducerID
	v.state = statePrepareAbort
	v.updateMs = c.nowMs()
	return &v
}

// writeFence writes an epoch fence. When the write fails the bumped epoch
// is kept in memory, as Kafka does, so the fenced producer stays fenced;
// the next fence then does not bump again.
func (c *coordinator) writeFence(ctx context.Context, p *partition, t *txn, v *txnValue) int16 {
	code := c.write(ctx, p, t, v)
	if code == 0 {
		return 0
	}
	p.mu.Lock()
	if !p.unloaded && p.txns[t.id] == t && t.pending == nil && t.cur.state == stateOngoing {
		t.cur.producerEpoch = v.producerEpoch
		t.cur.lastEpoch = noProducerEpoch
		t.failedFence = true
	}
	p.mu.Unlock()
	return code
}

func (c *coordinator) nextProducerID(ctx context.Context) (int64, int16) {
	id, err := c.cfg.ProducerIDs.Next(ctx)
	if err != nil {
		c.logger.Warn("allocating a producer ID failed", "err", err)
		return noProducerID, producerIDCode(err)
	}
	return id, 0
}

// producerIDCode maps a failure to allocate producer IDs: a Kafka code is
// kept, anything else is the retriable COORDINATOR_LOAD_IN_PROGRESS Kafka
// answers while no block of IDs is available.
func producerIDCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.CoordinatorLoadInProgress.Code
}
