package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

// errorCode maps an internal error to its Kafka error code, in one place.
func errorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, log.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, log.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, log.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, log.ErrTxnCoordinatorFenced):
		return kerr.TransactionCoordinatorFenced.Code
	case errors.Is(err, log.ErrInvalidTxnState):
		return kerr.InvalidTxnState.Code
	case errors.Is(err, log.ErrOffline), errors.Is(err, log.ErrCorruption):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, log.ErrClosed), errors.Is(err, replica.ErrNotLeader), errors.Is(err, replica.ErrUnknownReplica):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, replica.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas.Code
	case errors.Is(err, replica.ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend.Code
	case errors.Is(err, record.ErrCorrupt), errors.Is(err, record.ErrTruncated):
		return kerr.CorruptMessage.Code
	case errors.Is(err, record.ErrInvalid):
		return kerr.InvalidRecord.Code
	case errors.Is(err, cluster.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, cluster.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, cluster.ErrNotController):
		return kerr.NotController.Code
	case errors.Is(err, cluster.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, cluster.ErrInvalidReplication):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, cluster.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, cluster.ErrInvalidUpdateVersion):
		return kerr.InvalidUpdateVersion.Code
	case errors.Is(err, cluster.ErrNoLiveReplica):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, cluster.ErrIneligibleReplica):
		return kerr.IneligibleReplica.Code
	case errors.Is(err, cluster.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, cluster.ErrNoReassignment):
		return kerr.NoReassignmentInProgress.Code
	case errors.Is(err, cluster.ErrNotEligibleLeader):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, cluster.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, cluster.ErrOlderBrokers):
		return kerr.UnsupportedVersion.Code
	case errors.Is(err, cluster.ErrBrokerNotRegistered):
		return kerr.BrokerIDNotRegistered.Code
	case errors.Is(err, config.ErrInvalid), errors.Is(err, config.ErrUnknown):
		return kerr.InvalidConfig.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

// errorMessage is the message to send with a code, or nil for none.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// kafkaError is a Kafka error code with a message for the client.
type kafkaError struct {
	code *kerr.Error
	msg  string
}

func (e *kafkaError) Error() string { return e.msg }
func (e *kafkaError) Unwrap() error { return e.code }

// kerrf returns an error that maps to code and carries a message.
func kerrf(code *kerr.Error, format string, args ...any) error {
	return &kafkaError{code: code, msg: fmt.Sprintf(format, args...)}
}
