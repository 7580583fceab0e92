package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/xdg-go/scram"
	"golang.org/x/crypto/pbkdf2"
)

// ScramCredential is what the server stores for one user and SCRAM
// mechanism (RFC 5802): never the password, only the salt, the iteration
// count and the keys derived from the salted password.
type ScramCredential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// ScramLookup finds a user's credential for a mechanism; Sluice reads it
// from the replicated cluster metadata.
type ScramLookup func(user, mechanism string) (ScramCredential, bool)

// Kafka's bounds on SCRAM iterations (ScramMechanism); AlterUserScram
// Credentials refuses counts outside them.
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// ScramHash returns the hash of a SCRAM mechanism, or false for a name
// that is not SCRAM-SHA-256 or SCRAM-SHA-512.
func ScramHash(mechanism string) (func() hash.Hash, bool) {
	switch mechanism {
	case MechScramSHA256:
		return sha256.New, true
	case MechScramSHA512:
		return sha512.New, true
	}
	return nil, false
}

// ScramKeys derives StoredKey and ServerKey from a salted password
// (RFC 5802 section 3), which is what AlterUserScramCredentials sends.
func ScramKeys(mechanism string, saltedPassword []byte) (storedKey, serverKey []byte, err error) {
	h, ok := ScramHash(mechanism)
	if !ok {
		return nil, nil, fmt.Errorf("auth: %q is not a SCRAM mechanism", mechanism)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(saltedPassword, "Client Key")
	d := h()
	d.Write(clientKey)
	return d.Sum(nil), mac(saltedPassword, "Server Key"), nil
}

// SaltPassword is Hi(password, salt, iterations) of RFC 5802: PBKDF2 with
// the mechanism's HMAC, as a client computes it.
func SaltPassword(mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h, ok := ScramHash(mechanism)
	if !ok {
		return nil, fmt.Errorf("auth: %q is not a SCRAM mechanism", mechanism)
	}
	return pbkdf2.Key([]byte(password), salt, iterations, h().Size(), h), nil
}

// NewScramCredential makes a credential for password with a fresh random
// salt (the bootstrap admin and tools that know the password).
func NewScramCredential(mechanism, password string, iterations int) (ScramCredential, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return ScramCredential{}, err
	}
	salted, err := SaltPassword(mechanism, password, salt, iterations)
	if err != nil {
		return ScramCredential{}, err
	}
	stored, server, err := ScramKeys(mechanism, salted)
	if err != nil {
		return ScramCredential{}, err
	}
	return ScramCredential{Salt: salt, Iterations: iterations, StoredKey: stored, ServerKey: server}, nil
}

// Scram is the SCRAM-SHA-256 or SCRAM-SHA-512 mechanism.
type Scram struct {
	mechanism string
	hash      scram.HashGeneratorFcn
	lookup    ScramLookup
}

// NewScram returns a SCRAM mechanism checking credentials from lookup.
func NewScram(mechanism string, lookup ScramLookup) (*Scram, error) {
	h, ok := ScramHash(mechanism)
	if !ok {
		return nil, fmt.Errorf("auth: %q is not a SCRAM mechanism", mechanism)
	}
	return &Scram{mechanism: mechanism, hash: scram.HashGeneratorFcn(h), lookup: lookup}, nil
}

// Name implements Mechanism.
func (s *Scram) Name() string { return s.mechanism }

// errUnknownScramUser is what the credential lookup hands the SCRAM
// library for a user without a credential.
var errUnknownScramUser = errors.New("unknown user")

// Start implements Mechanism.
func (s *Scram) Start() Exchange {
	e := &scramExchange{mechanism: s.mechanism}
	e.hash, _ = ScramHash(s.mechanism)
	srv, err := s.hash.NewServer(func(user string) (scram.StoredCredentials, error) {
		e.user = user
		c, ok := s.lookup(user, s.mechanism)
		if !ok {
			return scram.StoredCredentials{}, errUnknownScramUser
		}
		e.cred = c
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
			StoredKey:  c.StoredKey,
			ServerKey:  c.ServerKey,
		}, nil
	})
	if err != nil {
		e.err = err
		return e
	}
	e.conv = srv.WithNonceGenerator(alphanumericNonce).NewConversation()
	return e
}

// alphanumericNonce is the server's part of the SCRAM nonce: 24 random
// bytes as hex, alphanumeric as Kafka's own nonces are.
func alphanumericNonce() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// scramExchange is one SCRAM authentication. xdg-go/scram parses the
// client-first message (GS2 header, SASLname decoding), looks the user up
// and writes the server-first message; the client-final message is
// verified here, because librdkafka before 2.6.1 (librdkafka#4895) sends
// its own nonce again in front of the combined one. Sluice accepts a final
// nonce that ends with the one it sent, as Kafka 3.8.1 to 3.9 do; RFC 5802
// and Kafka 4 want them equal. The server's random part and the proof are
// checked either way.
type scramExchange struct {
	mechanism string
	hash      func() hash.Hash
	conv      *scram.ServerConversation
	err       error
	user      string
	cred      ScramCredential
	principal string

	step       int
	gs2Header  string // "n,," or "n,a=authzid,"
	clientBare string // client-first-message-bare
	serverMsg  string // server-first-message
	nonce      string // the combined nonce it carries
}

// Step runs one round of RFC 5802: client-first then client-final.
func (e *scramExchange) Step(_ context.Context, token []byte) (_ []byte, _ bool, err error) {
	if e.err != nil {
		return nil, false, e.err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fail(e.user, "invalid SCRAM message")
		}
	}()
	e.step++
	switch e.step {
	case 1:
		return e.first(string(token))
	case 2:
		return e.final(string(token))
	}
	return nil, false, fail(e.user, "SCRAM exchange already complete")
}

func (e *scramExchange) first(msg string) ([]byte, bool, error) {
	// xdg-go/scram indexes the GS2 flag without checking it exists
	// (",,n=..." panics); refuse what is not a client-first message.
	if len(msg) < 2 || !strings.HasPrefix(msg, "n,") && !strings.HasPrefix(msg, "y,") && !strings.HasPrefix(msg, "p=") {
		return nil, false, fail("", "invalid SCRAM client-first message")
	}
	out, err := e.conv.Step(msg)
	if err != nil {
		if errors.Is(err, errUnknownScramUser) {
			return nil, false, fail(e.user, "Invalid user credentials with SASL mechanism %s", e.mechanism)
		}
		return nil, false, fail(e.user, "invalid SCRAM client-first message with SASL mechanism %s (%v)", e.mechanism, err)
	}
	if authz := e.conv.AuthzID(); authz != "" && authz != e.conv.Username() {
		return nil, false, fail(e.user, "authorization id %q differs from the user name", authz)
	}
	// The GS2 header ends at its second comma (the library checked it).
	i := strings.IndexByte(msg, ',')
	j := strings.IndexByte(msg[i+1:], ',')
	e.gs2Header, e.clientBare = msg[:i+j+2], msg[i+j+2:]
	e.serverMsg = out
	nonce, _, _ := strings.Cut(strings.TrimPrefix(out, "r="), ",")
	e.nonce = nonce
	return []byte(out), false, nil
}

func (e *scramExchange) final(msg string) ([]byte, bool, error) {
	bad := func(why string) ([]byte, bool, error) {
		return nil, false, fail(e.user, "invalid credentials with SASL mechanism %s (%s)", e.mechanism, why)
	}
	withoutProof, proofB64, ok := strings.Cut(msg, ",p=")
	if !ok || strings.Contains(proofB64, ",") {
		return bad("no proof at the end of the client-final message")
	}
	var cbind, nonce string
	for _, attr := range strings.Split(withoutProof, ",") {
		switch {
		case strings.HasPrefix(attr, "c="):
			cbind = attr[2:]
		case strings.HasPrefix(attr, "r="):
			nonce = attr[2:]
		}
	}
	if cb, err := base64.StdEncoding.DecodeString(cbind); err != nil || string(cb) != e.gs2Header {
		return bad("channel binding does not match")
	}
	if !strings.HasSuffix(nonce, e.nonce) {
		return bad("nonce does not match")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != e.hash().Size() {
		return bad("malformed proof")
	}
	mac := func(key []byte, data string) []byte {
		m := hmac.New(e.hash, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	authMsg := e.clientBare + "," + e.serverMsg + "," + withoutProof
	sig := mac(e.cred.StoredKey, authMsg)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ sig[i]
	}
	d := e.hash()
	d.Write(clientKey)
	if subtle.ConstantTimeCompare(d.Sum(nil), e.cred.StoredKey) != 1 {
		return bad("the proof does not verify")
	}
	e.principal = "User:" + e.conv.Username()
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(e.cred.ServerKey, authMsg))), true, nil
}

func (e *scramExchange) Principal() string { return e.principal }
func (e *scramExchange) Expiry() time.Time { return time.Time{} }
