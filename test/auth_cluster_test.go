package test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/node"
)

// A 3-broker cluster whose brokers replicate and coordinate over a
// SASL_SSL inter-broker listener with SCRAM-SHA-512 (the broker user
// comes from --bootstrap-admin), and whose metadata quorum (Raft and
// control RPCs) runs over mutual TLS (controller.listener.names mapped to
// SSL): an RF=3 topic gets every replica in sync and serves what was
// produced with acks=all.
func TestAuthClusterReplicatesOverSASLSSL(t *testing.T) {
	t.Parallel()
	f := newAuthnFiles(t)
	const brokerPass = "broker-secret"
	var voters []string
	for i := range 3 {
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, freeLoopbackAddr(t)))
	}
	settings := map[string]string{
		"controller.quorum.voters":             strings.Join(voters, ","),
		"listeners":                            "INTERNAL://127.0.0.1:0,CLIENT://127.0.0.1:0",
		"listener.security.protocol.map":       "INTERNAL:SASL_SSL,CLIENT:SASL_PLAINTEXT,CONTROLLER:SSL",
		"controller.listener.names":            "CONTROLLER",
		"inter.broker.listener.name":           "INTERNAL",
		"sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
		"sasl.jaas.config":                     `org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="` + brokerPass + `";`,
		"ssl.certificate.location":             f.serverCert,
		"ssl.key.location":                     f.serverKey,
		"ssl.ca.location":                      f.caFile,
		"broker.session.timeout.ms":            "3000",
		"broker.heartbeat.interval.ms":         "300",
		"offsets.topic.num.partitions":         "1",
		"offsets.topic.replication.factor":     "3",
	}
	nodes := make([]*node.Node, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			nodes[i], errs[i] = node.Start(ctx, node.Config{
				NodeID: int32(i + 1), DataDir: t.TempDir(), Settings: settings,
				BootstrapAdmin: "broker:" + brokerPass, Logger: testLogger(t),
			})
		}()
	}
	wg.Wait()
	// The brokers stop together, giving up on a controlled shutdown after
	// a few seconds: the last one would otherwise wait for a quorum that
	// has already left.
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			if n != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
					defer cancel()
					n.Shutdown(ctx)
				}()
			}
		}
		wg.Wait()
	})
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("start node %d: %v", i+1, errs[i])
		}
	}
	var seeds []string
	for _, n := range nodes {
		seeds = append(seeds, n.ListenerAddr("INTERNAL"))
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DialTLSConfig(f.clientTLS(false)),
		kgo.SASL(scram512("broker", brokerPass)),
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	ctx := testContext(t, 60*time.Second)
	const topic = "authn-replicated"
	if _, err := adm.CreateTopic(ctx, 2, 3, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	prod, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	const n = 20
	for i := range n {
		if err := prod.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	// Every follower fetched the records over SASL_SSL: each partition's
	// ISR holds all three brokers and its high watermark is the sum.
	waitFor(t, 30*time.Second, "every replica in sync at the end", func() bool {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		for _, p := range md.Topics[topic].Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return false
		}
		var total int64
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		return total == n
	})
	// The controller port speaks mutual TLS: a handshake with a
	// certificate from the cluster's CA succeeds, one without fails.
	raftAddr := strings.SplitN(voters[0], "@", 2)[1]
	if c, err := tls.Dial("tcp", raftAddr, f.clientTLS(true)); err != nil {
		t.Errorf("TLS with a client certificate to the controller port: %v", err)
	} else {
		c.Close()
	}
	if c, err := tls.Dial("tcp", raftAddr, f.clientTLS(false)); err == nil {
		// TLS 1.3 reports a missing client certificate on the first read.
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("the controller port served a TLS client without a certificate")
		}
		c.Close()
	}

	// Clients on the CLIENT listener are told CLIENT addresses.
	md, err := kadm.NewClient(newClient(t, nodes[0].ListenerAddr("CLIENT"), kgo.SASL(scram256("broker", brokerPass)))).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range md.Brokers {
		if addr := fmt.Sprintf("%s:%d", b.Host, b.Port); addr != nodes[b.NodeID-1].ListenerAddr("CLIENT") {
			t.Errorf("broker %d listed at %s on the CLIENT listener, want %s", b.NodeID, addr, nodes[b.NodeID-1].ListenerAddr("CLIENT"))
		}
	}
	cons := newClient(t, "", append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", got, n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consume: %v", err) })
		got += fs.NumRecords()
	}
	if got != n {
		t.Fatalf("consumed %d records, want %d", got, n)
	}
}
