package node

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/schemaregistry"
)

// registryNode is the node's schema registry (issue 16): its state read
// from _schemas through the node's own Kafka listener, its writes appended
// to the local leader replica of _schemas when this broker leads it, and
// its REST listener.
type registryNode struct {
	ln  net.Listener
	reg *schemaregistry.Registry
	srv *schemaregistry.Server
}

// listenSchemaRegistry binds the registry's listener early in Start, so
// that a taken address fails the start before anything else is opened;
// nothing happens when Config.SchemaRegistryListen is empty.
func (n *Node) listenSchemaRegistry() error {
	addr := n.cfg.SchemaRegistryListen
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if n.cfg.SchemaRegistryBestEffort {
			n.logger.Warn("schema registry not started; set --schema-registry-listen to another address, or empty to turn it off", "listen", addr, "err", err)
			return nil
		}
		return fmt.Errorf("schema registry: listen on %s: %w", addr, err)
	}
	n.registry = &registryNode{ln: ln}
	return nil
}

// startSchemaRegistry starts serving and following _schemas once the
// broker exists. kafkaAddr is the inter-broker listener's bound address,
// advertisedHost the host it advertises.
func (n *Node) startSchemaRegistry(ctx context.Context, kafkaAddr net.Addr, advertisedHost string, voters int, opts []kgo.Opt) {
	if n.registry == nil {
		return
	}
	ln := n.registry.ln
	reg := schemaregistry.New(schemaregistry.Config{
		NodeID:            n.cfg.NodeID,
		URL:               "http://" + reachable(ln.Addr(), advertisedHost),
		Seeds:             []string{reachable(kafkaAddr, "127.0.0.1")},
		ClientOpts:        opts,
		ReplicationFactor: min(3, max(voters, 1)),
		Log:               schemasLog{il: broker.InternalLog{Replicas: n.replicas, Topic: schemaregistry.Topic}},
		Writer:            n.schemasWriter,
		Logger:            n.logger.With("component", "schema-registry"),
	})
	n.registry.reg, n.registry.srv = reg, reg.Serve(ln)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := reg.Run(ctx); err != nil && ctx.Err() == nil {
			n.logger.Error("schema registry stopped", "err", err)
		}
	}()
	n.logger.Info("schema registry listener", "listen", ln.Addr().String(), "url", "http://"+reachable(ln.Addr(), advertisedHost))
}

// schemaRegistryLed tells the registry this broker leads _schemas.
func (n *Node) schemaRegistryLed() {
	if n.registry != nil && n.registry.reg != nil {
		n.registry.reg.Led()
	}
}

// reachable is addr, with host in place of an unspecified (wildcard) IP.
func reachable(addr net.Addr, host string) string {
	h, p, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		h = host
	}
	return net.JoinHostPort(h, p)
}

// schemasWriter is the leader of _schemas partition 0 and its epoch: the
// registry's writer.
func (n *Node) schemasWriter() (int32, int32, bool) {
	t := n.cluster.Image().Topics.Value(schemaregistry.Topic)
	if t == nil || len(t.Partitions) == 0 {
		return -1, -1, t != nil
	}
	p := t.Partitions[0]
	return p.Leader, p.LeaderEpoch, true
}

// stopSchemaRegistry stops the registry's listener (at the start of
// Shutdown: its reader stops with the node's other goroutines).
func (n *Node) stopSchemaRegistry(ctx context.Context) {
	if n.registry == nil {
		return
	}
	if n.registry.srv == nil {
		n.registry.ln.Close() // Start failed before serving
		return
	}
	if err := n.registry.srv.Shutdown(ctx); err != nil {
		n.logger.Warn("schema registry listener shutdown", "err", err)
	}
}

// SchemaRegistryAddr is the address the schema registry listens on, or ""
// when it is off.
func (n *Node) SchemaRegistryAddr() string {
	if n.registry == nil {
		return ""
	}
	return n.registry.ln.Addr().String()
}

// schemasLog appends the registry's records to this broker's leader
// replica of _schemas.
type schemasLog struct{ il broker.InternalLog }

// maxSchemasBatch bounds one batch the registry appends; larger writes
// (a subject's many versions deleted at once) take several.
const maxSchemasBatch = 4 << 20

func (l schemasLog) Append(ctx context.Context, recs []schemaregistry.Record) (int64, error) {
	last := int64(-1)
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && (n == 0 || size+len(recs[n].Key)+len(recs[n].Value) <= maxSchemasBatch) {
			size += len(recs[n].Key) + len(recs[n].Value)
			n++
		}
		batch := make([]record.Record, n)
		for i, r := range recs[:n] {
			batch[i] = record.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		}
		b, err := record.Build(record.BuildOptions{BaseTimestamp: time.Now().UnixMilli()}, batch)
		if err != nil {
			return -1, err
		}
		base, err := l.il.Append(ctx, 0, b)
		if err != nil {
			return -1, err
		}
		last = base + int64(n) - 1
		recs = recs[n:]
	}
	return last, nil
}

func (l schemasLog) EndOffset() (int64, error) {
	_, end, err := l.il.Bounds(0)
	return end, err
}

// schemaIDs gives the broker the registry's schema IDs for broker-side
// validation; with the registry off on this node, only the framing is
// checked.
type schemaIDs struct{ n *Node }

func (s schemaIDs) Registered(ctx context.Context, id int32) bool {
	if s.n.registry == nil || s.n.registry.reg == nil {
		return true
	}
	return s.n.registry.reg.Registered(ctx, id)
}
