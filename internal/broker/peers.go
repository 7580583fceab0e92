package broker

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
)

// peerRequestTimeout bounds one request to another broker.
const peerRequestTimeout = 30 * time.Second

// peers holds the clients to the other brokers this broker sends requests
// to: transaction markers to partition leaders, and transaction
// verification to coordinators. Each kind of request has its own
// connection: a broker answers a connection's requests in order, and a
// coordinator's AddPartitionsToTxn may wait for the markers of the
// producer's previous transaction, which must not queue behind it. A
// client is replaced when its broker's address changes; close closes them
// all.
type peers struct {
	nodeID int32
	// opts are the inter-broker TLS and SASL options (Config.PeerOpts).
	opts []kgo.Opt

	mu      sync.Mutex
	closed  bool
	clients map[peerKey]*peerClient
}

// peerKey names one connection: a broker, and the API key of the requests
// it carries.
type peerKey struct {
	broker int32
	api    int16
}

type peerClient struct {
	addr string
	cl   *kgo.Client
}

// request sends req to broker br and returns its response.
func (p *peers) request(ctx context.Context, br cluster.Broker, req kmsg.Request) (kmsg.Response, error) {
	cl, err := p.client(br, req.Key())
	if err != nil {
		return nil, err
	}
	seeds := cl.SeedBrokers()
	if len(seeds) == 0 {
		return nil, fmt.Errorf("no connection to broker %d: %w", br.ID, kerr.NotLeaderForPartition)
	}
	ctx, cancel := context.WithTimeout(ctx, peerRequestTimeout)
	defer cancel()
	return seeds[0].Request(ctx, req)
}

func (p *peers) client(br cluster.Broker, api int16) (*kgo.Client, error) {
	addr := net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
	key := peerKey{br.ID, api}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("broker is stopping: %w", kerr.NotLeaderForPartition)
	}
	if p.clients == nil {
		p.clients = map[peerKey]*peerClient{}
	}
	if c, ok := p.clients[key]; ok {
		if c.addr == addr {
			return c.cl, nil
		}
		c.cl.Close()
		delete(p.clients, key)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ClientID("sluice-broker-" + itoa(p.nodeID))}, p.opts...)...)
	if err != nil {
		return nil, err
	}
	p.clients[key] = &peerClient{addr: addr, cl: cl}
	return cl, nil
}

// close closes every client; later requests fail.
func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for id, c := range p.clients {
		c.cl.Close()
		delete(p.clients, id)
	}
}
