package broker

// Transaction verification (KIP-890 part 1,
// transaction.partition.verification.enable, on by default as in Kafka):
// before the first batch of a producer's transaction is written to a
// partition, the leader asks the transaction coordinator, with a
// verify-only AddPartitionsToTxn, whether the partition was added to that
// transaction. A batch arriving after its transaction ended (a retry that
// lost a race with an abort) would otherwise open a transaction that
// nobody ends, holding the last stable offset back forever; it gets
// INVALID_TXN_STATE instead. TxnOffsetCommit below v5 is verified the same
// way for the group's __consumer_offsets partition (txn.go).
//
// For clients of transaction version 2 (KIP-890 part 2) the same call adds
// the partitions instead of checking them: Produce v12+ and
// TxnOffsetCommit v5+ imply the AddPartitionsToTxn (and AddOffsetsToTxn)
// those clients no longer send. Every partition of one request goes to the
// coordinator in one call.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/txn"
)

// verifyTimeout bounds one verification; the produce is answered with a
// retriable error after it. A produce request waits at most half its own
// timeout.
const verifyTimeout = 10 * time.Second

// The backoff between tries while the coordinator answers
// CONCURRENT_TRANSACTIONS (Kafka's add.partitions.to.txn.retry.backoff.ms
// and .max.ms defaults).
const (
	concurrentTxnBackoff    = 20 * time.Millisecond
	concurrentTxnBackoffMax = 100 * time.Millisecond
)

// checkTransactions sends the partitions whose batch would open a
// transaction to the coordinator, verifying them (KIP-890 part 1) or, for
// Produce v12+ (transaction version 2), adding them, in one call per
// producer; a partition the coordinator refuses fails.
func (b *Broker) checkTransactions(ctx context.Context, req *kmsg.ProduceRequest, configs *imageConfigs, entries []produceEntry) {
	add := req.Version >= 12
	if req.TransactionID == nil || (!add && !configs.broker.Bool("transaction.partition.verification.enable")) {
		return
	}
	var byProducer map[txnProducer]map[string][]int32
	for k := range entries {
		e := &entries[k]
		if e.failed || !e.h.IsTransactional() {
			continue
		}
		// The guard is taken before the coordinator is asked: a marker
		// written meanwhile takes it back, and the append then fails
		// instead of opening a transaction that has ended (KIP-890's
		// VerificationGuard; internal/log/verification.go). A batch of
		// a transaction open here already needs no verification, but
		// still none may open one without a guard.
		e.verified = true
		if e.guard = e.part.Log().StartVerification(e.h.ProducerID, e.h.ProducerEpoch, add); e.guard == nil {
			continue
		}
		pr := txnProducer{*req.TransactionID, e.h.ProducerID, e.h.ProducerEpoch}
		if byProducer == nil {
			byProducer = map[txnProducer]map[string][]int32{}
		}
		if byProducer[pr] == nil {
			byProducer[pr] = map[string][]int32{}
		}
		byProducer[pr][e.t.Name] = append(byProducer[pr][e.t.Name], e.rp.Partition)
	}
	wait := verifyTimeout
	if req.TimeoutMillis > 0 {
		wait = min(wait, time.Duration(req.TimeoutMillis)*time.Millisecond/2)
	}
	for pr, parts := range byProducer {
		failed, err := b.txnPartitions(ctx, pr, parts, add, wait)
		for k := range entries {
			e := &entries[k]
			if e.failed || !e.h.IsTransactional() || e.h.ProducerID != pr.id || e.h.ProducerEpoch != pr.epoch {
				continue
			}
			switch {
			case err != nil:
				e.fail(abortableForVersion(err, req.Version > 10))
			case failed[topicPartition{e.t.Name, e.rp.Partition}] != nil:
				e.fail(abortableForVersion(failed[topicPartition{e.t.Name, e.rp.Partition}], req.Version > 10))
			}
		}
	}
}

// topicPartition names one partition.
type topicPartition struct {
	topic     string
	partition int32
}

// txnProducer is a transactional producer at one epoch.
type txnProducer struct {
	txnID string
	id    int64
	epoch int16
}

// txnPartitions checks (add false) or adds (add true) partitions, by
// topic, in the producer's ongoing transaction through its coordinator,
// locally or on its broker. It returns an error for the whole call, or
// the partitions that failed with their errors.
//
// While the coordinator cannot answer (it is still ending the producer's
// previous transaction, or it is unreachable, moving or loading: its
// broker was cut off and another takes its partition over) the call is
// retried, finding the coordinator in the image again each time, for up
// to wait: the client would otherwise retry only after its next metadata
// refresh, seconds later, though the new coordinator usually answers
// within a session timeout. A broker whose own session lapsed does not
// wait: its image no longer changes.
func (b *Broker) txnPartitions(ctx context.Context, pr txnProducer, parts map[string][]int32, add bool, wait time.Duration) (map[topicPartition]error, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// Version 5, as Kafka's brokers send it: a partition not in the
	// transaction is TRANSACTION_ABORTABLE, which the caller turns into
	// INVALID_TXN_STATE for a client that does not know it
	// (abortableForVersion).
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 5
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = pr.txnID, pr.id, pr.epoch, !add
	for topic, ps := range parts {
		rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		rt.Topic, rt.Partitions = topic, ps
		tx.Topics = append(tx.Topics, rt)
	}
	req.Transactions = append(req.Transactions, tx)

	backoff := concurrentTxnBackoff
	for {
		img := b.cfg.Cluster.Image()
		t := img.Topics.Value(txn.StateTopic)
		p := b.cfg.Txns.PartitionFor(pr.txnID)
		if t == nil || int(p) >= len(t.Partitions) {
			return nil, kerrf(kerr.InvalidTxnState, "no transaction coordinator knows %q", pr.txnID)
		}
		var last error
		resp, err := b.sendTxnPartitions(ctx, img, t.Partitions[p].Leader, pr.txnID, req)
		switch {
		case err != nil:
			last = err
		case resp.ErrorCode != 0 && !retriableVerify(resp.ErrorCode):
			return nil, verifyError(pr.txnID, resp.ErrorCode)
		case resp.ErrorCode != 0:
			last = verifyError(pr.txnID, resp.ErrorCode)
		default:
			failed, retry := partitionErrors(pr.txnID, resp)
			if retry == 0 {
				return failed, nil
			}
			last = verifyError(pr.txnID, retry)
		}
		// The coordinator is still ending the producer's previous
		// transaction (its markers are on their way), or is moving:
		// retry shortly rather than send the client into a metadata
		// refresh, as Kafka's add.partitions.to.txn.retry.backoff.ms
		// does.
		if b.sessionLapsed() {
			return nil, last
		}
		select {
		case <-ctx.Done():
			return nil, last
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, concurrentTxnBackoffMax)
	}
}

// retriableVerify reports whether a coordinator's answer to a
// verification is worth asking again shortly: it is ending the producer's
// previous transaction, or is not (or not yet) the coordinator.
func retriableVerify(code int16) bool {
	switch code {
	case kerr.ConcurrentTransactions.Code, kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code:
		return true
	}
	return false
}

// partitionErrors reads the per-partition answers; retry is a code among
// them worth asking again for (retriableVerify), which makes the whole
// call retry, or 0.
func partitionErrors(txnID string, resp *kmsg.AddPartitionsToTxnResponse) (failed map[topicPartition]error, retry int16) {
	for _, tr := range resp.Transactions {
		for _, rt := range tr.Topics {
			for _, rp := range rt.Partitions {
				switch {
				case rp.ErrorCode == 0:
				case retriableVerify(rp.ErrorCode):
					retry = rp.ErrorCode
				default:
					if failed == nil {
						failed = map[topicPartition]error{}
					}
					failed[topicPartition{rt.Topic, rp.Partition}] = verifyError(txnID, rp.ErrorCode)
				}
			}
		}
	}
	return failed, retry
}

// sendTxnPartitions sends req to the coordinator on broker leader: this
// one, or a peer.
func (b *Broker) sendTxnPartitions(ctx context.Context, img *cluster.Image, leader int32, txnID string, req *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, error) {
	if leader == b.cfg.NodeID {
		return b.cfg.Txns.AddPartitionsToTxn(ctx, req), nil
	}
	br, ok := img.Brokers[leader]
	if !ok || br.Fenced {
		return nil, kerrf(kerr.NotEnoughReplicas, "the transaction coordinator of %q is not available", txnID)
	}
	r, err := b.peers.request(ctx, br, req)
	if err != nil {
		return nil, kerrf(kerr.NotEnoughReplicas, "verify the transaction of %q with broker %d: %v", txnID, leader, err)
	}
	return r.(*kmsg.AddPartitionsToTxnResponse), nil
}

// abortableForVersion is err as a client of a request version without
// TRANSACTION_ABORTABLE gets it (Produce below v11, TxnOffsetCommit below
// v4, Kafka's DEFAULT_ERROR): INVALID_TXN_STATE in its place.
func abortableForVersion(err error, known bool) error {
	if known || !errors.Is(err, kerr.TransactionAbortable) {
		return err
	}
	return fmt.Errorf("%w: %v", kerr.InvalidTxnState, err)
}

// verifyError turns the coordinator's answer into the produce error Kafka
// gives: a coordinator that cannot answer now is retriable
// (NOT_ENOUGH_REPLICAS, as Kafka maps it), a fenced producer is fenced, and
// anything else means the partition is not in the transaction.
func verifyError(txnID string, code int16) error {
	switch err := kerr.ErrorForCode(code); err {
	case kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress, kerr.ConcurrentTransactions:
		return kerrf(kerr.NotEnoughReplicas, "the transaction coordinator of %q cannot verify now: %v", txnID, err)
	case kerr.ProducerFenced, kerr.InvalidProducerEpoch:
		return kerrf(kerr.InvalidProducerEpoch, "transactional ID %q: %v", txnID, err)
	case kerr.TransactionAbortable:
		return kerrf(kerr.TransactionAbortable, "transactional ID %q: the partition is not in its ongoing transaction", txnID)
	default:
		return fmt.Errorf("%w: the partition is not in the ongoing transaction of %q (%v)", kerr.InvalidTxnState, txnID, err)
	}
}
