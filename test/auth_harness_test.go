package test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-io/sluice/internal/devcert"
)

// authnFiles are the certificates, users file and key set of a secured
// test broker.
type authnFiles struct {
	dir        string
	ca         *devcert.CA
	caFile     string
	serverCert string
	serverKey  string
	clientCert tls.Certificate // CN=alice, for mutual TLS
	usersFile  string          // PLAIN: alice / alice-secret
	jwksURL    string
	hmacSecret []byte // the key set's HS256 key, kid "hs"
}

const (
	authnPlainUser, authnPlainPass = "alice", "alice-secret"
	authnScramUser, authnScramPass = "bob", "bob-secret"
)

func newAuthnFiles(t testing.TB) *authnFiles {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	ca, err := devcert.NewCA("sluice test CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The broker's certificate serves clients and, for inter-broker
	// mutual TLS, is presented as a client certificate too.
	server, err := ca.Sign(devcert.Leaf{CommonName: "broker", Hosts: []string{"127.0.0.1", "localhost"}, Server: true, Client: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Client(now, time.Hour, "alice")
	if err != nil {
		t.Fatal(err)
	}
	f := &authnFiles{dir: dir, ca: ca, caFile: filepath.Join(dir, "ca.pem"), serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server-key.pem")}
	write := func(path string, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(f.caFile, ca.CertPEM)
	write(f.serverCert, server.CertPEM)
	write(f.serverKey, server.KeyPEM)
	if f.clientCert, err = client.TLS(); err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(authnPlainPass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	f.usersFile = filepath.Join(dir, "users")
	write(f.usersFile, []byte(authnPlainUser+":"+string(hash)+"\n"))
	f.hmacSecret = []byte("0123456789abcdef0123456789abcdef")
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "oct", "kid": "hs", "k": base64.RawURLEncoding.EncodeToString(f.hmacSecret)}}})
	jwksPath := filepath.Join(dir, "jwks.json")
	write(jwksPath, jwks)
	f.jwksURL = "file://" + jwksPath
	return f
}

// settings are broker settings with four listeners, each protocol once,
// on ephemeral loopback ports.
func (f *authnFiles) settings(extra map[string]string) map[string]string {
	s := map[string]string{
		"listeners":                          "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
		"ssl.certificate.location":           f.serverCert,
		"ssl.key.location":                   f.serverKey,
		"ssl.ca.location":                    f.caFile,
		"listener.name.ssl.ssl.client.auth":  "required",
		"sasl.enabled.mechanisms":            "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
		"sasl.plain.users.file":              f.usersFile,
		"sasl.oauthbearer.jwks.endpoint.url": f.jwksURL,
		"sasl.oauthbearer.expected.audience": "sluice",
		"offsets.topic.num.partitions":       "1",
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// clientTLS trusts the test CA; withCert presents alice's certificate.
func (f *authnFiles) clientTLS(withCert bool) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.ca.CertPEM)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if withCert {
		cfg.Certificates = []tls.Certificate{f.clientCert}
	}
	return cfg
}

// token is an HS256 JWT for sub, valid until exp.
func (f *authnFiles) token(t testing.TB, sub string, exp time.Time) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "aud": "sluice", "exp": exp.Unix()})
	tok.Header["kid"] = "hs"
	s, err := tok.SignedString(f.hmacSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// securedBroker is a broker with the four listeners and a SCRAM user
// (bob) created through the PLAINTEXT listener.
type securedBroker struct {
	*broker
	files *authnFiles
}

func startSecuredBroker(t testing.TB, extra map[string]string) *securedBroker {
	t.Helper()
	f := newAuthnFiles(t)
	b := startBroker(t, f.settings(extra))
	sb := &securedBroker{broker: b, files: f}
	ctx := testContext(t, 10*time.Second)
	adm := kadm.NewClient(newClient(t, sb.listener("PLAINTEXT")))
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: authnScramUser, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: authnScramPass},
		{User: authnScramUser, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: authnScramPass},
	})
	if err != nil || res.AllFailed() {
		t.Fatalf("create SCRAM user: %v %v", err, res)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create SCRAM user %s: %v", r.User, r.Err)
		}
	}
	return sb
}

func (s *securedBroker) listener(name string) string {
	addr := s.node.ListenerAddr(name)
	if addr == "" {
		s.t.Fatalf("no listener %s", name)
	}
	return addr
}

// opts are the client options for a listener and SASL mechanism.
func (s *securedBroker) opts(listener string, mech sasl.Mechanism) []kgo.Opt {
	var opts []kgo.Opt
	if strings.Contains(listener, "SSL") {
		opts = append(opts, kgo.DialTLSConfig(s.files.clientTLS(listener == "SSL")))
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts
}

func plainMech(user, pass string) sasl.Mechanism {
	return plain.Auth{User: user, Pass: pass}.AsMechanism()
}
func scram256(user, pass string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
}
func scram512(user, pass string) sasl.Mechanism {
	return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
}
func oauthMech(token string) sasl.Mechanism { return oauth.Auth{Token: token}.AsMechanism() }

// roundTrip produces n records to topic through addr with opts and
// consumes them back, failing the test unless exactly those arrive.
func roundTrip(t testing.TB, addr string, opts []kgo.Opt, topic string, n int) {
	t.Helper()
	ctx := testContext(t, 20*time.Second)
	prod := newClient(t, addr, append(opts, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())...)
	for i := range n {
		if err := prod.ProduceSync(ctx, kgo.StringRecord(topic+"-"+strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("produce to %s via %s: %v", topic, addr, err)
		}
	}
	cons := newClient(t, addr, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	var got []string
	for len(got) < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s via %s: got %v before %v", topic, addr, got, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consume %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if want := topic + "-" + strconv.Itoa(i); v != want {
			t.Fatalf("record %d of %s is %q, want %q (all: %v)", i, topic, v, want, got)
		}
	}
	if len(got) != n {
		t.Fatalf("consumed %d records of %s, want %d", len(got), topic, n)
	}
}

// refused asserts that a client with opts cannot even list the brokers.
func refused(t testing.TB, addr string, opts []kgo.Opt, want string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl := newClient(t, addr, append(opts, kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))...)
	_, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err == nil {
		t.Fatalf("%s: the broker served a client it should refuse", want)
	}
	if want != "" && !strings.Contains(err.Error(), want) {
		t.Errorf("refusal error %q does not say %q", err, want)
	}
	return err
}

func itoaInt32(v int32) string { return strconv.Itoa(int(v)) }
