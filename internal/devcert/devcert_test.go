package devcert

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsureWritesOnceAndReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Now()
	f, created, err := Ensure(dir, now, "sluice-client", "localhost", "127.0.0.1")
	if err != nil || !created {
		t.Fatalf("first Ensure: created %v, %v", created, err)
	}
	for _, key := range []string{f.CAKey, f.ServerKey, f.ClientKey} {
		st, err := os.Stat(key)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, want 0600", key, st.Mode().Perm())
		}
	}
	ca1, _ := os.ReadFile(f.CA)
	f2, created, err := Ensure(dir, now, "sluice-client", "localhost", "127.0.0.1")
	if err != nil || created || f2 != f {
		t.Fatalf("second Ensure: %+v created %v, %v", f2, created, err)
	}
	ca2, _ := os.ReadFile(f.CA)
	if !bytes.Equal(ca1, ca2) {
		t.Fatal("second Ensure replaced the CA")
	}
	os.Remove(f.ClientCert)
	if _, _, err := Ensure(dir, now, "sluice-client", "localhost"); err == nil || !strings.Contains(err.Error(), "only some") {
		t.Fatalf("Ensure with a file missing: %v, want a refusal", err)
	}
}

// TestMutualTLSHandshake checks the certificates do what they are for: a
// client trusting the CA verifies the server at 127.0.0.1 and localhost,
// and a server requiring client certificates verifies the client's and
// sees its CN.
func TestMutualTLSHandshake(t *testing.T) {
	f, _, err := Ensure(t.TempDir(), time.Now(), "alice", "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate in ca.pem")
	}
	serverCert, err := tls.LoadX509KeyPair(f.ServerCert, f.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if err := tc.Handshake(); err != nil {
				peer <- "error: " + err.Error()
			} else {
				peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, host := range []string{"127.0.0.1", "localhost"} {
		c, err := tls.Dial("tcp", net.JoinHostPort(host, port), &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}, ServerName: host})
		if err != nil {
			t.Fatalf("dial %s: %v", host, err)
		}
		c.Close()
		if cn := <-peer; cn != "alice" {
			t.Fatalf("server saw client %q, want alice", cn)
		}
	}
}
