package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
)

// Security protocols of a listener, as in Kafka's
// listener.security.protocol.map.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// Listener is the security of one named listener.
type Listener struct {
	// Name is the listener's name ("PLAINTEXT", "INTERNAL", ...); it is
	// what broker.Client.Listener says and what Metadata answers by.
	Name string
	// Protocol is one of the Protocol constants.
	Protocol string
	// TLS serves SSL and SASL_SSL listeners.
	TLS *tls.Config
	// Principals maps a verified client certificate's subject to the
	// principal of an SSL connection (ssl.principal.mapping.rules).
	Principals *auth.PrincipalMapper
	// SASL holds the mechanisms of a SASL_PLAINTEXT or SASL_SSL listener.
	SASL *auth.SASL
	// ReauthAfter is connections.max.reauth.ms (KIP-368): a SASL session
	// lasts this long at most (less when an OAUTHBEARER token expires
	// sooner), after which the connection must re-authenticate before any
	// other request. Zero: sessions last as long as their credential, for
	// ever but an OAUTHBEARER token's, as in Kafka.
	ReauthAfter time.Duration
	// HandshakeTimeout bounds the TLS handshake; zero is 10 s.
	HandshakeTimeout time.Duration
	// MaxPreAuthRequest is sasl.server.max.receive.size: the largest
	// request before authentication completes; zero is 512 KiB.
	MaxPreAuthRequest int32
}

// plaintextListener is the listener of Serve: no TLS, no SASL.
func plaintextListener() Listener {
	return Listener{Name: ProtocolPlaintext, Protocol: ProtocolPlaintext}
}

func (l *Listener) check() error {
	switch l.Protocol {
	case ProtocolPlaintext:
	case ProtocolSSL:
		if l.TLS == nil {
			return fmt.Errorf("server: listener %s (SSL) has no TLS configuration", l.Name)
		}
	case ProtocolSASLSSL:
		if l.TLS == nil {
			return fmt.Errorf("server: listener %s (SASL_SSL) has no TLS configuration", l.Name)
		}
		fallthrough
	case ProtocolSASLPlaintext:
		if l.SASL == nil || len(l.SASL.Enabled()) == 0 {
			return fmt.Errorf("server: listener %s (%s) enables no SASL mechanism", l.Name, l.Protocol)
		}
	default:
		return fmt.Errorf("server: listener %s: unknown security protocol %q", l.Name, l.Protocol)
	}
	return nil
}

func (l *Listener) usesSASL() bool {
	return l.Protocol == ProtocolSASLPlaintext || l.Protocol == ProtocolSASLSSL
}

// maxPreAuthRequest is the default cap of requests before authentication
// completes, Kafka's sasl.server.max.receive.size.
const maxPreAuthRequest = 512 << 10

func (l *Listener) preAuthLimit() int32 {
	if l.MaxPreAuthRequest > 0 {
		return l.MaxPreAuthRequest
	}
	return maxPreAuthRequest
}

// saslState is a connection's SASL state (SaslServerAuthenticator's, in
// Kafka): before authentication only ApiVersions, SaslHandshake and
// SaslAuthenticate are served.
type saslState struct {
	authenticated bool
	// exchange is the authentication under way after a SaslHandshake;
	// mechanism is its name.
	exchange  auth.Exchange
	mechanism string
	// raw is set after a SaslHandshake v0: the tokens that follow are
	// size-prefixed bytes without Kafka request headers.
	raw bool
	// sessionEnd is when the session expires (KIP-368), on the monotonic
	// clock; zero when it does not.
	sessionEnd time.Time
	// authMechanism is the mechanism of the first authentication, which a
	// re-authentication must use too.
	authMechanism string
}

// errAuthClose is a refused authentication; the connection closes once
// its response is written.
type errAuthClose struct{ reason string }

func (e *errAuthClose) Error() string { return e.reason }

// handshakeTLS runs the TLS handshake of an SSL or SASL_SSL connection
// within the listener's handshake timeout, and sets the connection's
// principal from its client certificate on an SSL listener.
func (c *conn) handshakeTLS(ctx context.Context) error {
	l := c.listener
	timeout := l.HandshakeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	wire := &coalescingConn{Conn: c.nc, pool: &c.srv.wireBufs}
	tc := tls.Server(wire, l.TLS)
	c.deadlineMu.Lock()
	if c.stopping {
		c.deadlineMu.Unlock()
		return net.ErrClosed
	}
	c.nc = tc
	c.deadlineMu.Unlock()
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.deadlineMu.Lock()
		stopping := c.stopping
		c.deadlineMu.Unlock()
		if stopping || ctx.Err() != nil {
			return net.ErrClosed // the server is shutting down
		}
		reason := err.Error()
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) {
			reason = "the client does not speak TLS (a plaintext client on the TLS listener " + l.Name + "?): " + err.Error()
		}
		c.srv.auditFailure(ctx, c, "", "TLS", reason)
		return fmt.Errorf("TLS handshake failed: %s", reason)
	}
	wire.enable()
	c.wire = wire
	if l.Protocol == ProtocolSSL {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 && l.Principals != nil {
			p, err := l.Principals.CertPrincipal(certs[0])
			if err != nil {
				c.srv.auditFailure(ctx, c, certs[0].Subject.String(), "SSL", err.Error())
				return err
			}
			c.client.Principal = p
		}
	}
	return nil
}

// auditFailure writes the audit line of a failed authentication.
func (s *Server) auditFailure(ctx context.Context, c *conn, user, mechanism, reason string) {
	s.cfg.Audit.Log(ctx, "authentication failed",
		slog.String("user", user),
		slog.String("mechanism", mechanism),
		slog.String("listener", c.listener.Name),
		slog.String("client", c.client.Addr),
		slog.String("reason", reason))
}

// gate decides what a request on a SASL listener may do. It returns
// handled=false when the request goes on to the broker; otherwise the
// reply to queue (a SASL response, or an error closing the connection).
func (c *conn) gate(ctx context.Context, key, version int16, req kmsg.Request) (resp kmsg.Response, handled bool, err error) {
	st := &c.sasl
	switch key {
	case 17:
		return c.saslHandshake(req.(*kmsg.SASLHandshakeRequest))
	case 36:
		return c.saslAuthenticate(ctx, req.(*kmsg.SASLAuthenticateRequest))
	case 18:
		if !st.authenticated && st.exchange != nil {
			return nil, true, fmt.Errorf("ApiVersions in the middle of a SASL %s exchange", st.mechanism)
		}
		if !st.authenticated {
			return nil, false, nil
		}
	}
	// Any other request before authentication was refused unread
	// (conn.decode).
	if !st.sessionEnd.IsZero() && time.Now().After(st.sessionEnd) {
		// KIP-368: a request other than a re-authentication after the
		// session expired closes the connection.
		return nil, true, fmt.Errorf("SASL session of %s expired (connections.max.reauth.ms) and %s is not a re-authentication", c.client.Principal, kmsg.NameForKey(key))
	}
	return nil, false, nil
}

func (c *conn) saslHandshake(req *kmsg.SASLHandshakeRequest) (kmsg.Response, bool, error) {
	st := &c.sasl
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = c.listener.SASL.Enabled()
	if st.exchange != nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, true, &errAuthClose{"SaslHandshake while a SASL exchange is under way"}
	}
	if st.authenticated && req.Version < 1 {
		// KIP-368: re-authentication needs SaslHandshake v1 or later;
		// v0 after authentication is refused, the connection kept, as
		// Kafka's handleSaslHandshakeRequest answers it.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, true, nil
	}
	if st.authenticated && req.Mechanism != st.authMechanism {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, true, &errAuthClose{fmt.Sprintf("re-authentication with %s after authenticating with %s", req.Mechanism, st.authMechanism)}
	}
	ex, ok := c.listener.SASL.Start(req.Mechanism)
	if !ok {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.srv.auditFailure(context.Background(), c, "", req.Mechanism, "mechanism not enabled on this listener")
		return resp, true, &errAuthClose{fmt.Sprintf("SASL mechanism %q is not enabled on listener %s (enabled: %v)", req.Mechanism, c.listener.Name, resp.SupportedMechanisms)}
	}
	st.exchange, st.mechanism = ex, req.Mechanism
	st.raw = req.Version == 0
	return resp, true, nil
}

func (c *conn) saslAuthenticate(ctx context.Context, req *kmsg.SASLAuthenticateRequest) (kmsg.Response, bool, error) {
	st := &c.sasl
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if st.exchange == nil && st.authenticated {
		// As Kafka's handleSaslAuthenticateRequest: refused, the
		// connection kept.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate request received after successful authentication"
		resp.ErrorMessage = &msg
		return resp, true, nil
	}
	if st.exchange == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate without a SaslHandshake first"
		resp.ErrorMessage = &msg
		return resp, true, &errAuthClose{msg}
	}
	challenge, done, err := c.step(ctx, req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		return resp, true, &errAuthClose{msg}
	}
	resp.SASLAuthBytes = challenge
	if done && req.Version >= 1 && !st.sessionEnd.IsZero() {
		resp.SessionLifetimeMillis = max(time.Until(st.sessionEnd).Milliseconds(), 1)
	}
	return resp, true, nil
}

// step feeds one token to the exchange; on completion it sets the
// principal and the session's end. Failures are audited.
func (c *conn) step(ctx context.Context, token []byte) ([]byte, bool, error) {
	st := &c.sasl
	challenge, done, err := safeStep(ctx, st.exchange, token)
	if err != nil {
		reason := err.Error()
		if !errors.Is(err, auth.ErrAuthentication) {
			reason = "Authentication failed: " + reason
		}
		c.srv.auditFailure(ctx, c, auth.FailedUser(err), st.mechanism, reason)
		st.exchange = nil
		return nil, false, errors.New(reason)
	}
	if !done {
		return challenge, false, nil
	}
	principal := st.exchange.Principal()
	if st.authenticated && principal != c.client.Principal {
		reason := fmt.Sprintf("re-authentication as %s on a connection of %s", principal, c.client.Principal)
		c.srv.auditFailure(ctx, c, principal, st.mechanism, reason)
		st.exchange = nil
		return nil, false, errors.New("Authentication failed: cannot change principals during re-authentication")
	}
	// The session ends after connections.max.reauth.ms, and an
	// OAUTHBEARER session with its token at the latest, that setting or
	// not (Kafka's calcCompletionTimesAndReturnSessionLifetimeMs).
	st.sessionEnd = time.Time{}
	if d := c.listener.ReauthAfter; d > 0 {
		st.sessionEnd = time.Now().Add(d)
	}
	if exp := st.exchange.Expiry(); !exp.IsZero() && (st.sessionEnd.IsZero() || exp.Before(st.sessionEnd)) {
		st.sessionEnd = exp
	}
	if !st.authenticated {
		c.logger.Debug("authenticated", "principal", principal, "mechanism", st.mechanism)
	}
	if c.client.Principal != principal {
		// Only the first authentication sets it: a re-authentication
		// keeps the principal, and handlers still running for earlier
		// requests may read it.
		c.client.Principal = principal
	}
	st.authenticated, st.authMechanism = true, st.mechanism
	st.exchange, st.raw = nil, false
	return challenge, true, nil
}

// safeStep runs one step of an exchange on the connection's reader, where
// a panic would take the whole process down: a mechanism that panics on a
// client's token refuses that client instead.
func safeStep(ctx context.Context, ex auth.Exchange, token []byte) (challenge []byte, done bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			challenge, done, err = nil, false, fmt.Errorf("Authentication failed: the mechanism could not read the client's message (%v)", r)
		}
	}()
	return ex.Step(ctx, token)
}

// rawToken handles one token of a SaslHandshake v0 exchange, which has no
// Kafka header; the answer is a size-prefixed token too.
func (c *conn) rawToken(ctx context.Context, token []byte) (pending, error) {
	challenge, _, err := c.step(ctx, token)
	if err != nil {
		// Kafka answers a failed v0 exchange by closing the connection.
		return pending{}, &errAuthClose{err.Error()}
	}
	return pending{raw: true, rawBytes: challenge}, nil
}
