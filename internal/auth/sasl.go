package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SASL mechanism names, as clients send them in SaslHandshake.
const (
	MechPlain       = "PLAIN"
	MechScramSHA256 = "SCRAM-SHA-256"
	MechScramSHA512 = "SCRAM-SHA-512"
	MechOAuthBearer = "OAUTHBEARER"
)

// ErrAuthentication marks a failed authentication (wrong password, unknown
// user, invalid token). Its message is safe to send to the client and to
// log: it never holds a secret.
var ErrAuthentication = errors.New("authentication failed")

// failure is an authentication failure with a reason for the client and
// the log, and the user name that was tried, if known.
type failure struct {
	user   string
	reason string
}

func (f *failure) Error() string { return "Authentication failed: " + f.reason }
func (f *failure) Unwrap() error { return ErrAuthentication }

func fail(user, format string, args ...any) error {
	return &failure{user: user, reason: fmt.Sprintf(format, args...)}
}

// FailedUser is the user name an authentication failure was for, or "".
func FailedUser(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.user
	}
	return ""
}

// Exchange is one SASL authentication in progress on a connection.
type Exchange interface {
	// Step takes the client's next token and returns the server's answer;
	// done reports that authentication succeeded with this step. An error
	// wrapping ErrAuthentication is a refusal; the connection then closes.
	Step(ctx context.Context, token []byte) (challenge []byte, done bool, err error)
	// Principal is who authenticated, "User:alice", once done.
	Principal() string
	// Expiry is when the credential stops being valid (an OAUTHBEARER
	// token's exp), or the zero time when it does not expire.
	Expiry() time.Time
}

// Mechanism starts exchanges of one SASL mechanism.
type Mechanism interface {
	Name() string
	Start() Exchange
}

// SASL holds the mechanisms a listener enables.
type SASL struct {
	mechs map[string]Mechanism
	names []string
}

// NewSASL returns the listener's mechanisms, in the order given.
func NewSASL(mechs ...Mechanism) *SASL {
	s := &SASL{mechs: make(map[string]Mechanism, len(mechs))}
	for _, m := range mechs {
		if _, dup := s.mechs[m.Name()]; dup {
			continue
		}
		s.mechs[m.Name()] = m
		s.names = append(s.names, m.Name())
	}
	return s
}

// Enabled lists the enabled mechanism names, as SaslHandshake returns them.
func (s *SASL) Enabled() []string { return slices.Clone(s.names) }

// Start begins an exchange of the named mechanism; false when it is not
// enabled.
func (s *SASL) Start(mechanism string) (Exchange, bool) {
	m, ok := s.mechs[mechanism]
	if !ok {
		return nil, false
	}
	return m.Start(), true
}
