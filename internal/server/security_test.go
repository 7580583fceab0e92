package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/devcert"
)

// whoHandler answers every request with an empty response and records
// the principal and listener of the connection each came on.
type whoHandler struct {
	mu   sync.Mutex
	seen []string
}

func (h *whoHandler) Supports(key, version int16) bool {
	switch key {
	case 17:
		return version <= 1
	case 36:
		return version <= 2
	case 18:
		return version <= 3
	}
	return key == 32 && version <= 4
}

func (h *whoHandler) Handle(_ context.Context, c *broker.Client, req kmsg.Request) broker.Reply {
	if av, ok := req.(*kmsg.ApiVersionsRequest); ok {
		resp := av.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 17, MaxVersion: 1}, {ApiKey: 18, MaxVersion: 3}, {ApiKey: 32, MaxVersion: 4}, {ApiKey: 36, MaxVersion: 2}}
		return broker.Reply{Response: resp}
	}
	h.mu.Lock()
	h.seen = append(h.seen, c.Listener+" "+c.Principal)
	h.mu.Unlock()
	return broker.Reply{Response: req.ResponseKind()}
}

func (h *whoHandler) last() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) == 0 {
		return ""
	}
	return h.seen[len(h.seen)-1]
}

type tlsFixture struct {
	server     *tls.Config
	clientCert tls.Certificate
	roots      *x509.CertPool
}

func newTLSFixture(t *testing.T, rules string) tlsFixture {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	ca, err := devcert.NewCA("test CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Server(now, time.Hour, "127.0.0.1")
	cli, _ := ca.Sign(devcert.Leaf{CommonName: "alice", Client: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)})
	files := auth.TLSFiles{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem"), CAFile: filepath.Join(dir, "ca.pem"), ClientAuth: "requested"}
	for path, data := range map[string][]byte{files.CertFile: srv.CertPEM, files.KeyFile: srv.KeyPEM, files.CAFile: ca.CertPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := auth.NewServerTLS(files, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cli.TLS()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	return tlsFixture{server: st.Config(), clientCert: cc, roots: roots}
}

func serveListener(t *testing.T, h Handler, l Listener) string {
	t.Helper()
	srv := New(Config{FailedAuthDelay: 50 * time.Millisecond}, h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeListener(ctx, ln, l) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		cancel()
		<-done
	})
	return ln.Addr().String()
}

// who sends one DescribeConfigs and returns what the handler saw.
func who(t *testing.T, h *whoHandler, addr string, opts ...kgo.Opt) (string, error) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = cl.SeedBrokers()[0].Request(ctx, kmsg.NewPtrDescribeConfigsRequest())
	return h.last(), err
}

// The principal of an SSL connection is its client certificate's subject,
// mapped by ssl.principal.mapping.rules; without a certificate (when
// ssl.client.auth=requested) it is User:ANONYMOUS; on SASL_SSL it is the
// SASL user, whatever the certificate.
func TestConnectionPrincipals(t *testing.T) {
	t.Parallel()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("bob:"+string(hash)+"\n"), 0o600)
	plainUsers, err := auth.LoadPlainUsers(users, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, protocol, rules string
		cert                  bool
		sasl                  bool
		want                  string
	}{
		{"default rule", ProtocolSSL, "DEFAULT", true, false, "SSL User:CN=alice"},
		{"mapping rule", ProtocolSSL, "RULE:^CN=([a-z]+)$/$1/U,DEFAULT", true, false, "SSL User:ALICE"},
		{"no certificate", ProtocolSSL, "DEFAULT", false, false, "SSL User:ANONYMOUS"},
		{"SASL wins over the certificate", ProtocolSASLSSL, "DEFAULT", true, true, "SASL_SSL User:bob"},
		{"SASL without TLS", ProtocolSASLPlaintext, "DEFAULT", false, true, "SASL_PLAINTEXT User:bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newTLSFixture(t, tc.rules)
			mapper, err := auth.ParsePrincipalRules(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			l := Listener{Name: tc.protocol, Protocol: tc.protocol, Principals: mapper}
			if tc.protocol != ProtocolSASLPlaintext {
				l.TLS = fx.server
			}
			if tc.sasl {
				l.SASL = auth.NewSASL(plainUsers)
			}
			h := &whoHandler{}
			addr := serveListener(t, h, l)
			var opts []kgo.Opt
			if l.TLS != nil {
				cfg := &tls.Config{RootCAs: fx.roots}
				if tc.cert {
					cfg.Certificates = []tls.Certificate{fx.clientCert}
				}
				opts = append(opts, kgo.DialTLSConfig(cfg))
			}
			if tc.sasl {
				opts = append(opts, kgo.SASL(plain.Auth{User: "bob", Pass: "pw"}.AsMechanism()))
			}
			got, err := who(t, h, addr, opts...)
			if err != nil || got != tc.want {
				t.Fatalf("handler saw %q (err %v), want %q", got, err, tc.want)
			}
		})
	}
}

// A refused authentication is answered, and the connection closes after
// connection.failed.authentication.delay.ms, not at once.
func TestFailedAuthenticationClosesAfterTheDelay(t *testing.T) {
	t.Parallel()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("bob:"+string(hash)+"\n"), 0o600)
	plainUsers, err := auth.LoadPlainUsers(users, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &whoHandler{}
	addr := serveListener(t, h, Listener{Name: "SASL", Protocol: ProtocolSASLPlaintext, SASL: auth.NewSASL(plainUsers)})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := func(corr int32, req kmsg.Request) []byte {
		b := binary.BigEndian.AppendUint32(nil, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
		b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		b = append(b, 0xff, 0xff) // null client ID
		if req.IsFlexible() {
			b = append(b, 0)
		}
		b = req.AppendTo(b)
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		return b
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 1, []byte("\x00bob\x00wrong")
	c.Write(append(frame(1, hs), frame(2, au)...))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	var resp *kmsg.SASLAuthenticateResponse
	for i := range 2 {
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			resp = kmsg.NewPtrSASLAuthenticateResponse()
			resp.Version = 1
			if err := resp.ReadFrom(body[4:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	answered := time.Now()
	if resp.ErrorCode != 58 { // SASL_AUTHENTICATION_FAILED
		t.Fatalf("SaslAuthenticate error %d, want 58", resp.ErrorCode)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the connection went on after the refusal")
	}
	if waited := time.Since(answered); waited < 40*time.Millisecond {
		t.Fatalf("closed %v after the refusal, want the 50 ms delay", waited)
	}
	if h.last() != "" {
		t.Fatalf("a request reached the handler: %q", h.last())
	}
}

// Replacing a listener's certificate files changes the certificate new
// connections see, without a restart; connections keep being served.
func TestListenerCertificateReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	ca, _ := devcert.NewCA("test CA", now, time.Hour)
	files := auth.TLSFiles{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")}
	write := func(host string) {
		pair, err := ca.Server(now, time.Hour, host, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		// Write the key first and the certificate last, as an operator
		// would rename them into place; the reload waits for a pair that
		// matches.
		os.WriteFile(files.KeyFile, pair.KeyPEM, 0o600)
		os.WriteFile(files.CertFile, pair.CertPEM, 0o600)
	}
	write("one.test")
	st, err := auth.NewServerTLS(files, time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &whoHandler{}
	addr := serveListener(t, h, Listener{Name: "SSL", Protocol: ProtocolSSL, TLS: st.Config()})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	served := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].DNSNames[0]
	}
	if got := served(); got != "one.test" {
		t.Fatalf("certificate for %s", got)
	}
	time.Sleep(20 * time.Millisecond) // a later modification time
	write("two.test")
	deadline := time.Now().Add(5 * time.Second)
	for served() != "two.test" {
		if time.Now().After(deadline) {
			t.Fatal("the listener still serves the old certificate")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRequestsBeforeAuthenticationAreRefusedUnread: on a SASL listener a
// request other than ApiVersions and the SASL ones is refused before its
// body is decoded, as Kafka's SaslServerAuthenticator does, so a small
// frame cannot make the broker build many times its size first.
func TestRequestsBeforeAuthenticationAreRefusedUnread(t *testing.T) {
	t.Parallel()
	h := &whoHandler{}
	c := &conn{srv: New(Config{}, h), logger: slog.New(slog.DiscardHandler),
		listener: &Listener{Name: "SASL", Protocol: ProtocolSASLPlaintext, SASL: auth.NewSASL()}}
	// A DescribeConfigs v4 header followed by bytes that do not decode.
	frame := []byte{0, 32, 0, 4, 0, 0, 0, 1, 0xff, 0xff, 0}
	frame = append(frame, bytes.Repeat([]byte{0xff}, 64)...)
	_, err := c.decode(context.Background(), frame)
	if err == nil || !strings.Contains(err.Error(), "before SASL authentication") {
		t.Fatalf("decode before authentication: %v, want a refusal before decoding", err)
	}
	if h.last() != "" {
		t.Fatalf("the request reached the handler: %q", h.last())
	}
}
