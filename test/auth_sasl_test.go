package test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Every SASL mechanism over SASL_PLAINTEXT and SASL_SSL, and mutual TLS
// on SSL: records produced are consumed back.
func TestAuthMechanismsProduceAndConsume(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, nil)
	token := s.files.token(t, "carol", time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name, listener string
		mech           sasl.Mechanism
	}{
		{"plain", "SASL_PLAINTEXT", plainMech(authnPlainUser, authnPlainPass)},
		{"scram256", "SASL_PLAINTEXT", scram256(authnScramUser, authnScramPass)},
		{"scram512", "SASL_PLAINTEXT", scram512(authnScramUser, authnScramPass)},
		{"oauth", "SASL_PLAINTEXT", oauthMech(token)},
		{"plain-tls", "SASL_SSL", plainMech(authnPlainUser, authnPlainPass)},
		{"scram512-tls", "SASL_SSL", scram512(authnScramUser, authnScramPass)},
		{"oauth-tls", "SASL_SSL", oauthMech(token)},
		{"mtls", "SSL", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			roundTrip(t, s.listener(tc.listener), s.opts(tc.listener, tc.mech), "authn-"+tc.name, 3)
		})
	}
}

// Refused clients get a clear error, and the broker keeps serving others.
func TestAuthRefusalsKeepServingOthers(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, map[string]string{"listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512,OAUTHBEARER"})
	good := s.opts("SASL_SSL", scram512(authnScramUser, authnScramPass))
	goodAddr := s.listener("SASL_SSL")
	// A client that stays connected through every refusal.
	survivor := newClient(t, goodAddr, append(good, kgo.DefaultProduceTopic("authn-survivor"), kgo.AllowAutoTopicCreation())...)
	produce := func(what string) {
		t.Helper()
		if err := survivor.ProduceSync(testContext(t, 10*time.Second), kgo.StringRecord(what)).FirstErr(); err != nil {
			t.Fatalf("after %s, a connected client cannot produce: %v", what, err)
		}
	}
	produce("start")
	sp := s.listener("SASL_PLAINTEXT")
	for _, tc := range []struct {
		name, addr string
		opts       []kgo.Opt
		want       string
	}{
		{"wrong PLAIN password", sp, s.opts("SASL_PLAINTEXT", plainMech(authnPlainUser, "nope")), "SASL_AUTHENTICATION_FAILED"},
		{"unknown PLAIN user", sp, s.opts("SASL_PLAINTEXT", plainMech("mallory", authnPlainPass)), "SASL_AUTHENTICATION_FAILED"},
		{"wrong SCRAM password", sp, s.opts("SASL_PLAINTEXT", scram512(authnScramUser, "nope")), "SASL_AUTHENTICATION_FAILED"},
		{"unknown SCRAM user", sp, s.opts("SASL_PLAINTEXT", scram512("mallory", "x")), "SASL_AUTHENTICATION_FAILED"},
		{"expired token", sp, s.opts("SASL_PLAINTEXT", oauthMech(s.files.token(t, "carol", time.Now().Add(-time.Minute)))), "SASL_AUTHENTICATION_FAILED"},
		{"token signed with another key", sp, s.opts("SASL_PLAINTEXT", oauthMech(forgedToken(t))), "SASL_AUTHENTICATION_FAILED"},
		{"mechanism not enabled", sp, s.opts("SASL_PLAINTEXT", scram256(authnScramUser, authnScramPass)), "UNSUPPORTED_SASL_MECHANISM"},
		{"no SASL on a SASL listener", sp, nil, ""},
		{"plaintext client on the TLS port", s.listener("SASL_SSL"), []kgo.Opt{kgo.SASL(scram512(authnScramUser, authnScramPass))}, ""},
		{"TLS client on the plaintext port", s.listener("PLAINTEXT"), []kgo.Opt{kgo.DialTLSConfig(s.files.clientTLS(false))}, ""},
		{"no client certificate on SSL with ssl.client.auth=required", s.listener("SSL"), []kgo.Opt{kgo.DialTLSConfig(s.files.clientTLS(false))}, ""},
		{"SASL on a PLAINTEXT listener", s.listener("PLAINTEXT"), []kgo.Opt{kgo.SASL(plainMech(authnPlainUser, authnPlainPass))}, "ILLEGAL_SASL_STATE"},
	} {
		refused(t, tc.addr, tc.opts, tc.want)
		produce(tc.name)
	}
	// New clients are still served on every listener.
	roundTrip(t, sp, s.opts("SASL_PLAINTEXT", plainMech(authnPlainUser, authnPlainPass)), "authn-after", 1)
}

// forgedToken is a token for the right audience signed with a key the
// broker does not know.
func forgedToken(t *testing.T) string {
	f := newAuthnFiles(t)
	f.hmacSecret = []byte("another-secret-another-secret-00")
	return f.token(t, "carol", time.Now().Add(time.Hour))
}

// authnConn speaks Kafka frames over one connection.
type authnConn struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	corr int32
}

func dialAuthn(t *testing.T, addr string) *authnConn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &authnConn{t: t, c: c, r: bufio.NewReader(c)}
}

// request sends req and decodes the response; an error means the broker
// closed the connection.
func (rc *authnConn) request(req kmsg.Request) (kmsg.Response, error) {
	rc.corr++
	buf := make([]byte, 4, 64)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(rc.corr))
	buf = append(buf, 0, 4, 't', 'e', 's', 't')
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	rc.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.c.Write(buf); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(rc.r, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.r, body); err != nil {
		return nil, err
	}
	body = body[4:] // correlation ID
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatalf("decode %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

func (rc *authnConn) authenticatePlain(user, pass string) *kmsg.SASLAuthenticateResponse {
	rc.t.Helper()
	return rc.authenticate("PLAIN", []byte("\x00"+user+"\x00"+pass))
}

// authenticateOAuth sends token as an OAUTHBEARER client's first message.
func (rc *authnConn) authenticateOAuth(token string) *kmsg.SASLAuthenticateResponse {
	rc.t.Helper()
	return rc.authenticate("OAUTHBEARER", []byte("n,,\x01auth=Bearer "+token+"\x01\x01"))
}

// authenticate runs a one-message SASL exchange of mechanism (SaslHandshake
// v1, SaslAuthenticate v2) and returns the SaslAuthenticate answer.
func (rc *authnConn) authenticate(mechanism string, message []byte) *kmsg.SASLAuthenticateResponse {
	rc.t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mechanism
	resp, err := rc.request(hs)
	if err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
		rc.t.Fatalf("SaslHandshake: %v %+v", err, resp)
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version, au.SASLAuthBytes = 2, message
	resp, err = rc.request(au)
	if err != nil {
		rc.t.Fatalf("SaslAuthenticate: %v", err)
	}
	return resp.(*kmsg.SASLAuthenticateResponse)
}

// KIP-368: SaslAuthenticate v1+ tells the session lifetime; a request
// after it, other than a re-authentication, closes the connection;
// re-authenticating on the same connection extends the session. franz-go
// re-authenticates by itself and keeps producing.
func TestAuthReauthentication(t *testing.T) {
	t.Parallel()
	const lifetime = 1500 * time.Millisecond
	s := startSecuredBroker(t, map[string]string{"connections.max.reauth.ms": "1500"})
	addr := s.listener("SASL_PLAINTEXT")

	rc := dialAuthn(t, addr)
	au := rc.authenticatePlain(authnPlainUser, authnPlainPass)
	if au.ErrorCode != 0 || au.SessionLifetimeMillis <= 0 || au.SessionLifetimeMillis > lifetime.Milliseconds() {
		t.Fatalf("SaslAuthenticate: error %d, session lifetime %d ms; want 0 < lifetime <= %v", au.ErrorCode, au.SessionLifetimeMillis, lifetime)
	}
	if _, err := rc.request(kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("metadata within the session: %v", err)
	}
	time.Sleep(lifetime / 2) // halfway through the session: its lifetime is the input
	if au := rc.authenticatePlain(authnPlainUser, authnPlainPass); au.ErrorCode != 0 {
		t.Fatalf("re-authentication: error %d", au.ErrorCode)
	}
	time.Sleep(lifetime * 3 / 4) // past the first session's end, within the second's
	if _, err := rc.request(kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("metadata after re-authentication: %v", err)
	}
	time.Sleep(lifetime) // past the second session's end
	if resp, err := rc.request(kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatalf("metadata after the session expired was answered: %+v", resp)
	}

	// Re-authentication as someone else is refused.
	rc = dialAuthn(t, addr)
	rc.authenticatePlain(authnPlainUser, authnPlainPass)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "SCRAM-SHA-512"
	if resp, err := rc.request(hs); err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("re-authentication with another mechanism: %v %+v", err, resp)
	}

	// A franz-go client keeps producing across several session lifetimes.
	cl := newClient(t, addr, append(s.opts("SASL_PLAINTEXT", scram512(authnScramUser, authnScramPass)), kgo.DefaultProduceTopic("authn-reauth"), kgo.AllowAutoTopicCreation())...)
	deadline := time.Now().Add(3 * lifetime)
	for n := 0; time.Now().Before(deadline); n++ {
		if err := cl.ProduceSync(testContext(t, 10*time.Second), kgo.StringRecord("r")).FirstErr(); err != nil {
			t.Fatalf("produce %d across re-authentications: %v", n, err)
		}
		time.Sleep(100 * time.Millisecond) // paces the producer across the lifetimes
	}
}

// Before authentication only ApiVersions, SaslHandshake and
// SaslAuthenticate are served, requests are capped at 512 KiB, and
// SaslHandshake v0 exchanges bare tokens.
func TestAuthPreAuthenticationRules(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, nil)
	addr := s.listener("SASL_PLAINTEXT")

	rc := dialAuthn(t, addr)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	resp, err := rc.request(av)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[int16]bool{}
	for _, k := range resp.(*kmsg.ApiVersionsResponse).ApiKeys {
		keys[k.ApiKey] = true
	}
	for _, k := range []int16{17, 36, 50, 51} {
		if !keys[k] {
			t.Errorf("ApiVersions does not list %s", kmsg.NameForKey(k))
		}
	}
	if _, err := rc.request(kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("Metadata before authentication was answered")
	}

	// A request over 512 KiB before authentication closes the connection.
	rc = dialAuthn(t, addr)
	big := make([]byte, 4+600<<10)
	binary.BigEndian.PutUint32(big, uint32(len(big)-4))
	rc.c.Write(big[:64])
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.r.ReadByte(); err == nil {
		t.Fatal("a 600 KiB request before authentication was read")
	}

	// SaslHandshake v0: the PLAIN token follows as a bare frame, and the
	// answer is a bare (empty) frame.
	rc = dialAuthn(t, addr)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 0, "PLAIN"
	if resp, err := rc.request(hs); err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
		t.Fatalf("SaslHandshake v0: %v %+v", err, resp)
	}
	token := "\x00" + authnPlainUser + "\x00" + authnPlainPass
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(token)))
	rc.c.Write(append(frame, token...))
	var size [4]byte
	if _, err := io.ReadFull(rc.r, size[:]); err != nil || binary.BigEndian.Uint32(size[:]) != 0 {
		t.Fatalf("answer to the v0 PLAIN token: %v %v", size, err)
	}
	if resp, err := rc.request(kmsg.NewPtrMetadataRequest()); err != nil || len(resp.(*kmsg.MetadataResponse).Brokers) != 1 {
		t.Fatalf("Metadata after a v0 authentication: %v %+v", err, resp)
	}
}

// Metadata answers each client with the addresses of the listener it
// came in on.
func TestAuthMetadataAnswersWithTheClientsListener(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, nil)
	for _, l := range []string{"PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"} {
		var mech sasl.Mechanism
		if strings.HasPrefix(l, "SASL") {
			mech = scram256(authnScramUser, authnScramPass)
		}
		cl := newClient(t, s.listener(l), s.opts(l, mech)...)
		req := kmsg.NewPtrMetadataRequest()
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if len(resp.Brokers) != 1 {
			t.Fatalf("%s: brokers %+v", l, resp.Brokers)
		}
		got := net.JoinHostPort(resp.Brokers[0].Host, itoaInt32(resp.Brokers[0].Port))
		if got != s.listener(l) {
			t.Errorf("Metadata via %s lists %s, want %s", l, got, s.listener(l))
		}
	}
}

// TestOAuthSessionEndsWithItsTokenByDefault: with connections.max.reauth.ms
// at its default (0), an OAUTHBEARER session still ends when its token
// expires, as in Kafka: SaslAuthenticate answers the token's remaining
// lifetime, and a request after it closes the connection.
func TestOAuthSessionEndsWithItsTokenByDefault(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, nil)
	exp := time.Now().Add(3 * time.Second)
	rc := dialAuthn(t, s.listener("SASL_PLAINTEXT"))
	ar := rc.authenticateOAuth(s.files.token(t, "carol", exp))
	if ar.ErrorCode != 0 {
		t.Fatalf("authentication failed: %v", ar.ErrorMessage)
	}
	if ar.SessionLifetimeMillis <= 0 || ar.SessionLifetimeMillis > 3000 {
		t.Fatalf("session lifetime %d ms, want the token's remaining lifetime", ar.SessionLifetimeMillis)
	}
	if _, err := rc.request(kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("Metadata within the token's lifetime: %v", err)
	}
	time.Sleep(time.Until(exp) + 500*time.Millisecond)
	if _, err := rc.request(kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("Metadata after the token expired was answered")
	}
}

// TestBrokerWideClientAuthLeavesSASLSSLAlone: as Kafka (KIP-684), a
// broker-wide ssl.client.auth=required asks SSL listeners for client
// certificates, not SASL_SSL ones, whose clients authenticate by SASL.
func TestBrokerWideClientAuthLeavesSASLSSLAlone(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, map[string]string{"ssl.client.auth": "required"})
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, s.listener("SASL_SSL"), append(s.opts("SASL_SSL", plainMech(authnPlainUser, authnPlainPass)), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))...)
	if _, err := kadm.NewClient(cl).BrokerMetadata(ctx); err != nil {
		t.Fatalf("SASL_SSL client without a certificate: %v", err)
	}
}

// TestSASLRequestsAfterAuthenticationKeepTheConnection: SaslAuthenticate
// with no exchange under way, and SaslHandshake v0, after a successful
// authentication are ILLEGAL_SASL_STATE and the connection goes on, as in
// Kafka.
func TestSASLRequestsAfterAuthenticationKeepTheConnection(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, nil)
	rc := dialAuthn(t, s.listener("SASL_PLAINTEXT"))
	if au := rc.authenticatePlain(authnPlainUser, authnPlainPass); au.ErrorCode != 0 {
		t.Fatalf("authenticate: %d", au.ErrorCode)
	}
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.Version = 2
	resp, err := rc.request(au)
	if err != nil || resp.(*kmsg.SASLAuthenticateResponse).ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("SaslAuthenticate after authentication: %v %+v, want ILLEGAL_SASL_STATE", err, resp)
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 0, "PLAIN"
	resp, err = rc.request(hs)
	if err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("SaslHandshake v0 after authentication: %v %+v, want ILLEGAL_SASL_STATE", err, resp)
	}
	if _, err := rc.request(kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("Metadata after them: %v", err)
	}
}
