package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startKfake starts franz-go's in-process fake cluster with opts on
// loopback and returns its address. Sluice's broker has no TLS or SASL
// yet; kfake has both, so the client flags are checked against it.
func startKfake(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "secured")}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func TestCLISASL(t *testing.T) {
	addr := startKfake(t,
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "alice", "alice-secret"),
		kfake.Superuser("SCRAM-SHA-256", "bob", "bob-secret"),
		kfake.Superuser("SCRAM-SHA-512", "carol", "carol-secret"),
	)
	for _, c := range []struct{ mech, user, pass string }{
		{"PLAIN", "alice", "alice-secret"},
		{"SCRAM-SHA-256", "bob", "bob-secret"},
		{"SCRAM-SHA-512", "carol", "carol-secret"},
	} {
		out := cli(t, addr, "", "topic", "list", "--sasl-mechanism", c.mech, "--sasl-user", c.user, "--sasl-password", c.pass)
		if !strings.Contains(out, "secured") {
			t.Fatalf("topic list with %s printed %q, want the topic secured", c.mech, out)
		}
		cliFails(t, addr, "SASL", "topic", "list", "--timeout", "5s", "--sasl-mechanism", c.mech, "--sasl-user", c.user, "--sasl-password", "wrong")
	}
	// The password can come from the environment instead of the command line.
	t.Setenv("SLUICE_SASL_PASSWORD", "bob-secret")
	if out := cli(t, addr, "", "topic", "list", "--sasl-mechanism", "scram-sha-256", "--sasl-user", "bob"); !strings.Contains(out, "secured") {
		t.Fatalf("topic list with the password from SLUICE_SASL_PASSWORD printed %q", out)
	}
	cliMisused(t, addr, "want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", "topic", "list", "--sasl-mechanism", "GSSAPI", "--sasl-user", "bob")
	cliMisused(t, addr, "needs --sasl-user", "topic", "list", "--sasl-mechanism", "PLAIN")
}

// selfSignedCA writes a self-signed certificate for 127.0.0.1 to a temp
// file and returns the server's TLS config and the file's path.
func selfSignedCA(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluice test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, caFile
}

func TestCLITLS(t *testing.T) {
	serverTLS, caFile := selfSignedCA(t)
	addr := startKfake(t, kfake.TLS(serverTLS))

	for _, args := range [][]string{
		{"--tls", "--tls-ca", caFile},
		{"--tls-ca", caFile},
		{"--tls", "--tls-insecure-skip-verify"},
	} {
		out := cli(t, addr, "", append([]string{"topic", "list"}, args...)...)
		if !strings.Contains(out, "secured") {
			t.Fatalf("topic list %v printed %q, want the topic secured", args, out)
		}
	}
	// System roots do not trust the test CA.
	cliFails(t, addr, "certificate signed by unknown authority", "topic", "list", "--tls", "--timeout", "3s")
	cliFails(t, addr, "is TLS missing", "topic", "list", "--timeout", "3s")
	cliMisused(t, addr, "no PEM certificates", "topic", "list", "--tls-ca", os.Args[0])
	cliMisused(t, addr, "--tls-cert and --tls-key go together", "topic", "list", "--tls-cert", caFile)
}
