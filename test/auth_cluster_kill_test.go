package test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Three brokers replicating over SASL_SSL with SCRAM and running their
// metadata quorum over mutual TLS. The metadata voter that is killed (a
// process with SIGKILL; an in-process broker loses power) and restarted
// rejoins the quorum and catches up over the secured listeners; a SCRAM
// user created before the kill still authenticates on every broker, and
// every acknowledged record is read back.
func TestAuthClusterSurvivesKillOverSASLSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three broker processes")
	}
	t.Parallel()
	f := newAuthnFiles(t)
	const brokerPass = "broker-secret"
	settings := map[string]string{
		"listener.security.protocol.map":       "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:SSL",
		"controller.listener.names":            "CONTROLLER",
		"inter.broker.listener.name":           "SASL_SSL",
		"sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
		"sasl.jaas.config":                     `org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="` + brokerPass + `";`,
		"ssl.certificate.location":             f.serverCert,
		"ssl.key.location":                     f.serverKey,
		"ssl.ca.location":                      f.caFile,
	}
	maps.Copy(settings, fastFailover)
	forEachKind(t, 3, settings, func(t *testing.T, c cluster) { survivesKillOverSASLSSL(t, c, f, brokerPass) },
		withBootstrapAdmin("broker:"+brokerPass),
		withBrokerSettings(func(id int32, listen string) map[string]string {
			return map[string]string{"listeners": "PLAINTEXT://" + listen + ",SASL_SSL://" + freeLoopbackAddr(t)}
		}))
}

func survivesKillOverSASLSSL(t *testing.T, c cluster, f *authnFiles, brokerPass string) {
	secured := func(user, pass string, extra ...kgo.Opt) *kgo.Client {
		var seeds []string
		for _, id := range c.ids() {
			seeds = append(seeds, c.listener(id, "SASL_SSL"))
		}
		return c.client(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DialTLSConfig(f.clientTLS(false)), kgo.SASL(scram512(user, pass))}, extra...)...)
	}
	ctx := testContext(t, 90*time.Second)
	adm := kadm.NewClient(secured("broker", brokerPass))
	if res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-secret"}}); err != nil || res.AllFailed() {
		t.Fatalf("create alice: %v %v", err, res)
	}
	const topic = "authn-killed"
	if _, err := adm.CreateTopic(ctx, 3, 3, minISR2, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	prod := secured("alice", "alice-secret", kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := prod.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 20)
	c.kill(1) // a metadata voter, often the controller
	produce(20, 40)
	c.start(1)
	produce(40, 50)
	waitISR(c, topic, 0, 3, 60*time.Second) // the restarted broker back in every ISR
	// alice's credential survived the kill, on the restarted broker too.
	for _, id := range c.ids() {
		if _, err := kadm.NewClient(newClient(t, c.listener(id, "SASL_SSL"), kgo.DialTLSConfig(f.clientTLS(false)), kgo.SASL(scram512("alice", "alice-secret")))).BrokerMetadata(ctx); err != nil {
			t.Fatalf("alice on broker %d after the restart: %v", id, err)
		}
	}
	cons := secured("alice", "alice-secret", kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < 50 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read back %d of 50 records", len(seen))
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consume: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if seen[string(r.Value)] {
				t.Errorf("record %s read twice", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
}
