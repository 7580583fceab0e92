package cluster

// SCRAM credentials in the metadata log (KIP-554): AlterUserScram
// Credentials upserts and deletes them, every broker authenticates SCRAM
// clients from its local image. The image holds them in a persistent
// sorted map keyed by user, so a command copies one user's entry (two
// mechanisms at most), never the whole set.

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/benbjohnson/immutable"
)

// ScramCredential is one user's credential for one SCRAM mechanism
// ("SCRAM-SHA-256" or "SCRAM-SHA-512"): the salt, the iteration count and
// the keys derived from the salted password (RFC 5802), never the password.
type ScramCredential struct {
	Mechanism  string
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// UpsertScramCredential sets User's credential for Credential.Mechanism.
type UpsertScramCredential struct {
	User       string
	Credential ScramCredential
}

// DeleteScramCredential removes User's credential for Mechanism; it fails
// with ErrScramCredentialNotFound when there is none.
type DeleteScramCredential struct {
	User      string
	Mechanism string
}

func (UpsertScramCredential) isCommand() {}
func (DeleteScramCredential) isCommand() {}

// ErrScramCredentialNotFound is DeleteScramCredential's error for a
// credential that does not exist (RESOURCE_NOT_FOUND).
var ErrScramCredentialNotFound = errors.New("cluster: SCRAM credential not found")

// scramCredentials is the image's set: user -> mechanism -> credential.
// A nil set is empty.
type scramCredentials struct {
	m *immutable.SortedMap[string, map[string]ScramCredential]
}

// ScramCredential returns user's credential for mechanism.
func (img *Image) ScramCredential(user, mechanism string) (ScramCredential, bool) {
	if img.scram == nil {
		return ScramCredential{}, false
	}
	creds, ok := img.scram.m.Get(user)
	if !ok {
		return ScramCredential{}, false
	}
	c, ok := creds[mechanism]
	return c, ok
}

// ScramUsers calls fn with each user that has a SCRAM credential, in user
// order, and the user's credentials sorted by mechanism, until fn returns
// false.
func (img *Image) ScramUsers(fn func(user string, creds []ScramCredential) bool) {
	if img.scram == nil {
		return
	}
	it := img.scram.m.Iterator()
	for !it.Done() {
		user, creds, _ := it.Next()
		if !fn(user, sortedCreds(creds)) {
			return
		}
	}
}

// ScramUser returns user's credentials sorted by mechanism.
func (img *Image) ScramUser(user string) []ScramCredential {
	if img.scram == nil {
		return nil
	}
	creds, _ := img.scram.m.Get(user)
	return sortedCreds(creds)
}

func sortedCreds(m map[string]ScramCredential) []ScramCredential {
	out := make([]ScramCredential, 0, len(m))
	for _, mech := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[mech])
	}
	return out
}

func (s *scramCredentials) with(user string, c ScramCredential) *scramCredentials {
	m := immutable.NewSortedMap[string, map[string]ScramCredential](nil)
	if s != nil {
		m = s.m
	}
	old, _ := m.Get(user)
	creds := maps.Clone(old)
	if creds == nil {
		creds = map[string]ScramCredential{}
	}
	creds[c.Mechanism] = c
	return &scramCredentials{m: m.Set(user, creds)}
}

func (s *scramCredentials) without(user, mechanism string) (*scramCredentials, bool) {
	if s == nil {
		return s, false
	}
	old, ok := s.m.Get(user)
	if _, has := old[mechanism]; !ok || !has {
		return s, false
	}
	if len(old) == 1 {
		return &scramCredentials{m: s.m.Delete(user)}, true
	}
	creds := maps.Clone(old)
	delete(creds, mechanism)
	return &scramCredentials{m: s.m.Set(user, creds)}, true
}

func validScramMechanism(m string) bool { return m == "SCRAM-SHA-256" || m == "SCRAM-SHA-512" }

func applyUpsertScramCredential(b *imageBuilder, c UpsertScramCredential) error {
	switch cr := c.Credential; {
	case c.User == "":
		return errors.New("cluster: upsert SCRAM credential: empty user name")
	case !validScramMechanism(cr.Mechanism):
		return fmt.Errorf("cluster: upsert SCRAM credential of %q: unknown mechanism %q", c.User, cr.Mechanism)
	case cr.Iterations <= 0 || len(cr.Salt) == 0 || len(cr.StoredKey) == 0 || len(cr.ServerKey) == 0:
		return fmt.Errorf("cluster: upsert SCRAM credential of %q: incomplete credential", c.User)
	}
	b.next.scram = b.next.scram.with(c.User, c.Credential)
	return nil
}

func applyDeleteScramCredential(b *imageBuilder, c DeleteScramCredential) error {
	next, ok := b.next.scram.without(c.User, c.Mechanism)
	if !ok {
		return fmt.Errorf("delete %s credential of %q: %w", c.Mechanism, c.User, ErrScramCredentialNotFound)
	}
	b.next.scram = next
	return nil
}

// Wire forms (version 1). []byte fields encode as base64 in JSON.
type (
	wireScramCredential struct {
		Mechanism  string `json:"mechanism"`
		Salt       []byte `json:"salt"`
		Iterations int    `json:"iterations"`
		StoredKey  []byte `json:"stored_key"`
		ServerKey  []byte `json:"server_key"`
	}
	wireUpsertScramCredential struct {
		User       string              `json:"user"`
		Credential wireScramCredential `json:"credential"`
	}
	wireDeleteScramCredential struct {
		User      string `json:"user"`
		Mechanism string `json:"mechanism"`
	}
	// wireScramUser is one user's credentials in a snapshot.
	wireScramUser struct {
		User        string                `json:"user"`
		Credentials []wireScramCredential `json:"credentials"`
	}
)

func toWireUpsertScram(c UpsertScramCredential) wireUpsertScramCredential {
	return wireUpsertScramCredential{User: c.User, Credential: wireScramCredential(c.Credential)}
}

func fromWireUpsertScram(w wireUpsertScramCredential) UpsertScramCredential {
	return UpsertScramCredential{User: w.User, Credential: ScramCredential(w.Credential)}
}

// snapshotScram lists the credentials in user order.
func snapshotScram(img *Image) []wireScramUser {
	var out []wireScramUser
	img.ScramUsers(func(user string, creds []ScramCredential) bool {
		w := wireScramUser{User: user}
		for _, c := range creds {
			w.Credentials = append(w.Credentials, wireScramCredential(c))
		}
		out = append(out, w)
		return true
	})
	return out
}

// restoreScram rebuilds the set of a snapshot.
func restoreScram(users []wireScramUser) (*scramCredentials, error) {
	var s *scramCredentials
	for _, u := range users {
		for _, c := range u.Credentials {
			if u.User == "" || !validScramMechanism(c.Mechanism) {
				return nil, fmt.Errorf("cluster: snapshot holds a bad SCRAM credential (user %q, mechanism %q)", u.User, c.Mechanism)
			}
			s = s.with(u.User, ScramCredential(c))
		}
	}
	return s, nil
}
