package cluster

import (
	"context"
	"fmt"
)

// EndControlledShutdown undoes ControlledShutdown for a broker that kept
// running (maintenance): it registers again without ShuttingDown, fenced,
// and returns once the controller has unfenced it at its next heartbeat,
// as at a start. It may then lead partitions left without a leader, and
// rejoins the ISRs as its followers catch up; the controller's
// preferred-leader elections give it back the leaderships it prefers.
// Registering unfenced instead would undo a fencing the controller
// committed after this read the image: a broker silent for its session
// would be named leader.
func (n *Node) EndControlledShutdown(ctx context.Context) error {
	b, ok := n.Image().Brokers[n.cfg.NodeID]
	if !ok {
		return fmt.Errorf("cluster: broker %d is not registered", n.cfg.NodeID)
	}
	if !b.ShuttingDown {
		return nil
	}
	b.ShuttingDown = false
	if n.mux == nil {
		// A one-voter cluster's controller fences nobody, and unfences
		// nobody either.
		return n.propose(ctx, RegisterBroker{Broker: b})
	}
	b.Fenced = true
	if err := n.propose(ctx, RegisterBroker{Broker: b}); err != nil {
		return err
	}
	return n.waitUnfenced(ctx)
}
