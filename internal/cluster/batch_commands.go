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
	w := wireCreateTopics{Topics: make([]wireCreateTopic, len(c.Topics))}
	for i, t := range c.Topics {
		w.Topics[i] = wireCreateTopic(t)
	}
	return w
}

func fromWireCreateTopics(w wireCreateTopics) CreateTopics {
	c := CreateTopics{Topics: make([]CreateTopic, len(w.Topics))}
	for i, t := range w.Topics {
		c.Topics[i] = CreateTopic(t)
	}
	return c
}

func toWireAlterPartitions(c AlterPartitions) wireAlterPartitions {
	w := wireAlterPartitions{Items: make([]wireAlterPartition, len(c.Items))}
	for i, a := range c.Items {
		w.Items[i] = wireAlterPartition(a)
	}
	return w
}

func fromWireAlterPartitions(w wireAlterPartitions) AlterPartitions {
	c := AlterPartitions{Items: make([]AlterPartition, len(w.Items))}
	for i, a := range w.Items {
		c.Items[i] = AlterPartition(a)
	}
	return c
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
