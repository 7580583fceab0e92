package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"
	"golang.org/x/crypto/bcrypt"
)

// Rules from a config file never panic, and mapping a subject either
// yields a name or ErrNoPrincipalRule.
func FuzzPrincipalRules(f *testing.F) {
	for _, s := range []string{"DEFAULT", "RULE:^CN=(.*?),OU=.*$/$1/L,DEFAULT", `RULE:a\/b/c/U`, "RULE:", "RULE:(/x/", ",,DEFAULT,,", "RULE:.*/$9$x/"} {
		f.Add(s, "CN=alice,OU=eng")
	}
	f.Fuzz(func(t *testing.T, rules, dn string) {
		m, err := ParsePrincipalRules(rules)
		if err != nil {
			return
		}
		if _, err := m.Name(dn); err != nil && !strings.Contains(err.Error(), "no ssl.principal.mapping.rules") {
			t.Fatalf("Name(%q): %v", dn, err)
		}
	})
}

// Client tokens are untrusted bytes: every mechanism refuses garbage
// with an authentication error and never panics.
func FuzzSASLTokens(f *testing.F) {
	dir := f.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	path := filepath.Join(dir, "users")
	if err := writeFileErr(path, "alice:"+string(hash)+"\n"); err != nil {
		f.Fatal(err)
	}
	users, err := LoadPlainUsers(path, time.Hour, nil)
	if err != nil {
		f.Fatal(err)
	}
	cred, _ := NewScramCredential(MechScramSHA256, "pw", ScramMinIterations)
	sc, _ := NewScram(MechScramSHA256, func(u, m string) (ScramCredential, bool) { return cred, u == "alice" })
	jwks := filepath.Join(dir, "jwks.json")
	if err := writeFileErr(jwks, `{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`); err != nil {
		f.Fatal(err)
	}
	ob, err := NewOAuthBearer(context.Background(), OAuthConfig{JWKSURL: "file://" + jwks})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"\x00alice\x00pw", "n,,n=alice,r=abc", "n,,\x01auth=Bearer a.b.c\x01\x01", "", "\x00\x00", "n,a=x,\x01auth=Bearer \x01\x01", "p=tls-unique,,n=a,r=b"} {
		f.Add([]byte(s))
	}
	mechs := []Mechanism{users, sc, ob}
	f.Fuzz(func(t *testing.T, token []byte) {
		for _, m := range mechs {
			ex := m.Start()
			_, done, err := ex.Step(context.Background(), token)
			if done && m != Mechanism(users) {
				t.Fatalf("%s accepted %q", m.Name(), token)
			}
			if err == nil && !done && m.Name() != MechScramSHA256 {
				t.Fatalf("%s neither accepted nor refused %q", m.Name(), token)
			}
		}
	})
}

func writeFileErr(path, data string) error {
	return writeFileBytes(path, []byte(data))
}

// BenchmarkScramHandshake is the server's cost of one SCRAM-SHA-512
// authentication at 4096 iterations plus the client's, in one process
// (both sides derive keys from the salted password: the client runs the
// PBKDF2 iterations, the server only HMACs and hashes).
func BenchmarkScramHandshake(b *testing.B) {
	for _, mech := range []string{MechScramSHA256, MechScramSHA512} {
		b.Run(mech, func(b *testing.B) {
			cred, err := NewScramCredential(mech, "pw", ScramMinIterations)
			if err != nil {
				b.Fatal(err)
			}
			s, _ := NewScram(mech, func(string, string) (ScramCredential, bool) { return cred, true })
			h, _ := ScramHash(mech)
			b.ReportAllocs()
			for b.Loop() {
				client, _ := scram.HashGeneratorFcn(h).NewClient("alice", "pw", "")
				conv := client.NewConversation()
				ex := s.Start()
				msg, _ := conv.Step("")
				for done := false; !done; {
					var ch []byte
					var err error
					if ch, done, err = ex.Step(context.Background(), []byte(msg)); err != nil {
						b.Fatal(err)
					}
					if msg, err = conv.Step(string(ch)); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func writeFileBytes(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }
