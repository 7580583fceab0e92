package test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/faultnet"
)

// netCluster is a cluster of `sluice serve` processes each behind two
// fault proxies, one on its Kafka listener (the address it advertises to
// clients and other brokers) and one on its controller listener (its
// address among the voters). Connections through a proxy are labelled with
// the node whose process opened them ("" for the test's own clients), so
// a test can cut a broker off from some peers and not others.
type netCluster struct {
	*testCluster
	owners faultnet.Owners // labels connections with the node that opened them
	kafka  map[int32]*faultnet.Proxy
	ctrl   map[int32]*faultnet.Proxy
}

// startNetCluster starts n voters behind proxies with the given settings.
func startNetCluster(t testing.TB, n int, settings map[string]string) *netCluster {
	t.Helper()
	c := &netCluster{
		testCluster: &testCluster{t: t, settings: settings, dir: t.TempDir(), nodes: map[int32]*process{}},
		kafka:       map[int32]*faultnet.Proxy{}, ctrl: map[int32]*faultnet.Proxy{},
	}
	listens := make([]string, n)
	ctrlListens := make([]string, n)
	var voters []string
	for i := range n {
		id := int32(i + 1)
		listens[i], ctrlListens[i] = freeLoopbackAddr(t), freeLoopbackAddr(t)
		c.kafka[id] = c.proxy(listens[i])
		c.ctrl[id] = c.proxy(ctrlListens[i])
		voters = append(voters, fmt.Sprintf("%d@%s", id, c.ctrl[id].Addr()))
	}
	c.voters = strings.Join(voters, ",")
	procs := make([]*process, n)
	for i := range n {
		id := int32(i + 1)
		procs[i] = c.newProcess(id, ctrlListens[i])
		procs[i].args = append(procs[i].args, "--advertise", c.kafka[id].Addr())
		procs[i].launch(listens[i])
		c.track(id, procs[i])
	}
	for i, p := range procs {
		p.waitReady()
		c.nodes[int32(i+1)] = p
	}
	// What the brokers and the controller decided is most of a network
	// fault's story: on failure, every broker's whole output.
	t.Cleanup(func() { c.logsOnFailure(0) })
	return c
}

func (c *netCluster) proxy(target string) *faultnet.Proxy {
	p, err := faultnet.Listen(target, faultnet.WithSource(c.owners.Source))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { p.Close() })
	return p
}

// track notes the pid of node id's process, for labelling its connections;
// the proxies label a connection again when a fault is set, so one opened
// before this call is still told apart from the test's clients.
func (c *netCluster) track(id int32, p *process) { c.owners.Set(p.cmd.Process.Pid, label(id)) }

func label(id int32) string { return strconv.Itoa(int(id)) }

// isolate cuts node id off from every node and every client.
func (c *netCluster) isolate(id int32) {
	cut := faultnet.Fault{Mode: faultnet.Cut}
	c.kafka[id].Set(cut)
	c.ctrl[id].Set(cut)
	for o := range c.kafka {
		if o != id {
			c.kafka[o].SetFrom(label(id), cut)
			c.ctrl[o].SetFrom(label(id), cut)
		}
	}
}

// isolateFromPeers cuts node id off from every other node, controller
// quorum included, while clients still reach it.
func (c *netCluster) isolateFromPeers(id int32) {
	cut := faultnet.Fault{Mode: faultnet.Cut}
	c.ctrl[id].Set(cut)
	for o := range c.kafka {
		if o != id {
			c.kafka[id].SetFrom(label(o), cut)
			c.kafka[o].SetFrom(label(id), cut)
			c.ctrl[o].SetFrom(label(id), cut)
		}
	}
}

// split cuts every connection between a broker of a and one of b, Kafka
// and controller listeners alike; clients still reach every broker.
func (c *netCluster) split(a, b []int32) {
	cut := faultnet.Fault{Mode: faultnet.Cut}
	for _, x := range a {
		for _, y := range b {
			c.kafka[x].SetFrom(label(y), cut)
			c.ctrl[x].SetFrom(label(y), cut)
			c.kafka[y].SetFrom(label(x), cut)
			c.ctrl[y].SetFrom(label(x), cut)
		}
	}
}

// heal removes every network fault.
func (c *netCluster) heal() {
	for id := range c.kafka {
		c.kafka[id].Heal()
		c.ctrl[id].Heal()
	}
}
