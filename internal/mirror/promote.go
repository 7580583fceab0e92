package mirror

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluice-io/sluice/internal/config"
)

// ErrNotMirror is a topic named for promotion that is not a mirror topic
// being mirrored.
var ErrNotMirror = errors.New("mirror: not a mirror topic")

// Promoted is one promoted topic.
type Promoted struct {
	Topic string `json:"topic"`
	// AbortedTxns counts transactions the source had left open in the
	// copied records, aborted on the target so that read_committed
	// consumers are not held back by a transaction that can never end
	// here.
	AbortedTxns int `json:"aborted_transactions"`
}

// Promote makes mirror topics writable, the failover step: their
// sluice.mirror.state becomes "promoted", the target refuses the mirror's
// copies from then on and takes clients' writes. With all, every topic
// being mirrored is promoted; otherwise each named topic must be one.
// Then every transaction still open in the copied records is aborted with
// a marker, as `kafka-transactions abort` would: its coordinator is on the
// source and can never end it here. A topic named that is promoted already
// has that step run again, so a promotion whose aborts failed is finished
// by promoting the topic again; --all leaves promoted topics alone.
// Transactions the target coordinates itself (clients writing to the
// promoted topic) are never aborted.
func Promote(ctx context.Context, dst *kadm.Client, topics []string, all bool) ([]Promoted, error) {
	if all {
		listed, err := dst.ListTopics(ctx)
		if err != nil {
			return nil, fmt.Errorf("list target topics: %w", err)
		}
		topics = listed.Names()
	}
	cfgs, err := topicConfigs(ctx, dst, topics)
	if err != nil {
		return nil, fmt.Errorf("describe topic configs: %w", err)
	}
	var todo, retry []string
	for _, t := range topics {
		rc, ok := cfgs[t]
		state := configValue(rc, config.MirrorStateConfig)
		switch {
		case state == config.MirrorStateMirroring:
			todo = append(todo, t)
		case all:
		case !ok:
			return nil, fmt.Errorf("topic %s: no such topic on the target", t)
		case state == config.MirrorStatePromoted:
			retry = append(retry, t)
		default:
			return nil, fmt.Errorf("%w: topic %s", ErrNotMirror, t)
		}
	}
	var out []Promoted
	for _, t := range retry {
		n, err := abortOpen(ctx, dst, t)
		out = append(out, Promoted{Topic: t, AbortedTxns: n})
		if err != nil {
			return out, fmt.Errorf("topic %s is promoted; abort the source's open transactions: %w (run `sluice mirror promote %s` again to retry)", t, err, t)
		}
	}
	for _, t := range todo {
		resps, err := dst.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: config.MirrorStateConfig, Value: kadm.StringPtr(config.MirrorStatePromoted)}}, t)
		if err == nil {
			for _, r := range resps {
				if r.Err != nil {
					err = fmt.Errorf("%w (%s)", r.Err, r.ErrMessage)
				}
			}
		}
		if err != nil {
			return out, fmt.Errorf("promote %s: %w", t, err)
		}
		n, err := abortOpen(ctx, dst, t)
		out = append(out, Promoted{Topic: t, AbortedTxns: n})
		if err != nil {
			return out, fmt.Errorf("promote %s: the topic is promoted, but aborting the source's open transactions failed: %w (run `sluice mirror promote %s` again to retry)", t, err, t)
		}
	}
	return out, nil
}

// abortOpen writes an ABORT marker for every producer with a transaction
// open in topic that the target does not coordinate: those are the
// source's, copied. It is safe to repeat.
func abortOpen(ctx context.Context, dst *kadm.Client, topic string) (int, error) {
	described, err := dst.DescribeProducers(ctx, kadm.TopicsSet{topic: nil})
	if err != nil {
		return 0, err
	}
	local, err := dst.ListTransactions(ctx, nil, nil)
	if err != nil {
		return 0, fmt.Errorf("list the target's own transactions: %w", err)
	}
	own := map[int64]bool{}
	for _, tx := range local {
		own[tx.ProducerID] = true
	}
	var markers []kadm.TxnMarkers
	var errs []error
	described.EachPartition(func(p kadm.DescribedProducersPartition) {
		if p.Err != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", p.Partition, p.Err))
			return
		}
		p.ActiveProducers.Each(func(d kadm.DescribedProducer) {
			if d.CurrentTxnStartOffset < 0 || own[d.ProducerID] {
				return
			}
			set := kadm.TopicsSet{}
			set.Add(topic, d.Partition)
			markers = append(markers, kadm.TxnMarkers{ProducerID: d.ProducerID, ProducerEpoch: d.ProducerEpoch, CoordinatorEpoch: d.CoordinatorEpoch, Topics: set})
		})
	})
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	if len(markers) == 0 {
		return 0, nil
	}
	resps, err := dst.WriteTxnMarkers(ctx, markers...)
	if err != nil {
		return 0, err
	}
	for _, r := range resps {
		r.Topics.EachPartition(func(p kadm.TxnMarkersPartitionResponse) {
			if p.Err != nil {
				errs = append(errs, fmt.Errorf("producer %d partition %d: %w", p.ProducerID, p.Partition, p.Err))
			}
		})
	}
	return len(markers), errors.Join(errs...)
}
