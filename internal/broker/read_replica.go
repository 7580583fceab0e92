package broker

import (
	"cmp"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/replica"
)

// Fetch from followers (KIP-392). Any replica serves a consumer that
// fetches from it (Fetch v11 and later), up to its own high watermark. A
// leader with replica.selector.class set tells a consumer whose rack
// (client.rack) is not its own, but is that of an in-sync follower holding
// the fetch offset, to read from that follower instead: the partition is
// answered with no records and the follower as its preferred read replica,
// as Kafka's RackAwareReplicaSelector does. Of several such followers it
// names the one with the most records, then the one caught up last.

// preferredReadReplica is the broker a consumer in rack, reaching this
// broker through listener, should fetch part from at fetchOffset instead of
// this leader; -1 for this one. scratch is reused for the candidates.
func (b *Broker) preferredReadReplica(img *cluster.Image, part *replica.Partition, rack, listener string, fetchOffset int64, scratch *[]replica.ReadReplica) int32 {
	if self, ok := img.Brokers[b.cfg.NodeID]; !ok || self.Rack == rack {
		return -1
	}
	*scratch = part.ReadReplicas(fetchOffset, b.cfg.Now(), (*scratch)[:0])
	best := replica.ReadReplica{ID: -1}
	for _, r := range *scratch {
		br, ok := img.Brokers[r.ID]
		if !ok || br.Fenced || br.ShuttingDown || br.Rack != rack {
			continue
		}
		if _, ok := br.Endpoint(listener); !ok {
			continue // the consumer could not reach it
		}
		if best.ID < 0 || cmp.Or(cmp.Compare(r.LEO, best.LEO), cmp.Compare(best.SinceCaughtUp, r.SinceCaughtUp)) > 0 {
			best = r
		}
	}
	return best.ID
}
