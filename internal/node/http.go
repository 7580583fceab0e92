package node

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/buildinfo"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/httpapi"
	"github.com/sluice-io/sluice/internal/metrics"
	"github.com/sluice-io/sluice/internal/server"
)

// observability is the node's HTTP admin listener and the metrics it
// serves (issue 14). It exists only when sluice.http.listen is set: without
// it the broker is not wrapped and requests are not counted.
type observability struct {
	reg  *prometheus.Registry
	http *httpapi.Server
	// wired is set once Start has assembled the node; until then /readyz
	// answers "starting" and reads nothing else of the node.
	wired    atomic.Bool
	opened   <-chan struct{}
	stopping atomic.Bool
}

// startHTTP binds and serves the admin listener at the start of Start, so
// that /healthz and /readyz answer while the node joins its cluster and
// opens its partitions. ls are the broker's settings with the
// listener.name.* overrides.
func (n *Node) startHTTP(ls *listenerSettings) error {
	static := ls.static
	addr := static.String("sluice.http.listen")
	if addr == "" {
		return nil
	}
	tlsCfg, err := n.httpTLS(ls) // http_security.go
	if err != nil {
		return err
	}
	httpAuth, err := n.httpAuth(ls)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if n.cfg.HTTPBestEffort {
			n.logger.Warn("HTTP admin listener not started; set --http-listen to another address, or empty to turn it off", "listen", addr, "err", err)
			return nil
		}
		return fmt.Errorf("HTTP admin listener: listen on %s: %w", addr, err)
	}
	o := &observability{reg: prometheus.NewRegistry()}
	o.http = httpapi.New(ln, httpapi.Config{
		NodeID:      n.cfg.NodeID,
		Gatherer:    o.reg,
		Ready:       n.readiness,
		Pprof:       static.Bool("sluice.http.pprof.enable"),
		Admin:       newAdminAPI(n),
		TLS:         tlsCfg,
		Auth:        httpAuth,
		MetricsOpen: !static.Bool("sluice.http.auth.metrics"),
		Logger:      n.logger.With("component", "http"),
	})
	n.obs = o
	o.http.Serve()
	n.logger.Info("HTTP admin listener", "listen", o.http.Addr(), "pprof", static.Bool("sluice.http.pprof.enable"),
		"tls", tlsCfg != nil, "auth", httpAuth != nil)
	return nil
}

// instrument wraps the broker with request and per-topic metrics when
// metrics are served, and returns it unwrapped otherwise.
func (n *Node) instrument(b *broker.Broker) server.Handler {
	if n.obs == nil {
		return b
	}
	topics := metrics.NewTopics(n.obs.reg,
		func(topic string) bool { return n.cluster.Image().Topics.Value(topic) != nil },
		func(id [16]byte) string {
			if t := n.cluster.Image().TopicsByID.Value(cluster.TopicID(id)); t != nil {
				return t.Name
			}
			return ""
		})
	return metrics.NewHandler(n.obs.reg, b, topics)
}

// observeNode registers the collectors of the node's state once Start has
// wired it; opened is closed once the partitions placed here at start-up
// are open.
func (n *Node) observeNode(static *config.Broker, opened <-chan struct{}) {
	if n.obs == nil {
		return
	}
	metrics.RegisterNode(n.obs.reg, metrics.NodeSources{
		NodeID:            n.cfg.NodeID,
		Image:             n.cluster.Image,
		Partitions:        n.replicas.Partitions,
		LogDirs:           n.replicas.LogDirs,
		LogDirOffline:     n.replicas.LogDirOffline,
		RaftStats:         n.cluster.RaftStats,
		Connections:       n.connections,
		Groups:            n.groups,
		MaxLagPartitions:  int(static.Int64("sluice.metrics.group.lag.max.partitions")),
		MaxSizePartitions: int(static.Int64("sluice.metrics.log.size.max.partitions")),
		Waiting:           n.broker.Waiting,
		Stats:             n.replicas.Stats(),
	})
	n.replicas.Stats().SetSyncObserver(metrics.NewSyncs(n.obs.reg))
	// issue 13: the memory budgets' use (internal/metrics/limits.go).
	metrics.RegisterLimits(n.obs.reg, metrics.LimitSources{
		Requests:      n.server.RequestBudget(),
		Decompression: n.broker.DecompressionBudget(),
		FetchBuffers:  n.broker.FetchBuffers,
	})
	// KIP-73: the replication throttles (internal/metrics/replication.go).
	metrics.RegisterReplicationThrottles(n.obs.reg, metrics.ReplicationThrottles{
		Leader:       n.replicas.LeaderThrottle(),
		Follower:     n.replicas.FollowerThrottle(),
		AlterLogDirs: n.replicas.AlterLogDirsThrottle(),
	})
	n.obs.opened = opened
	n.obs.wired.Store(true)
}

// connections counts the open Kafka connections of every listener,
// those with none included.
func (n *Node) connections() map[string]int {
	m := n.server.Connections()
	for _, spec := range n.specs {
		if _, ok := m[spec.name]; !ok {
			m[spec.name] = 0
		}
	}
	return m
}

// readiness is /readyz: the broker serves clients when it is registered
// and unfenced in the cluster metadata, a controller is known, the
// partitions it hosted at start-up are open, at least one of its log
// directories is online, and it is not stopping.
func (n *Node) readiness() httpapi.Readiness {
	r := httpapi.Readiness{NodeID: n.cfg.NodeID, Version: buildinfo.Get().Version, Checks: map[string]bool{}}
	check := func(name string, ok bool, reason string) {
		r.Checks[name] = ok
		if !ok {
			r.Reasons = append(r.Reasons, reason)
		}
	}
	o := n.obs
	wired := o.wired.Load()
	check("started", wired, "starting: joining the metadata quorum")
	if wired {
		img := n.cluster.Image()
		b, registered := img.Brokers[n.cfg.NodeID]
		check("registered", registered, "not registered in the cluster metadata")
		check("unfenced", registered && !b.Fenced, "fenced by the controller (no heartbeat within broker.session.timeout.ms)")
		check("controller_known", img.ControllerID >= 0, "no controller known (the metadata quorum has no leader)")
		opened := false
		select {
		case <-o.opened:
			opened = true
		default:
		}
		check("partitions_opened", opened, "partitions still opening")
		halted := false
		select {
		case <-n.cluster.Halted():
			halted = true
		default:
		}
		check("metadata_applied", !halted, "metadata log stopped at a command this version does not understand")
		var offline []string
		dirs := n.replicas.LogDirs()
		for _, d := range dirs {
			if n.replicas.LogDirOffline(d) != nil {
				offline = append(offline, d)
			}
		}
		check("log_dirs_online", len(dirs) == 0 || len(offline) < len(dirs),
			"every log directory is offline: "+strings.Join(offline, ", "))
	}
	check("not_stopping", !o.stopping.Load(), "shutting down")
	r.Ready = len(r.Reasons) == 0
	return r
}

// markStopping makes /readyz answer not ready from the start of Shutdown.
func (n *Node) markStopping() {
	if n.obs != nil {
		n.obs.stopping.Store(true)
	}
}

// stopHTTP stops the admin listener, at the end of Shutdown (or of a
// failed Start).
func (n *Node) stopHTTP(ctx context.Context) {
	if n.obs == nil {
		return
	}
	if err := n.obs.http.Shutdown(ctx); err != nil {
		n.logger.Warn("HTTP admin listener shutdown", "err", err)
	}
}

// HTTPAddr is the address the HTTP admin listener is bound to, or "" when
// it is off.
func (n *Node) HTTPAddr() string {
	if n.obs == nil {
		return ""
	}
	return n.obs.http.Addr()
}

// MetricsRegisterer is where the process's own parts (a mirror serve
// runs) register collectors for the node's /metrics; nil when metrics are
// not served.
func (n *Node) MetricsRegisterer() prometheus.Registerer {
	if n.obs == nil {
		return nil
	}
	return n.obs.reg
}
