package broker

// Named listeners: a client is told the addresses of the listener its
// connection came in on (Client.Listener), in Metadata, DescribeCluster
// and FindCoordinator, as Kafka does. A broker registered without named
// listeners has one address for all of them.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
)

// coordinatorListener gives a found coordinator the address of the
// listener the client came in on.
func coordinatorListener(img *cluster.Image, listener string, c *kmsg.FindCoordinatorResponseCoordinator) error {
	ep, ok := img.Brokers[c.NodeID].Endpoint(listener)
	if !ok {
		return kerrf(kerr.CoordinatorNotAvailable, "the coordinator has no listener %s", listener)
	}
	c.Host, c.Port = ep.Host, ep.Port
	return nil
}
