package auth

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// An unknown user's password is checked against a hash of the file's own,
// of the same kind and cost as the known users', so the time a refusal
// takes does not tell which user names exist (the stand-in follows a
// reload). With nobody in the file, the built-in dummy stands in.
func TestPlainUnknownUserIsCheckedLikeAKnownOne(t *testing.T) {
	users, hash := oneUserFile(t, "alice", "alice-secret", 5) // htpasswd -B's cost
	if got, ok := users.lookup("mallory"); ok || got != string(hash) {
		t.Fatalf("unknown user checked against %q (known %v), want alice's hash", got, ok)
	}
	if _, _, err := users.Start().Step(context.Background(), []byte("\x00mallory\x00alice-secret")); err == nil {
		t.Fatal("an unknown user with a known user's password was accepted")
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	nobody, err := LoadPlainUsers(empty, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := nobody.lookup("mallory"); got != nobody.dummy || got == "" {
		t.Fatalf("with nobody in the file, checked against %q", got)
	}
}

// Password checks run at most one per processor at once: with every slot
// taken, a check waits, and gives up when its context ends.
func TestPlainChecksAreBounded(t *testing.T) {
	users, _ := oneUserFile(t, "bob", "pw", bcrypt.MinCost)
	for range cap(users.verifying) {
		users.verifying <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := users.Start().Step(ctx, []byte("\x00bob\x00pw")); err == nil {
		t.Fatal("a check ran with every slot taken")
	}
	<-users.verifying
	if _, done, err := users.Start().Step(context.Background(), []byte("\x00bob\x00pw")); err != nil || !done {
		t.Fatalf("with a slot free: %v, %v", done, err)
	}
}

// oneUserFile loads a users file naming user alone, with a bcrypt hash of
// password at cost, and returns the users and that hash.
func oneUserFile(t *testing.T, user, password string, cost int) (*PlainUsers, string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	users, err := LoadPlainUsers(path, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	return users, string(hash)
}
