package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// answers reports whether the broker answers an ApiVersions request on c
// within d.
func answers(c *rawConn, d time.Duration) bool {
	c.nc.SetDeadline(time.Now().Add(d))
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	c.request(req, 1)
	var size [4]byte
	_, err := c.nc.Read(size[:])
	return err == nil
}

// Kafka's connection limits (KIP-308, KIP-612): a connection beyond
// max.connections.per.ip is closed at once; beyond max.connections the
// broker stops accepting until one closes; both change with AlterConfigs.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"max.connections.per.ip": "3", "sluice.http.listen": "127.0.0.1:0"})
	var open []*rawConn
	for i := 0; i < 3; i++ {
		c := dialRaw(t, b.addr)
		if !answers(c, 5*time.Second) {
			t.Fatalf("connection %d of 3 was not served", i+1)
		}
		open = append(open, c)
	}
	fourth := dialRaw(t, b.addr)
	fourth.expectClosed()

	// Dynamic: raise the per-IP maximum and cap the broker at 5
	// connections, from an admin client (which may open two).
	open[1].nc.Close()
	open[2].nc.Close()
	open = open[:1]
	waitConnections(t, b, 1)
	adm := kadm.NewClient(newClient(t, b.addr))
	resp, err := adm.AlterBrokerConfigs(testContext(t, 10*time.Second), []kadm.AlterConfig{
		{Name: "max.connections.per.ip", Value: kmsg.StringPtr("100")},
		{Name: "max.connections", Value: kmsg.StringPtr("5")},
	})
	if err != nil || resp[0].Err != nil {
		t.Fatalf("alter broker configs: %v %+v", err, resp)
	}
	adm.Close()
	waitConnections(t, b, 1)
	// Connections are served up to five; the next waits in the backlog
	// until one closes.
	var waiting *rawConn
	for waiting == nil {
		c := dialRaw(t, b.addr)
		if answers(c, time.Second) {
			open = append(open, c)
		} else {
			waiting = c
		}
		if len(open) > 5 {
			t.Fatal("more than max.connections=5 connections were served")
		}
	}
	if len(open) != 5 {
		t.Fatalf("%d connections served before one waited, want 5 (max.connections)", len(open))
	}
	open[0].nc.Close()
	waiting.nc.SetDeadline(time.Now().Add(5 * time.Second))
	var size [4]byte
	if _, err := waiting.nc.Read(size[:]); err != nil {
		t.Fatalf("the waiting connection was not served once another closed: %v", err)
	}
}

// waitConnections waits until the broker holds n Kafka connections
// (sluice_connections): it drops a closed connection from that count
// after giving its place under the limits back.
func waitConnections(t *testing.T, b *broker, n int) {
	t.Helper()
	waitForErr(t, 10*time.Second, fmt.Sprintf("%d open connections", n), func() error {
		if v, _ := scrapeMetrics(t, b.node.HTTPAddr()).value("sluice_connections"); int(v) != n {
			return fmt.Errorf("%v open", v)
		}
		return nil
	})
}

// KIP-612: an ip entity's connection_creation_rate quota refuses an
// address's connections beyond that rate.
func TestConnectionCreationRateQuotaPerIP(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	ip := "127.0.0.1"
	res, err := b.admin().AlterClientQuotas(testContext(t, 10*time.Second), []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "ip", Name: &ip}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 1}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter client quotas: %v %+v", err, res)
	}
	served, refused := 0, 0
	for i := 0; i < 30; i++ {
		c := dialRaw(t, b.addr)
		if answers(c, 2*time.Second) {
			served++
		} else {
			refused++
		}
		c.nc.Close()
	}
	t.Logf("30 connections at connection_creation_rate=1: %d served, %d refused", served, refused)
	// One a second over Kafka's ten-second window: about ten pass.
	if refused < 10 || served < 1 {
		t.Fatalf("%d served and %d refused, want most refused", served, refused)
	}
}

// TestInterBrokerListenerKeepsPerIPLimits: beside other listeners the
// inter-broker listener never waits for max.connections, but as in Kafka
// its connections still count against max.connections.per.ip, so a
// client that reaches it is limited per address like anywhere else.
func TestInterBrokerListenerKeepsPerIPLimits(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{
		"listeners":                      "PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0",
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
		"inter.broker.listener.name":     "INTERNAL",
		"max.connections.per.ip":         "2",
	})
	internal := b.node.ListenerAddr("INTERNAL")
	if internal == "" {
		t.Fatal("no INTERNAL listener")
	}
	for i := range 2 {
		c := dialRaw(t, internal)
		if !answers(c, 5*time.Second) {
			t.Fatalf("connection %d of 2 to the inter-broker listener was not served", i+1)
		}
	}
	dialRaw(t, internal).expectClosed()
}
