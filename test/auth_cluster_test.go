package test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A 3-broker cluster whose brokers replicate and coordinate over a
// SASL_SSL inter-broker listener with SCRAM-SHA-512 (the broker user
// comes from --bootstrap-admin), and whose metadata quorum (Raft and
// control RPCs) runs over mutual TLS (controller.listener.names mapped to
// SSL): an RF=3 topic gets every replica in sync and serves what was
// produced with acks=all. It runs on processes and in-process brokers.
func TestAuthClusterReplicatesOverSASLSSL(t *testing.T) {
	t.Parallel()
	f := newAuthnFiles(t)
	const brokerPass = "broker-secret"
	settings := map[string]string{
		// PLAINTEXT is the harness's own listener (addr), for its waits.
		"listener.security.protocol.map":       "PLAINTEXT:PLAINTEXT,INTERNAL:SASL_SSL,CLIENT:SASL_PLAINTEXT,CONTROLLER:SSL",
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
	forEachKind(t, 3, settings, func(t *testing.T, c cluster) { replicatesOverSASLSSL(t, c, f, brokerPass) },
		withBootstrapAdmin("broker:"+brokerPass),
		withBrokerSettings(func(id int32, listen string) map[string]string {
			return map[string]string{"listeners": fmt.Sprintf("PLAINTEXT://%s,INTERNAL://%s,CLIENT://%s", listen, freeLoopbackAddr(t), freeLoopbackAddr(t))}
		}))
}

func replicatesOverSASLSSL(t *testing.T, c cluster, f *authnFiles, brokerPass string) {
	var seeds []string
	for _, id := range c.ids() {
		seeds = append(seeds, c.listener(id, "INTERNAL"))
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DialTLSConfig(f.clientTLS(false)),
		kgo.SASL(scram512("broker", brokerPass)),
	}
	adm := kadm.NewClient(c.client(opts...))
	ctx := testContext(t, 60*time.Second)
	const topic = "authn-replicated"
	if _, err := adm.CreateTopic(ctx, 2, 3, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	prod := c.client(append(opts, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	const n = 20
	for i := range n {
		if err := prod.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	// Every follower fetched the records over SASL_SSL: each partition's
	// ISR holds all three brokers and its high watermark is the sum.
	waitForErr(t, 30*time.Second, "every replica in sync at the end", func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		for _, p := range md.Topics[topic].Partitions {
			if len(p.ISR) != 3 {
				return errors.New(describePartitions(md.Topics[topic]))
			}
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		var total int64
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		if total != n {
			return fmt.Errorf("high watermarks add up to %d", total)
		}
		return nil
	})
	// The controller port speaks mutual TLS: a handshake with a
	// certificate from the cluster's CA succeeds, one without fails.
	raftAddr := c.controllerAddr(1)
	if conn, err := tls.Dial("tcp", raftAddr, f.clientTLS(true)); err != nil {
		t.Errorf("TLS with a client certificate to the controller port: %v", err)
	} else {
		conn.Close()
	}
	if conn, err := tls.Dial("tcp", raftAddr, f.clientTLS(false)); err == nil {
		// TLS 1.3 reports a missing client certificate on the first read.
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Error("the controller port served a TLS client without a certificate")
		}
		conn.Close()
	}

	// Clients on the CLIENT listener are told CLIENT addresses.
	md, err := kadm.NewClient(newClient(t, c.listener(1, "CLIENT"), kgo.SASL(scram256("broker", brokerPass)))).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 3 {
		t.Errorf("the CLIENT listener lists brokers %v", md.Brokers.NodeIDs())
	}
	for _, b := range md.Brokers {
		if addr, want := fmt.Sprintf("%s:%d", b.Host, b.Port), c.listener(b.NodeID, "CLIENT"); addr != want {
			t.Errorf("broker %d listed at %s on the CLIENT listener, want %s", b.NodeID, addr, want)
		}
	}
	cons := c.client(append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
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
