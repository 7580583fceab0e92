package broker

// AlterReplicaLogDirs, versions 0-2 (KIP-113): moves partitions hosted on
// this broker between its log directories (log.dirs). The answer comes at
// once, per partition: NONE when the move was accepted (it then runs in the
// background while the partition keeps serving; DescribeLogDirs shows its
// progress as a "future" replica in the target directory),
// LOG_DIR_NOT_FOUND when the directory is not one of log.dirs (compared as
// absolute paths), KAFKA_STORAGE_ERROR when the target or the current
// directory is offline, UNKNOWN_TOPIC_OR_PARTITION for a partition that
// does not exist and REPLICA_NOT_AVAILABLE for one not hosted here. Moving
// a partition to the directory it is in cancels a move in progress, and a
// move to a third directory replaces it, as in Kafka. Unlike Kafka, a
// partition that is not yet created here does not remember the request.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/replica"
)

func (b *Broker) alterReplicaLogDirs(ctx context.Context, _ *Client, req *kmsg.AlterReplicaLogDirsRequest) *kmsg.AlterReplicaLogDirsResponse {
	resp := req.ResponseKind().(*kmsg.AlterReplicaLogDirsResponse)
	img := b.cfg.Cluster.Image()
	index := map[string]int{} // topic -> position in resp.Topics
	for _, d := range req.Dirs {
		for _, t := range d.Topics {
			i, ok := index[t.Topic]
			if !ok {
				i = len(resp.Topics)
				index[t.Topic] = i
				rt := kmsg.NewAlterReplicaLogDirsResponseTopic()
				rt.Topic = t.Topic
				resp.Topics = append(resp.Topics, rt)
			}
			for _, part := range t.Partitions {
				rp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
				rp.Partition = part
				rp.ErrorCode = moveErrorCode(b.moveReplica(ctx, img, d.Dir, t.Topic, part))
				if rp.ErrorCode != 0 {
					b.logger.Debug("alter replica log dir refused", "topic", t.Topic, "partition", part, "dir", d.Dir, "code", rp.ErrorCode)
				}
				resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
			}
		}
	}
	return resp
}

func (b *Broker) moveReplica(ctx context.Context, img *cluster.Image, dir, topic string, partition int32) error {
	t := img.Topics.Value(topic)
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return kerrf(kerr.UnknownTopicOrPartition, "%s-%d does not exist", topic, partition)
	}
	return b.cfg.Replicas.MoveToDir(ctx, replica.TopicPartition{Topic: topic, Partition: partition}, dir)
}

// moveErrorCode maps the errors of a move between log directories; the
// rest go through errorCode.
func moveErrorCode(err error) int16 {
	switch {
	case errors.Is(err, replica.ErrLogDirNotFound):
		return kerr.LogDirNotFound.Code
	case errors.Is(err, replica.ErrNotHosted):
		return kerr.ReplicaNotAvailable.Code
	}
	return errorCode(err)
}
