package test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-io/sluice/internal/devcert"
)

// secured is a Sluice broker with every kind of listener, the files its
// clients need, and users of every mechanism:
//
//	PLAINTEXT  for setting up (no authorizer unless asked: any client may do anything)
//	SASL_SSL   PLAIN (from a bcrypt users file), SCRAM-SHA-256/512, OAUTHBEARER (HS256 JWKS file)
//	SSL        TLS, client certificates verified when given (ssl.client.auth=requested)
//	MTLS       an SSL listener that requires client certificates
type secured struct {
	*broker
	plain, saslSSL, ssl, mtls string
	certs                     devcert.Files
	// oauthKey signs OAUTHBEARER tokens (HS256, key ID "test").
	oauthKey []byte
	// admin are franz-go options that log in on saslSSL as secAdmin.
	admin []kgo.Opt
}

// Users every secured broker knows.
const (
	secAdmin, secAdminPass = "admin", "admin-secret"
	secPlain, secPlainPass = "plain-user", "plain-secret"
	sec256, sec256Pass     = "scram256", "scram256-secret"
	sec512, sec512Pass     = "scram512", "scram512-secret"
)

// startSecured starts a secured broker; extra settings are added (an
// authorizer, say).
func startSecured(t *testing.T, extra map[string]string) *secured {
	t.Helper()
	dir := t.TempDir()
	certs, _, err := devcert.Ensure(filepath.Join(dir, "certs"), time.Now(), "interop-client", "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	// PLAIN users: bcrypt hashes, never passwords (cost 4 keeps tests fast).
	var users strings.Builder
	for _, u := range [][2]string{{secPlain, secPlainPass}, {secAdmin, secAdminPass}} {
		h, err := bcrypt.GenerateFromPassword([]byte(u[1]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&users, "%s:%s\n", u[0], h)
	}
	usersFile := filepath.Join(dir, "plain-users")
	if err := os.WriteFile(usersFile, []byte(users.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &secured{certs: certs, oauthKey: []byte("0123456789abcdef0123456789abcdef")}
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]string{
		"kty": "oct", "kid": "test", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(s.oauthKey),
	}}})
	jwksFile := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{
		"listeners":                          "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0,MTLS://127.0.0.1:0",
		"listener.security.protocol.map":     "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,MTLS:SSL",
		"inter.broker.listener.name":         "PLAINTEXT",
		"ssl.certificate.location":           certs.ServerCert,
		"ssl.key.location":                   certs.ServerKey,
		"ssl.ca.location":                    certs.CA,
		"ssl.client.auth":                    "requested",
		"listener.name.mtls.ssl.client.auth": "required",
		"sasl.enabled.mechanisms":            "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
		"sasl.plain.users.file":              usersFile,
		"sasl.oauthbearer.jwks.endpoint.url": "file://" + jwksFile,
		"group.initial.rebalance.delay.ms":   "0",
	}
	for k, v := range extra {
		settings[k] = v
	}
	s.broker = startBroker(t, settings)
	for _, l := range []struct {
		name string
		addr *string
	}{{"PLAINTEXT", &s.plain}, {"SASL_SSL", &s.saslSSL}, {"SSL", &s.ssl}, {"MTLS", &s.mtls}} {
		if *l.addr = s.node.ListenerAddr(l.name); *l.addr == "" {
			t.Fatalf("no %s listener", l.name)
		}
	}
	s.admin = []kgo.Opt{
		kgo.DialTLSConfig(s.clientTLS(t, false)),
		kgo.SASL(scram.Auth{User: secAdmin, Pass: secAdminPass}.AsSha512Mechanism()),
	}
	// SCRAM users, created over PLAINTEXT (before any authorizer
	// matters: super.users names admin when a test enables one).
	s.upsertScram(t, s.plain, nil, secAdmin, secAdminPass, kadm.ScramSha512)
	s.upsertScram(t, s.plain, nil, sec256, sec256Pass, kadm.ScramSha256)
	s.upsertScram(t, s.plain, nil, sec512, sec512Pass, kadm.ScramSha512)
	return s
}

func (s *secured) upsertScram(t *testing.T, addr string, opts []kgo.Opt, user, pass string, m kadm.ScramMechanism) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr, opts...))
	res, err := adm.AlterUserSCRAMs(testContext(t, 10*time.Second), nil, []kadm.UpsertSCRAM{{User: user, Password: pass, Mechanism: m, Iterations: 4096}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create SCRAM user %s: %v", user, err)
	}
}

// clientTLS trusts the test CA and, with cert, presents the client
// certificate (CN=interop-client).
func (s *secured) clientTLS(t *testing.T, cert bool) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(s.certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := &tls.Config{RootCAs: pool}
	if cert {
		c, err := tls.LoadX509KeyPair(s.certs.ClientCert, s.certs.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return tc
}

// createSecTopic creates a one-partition topic over PLAINTEXT.
func (s *secured) createSecTopic(t *testing.T, topic string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, s.plain))
	resp, err := adm.CreateTopic(testContext(t, 10*time.Second), 1, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// oauthToken returns an HS256 JWT for sub that expires at exp, signed
// with the broker's key.
func (s *secured) oauthToken(sub string, exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT", "kid": "test"})
	claims, _ := json.Marshal(map[string]any{"sub": sub, "exp": exp.Unix(), "iat": time.Now().Unix()})
	signing := enc(header) + "." + enc(claims)
	mac := hmac.New(sha256.New, s.oauthKey)
	mac.Write([]byte(signing))
	return signing + "." + enc(mac.Sum(nil))
}
