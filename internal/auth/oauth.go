package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// OAuthConfig configures OAUTHBEARER token validation with Kafka's
// sasl.oauthbearer.* names.
type OAuthConfig struct {
	// JWKSURL is sasl.oauthbearer.jwks.endpoint.url: file:///path or
	// http(s)://... serving a JSON Web Key Set.
	JWKSURL string
	// Refresh is sasl.oauthbearer.jwks.endpoint.refresh.ms: how often the
	// key set is fetched again (also when a token names an unknown key,
	// at most every MinRefresh). Zero is an hour.
	Refresh time.Duration
	// Audience is sasl.oauthbearer.expected.audience: when set, the
	// token's aud must hold one of them.
	Audience []string
	// Issuer is sasl.oauthbearer.expected.issuer: when set, iss must equal it.
	Issuer string
	// SubClaim is sasl.oauthbearer.sub.claim.name (default "sub"): the
	// claim whose value is the principal's name.
	SubClaim string
	// ClockSkew is sasl.oauthbearer.clock.skew.seconds (default 30 s).
	ClockSkew time.Duration
	// HTTPClient fetches http(s) key sets; nil uses a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the wall clock; nil is time.Now.
	Now func() time.Time
}

// minJWKSRefresh bounds how often a token with an unknown key ID makes
// the key set be fetched again.
const minJWKSRefresh = 10 * time.Second

// OAuthBearer is the OAUTHBEARER mechanism (RFC 7628, KIP-255) validating
// unsecured-free signed JWTs: HS256 (oct keys), RS256 (RSA keys) and ES256
// (P-256 keys), with exp required, nbf, and optional audience and issuer.
type OAuthBearer struct {
	cfg OAuthConfig

	// mu guards the fields below; it is never held across a fetch, so a
	// slow key-set endpoint does not hold up logins with known keys.
	mu      sync.Mutex
	keys    map[string]jwk
	fetched time.Time // when the last fetch started
	// refreshing is closed when the running fetch ends; nil when none
	// runs. One fetch runs at a time.
	refreshing chan struct{}
}

// jwk is one usable key of a key set.
type jwk struct {
	kid string
	alg string // the key's alg, "" when it does not say
	key any    // []byte, *rsa.PublicKey or *ecdsa.PublicKey
}

// NewOAuthBearer validates cfg and loads the key set once, so that a bad
// URL or key set fails at start.
func NewOAuthBearer(ctx context.Context, cfg OAuthConfig) (*OAuthBearer, error) {
	if cfg.JWKSURL == "" {
		return nil, errors.New("auth: OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url")
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Hour
	}
	if cfg.SubClaim == "" {
		cfg.SubClaim = "sub"
	}
	if cfg.ClockSkew < 0 {
		cfg.ClockSkew = 0
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	o := &OAuthBearer{cfg: cfg}
	keys, err := o.fetch(ctx)
	if err != nil {
		return nil, err
	}
	o.keys, o.fetched = keys, cfg.Now()
	return o, nil
}

// fetch reads and parses the key set.
func (o *OAuthBearer) fetch(ctx context.Context) (map[string]jwk, error) {
	u, err := url.Parse(o.cfg.JWKSURL)
	if err != nil {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url %q: %w", o.cfg.JWKSURL, err)
	}
	var data []byte
	switch u.Scheme {
	case "file":
		data, err = os.ReadFile(u.Path)
	case "http", "https":
		var req *http.Request
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, o.cfg.JWKSURL, nil); err != nil {
			break
		}
		var resp *http.Response
		if resp, err = o.cfg.HTTPClient.Do(req); err != nil {
			break
		}
		data, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP status %s", resp.Status)
		}
	default:
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url %q: want file://, http:// or https://", o.cfg.JWKSURL)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS %s: %w", o.cfg.JWKSURL, err)
	}
	keys, err := parseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", o.cfg.JWKSURL, err)
	}
	return keys, nil
}

// parseJWKS parses a JSON Web Key Set (RFC 7517): RSA, EC P-256 and oct
// keys; keys of other types, or meant for encryption only, are skipped.
func parseJWKS(data []byte) (map[string]jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
			K   string `json:"k"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	b64 := base64.RawURLEncoding
	keys := map[string]jwk{}
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		var key any
		switch k.Kty {
		case "RSA":
			n, err1 := b64.DecodeString(k.N)
			e, err2 := b64.DecodeString(k.E)
			if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
				return nil, fmt.Errorf("key %d (%q): bad RSA n or e", i, k.Kid)
			}
			key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		case "EC":
			if k.Crv != "P-256" {
				continue
			}
			x, err1 := b64.DecodeString(k.X)
			y, err2 := b64.DecodeString(k.Y)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("key %d (%q): bad EC x or y", i, k.Kid)
			}
			pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
			if !pub.Curve.IsOnCurve(pub.X, pub.Y) {
				return nil, fmt.Errorf("key %d (%q): point not on P-256", i, k.Kid)
			}
			key = pub
		case "oct":
			secret, err := b64.DecodeString(k.K)
			if err != nil || len(secret) == 0 {
				return nil, fmt.Errorf("key %d (%q): bad oct k", i, k.Kid)
			}
			key = secret
		default:
			continue
		}
		keys[k.Kid] = jwk{kid: k.Kid, alg: k.Alg, key: key}
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable signing key (RSA, EC P-256 or oct)")
	}
	return keys, nil
}

// key returns the key a token names, fetching the set again when it is
// old, or when the kid is unknown and the last fetch is minJWKSRefresh
// old. One fetch runs at a time: a token whose key is loaded never waits
// for it, and one whose key is unknown waits for the running fetch (or
// for ctx) rather than starting another.
func (o *OAuthBearer) key(ctx context.Context, kid string) (jwk, bool) {
	o.mu.Lock()
	now := o.cfg.Now()
	k, ok := o.lookupLocked(kid)
	age := now.Sub(o.fetched)
	if age < o.cfg.Refresh && (ok || age < minJWKSRefresh) {
		o.mu.Unlock()
		return k, ok
	}
	if done := o.refreshing; done != nil {
		o.mu.Unlock()
		if ok {
			return k, true
		}
		select {
		case <-done:
		case <-ctx.Done():
			return jwk{}, false
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.lookupLocked(kid)
	}
	done := make(chan struct{})
	o.refreshing, o.fetched = done, now
	o.mu.Unlock()

	// Others may wait on this fetch: the client that started it leaving
	// does not cancel it; the HTTP client's timeout bounds it.
	keys, err := o.fetch(context.WithoutCancel(ctx))

	o.mu.Lock()
	defer o.mu.Unlock()
	o.refreshing = nil
	close(done)
	if err != nil {
		o.cfg.Logger.Warn("JWKS refresh failed; keeping the loaded keys", "err", err)
		return k, ok
	}
	o.keys = keys
	return o.lookupLocked(kid)
}

func (o *OAuthBearer) lookupLocked(kid string) (jwk, bool) {
	if k, ok := o.keys[kid]; ok {
		return k, true
	}
	if kid == "" && len(o.keys) == 1 {
		for _, k := range o.keys {
			return k, true
		}
	}
	return jwk{}, false
}

// Validate checks a compact JWS and returns its principal name and expiry.
func (o *OAuthBearer) Validate(ctx context.Context, token string) (sub string, exp time.Time, err error) {
	opts := []jwt.ParserOption{
		// The signature algorithms accepted; "none" never is.
		jwt.WithValidMethods([]string{"HS256", "RS256", "ES256"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(o.cfg.ClockSkew),
		jwt.WithTimeFunc(o.cfg.Now),
	}
	if len(o.cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(o.cfg.Audience...))
	}
	if o.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(o.cfg.Issuer))
	}
	claims := jwt.MapClaims{}
	_, err = jwt.NewParser(opts...).ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := o.key(ctx, kid)
		if !ok {
			return nil, fmt.Errorf("no key %q in the JWKS", kid)
		}
		if k.alg != "" && k.alg != t.Method.Alg() {
			return nil, fmt.Errorf("key %q is for %s, the token is signed with %s", kid, k.alg, t.Method.Alg())
		}
		// The key's type must fit the algorithm, whatever the token
		// claims: an RSA public key is never an HMAC secret.
		switch t.Method.(type) {
		case *jwt.SigningMethodHMAC:
			if _, ok := k.key.([]byte); !ok {
				return nil, fmt.Errorf("key %q is not an HMAC secret", kid)
			}
		case *jwt.SigningMethodRSA:
			if _, ok := k.key.(*rsa.PublicKey); !ok {
				return nil, fmt.Errorf("key %q is not an RSA key", kid)
			}
		case *jwt.SigningMethodECDSA:
			if _, ok := k.key.(*ecdsa.PublicKey); !ok {
				return nil, fmt.Errorf("key %q is not an EC key", kid)
			}
		default:
			return nil, fmt.Errorf("algorithm %s not accepted", t.Method.Alg())
		}
		return k.key, nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	sub, _ = claims[o.cfg.SubClaim].(string)
	if strings.TrimSpace(sub) == "" {
		return "", time.Time{}, fmt.Errorf("token has no %q claim", o.cfg.SubClaim)
	}
	e, err := claims.GetExpirationTime()
	if err != nil || e == nil {
		return "", time.Time{}, errors.New("token has no exp")
	}
	return sub, e.Time, nil
}

// Name implements Mechanism.
func (o *OAuthBearer) Name() string { return MechOAuthBearer }

// Start implements Mechanism.
func (o *OAuthBearer) Start() Exchange { return &oauthExchange{o: o} }

type oauthExchange struct {
	o         *OAuthBearer
	principal string
	exp       time.Time
}

// Step checks the client's initial response (RFC 7628 section 3.1):
// gs2-header, then \x01-separated key=value pairs holding
// auth=Bearer <token>, ended by \x01\x01.
func (e *oauthExchange) Step(ctx context.Context, msg []byte) ([]byte, bool, error) {
	s := string(msg)
	gs2, rest, ok := strings.Cut(s, "\x01")
	if !ok || !strings.HasPrefix(gs2, "n,") || !strings.HasSuffix(rest, "\x01\x01") {
		return nil, false, fail("", "invalid OAUTHBEARER initial client response")
	}
	var authz string
	if a := strings.TrimSuffix(strings.TrimPrefix(gs2, "n,"), ","); strings.HasPrefix(a, "a=") {
		authz = a[2:]
	}
	var token string
	for _, kv := range strings.Split(strings.TrimSuffix(rest, "\x01\x01"), "\x01") {
		if v, ok := strings.CutPrefix(kv, "auth="); ok {
			scheme, tok, ok := strings.Cut(v, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") {
				return nil, false, fail("", "OAUTHBEARER auth is not a Bearer token")
			}
			token = strings.TrimSpace(tok)
		}
	}
	if token == "" {
		return nil, false, fail("", "OAUTHBEARER initial response has no token")
	}
	sub, exp, err := e.o.Validate(ctx, token)
	if err != nil {
		return nil, false, fail("", "invalid OAUTHBEARER token: %v", err)
	}
	if authz != "" && authz != sub {
		return nil, false, fail(sub, "authorization id %q differs from the token's subject", authz)
	}
	e.principal, e.exp = "User:"+sub, exp
	return nil, true, nil
}

func (e *oauthExchange) Principal() string { return e.principal }
func (e *oauthExchange) Expiry() time.Time { return e.exp }
