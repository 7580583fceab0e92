package cluster

// UnregisterBroker removes a broker from the cluster metadata (Kafka's
// UnregisterBroker, API 64, and kafka-cluster.sh unregister): for a broker
// that is gone for good. As Kafka's handleBrokerUnregistered, the broker
// leaves every ISR where it is not the last member and its leaderships
// move to the first live ISR member (the same as a fencing, brokerLeft);
// it stays listed in Replicas (until a reassignment moves them) but, no
// longer registered, is never elected. Kafka does not refuse a live
// broker, nor does Sluice: that broker's next heartbeat finds itself
// missing from the image and registers again (reregisterIfRemoved).
//
// Its registration held Image.CommandLevel down if it ran older software;
// once it is gone, the level is that of the brokers that remain.
//
// The command is a new type (cmdUnregisterBroker) without the ignore flag:
// software that does not know it stops at it (halt.go) rather than keep a
// broker the others removed.

import (
	"context"
	"errors"
	"fmt"
)

// ErrOlderBrokers refuses an UnregisterBroker while another registered
// broker runs software older than the command (it would stop at it).
var ErrOlderBrokers = errors.New("cluster: a registered broker runs older software")

// ErrBrokerNotRegistered is the error of an UnregisterBroker for a broker
// ID the image does not list (Kafka's BROKER_ID_NOT_REGISTERED).
var ErrBrokerNotRegistered = errors.New("cluster: broker ID not registered")

// UnregisterBroker removes broker ID from the cluster metadata.
type UnregisterBroker struct {
	ID int32
}

func (UnregisterBroker) isCommand() {}

type wireUnregisterBroker struct {
	ID int32 `json:"id"`
}

func applyUnregisterBroker(b *imageBuilder, c UnregisterBroker) error {
	if _, ok := b.next.Brokers[c.ID]; !ok {
		return fmt.Errorf("cluster: unregister broker %d: %w", c.ID, ErrBrokerNotRegistered)
	}
	b.deleteBroker(c.ID)
	b.brokerLeft(c.ID) // not registered, so not live: never elected
	return nil
}

func (b *imageBuilder) deleteBroker(id int32) {
	b.copyBrokers()
	delete(b.next.Brokers, id)
}

// unregisterLevel is the command level that brought UnregisterBroker.
const unregisterLevel = 2

// UnregisterBroker removes broker id from the cluster metadata, or returns
// ErrBrokerNotRegistered. It refuses (ErrOlderBrokers) while a broker
// other than id is registered at a level below unregisterLevel: that
// software does not know the command and would stop at it. The broker
// being removed may be of any level, which is what lifts a level held
// down by a broker gone for good.
func (n *Node) UnregisterBroker(ctx context.Context, id int32) error {
	if level := n.pub.image().commandLevelAs(id); level < unregisterLevel {
		return fmt.Errorf("cluster: unregister broker %d: metadata command level %d: %w; upgrade it first", id, level, ErrOlderBrokers)
	}
	return n.propose(ctx, UnregisterBroker{ID: id})
}

// reregisterIfRemoved registers this broker again, at a new broker epoch,
// when the image no longer lists it: it was unregistered while it ran.
// Called by the heartbeat loop once join has registered it.
func (n *node) reregisterIfRemoved() {
	if _, ok := n.pub.image().Brokers[n.cfg.NodeID]; ok || n.fsm.halt.err() != nil {
		return
	}
	self := n.selfBroker(n.pub.image())
	n.epoch.Store(self.Epoch)
	ctx, cancel := context.WithTimeout(n.ctx, n.sessionTimeout())
	defer cancel()
	if err := n.propose(ctx, RegisterBroker{Broker: self}); err != nil {
		n.logger.Warn("this broker was unregistered while running; registering it again failed", "broker", self.ID, "err", err)
		return
	}
	n.logger.Warn("this broker was unregistered while running; registered it again", "broker", self.ID, "epoch", self.Epoch)
}
