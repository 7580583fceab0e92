package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/xdg-go/scram"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-io/sluice/internal/devcert"
)

func TestPrincipalMappingRules(t *testing.T) {
	t.Parallel()
	const dn = "CN=alice,OU=Eng,O=Acme,C=US"
	for _, tc := range []struct {
		rules, want string
		wantErr     bool
	}{
		{"", dn, false},
		{"DEFAULT", dn, false},
		{"RULE:^CN=(.*?),OU=(.*?),O=.*$/$1@$2/", "alice@Eng", false},
		{"RULE:^CN=(.*?),OU=(.*?),O=.*$/$1@$2/L", "alice@eng", false},
		{"RULE:^CN=(.*?),OU=(.*?),O=.*$/$1/U, DEFAULT", "ALICE", false},
		{"RULE:^CN=bob,.*$/bob/, DEFAULT", dn, false},
		{"RULE:^CN=bob,.*$/bob/", "", true},
		{`RULE:^CN=(.*?),OU=.*$/$1\/x/`, "alice/x", false},
	} {
		m, err := ParsePrincipalRules(tc.rules)
		if err != nil {
			t.Fatalf("rules %q: %v", tc.rules, err)
		}
		got, err := m.Name(dn)
		if tc.wantErr {
			if !errors.Is(err, ErrNoPrincipalRule) {
				t.Errorf("rules %q: %q, %v; want ErrNoPrincipalRule", tc.rules, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("rules %q: %q, %v; want %q", tc.rules, got, err, tc.want)
		}
	}
	for _, bad := range []string{"RULE:abc", "NOPE", "RULE:(/x/"} {
		if _, err := ParsePrincipalRules(bad); err == nil {
			t.Errorf("rules %q parsed", bad)
		}
	}
}

func TestCertPrincipalIsTheSubject(t *testing.T) {
	t.Parallel()
	ca, err := devcert.NewCA("test CA", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Client(time.Now(), time.Hour, "alice")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.TLS()
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ParsePrincipalRules("")
	leaf := cert.Leaf
	p, err := m.CertPrincipal(leaf)
	if err != nil || p != "User:CN=alice" {
		t.Fatalf("principal %q, %v; want User:CN=alice", p, err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func plainToken(user, pass string) []byte { return []byte("\x00" + user + "\x00" + pass) }

func TestPlainUsersFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bc, err := bcrypt.GenerateFromPassword([]byte("alice-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "users")
	writeFile(t, path, "# users\nalice:"+string(bc)+"\nbob:"+HashArgon2id("bob-secret", []byte("0123456789abcdef"))+"\n")
	users, err := LoadPlainUsers(path, time.Nanosecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token         []byte
		wantPrincipal string
	}{
		{plainToken("alice", "alice-secret"), "User:alice"},
		{plainToken("bob", "bob-secret"), "User:bob"},
		{[]byte("bob\x00bob\x00bob-secret"), "User:bob"},
		{plainToken("alice", "wrong"), ""},
		{plainToken("carol", "alice-secret"), ""},
		{[]byte("alice\x00bob\x00bob-secret"), ""}, // authzid of another user
		{[]byte("garbage"), ""},
	} {
		ex := users.Start()
		_, done, err := ex.Step(context.Background(), tc.token)
		if tc.wantPrincipal == "" {
			if !errors.Is(err, ErrAuthentication) || done {
				t.Errorf("token %q: done %v, err %v; want an authentication failure", tc.token, done, err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("failure message %q holds the password", err)
			}
			continue
		}
		if err != nil || !done || ex.Principal() != tc.wantPrincipal {
			t.Errorf("token %q: done %v, principal %q, err %v; want %s", tc.token, done, ex.Principal(), err, tc.wantPrincipal)
		}
	}

	// The file is read again when it changes.
	time.Sleep(10 * time.Millisecond) // a distinct mtime
	writeFile(t, path, "carol:"+string(bc)+"\n")
	if _, done, err := users.Start().Step(context.Background(), plainToken("carol", "alice-secret")); !done || err != nil {
		t.Errorf("carol after the reload: done %v, err %v", done, err)
	}

	// Plaintext passwords are refused at load.
	writeFile(t, path, "alice:alice-secret\n")
	if _, err := LoadPlainUsers(path, 0, nil); err == nil || !strings.Contains(err.Error(), "plaintext") {
		t.Errorf("a plaintext entry loaded: %v", err)
	}
}

func TestScramExchange(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{MechScramSHA256, MechScramSHA512} {
		cred, err := NewScramCredential(mech, "pw", ScramMinIterations)
		if err != nil {
			t.Fatal(err)
		}
		lookup := func(user, m string) (ScramCredential, bool) {
			return cred, user == "alice" && m == mech
		}
		s, err := NewScram(mech, lookup)
		if err != nil {
			t.Fatal(err)
		}
		hashFn, _ := ScramHash(mech)
		for _, tc := range []struct {
			user, pass string
			ok         bool
		}{{"alice", "pw", true}, {"alice", "nope", false}, {"mallory", "pw", false}} {
			client, err := scram.HashGeneratorFcn(hashFn).NewClient(tc.user, tc.pass, "")
			if err != nil {
				t.Fatal(err)
			}
			conv := client.NewConversation()
			ex := s.Start()
			msg, _ := conv.Step("")
			var done bool
			for i := 0; i < 3 && !done; i++ {
				var challenge []byte
				challenge, done, err = ex.Step(context.Background(), []byte(msg))
				if err != nil {
					break
				}
				if msg, err = conv.Step(string(challenge)); err != nil {
					t.Fatalf("%s %s: client rejects the server: %v", mech, tc.user, err)
				}
			}
			if tc.ok != (done && err == nil) {
				t.Errorf("%s %s/%s: done %v, err %v; want ok=%v", mech, tc.user, tc.pass, done, err, tc.ok)
			}
			if tc.ok && ex.Principal() != "User:alice" {
				t.Errorf("principal %q", ex.Principal())
			}
			if !tc.ok && FailedUser(err) != tc.user {
				t.Errorf("failure names user %q, want %q", FailedUser(err), tc.user)
			}
		}
	}
}

// jwksFile writes a key set with an HS256 secret, an RSA and an EC key.
func jwksFile(t *testing.T, dir string, secret []byte, rsaKey *rsa.PrivateKey, ecKey *ecdsa.PrivateKey) string {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	set := map[string]any{"keys": []map[string]string{
		{"kty": "oct", "kid": "hs", "k": b64(secret)},
		{"kty": "RSA", "kid": "rs", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "es", "crv": "P-256", "x": b64(ecKey.X.FillBytes(make([]byte, 32))), "y": b64(ecKey.Y.FillBytes(make([]byte, 32)))},
	}}
	data, _ := json.Marshal(set)
	path := filepath.Join(dir, "jwks.json")
	writeFile(t, path, string(data))
	return "file://" + path
}

func TestOAuthBearerValidation(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	url := jwksFile(t, t.TempDir(), secret, rsaKey, ecKey)
	o, err := NewOAuthBearer(context.Background(), OAuthConfig{JWKSURL: url, Audience: []string{"sluice"}, Issuer: "https://idp"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(mut func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix(), "aud": "sluice", "iss": "https://idp"}
		if mut != nil {
			mut(c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(m, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaPubDER := rsaKey.PublicKey.N.Bytes()
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"HS256", sign(jwt.SigningMethodHS256, "hs", secret, claims(nil)), true},
		{"RS256", sign(jwt.SigningMethodRS256, "rs", rsaKey, claims(nil)), true},
		{"ES256", sign(jwt.SigningMethodES256, "es", ecKey, claims(nil)), true},
		{"expired", sign(jwt.SigningMethodRS256, "rs", rsaKey, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), false},
		{"not yet valid", sign(jwt.SigningMethodRS256, "rs", rsaKey, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), false},
		{"no exp", sign(jwt.SigningMethodRS256, "rs", rsaKey, claims(func(c jwt.MapClaims) { delete(c, "exp") })), false},
		{"wrong key", sign(jwt.SigningMethodES256, "es", otherEC, claims(nil)), false},
		{"unknown kid", sign(jwt.SigningMethodES256, "nope", ecKey, claims(nil)), false},
		{"wrong audience", sign(jwt.SigningMethodHS256, "hs", secret, claims(func(c jwt.MapClaims) { c["aud"] = "other" })), false},
		{"wrong issuer", sign(jwt.SigningMethodHS256, "hs", secret, claims(func(c jwt.MapClaims) { c["iss"] = "evil" })), false},
		{"alg none", sign(jwt.SigningMethodNone, "hs", jwt.UnsafeAllowNoneSignatureType, claims(nil)), false},
		// The RSA key's bytes used as an HMAC secret: the key type must
		// fit the algorithm.
		{"HS256 with the RSA key", sign(jwt.SigningMethodHS256, "rs", rsaPubDER, claims(nil)), false},
		{"HS384", sign(jwt.SigningMethodHS384, "hs", secret, claims(nil)), false},
	} {
		ex := o.Start()
		msg := "n,,\x01auth=Bearer " + tc.token + "\x01\x01"
		_, done, err := ex.Step(context.Background(), []byte(msg))
		if tc.ok {
			if err != nil || !done || ex.Principal() != "User:alice" || ex.Expiry().IsZero() {
				t.Errorf("%s: done %v, principal %q, err %v", tc.name, done, ex.Principal(), err)
			}
			continue
		}
		if !errors.Is(err, ErrAuthentication) {
			t.Errorf("%s: accepted (done %v, err %v)", tc.name, done, err)
		}
	}
}

// A listener's certificate is reloaded from its files without a restart.
func TestServerTLSReloadsChangedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, _ := devcert.NewCA("test CA", time.Now(), time.Hour)
	write := func(host string) {
		pair, err := ca.Server(time.Now(), time.Hour, host)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "cert.pem"), string(pair.CertPEM))
		writeFile(t, filepath.Join(dir, "key.pem"), string(pair.KeyPEM))
	}
	write("one.example")
	writeFile(t, filepath.Join(dir, "ca.pem"), string(ca.CertPEM))
	s, err := NewServerTLS(TLSFiles{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), CAFile: filepath.Join(dir, "ca.pem"), ClientAuth: "required"}, time.Nanosecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	host := func() string {
		cfg, err := s.Config().GetConfigForClient(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ClientAuth != tls.RequireAndVerifyClientCert {
			t.Fatalf("client auth %v", cfg.ClientAuth)
		}
		return cfg.Certificates[0].Leaf.DNSNames[0]
	}
	if h := host(); h != "one.example" {
		t.Fatalf("certificate for %s", h)
	}
	time.Sleep(10 * time.Millisecond)
	write("two.example")
	if h := host(); h != "two.example" {
		t.Fatalf("after replacing the files the certificate is for %s", h)
	}
	// A half-written replacement keeps the loaded certificate.
	time.Sleep(10 * time.Millisecond)
	writeFile(t, filepath.Join(dir, "key.pem"), "garbage")
	if h := host(); h != "two.example" {
		t.Fatalf("after a bad key the certificate is for %s", h)
	}
}

// librdkafka sends its own nonce again in front of the combined nonce in
// client-final-message; Kafka 3.8.1 to 3.9 accept a nonce that ends with
// the one they sent, and so does Sluice. A nonce without the server's part
// is refused.
func TestScramAcceptsLibrdkafkaNonce(t *testing.T) {
	t.Parallel()
	mech := MechScramSHA512
	cred, _ := NewScramCredential(mech, "pw", ScramMinIterations)
	s, _ := NewScram(mech, func(string, string) (ScramCredential, bool) { return cred, true })
	h, _ := ScramHash(mech)
	for _, tc := range []struct {
		name  string
		nonce func(cnonce, combined string) string
		ok    bool
	}{
		{"RFC 5802", func(_, combined string) string { return combined }, true},
		{"librdkafka", func(cnonce, combined string) string { return cnonce + combined }, true},
		{"client nonce only", func(cnonce, _ string) string { return cnonce }, false},
	} {
		ex := s.Start()
		const cnonce = "sid@tK>`k]z|1Kt0-g>Dn5?sp:xa>frG"
		first := "n,,n=alice,r=" + cnonce
		sf, _, err := ex.Step(context.Background(), []byte(first))
		if err != nil {
			t.Fatal(err)
		}
		combined, _, _ := strings.Cut(strings.TrimPrefix(string(sf), "r="), ",")
		salted, _ := SaltPassword(mech, "pw", cred.Salt, cred.Iterations)
		mac := func(key []byte, data string) []byte { m := hmac.New(h, key); m.Write([]byte(data)); return m.Sum(nil) }
		clientKey := mac(salted, "Client Key")
		withoutProof := "c=biws,r=" + tc.nonce(cnonce, combined)
		authMsg := first[3:] + "," + string(sf) + "," + withoutProof
		sig := mac(cred.StoredKey, authMsg)
		proof := make([]byte, len(clientKey))
		for i := range proof {
			proof[i] = clientKey[i] ^ sig[i]
		}
		final := withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)
		sv, done, err := ex.Step(context.Background(), []byte(final))
		if tc.ok != (done && err == nil) {
			t.Errorf("%s: done %v err %v", tc.name, done, err)
		}
		if tc.ok && string(sv) != "v="+base64.StdEncoding.EncodeToString(mac(cred.ServerKey, authMsg)) {
			t.Errorf("%s: server signature %q", tc.name, sv)
		}
	}
}

// The key set can come from an http(s) URL; a token is checked against it.
func TestOAuthBearerJWKSOverHTTP(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "oct", "kid": "hs", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(secret)}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks) }))
	defer srv.Close()
	o, err := NewOAuthBearer(context.Background(), OAuthConfig{JWKSURL: srv.URL + "/jwks.json", SubClaim: "client_id"})
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"client_id": "svc-7", "exp": time.Now().Add(time.Minute).Unix()})
	tok.Header["kid"] = "hs"
	s, _ := tok.SignedString(secret)
	ex := o.Start()
	if _, done, err := ex.Step(context.Background(), []byte("n,,\x01auth=Bearer "+s+"\x01\x01")); !done || err != nil || ex.Principal() != "User:svc-7" {
		t.Fatalf("token from an HTTP key set: done %v err %v principal %q", done, err, ex.Principal())
	}
	if _, err := NewOAuthBearer(context.Background(), OAuthConfig{JWKSURL: "ftp://example.com/jwks"}); err == nil {
		t.Fatal("an ftp:// key set was accepted")
	}
}

// Subjects are written as Java's X500Principal.getName() writes them,
// which is what Kafka's DEFAULT rule and ACLs on certificate principals
// use: the certificate's order reversed, DC and UID by name, other
// types not in RFC 2253 as OID=#DER, special characters escaped.
func TestSubjectRFC2253(t *testing.T) {
	t.Parallel()
	atv := func(oid asn1.ObjectIdentifier, v any) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}
	}
	ia5 := func(s string) asn1.RawValue { return asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(s)} }
	var (
		cn    = asn1.ObjectIdentifier{2, 5, 4, 3}
		c     = asn1.ObjectIdentifier{2, 5, 4, 6}
		o     = asn1.ObjectIdentifier{2, 5, 4, 10}
		ou    = asn1.ObjectIdentifier{2, 5, 4, 11}
		dc    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
		uid   = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
		email = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	)
	for _, tc := range []struct {
		rdns pkix.RDNSequence
		want string
	}{
		{pkix.RDNSequence{{atv(c, "US")}, {atv(o, "Acme, Inc.")}, {atv(ou, "eng")}, {atv(cn, "alice")}}, `CN=alice,OU=eng,O=Acme\, Inc.,C=US`},
		{pkix.RDNSequence{{atv(cn, "alice")}, {atv(o, "Acme")}}, `O=Acme,CN=alice`},
		{pkix.RDNSequence{{atv(dc, ia5("com"))}, {atv(dc, ia5("example"))}, {atv(uid, "jdoe")}}, `UID=jdoe,DC=example,DC=com`},
		{pkix.RDNSequence{{atv(email, ia5("a@b"))}, {atv(cn, " bob"), atv(ou, "x+y")}}, `OU=x\+y+CN=\ bob,1.2.840.113549.1.9.1=#1603614062`}, // a SET is in DER order
	} {
		der, err := asn1.Marshal(tc.rdns)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := SubjectRFC2253(der); err != nil || got != tc.want {
			t.Errorf("subject %q, %v; want %q", got, err, tc.want)
		}
	}
}

// KIP-651: certificate, key and CAs can be PEM in the config itself, also
// as a Java properties file leaves them after joining continued lines.
func TestInlinePEM(t *testing.T) {
	t.Parallel()
	ca, _ := devcert.NewCA("test CA", time.Now(), time.Hour)
	pair, _ := ca.Server(time.Now(), time.Hour, "inline.test")
	oneLine := func(b []byte) string { return strings.ReplaceAll(string(b), "\n", " ") }
	for _, files := range []TLSFiles{
		{CertPEM: string(pair.CertPEM), KeyPEM: string(pair.KeyPEM), CAPEM: string(ca.CertPEM), ClientAuth: "required"},
		{CertPEM: oneLine(pair.CertPEM), KeyPEM: oneLine(pair.KeyPEM), CAPEM: oneLine(ca.CertPEM), ClientAuth: "required"},
	} {
		st, err := NewServerTLS(files, 0, nil)
		if err != nil {
			t.Fatalf("inline PEM: %v", err)
		}
		if got := st.Certificate().Leaf.DNSNames[0]; got != "inline.test" {
			t.Fatalf("certificate for %s", got)
		}
		if _, err := ClientTLS(files); err != nil {
			t.Fatalf("client TLS from inline PEM: %v", err)
		}
	}
	if _, err := NewServerTLS(TLSFiles{CertPEM: "garbage"}, 0, nil); err == nil {
		t.Fatal("garbage PEM accepted")
	}
}

// TestSubjectRFC2253EscapesAsJava: values are escaped as Java's
// AVA.toRFC2253String escapes them, so the DEFAULT principal of a
// certificate is the one Kafka ACLs name: , = + < > # ; " \ anywhere, NUL
// as \00, every leading and trailing space or carriage return, other
// characters as they are; a value that is not a directory string is
// '#' and its DER after the keyword; every directory string is read as
// UTF-8, BMPString included.
func TestSubjectRFC2253EscapesAsJava(t *testing.T) {
	t.Parallel()
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	o := asn1.ObjectIdentifier{2, 5, 4, 10}
	raw := func(tag int, b string) asn1.RawValue { return asn1.RawValue{Tag: tag, Bytes: []byte(b)} }
	for _, tc := range []struct {
		name  string
		value any
		want  string
	}{
		{"equals sign", "a=b", `CN=a\=b,O=Acme`},
		{"hash anywhere", "#a#", `CN=\#a\#,O=Acme`},
		{"every special character", `,=+<>#;"\`, `CN=\,\=\+\<\>\#\;\"\\,O=Acme`},
		{"leading and trailing spaces", "  two  words  ", `CN=\ \ two  words\ \ ,O=Acme`},
		{"only a space", " ", `CN=\ ,O=Acme`},
		{"trailing carriage return", raw(asn1.TagUTF8String, "a \r"), "CN=a\\ \\\r,O=Acme"},
		{"NUL", raw(asn1.TagUTF8String, "a\x00b"), `CN=a\00b,O=Acme`},
		{"control and non-ASCII characters as they are", raw(asn1.TagUTF8String, "a\tb*é"), "CN=a\tb*é,O=Acme"},
		{"BMPString read as UTF-8", raw(asn1.TagBMPString, "\x00a\x00b"), `CN=\00a\00b,O=Acme`},
		{"T61String read as UTF-8", raw(asn1.TagT61String, "caf\xe9"), "CN=caf\uFFFD,O=Acme"},
		{"NumericString in hex", raw(asn1.TagNumericString, "12"), `CN=#12023132,O=Acme`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der, err := asn1.Marshal(pkix.RDNSequence{
				{{Type: o, Value: "Acme"}},
				{{Type: cn, Value: tc.value}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := SubjectRFC2253(der); err != nil || got != tc.want {
				t.Errorf("subject %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestJavaDecodeUTF8 checks the malformed sequences Java's UTF-8 decoder
// replaces differently from Go's: one U+FFFD per truncated sequence at
// the end, and one per three-byte surrogate.
func TestJavaDecodeUTF8(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"plain é 😀", "plain é 😀"},
		{"a\xe2\x82", "a\uFFFD"},
		{"a\xe2\x82b", "a\uFFFDb"},
		{"\xed\xa0\x80z", "\uFFFDz"},
		{"\xe0\x80\x80", "\uFFFD\uFFFD\uFFFD"},
		{"\xf0\x9f\x98", "\uFFFD"},
		{"\xf0\x9f\x98z", "\uFFFDz"},
		{"\xf0\x9fz", "\uFFFDz"},
		{"\xf0\x80\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xc0\xaf", "\uFFFD\uFFFD"},
		{"\xc3", "\uFFFD"},
		{"\xc3z", "\uFFFDz"},
		{"\xff\x80", "\uFFFD\uFFFD"},
	} {
		if got := string(javaDecodeUTF8([]byte(tc.in))); got != tc.want {
			t.Errorf("javaDecodeUTF8(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A token naming an unknown key makes the key set be fetched again; while
// that fetch waits on a slow endpoint, tokens with loaded keys are still
// checked at once, and a second unknown key waits for the same fetch
// rather than starting another.
func TestOAuthBearerSlowRefreshBlocksNoKnownKey(t *testing.T) {
	t.Parallel()
	secret := []byte("0123456789abcdef0123456789abcdef")
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "oct", "kid": "hs", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(secret)}}})
	var fetches atomic.Int32
	arrived, release := make(chan struct{}, 4), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fetches.Add(1) > 1 {
			arrived <- struct{}{}
			<-release
		}
		w.Write(jwks)
	}))
	defer srv.Close()
	defer close(release)
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	o, err := NewOAuthBearer(context.Background(), OAuthConfig{JWKSURL: srv.URL, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	token := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, _ := tok.SignedString(secret)
		return s
	}
	skew.Store(int64(minJWKSRefresh + time.Second))
	unknown := make(chan error, 2)
	go func() { _, _, err := o.Validate(context.Background(), token("unknown-1")); unknown <- err }()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("an unknown kid did not fetch the key set again")
	}
	go func() { _, _, err := o.Validate(context.Background(), token("unknown-2")); unknown <- err }()

	checked := make(chan error, 1)
	go func() { _, _, err := o.Validate(context.Background(), token("hs")); checked <- err }()
	select {
	case err := <-checked:
		if err != nil {
			t.Fatalf("token with a loaded key: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a token with a loaded key waited for the key-set fetch")
	}
	release <- struct{}{}
	for range 2 {
		if err := <-unknown; err == nil {
			t.Fatal("a token with an unknown kid was accepted")
		}
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (the first, then one shared refresh)", n)
	}
}
