package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
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
	srv, err := s.hash.NewServer(func(user string) (scram.StoredCredentials, error) {
		e.user = user
		c, ok := s.lookup(user, s.mechanism)
		if !ok {
			return scram.StoredCredentials{}, errUnknownScramUser
		}
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
	e.conv = srv.NewConversation()
	return e
}

type scramExchange struct {
	mechanism string
	started   bool
	conv      *scram.ServerConversation
	err       error
	user      string
	principal string
}

// Step runs one round of RFC 5802: client-first then client-final.
func (e *scramExchange) Step(_ context.Context, token []byte) (_ []byte, _ bool, err error) {
	if e.err != nil {
		return nil, false, e.err
	}
	if !e.started {
		// xdg-go/scram indexes the GS2 flag without checking it exists
		// (",,n=..." panics); refuse what is not a client-first message.
		e.started = true
		if len(token) < 2 || !(token[0] == 'n' && token[1] == ',' || token[0] == 'y' && token[1] == ',' || token[0] == 'p' && token[1] == '=') {
			return nil, false, fail("", "invalid SCRAM client-first message")
		}
	}
	defer func() {
		if r := recover(); r != nil {
			err = fail(e.user, "invalid SCRAM message")
		}
	}()
	out, err := e.conv.Step(string(token))
	if err != nil {
		if errors.Is(err, errUnknownScramUser) {
			return nil, false, fail(e.user, "Invalid user credentials with SASL mechanism %s", e.mechanism)
		}
		return nil, false, fail(e.user, "invalid credentials with SASL mechanism %s", e.mechanism)
	}
	if !e.conv.Done() {
		return []byte(out), false, nil
	}
	if !e.conv.Valid() {
		return nil, false, fail(e.user, "invalid credentials with SASL mechanism %s", e.mechanism)
	}
	if authz := e.conv.AuthzID(); authz != "" && authz != e.conv.Username() {
		return nil, false, fail(e.user, "authorization id %q differs from the user name", authz)
	}
	e.principal = "User:" + e.conv.Username()
	return []byte(out), true, nil
}

func (e *scramExchange) Principal() string { return e.principal }
func (e *scramExchange) Expiry() time.Time { return time.Time{} }
