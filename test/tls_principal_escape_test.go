package test

// The DEFAULT ssl.principal.mapping.rules principal of a client
// certificate is written as Java's X500Principal.getName() writes it, so
// ACLs written for Kafka's principals match in Sluice.

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/devcert"
)

// TestSecurityTLSPrincipalEscapedAsKafka: a certificate for
// CN=a=b,+c is User:CN=a\=b\,\+c in Kafka; an ACL for that principal lets
// the client write over mutual TLS.
func TestSecurityTLSPrincipalEscapedAsKafka(t *testing.T) {
	t.Parallel()
	f := newAuthnFiles(t)
	now := time.Now()
	leaf, err := f.ca.Sign(devcert.Leaf{CommonName: "a=b,+c", Client: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := leaf.TLS()
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, f.settings(map[string]string{
		"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":           "User:ANONYMOUS", // the PLAINTEXT listener sets up
	}))
	sb := &securedBroker{broker: b, files: f}
	const topic = "sr-tls-principal"
	adm := kadm.NewClient(newClient(t, sb.listener("PLAINTEXT")))
	ctx := testContext(t, 30*time.Second)
	if resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	createACLs(t, adm, kadm.NewACLs().Allow(`User:CN=a\=b\,\+c`).AllowHosts().Topics(topic).Operations(kadm.OpWrite))

	tlsCfg := f.clientTLS(false)
	tlsCfg.Certificates = []tls.Certificate{cert}
	cl := newClient(t, sb.listener("SSL"), kgo.DialTLSConfig(tlsCfg), kgo.RecordRetries(2))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce as the certificate's Kafka principal: %v", err)
	}
}
