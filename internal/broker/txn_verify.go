package broker

// Transaction verification (KIP-890 part 1,
// transaction.partition.verification.enable, on by default as in Kafka):
// before the first batch of a producer's transaction is written to a
// partition, the leader asks the transaction coordinator, with a
// verify-only AddPartitionsToTxn, whether the partition was added to that
// transaction. A batch arriving after its transaction ended (a retry that
// lost a race with an abort) would otherwise open a transaction that
// nobody ends, holding the last stable offset back forever; it gets
// INVALID_TXN_STATE instead.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
	"github.com/sluice-io/sluice/internal/txn"
)

// verifyTimeout bounds one verification; the produce is answered with a
// retriable error after it.
const verifyTimeout = 10 * time.Second

// needsVerification reports whether a transactional batch would open a
// transaction in the partition: its producer has none open there at this
// epoch.
func needsVerification(part *replica.Partition, h record.Header) bool {
	st, ok := part.Log().ProducerState(h.ProducerID)
	return !ok || st.TxnFirstOffset < 0 || st.Epoch != h.ProducerEpoch
}

// verifyTxn asks the coordinator of txnID whether topic/partition is in
// the producer's ongoing transaction.
func (b *Broker) verifyTxn(ctx context.Context, txnID string, h record.Header, topic string, partition int32) error {
	return b.txnPartition(ctx, txnID, h.ProducerID, h.ProducerEpoch, topic, partition, false)
}

// addTxnPartition adds topic/partition to the producer's transaction
// through its coordinator, as the broker does for clients of transaction
// version 2 (KIP-890 part 2): Produce v12+ and TxnOffsetCommit v5+ imply
// the AddPartitionsToTxn (and AddOffsetsToTxn) those clients no longer
// send.
func (b *Broker) addTxnPartition(ctx context.Context, txnID string, producerID int64, epoch int16, topic string, partition int32) error {
	return b.txnPartition(ctx, txnID, producerID, epoch, topic, partition, true)
}

// txnPartition sends a verify-only (add false) or adding AddPartitionsToTxn
// for one partition to the coordinator of txnID, locally or to its broker.
func (b *Broker) txnPartition(ctx context.Context, txnID string, producerID int64, epoch int16, topic string, partition int32, add bool) error {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	if add {
		req.Version = 5
	}
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txnID, producerID, epoch, !add
	rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	tx.Topics = append(tx.Topics, rt)
	req.Transactions = append(req.Transactions, tx)

	img := b.cfg.Cluster.Image()
	t := img.Topics[txn.StateTopic]
	p := b.cfg.Txns.PartitionFor(txnID)
	if t == nil || int(p) >= len(t.Partitions) {
		return kerrf(kerr.InvalidTxnState, "no transaction coordinator knows %q", txnID)
	}
	backoff := concurrentTxnBackoff
	for {
		code, err := b.sendTxnPartition(ctx, img, t.Partitions[p].Leader, txnID, req)
		if err != nil {
			return err
		}
		if code != kerr.ConcurrentTransactions.Code {
			if code != 0 {
				return verifyError(txnID, code)
			}
			return nil
		}
		// The coordinator is still ending the producer's previous
		// transaction (its markers are on their way): retry shortly
		// rather than send the client into a metadata refresh, as
		// Kafka's add.partitions.to.txn.retry.backoff.ms does.
		select {
		case <-ctx.Done():
			return verifyError(txnID, code)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, concurrentTxnBackoffMax)
		img = b.cfg.Cluster.Image()
		if t = img.Topics[txn.StateTopic]; t == nil || int(p) >= len(t.Partitions) {
			return kerrf(kerr.InvalidTxnState, "no transaction coordinator knows %q", txnID)
		}
	}
}

// The backoff between tries while the coordinator answers
// CONCURRENT_TRANSACTIONS (Kafka's add.partitions.to.txn.retry.backoff.ms
// and .max.ms defaults).
const (
	concurrentTxnBackoff    = 20 * time.Millisecond
	concurrentTxnBackoffMax = 100 * time.Millisecond
)

// sendTxnPartition sends req to the coordinator on broker leader (this
// one, or a peer) and returns the first error code of its answer.
func (b *Broker) sendTxnPartition(ctx context.Context, img *cluster.Image, leader int32, txnID string, req *kmsg.AddPartitionsToTxnRequest) (int16, error) {
	var resp *kmsg.AddPartitionsToTxnResponse
	if leader == b.cfg.NodeID {
		resp = b.cfg.Txns.AddPartitionsToTxn(ctx, req)
	} else {
		br, ok := img.Brokers[leader]
		if !ok || br.Fenced {
			return 0, kerrf(kerr.NotEnoughReplicas, "the transaction coordinator of %q is not available", txnID)
		}
		r, err := b.peers.request(ctx, br, req)
		if err != nil {
			return 0, kerrf(kerr.NotEnoughReplicas, "verify the transaction of %q with broker %d: %v", txnID, leader, err)
		}
		resp = r.(*kmsg.AddPartitionsToTxnResponse)
	}
	if resp.ErrorCode != 0 {
		return resp.ErrorCode, nil
	}
	for _, tr := range resp.Transactions {
		for _, rt := range tr.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					return rp.ErrorCode, nil
				}
			}
		}
	}
	return 0, nil
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
