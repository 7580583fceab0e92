package node

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/quota"
)

// decompressionBudget is sluice.decompression.max.bytes, with -1 (the
// default) resolved from the memory the process may use.
func decompressionBudget(static *config.Broker) int64 {
	if v := static.Int64("sluice.decompression.max.bytes"); v > 0 {
		return v
	}
	return quota.DefaultDecompressionBudget(quota.Memory())
}

// connectionLimits reads max.connections and its kin from an effective
// broker config. A malformed max.connections.per.ip.overrides keeps the
// overrides out and is logged.
func connectionLimits(cfg *config.Broker, logger *slog.Logger) quota.ConnectionLimits {
	ov, err := quota.ParseOverrides(cfg.String("max.connections.per.ip.overrides"))
	if err != nil {
		logger.Warn("ignoring max.connections.per.ip.overrides", "err", err)
	}
	rate := float64(cfg.Int64("max.connection.creation.rate"))
	if rate >= 1<<31-1 {
		rate = 0 // Kafka's default: no limit
	}
	return quota.ConnectionLimits{
		Max:          int(cfg.Int64("max.connections")),
		PerIP:        int(cfg.Int64("max.connections.per.ip")),
		Overrides:    ov,
		CreationRate: rate,
	}
}

// watchConnectionLimits applies dynamic changes of the connection limits
// (AlterConfigs on the cluster default or this broker) until ctx ends.
func (n *Node) watchConnectionLimits(ctx context.Context, static *config.Broker, conns *quota.Connections) {
	conns.SetIPRates(n.ipConnectionRate)
	n.watchImages(ctx, nil, func(prev, img *cluster.Image) {
		if c, ok := img.ChangesSince(lastIndex(prev)); prev == nil || !ok || c.BrokerConfigs {
			conns.SetLimits(connectionLimits(broker.EffectiveConfig(static, img, n.cfg.NodeID), n.logger))
		}
	})
}

// ipConnectionRate is an address's connection_creation_rate quota: its
// own ip entity's, else the default ip entity's (KIP-612).
func (n *Node) ipConnectionRate(ip netip.Addr) (float64, bool) {
	img := n.cluster.Image()
	if !img.HasClientQuotas() {
		return 0, false
	}
	for _, p := range []quota.Part{quota.Named(ip.Unmap().String()), quota.DefaultPart} {
		if q, ok := img.ClientQuota(quota.Entity{IP: p}); ok {
			if v, ok := q[quota.ConnectionCreationRate]; ok {
				return v, true
			}
		}
	}
	return 0, false
}

func lastIndex(img *cluster.Image) uint64 {
	if img == nil {
		return 0
	}
	return img.Index
}
