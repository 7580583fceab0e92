package cluster

// Commands of many items: CreateTopics and AlterPartitions. One Raft entry
// (one fsync of the metadata log, one apply, one copy of the image's maps)
// carries what would otherwise be one command per topic or partition, the
// way Kafka's controller commits a CreateTopics request's topics in one
// batch and answers one AlterPartition request for many partitions. Each
// item is checked and applied exactly as its single command would be, in
// order, and fails alone: the others still apply.

import (
	"errors"
	"fmt"
)

// itemResults is what a command of many items returns from Apply: each
// item's error, nil for one that applied.
type itemResults []error

// errNoItems refuses a command of many items that holds none.
var errNoItems = errors.New("cluster: a command of many items holds none")

func applyCreateTopics(b *imageBuilder, c CreateTopics) error {
	if len(c.Topics) == 0 {
		return fmt.Errorf("create topics: %w", errNoItems)
	}
	res := make(itemResults, len(c.Topics))
	for i, t := range c.Topics {
		res[i] = applyCreateTopic(b, t)
	}
	b.result = res
	return nil
}

func applyAlterPartitions(b *imageBuilder, c AlterPartitions) error {
	if len(c.Items) == 0 {
		return fmt.Errorf("alter partitions: %w", errNoItems)
	}
	res := make(itemResults, len(c.Items))
	for i, a := range c.Items {
		res[i] = applyAlterPartition(b, a)
	}
	b.result = res
	return nil
}

// Payloads, version 1.
type (
	wireCreateTopics struct {
		Topics []wireCreateTopic `json:"topics"`
	}
	wireAlterPartitions struct {
		Items []wireAlterPartition `json:"items"`
	}
)

func toWireCreateTopics(c CreateTopics) wireCreateTopics {
	return wireCreateTopics{Topics: convertAll(c.Topics, func(t CreateTopic) wireCreateTopic { return wireCreateTopic(t) })}
}

func fromWireCreateTopics(w wireCreateTopics) CreateTopics {
	return CreateTopics{Topics: convertAll(w.Topics, func(t wireCreateTopic) CreateTopic { return CreateTopic(t) })}
}

func toWireAlterPartitions(c AlterPartitions) wireAlterPartitions {
	return wireAlterPartitions{Items: convertAll(c.Items, func(a AlterPartition) wireAlterPartition { return wireAlterPartition(a) })}
}

func fromWireAlterPartitions(w wireAlterPartitions) AlterPartitions {
	return AlterPartitions{Items: convertAll(w.Items, func(a wireAlterPartition) AlterPartition { return AlterPartition(a) })}
}

// convertAll converts every element of s (nil stays nil: an absent list
// decodes as it was encoded).
func convertAll[A, B any](s []A, conv func(A) B) []B {
	if s == nil {
		return nil
	}
	out := make([]B, len(s))
	for i, v := range s {
		out[i] = conv(v)
	}
	return out
}

// toWireItems encodes a command's item results for the control RPC.
func toWireItems(r itemResults) []*wireError {
	out := make([]*wireError, len(r))
	for i, err := range r {
		out[i] = toWireError(err)
	}
	return out
}

// itemErrorsFrom decodes the item results of a proposal: nil when every
// item applied. ownTopic tells, for a CreateTopics retried across a leader
// change, a topic this proposal created the first time (ErrTopicExists
// with its own ID) from somebody else's.
func itemErrorsFrom(items []*wireError, ownTopic func(i int) bool) error {
	var errs []error
	for i, w := range items {
		err := w.err()
		if err == nil || (errors.Is(err, ErrTopicExists) && ownTopic != nil && ownTopic(i)) {
			continue
		}
		if errs == nil {
			errs = make([]error, len(items))
		}
		errs[i] = err
	}
	if errs == nil {
		return nil
	}
	return &ItemErrors{Errs: errs}
}
