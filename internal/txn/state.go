package txn

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Records in __transaction_state are Kafka's, so Kafka's tools can read the
// topic and a Kafka coordinator could load it:
//
//	key   TxnMetadataKey version 0 (the transactional ID)
//	value TxnMetadataValue version 0, or version 1 (flexible, with the
//	      KIP-890 tagged fields) for transactions of a version-2 client
//
// A nil value is a tombstone: the transactional ID expired. Replay applies
// records in log order and the last one per key wins, so compaction does
// not change what a replay rebuilds. One record is written per state
// transition; PrepareEpochFence and Dead are never written.
const (
	txnKeyVersion = 0

	// noProducerID and noProducerEpoch are Kafka's RecordBatch
	// NO_PRODUCER_ID and NO_PRODUCER_EPOCH.
	noProducerID    = -1
	noProducerEpoch = -1

	// consumerOffsetsTopic is where AddOffsetsToTxn's partition lives.
	consumerOffsetsTopic = "__consumer_offsets"
)

// Transaction states, Kafka's TransactionState.
const (
	stateEmpty             = kmsg.TransactionStateEmpty
	stateOngoing           = kmsg.TransactionStateOngoing
	statePrepareCommit     = kmsg.TransactionStatePrepareCommit
	statePrepareAbort      = kmsg.TransactionStatePrepareAbort
	stateCompleteCommit    = kmsg.TransactionStateCompleteCommit
	stateCompleteAbort     = kmsg.TransactionStateCompleteAbort
	stateDead              = kmsg.TransactionStateDead
	statePrepareEpochFence = kmsg.TransactionStatePrepareEpochFence
)

// stateNames are the names Kafka's DescribeTransactions and
// ListTransactions use.
var stateNames = map[kmsg.TransactionState]string{
	stateEmpty:             "Empty",
	stateOngoing:           "Ongoing",
	statePrepareCommit:     "PrepareCommit",
	statePrepareAbort:      "PrepareAbort",
	stateCompleteCommit:    "CompleteCommit",
	stateCompleteAbort:     "CompleteAbort",
	stateDead:              "Dead",
	statePrepareEpochFence: "PrepareEpochFence",
}

func stateName(s kmsg.TransactionState) string { return stateNames[s] }

func stateByName(name string) (kmsg.TransactionState, bool) {
	for s, n := range stateNames {
		if n == name {
			return s, true
		}
	}
	return 0, false
}

// epochExhausted reports whether a producer epoch may no longer be handed
// to a client: Short.MaxValue is kept so the coordinator can always fence.
func epochExhausted(epoch int16) bool { return epoch >= maxClientEpoch }

// maxClientEpoch is the last epoch a client may hold.
const maxClientEpoch = math.MaxInt16 - 1

type topicPartition struct {
	topic     string
	partition int32
}

type partitionSet map[topicPartition]struct{}

func (s partitionSet) union(add []topicPartition) partitionSet {
	out := maps.Clone(s)
	if out == nil {
		out = make(partitionSet, len(add))
	}
	for _, tp := range add {
		out[tp] = struct{}{}
	}
	return out
}

func (s partitionSet) containsAll(tps []topicPartition) bool {
	for _, tp := range tps {
		if _, ok := s[tp]; !ok {
			return false
		}
	}
	return true
}

// byTopic returns the partitions grouped by topic, topics and partitions
// sorted, for records, markers and responses that must be reproducible.
func (s partitionSet) byTopic() map[string][]int32 {
	out := make(map[string][]int32)
	for tp := range s {
		out[tp.topic] = append(out[tp.topic], tp.partition)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

func sortedTopics(m map[string][]int32) []string {
	return slices.Sorted(maps.Keys(m))
}

// txnValue is what one TxnMetadataValue holds, plus the last epoch (which
// Kafka keeps only in memory): a transactional ID's state, or a state it is
// being moved to (Kafka's TxnTransitMetadata).
type txnValue struct {
	producerID     int64
	prevProducerID int64
	nextProducerID int64
	producerEpoch  int16
	// lastEpoch is the epoch before the last bump, so that a client that
	// missed the answer to a bump can retry (KIP-360). Not persisted.
	lastEpoch  int16
	timeoutMs  int32
	state      kmsg.TransactionState
	partitions partitionSet
	startMs    int64 // -1 when no transaction has started
	updateMs   int64
	// tv is the client's transaction version: 2 for KIP-890 part 2
	// clients, whose epoch is bumped at every EndTxn.
	tv int16
}

// marshal encodes v as its __transaction_state value.
func (v *txnValue) marshal() []byte {
	mv := kmsg.NewTxnMetadataValue()
	if v.tv >= 2 {
		mv.Version = 1
		mv.PreviousProducerID = v.prevProducerID
		mv.NextProducerID = v.nextProducerID
		mv.ClientTransactionVersion = v.tv
	}
	mv.ProducerID = v.producerID
	mv.ProducerEpoch = v.producerEpoch
	mv.TimeoutMillis = v.timeoutMs
	mv.State = v.state
	byTopic := v.partitions.byTopic()
	mv.Topics = []kmsg.TxnMetadataValueTopic{}
	for _, t := range sortedTopics(byTopic) {
		mt := kmsg.NewTxnMetadataValueTopic()
		mt.Topic = t
		mt.Partitions = byTopic[t]
		mv.Topics = append(mv.Topics, mt)
	}
	mv.LastUpdateTimestamp = v.updateMs
	mv.StartTimestamp = v.startMs
	return mv.AppendTo(nil)
}

func txnKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version = txnKeyVersion
	k.TransactionalID = id
	return k.AppendTo(nil)
}

// unmarshalValue decodes a __transaction_state value. States never
// written (Dead, PrepareEpochFence) and unknown ones are errors.
func unmarshalValue(b []byte) (txnValue, error) {
	var mv kmsg.TxnMetadataValue
	if err := mv.ReadFrom(b); err != nil {
		return txnValue{}, err
	}
	if mv.Version > 1 {
		return txnValue{}, fmt.Errorf("unknown value version %d", mv.Version)
	}
	switch mv.State {
	case stateEmpty, stateOngoing, statePrepareCommit, statePrepareAbort, stateCompleteCommit, stateCompleteAbort:
	default:
		return txnValue{}, fmt.Errorf("state %d cannot be stored", mv.State)
	}
	if mv.ProducerID < 0 || mv.ProducerEpoch < 0 {
		return txnValue{}, fmt.Errorf("producer %d epoch %d", mv.ProducerID, mv.ProducerEpoch)
	}
	v := txnValue{
		producerID:     mv.ProducerID,
		prevProducerID: noProducerID,
		nextProducerID: noProducerID,
		producerEpoch:  mv.ProducerEpoch,
		lastEpoch:      noProducerEpoch,
		timeoutMs:      mv.TimeoutMillis,
		state:          mv.State,
		partitions:     make(partitionSet),
		startMs:        mv.StartTimestamp,
		updateMs:       mv.LastUpdateTimestamp,
	}
	if mv.Version >= 1 {
		v.prevProducerID = mv.PreviousProducerID
		v.nextProducerID = mv.NextProducerID
		v.tv = mv.ClientTransactionVersion
	}
	for _, t := range mv.Topics {
		for _, p := range t.Partitions {
			v.partitions[topicPartition{t.Topic, p}] = struct{}{}
		}
	}
	return v, nil
}

// txn is one transactional ID (Kafka's TransactionMetadata). Its partition's
// mu guards every field.
type txn struct {
	id  string
	cur txnValue
	// pending is the state being written; while it is set, other
	// requests get CONCURRENT_TRANSACTIONS (Kafka's pendingState). A
	// tombstone being written is a pending Dead state.
	pending *txnValue
	// completing is set while a goroutine writes the markers of a
	// Prepare* state and then its Complete* state; completed is closed
	// when that goroutine ends.
	completing bool
	completed  chan struct{}
	// failedFence is set when writing an epoch fence failed after the
	// epoch was bumped in memory: the next fence does not bump again.
	failedFence bool
}

// markerRequest is what the markers of a Prepare* state ask for.
func (v *txnValue) markerRequest(coordinatorEpoch int32) MarkerRequest {
	return MarkerRequest{
		ProducerID:       v.producerID,
		ProducerEpoch:    v.producerEpoch,
		Commit:           v.state == statePrepareCommit,
		CoordinatorEpoch: coordinatorEpoch,
		Partitions:       v.partitions.byTopic(),
	}
}

// completeValue is the Complete* state that follows the Prepare* state v
// once its markers are written (Kafka's prepareComplete). A version-2
// client whose epoch overflowed moves to the producer ID chosen at the
// prepare.
func (v *txnValue) completeValue(nowMs int64) *txnValue {
	c := *v
	c.state = stateCompleteAbort
	if v.state == statePrepareCommit {
		c.state = stateCompleteCommit
	}
	c.partitions = make(partitionSet)
	c.updateMs = nowMs
	if v.tv >= 2 && v.nextProducerID != noProducerID {
		c.prevProducerID = v.producerID
		c.producerID = v.nextProducerID
		c.producerEpoch = 0
	}
	c.nextProducerID = noProducerID
	return &c
}
