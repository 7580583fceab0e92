package cluster

import (
	"context"
	"fmt"
)

// EndControlledShutdown undoes ControlledShutdown for a broker that kept
// running (maintenance): it registers again without ShuttingDown, so it
// may lead partitions left without a leader at once, and rejoins the ISRs
// as its followers catch up; the controller's preferred-leader elections
// give it back the leaderships it prefers.
func (n *Node) EndControlledShutdown(ctx context.Context) error {
	b, ok := n.Image().Brokers[n.cfg.NodeID]
	if !ok {
		return fmt.Errorf("cluster: broker %d is not registered", n.cfg.NodeID)
	}
	if !b.ShuttingDown {
		return nil
	}
	b.ShuttingDown = false
	return n.propose(ctx, RegisterBroker{Broker: b})
}
