package cluster

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"testing"
)

func scramCred(mech string, b byte) ScramCredential {
	return ScramCredential{Mechanism: mech, Salt: []byte{b}, Iterations: 4096, StoredKey: []byte{b, 1}, ServerKey: []byte{b, 2}}
}

// KIP-554: credentials are upserted and deleted per user and mechanism,
// each command a delta on the previous image, and survive a snapshot.
func TestScramCredentialsApplyAndSnapshot(t *testing.T) {
	t.Parallel()
	f := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	img := f.state
	apply := func(cmd Command) error {
		t.Helper()
		data, err := encodeCommand(cmd)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeCommand(data)
		if err != nil || !reflect.DeepEqual(got, cmd) {
			t.Fatalf("round trip of %#v: %#v, %v", cmd, got, err)
		}
		next, err := f.applyCommand(img, data, img.Index+1)
		if err == nil {
			img = next
		}
		return err
	}
	for _, cmd := range []Command{
		UpsertScramCredential{User: "alice", Credential: scramCred("SCRAM-SHA-256", 1)},
		UpsertScramCredential{User: "alice", Credential: scramCred("SCRAM-SHA-512", 2)},
		UpsertScramCredential{User: "bob", Credential: scramCred("SCRAM-SHA-256", 3)},
	} {
		if err := apply(cmd); err != nil {
			t.Fatal(err)
		}
	}
	before := img
	if err := apply(UpsertScramCredential{User: "bob", Credential: scramCred("SCRAM-SHA-256", 4)}); err != nil {
		t.Fatal(err)
	}
	if c, _ := before.ScramCredential("bob", "SCRAM-SHA-256"); c.Salt[0] != 3 {
		t.Fatalf("an upsert changed the previous image: salt %v", c.Salt)
	}
	if c, ok := img.ScramCredential("bob", "SCRAM-SHA-256"); !ok || c.Salt[0] != 4 {
		t.Fatalf("bob's credential after the upsert: %+v, %v", c, ok)
	}
	if err := apply(DeleteScramCredential{User: "alice", Mechanism: "SCRAM-SHA-256"}); err != nil {
		t.Fatal(err)
	}
	if err := apply(DeleteScramCredential{User: "alice", Mechanism: "SCRAM-SHA-256"}); !errors.Is(err, ErrScramCredentialNotFound) {
		t.Fatalf("deleting a missing credential: %v, want ErrScramCredentialNotFound", err)
	}
	if err := apply(UpsertScramCredential{User: "carol", Credential: scramCred("SCRAM-SHA-1", 5)}); err == nil {
		t.Fatal("a SCRAM-SHA-1 credential was accepted")
	}
	if _, ok := img.ScramCredential("alice", "SCRAM-SHA-256"); ok {
		t.Fatal("alice's deleted SCRAM-SHA-256 credential is still there")
	}
	var users []string
	img.ScramUsers(func(u string, creds []ScramCredential) bool {
		users = append(users, u)
		return true
	})
	if !reflect.DeepEqual(users, []string{"alice", "bob"}) {
		t.Fatalf("users %v, want [alice bob]", users)
	}

	var buf bytes.Buffer
	if err := (&fsmSnapshot{img: img}).Persist(&memSink{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	restored, err := decodeSnapshot(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ user, mech string }{{"alice", "SCRAM-SHA-512"}, {"bob", "SCRAM-SHA-256"}} {
		a, _ := img.ScramCredential(want.user, want.mech)
		b, ok := restored.ScramCredential(want.user, want.mech)
		if !ok || !reflect.DeepEqual(a, b) {
			t.Errorf("%s %s after a snapshot: %+v, want %+v", want.user, want.mech, b, a)
		}
	}
}
