package broker

// The transaction APIs (KIP-98), answered by the transaction coordinator
// (internal/txn) or, for offsets, the group coordinator: InitProducerId
// v0-v5 with a transactional ID, AddPartitionsToTxn v0-v5 (v4+ batched,
// with the verify-only form of KIP-890), AddOffsetsToTxn v0-v4, EndTxn
// v0-v5, TxnOffsetCommit v0-v5 (KIP-447 group metadata; verified with the
// transaction coordinator before it is written, KIP-890 part 1),
// DescribeTransactions v0 and ListTransactions v0-v2 (KIP-664). The
// coordinator of a transactional ID is the leader of the
// __transaction_state partition the ID hashes to; FindCoordinator with key
// type 1 creates the topic on first use, with
// transaction.state.log.num.partitions partitions, compacted, and a
// replication factor of transaction.state.log.replication.factor capped at
// the number of brokers.

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/group"
	"github.com/sluice-io/sluice/internal/txn"
)

func (b *Broker) initProducerID(ctx context.Context, _ *Client, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	if req.TransactionalID != nil {
		return b.cfg.Txns.InitProducerID(ctx, req)
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	id, err := b.cfg.Producers.Next(ctx)
	if err != nil {
		b.logger.Warn("allocate producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

// addPartitionsToTxn refuses, in a client's request (v0-3), the partitions
// of internal topics (TOPIC_AUTHORIZATION_FAILED, the others
// OPERATION_NOT_ATTEMPTED), authorizer or not, as Kafka: a client must not
// have the coordinator write its markers into __consumer_offsets or
// __transaction_state. Offsets join a transaction by AddOffsetsToTxn.
func (b *Broker) addPartitionsToTxn(ctx context.Context, _ *Client, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	if req.Version < 4 {
		internal := map[string]bool{}
		for _, t := range req.Topics {
			if isInternalTopic(t.Topic) {
				internal[t.Topic] = true
			}
		}
		if len(internal) > 0 {
			return answerAddPartitions(req, deniedOrNotAttempted(internal))
		}
	}
	return b.cfg.Txns.AddPartitionsToTxn(ctx, req)
}

func (b *Broker) addOffsetsToTxn(ctx context.Context, _ *Client, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	return b.cfg.Txns.AddOffsetsToTxn(ctx, req)
}

func (b *Broker) endTxn(ctx context.Context, _ *Client, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	return b.cfg.Txns.EndTxn(ctx, req)
}

func (b *Broker) describeTransactions(ctx context.Context, _ *Client, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	return b.cfg.Txns.DescribeTransactions(ctx, req)
}

func (b *Broker) listTransactions(ctx context.Context, _ *Client, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	return b.cfg.Txns.ListTransactions(ctx, req)
}

// txnOffsetCommit hands the offsets to the group coordinator, once the
// transaction coordinator agrees that the group's __consumer_offsets
// partition is in the producer's ongoing transaction. From v5 (transaction
// version 2) the client no longer sends AddOffsetsToTxn: the partition is
// added to the transaction here. Below v5 it is verified, as Kafka does
// with transaction.partition.verification.enable (KIP-890 part 1): an
// offset commit that arrives after its transaction ended would otherwise
// open a transaction on __consumer_offsets that no marker ends, keeping
// the group's offsets unstable and the partition's last stable offset
// back for good. A partition that is not in the transaction is
// INVALID_TXN_STATE, TRANSACTION_ABORTABLE from v4 (Kafka's
// genericErrorSupported); a fenced producer is INVALID_PRODUCER_EPOCH.
func (b *Broker) txnOffsetCommit(ctx context.Context, c *Client, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	add := req.Version >= 5
	if add || b.brokerConfig(b.cfg.Cluster.Image()).Bool("transaction.partition.verification.enable") {
		// KIP-890's VerificationGuard, taken before asking: a marker of
		// the producer written meanwhile refuses the write.
		guard, created := b.cfg.Groups.StartTxnVerification(req.Group, req.ProducerID, req.ProducerEpoch, add)
		ctx = group.WithVerificationGuard(ctx, guard)
		pr := txnProducer{req.TransactionalID, req.ProducerID, req.ProducerEpoch}
		tp := topicPartition{group.OffsetsTopic, b.cfg.Groups.PartitionFor(req.Group)}
		failed, err := b.txnPartitions(ctx, pr, map[string][]int32{tp.topic: {tp.partition}}, add, verifyTimeout)
		if err == nil {
			err = failed[tp]
		}
		if err != nil {
			if created {
				b.cfg.Groups.EndTxnVerification(req.ProducerID, guard, req.ProducerEpoch)
			}
			return txnOffsetCommitError(req, abortableForVersion(err, req.Version >= 4))
		}
	}
	return b.cfg.Groups.TxnOffsetCommit(group.WithClient(ctx, c.ID, c.Addr), req)
}

// txnOffsetCommitError answers every partition of req with err's code.
func txnOffsetCommitError(req *kmsg.TxnOffsetCommitRequest, err error) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	code := errorCode(err)
	if code == kerr.NotEnoughReplicas.Code {
		code = kerr.CoordinatorNotAvailable.Code // retriable for the client
	}
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// txnCoordinator finds the coordinator of a transactional ID: the leader
// of its __transaction_state partition.
func (b *Broker) txnCoordinator(ctx context.Context, id string, c *kmsg.FindCoordinatorResponseCoordinator) error {
	if id == "" {
		return kerrf(kerr.InvalidRequest, "empty transactional ID")
	}
	if b.sessionLapsed() {
		// Its image may name it, or a broker fenced since, as the
		// coordinator: the client should ask a broker that knows.
		return kerrf(kerr.CoordinatorNotAvailable, "broker %d is cut off from the controller", b.cfg.NodeID)
	}
	img, err := b.ensureTxnStateTopic(ctx)
	if err != nil {
		return err
	}
	return coordinatorAt(img, txn.StateTopic, b.cfg.Txns.PartitionFor(id), c)
}

// sessionLapsed reports whether this broker's session with the controller
// may have ended (cluster.Node.SessionExpiry): cut off from the controller
// or frozen, it may have been fenced, and the leaders its image names
// replaced, without its knowing.
func (b *Broker) sessionLapsed() bool {
	exp, bounded := b.cfg.Cluster.SessionExpiry()
	return bounded && !time.Now().Before(exp)
}

// coordinatorAt fills c with the leader of an internal topic's partition.
func coordinatorAt(img *cluster.Image, topic string, p int32, c *kmsg.FindCoordinatorResponseCoordinator) error {
	t := img.Topics.Value(topic)
	if int(p) >= len(t.Partitions) {
		return kerrf(kerr.CoordinatorNotAvailable, "%s has %d partitions, fewer than configured", topic, len(t.Partitions))
	}
	br, ok := img.Brokers[t.Partitions[p].Leader]
	if !ok || br.Fenced {
		return kerr.CoordinatorNotAvailable
	}
	c.NodeID, c.Host, c.Port = br.ID, br.Host, br.Port
	return nil
}

// ensureTxnStateTopic creates __transaction_state if it does not exist.
func (b *Broker) ensureTxnStateTopic(ctx context.Context) (*cluster.Image, error) {
	return b.ensureInternalTopic(ctx, txn.StateTopic, func(img *cluster.Image, bcfg *config.Broker) internalTopic {
		rf := min(int(bcfg.Int64("transaction.state.log.replication.factor")), len(img.Brokers))
		minISR := min(int(bcfg.Int64("transaction.state.log.min.isr")), max(rf, 1))
		return internalTopic{
			partitions: int32(bcfg.Int64("transaction.state.log.num.partitions")),
			rf:         rf,
			configs: map[string]string{
				"cleanup.policy":      "compact",
				"compression.type":    "uncompressed",
				"min.insync.replicas": strconv.Itoa(minISR),
				"segment.bytes":       strconv.FormatInt(bcfg.Int64("transaction.state.log.segment.bytes"), 10),
			},
		}
	})
}

// internalTopic is how an internal topic is created.
type internalTopic struct {
	partitions int32
	rf         int // capped at the number of brokers
	configs    map[string]string
}

// ensureInternalTopic creates an internal topic if it does not exist, as
// spec describes it for the current image and broker config.
func (b *Broker) ensureInternalTopic(ctx context.Context, name string, spec func(*cluster.Image, *config.Broker) internalTopic) (*cluster.Image, error) {
	img := b.cfg.Cluster.Image()
	if img.Topics.Value(name) != nil {
		return img, nil
	}
	it := spec(img, b.brokerConfig(img))
	rf := max(min(it.rf, len(img.Brokers)), 1)
	replicas, err := placeReplicas(img, name, 0, it.partitions, int16(rf))
	if err != nil {
		return nil, kerrf(kerr.CoordinatorNotAvailable, "create %s: %v", name, err)
	}
	err = b.cfg.Cluster.Propose(ctx, cluster.CreateTopic{Name: name, ID: newTopicID(), Replicas: replicas, Configs: it.configs})
	if err != nil && !errors.Is(err, cluster.ErrTopicExists) {
		return nil, kerrf(kerr.CoordinatorNotAvailable, "create %s: %v", name, err)
	}
	b.reconcile()
	b.logger.Info("created an internal topic", "topic", name, "partitions", it.partitions, "replication_factor", rf)
	return b.cfg.Cluster.Image(), nil
}
