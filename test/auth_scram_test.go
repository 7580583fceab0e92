package test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KIP-554: AlterUserScramCredentials and DescribeUserScramCredentials with
// Kafka's error codes; a new credential authenticates at once, a deleted
// one no longer does.
func TestAuthScramCredentialAPIs(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, s.listener("PLAINTEXT"))

	alter := func(dels []kmsg.AlterUserSCRAMCredentialsRequestDeletion, ups []kmsg.AlterUserSCRAMCredentialsRequestUpsertion) map[string]int16 {
		t.Helper()
		req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		req.Deletions, req.Upsertions = dels, ups
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int16{}
		for _, r := range resp.Results {
			out[r.User] = r.ErrorCode
		}
		return out
	}
	up := func(user string, mech int8, iters int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations = user, mech, iters
		u.Salt, u.SaltedPassword = []byte("salt"), []byte("0123456789abcdef0123456789abcdef")
		return u
	}
	del := func(user string, mech int8) kmsg.AlterUserSCRAMCredentialsRequestDeletion {
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = user, mech
		return d
	}
	got := alter([]kmsg.AlterUserSCRAMCredentialsRequestDeletion{del("nobody", 1), del("dup", 1)},
		[]kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
			up("few", 1, 1000), up("many", 2, 20000), up("weird", 3, 4096), up("dup", 1, 4096), up("", 1, 4096), up("ok", 2, 4096),
		})
	want := map[string]int16{
		"nobody": kerr.ResourceNotFound.Code,
		"dup":    kerr.DuplicateResource.Code,
		"few":    kerr.UnacceptableCredential.Code,
		"many":   kerr.UnacceptableCredential.Code,
		"weird":  kerr.UnsupportedSaslMechanism.Code,
		"":       kerr.UnacceptableCredential.Code,
		"ok":     0,
	}
	for u, code := range want {
		if got[u] != code {
			t.Errorf("alter %q: error %d, want %d", u, got[u], code)
		}
	}

	describe := func(users ...string) *kmsg.DescribeUserSCRAMCredentialsResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		for _, u := range users {
			ru := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
			ru.Name = u
			req.Users = append(req.Users, ru)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	all := describe()
	var names []string
	for _, r := range all.Results {
		names = append(names, r.User)
	}
	if len(names) != 2 || names[0] != authnScramUser || names[1] != "ok" {
		t.Fatalf("described users %v, want [%s ok]", names, authnScramUser)
	}
	if infos := all.Results[0].CredentialInfos; len(infos) != 2 || infos[0].Mechanism != 1 || infos[1].Mechanism != 2 || infos[0].Iterations != 4096 {
		t.Errorf("%s's credentials: %+v", authnScramUser, infos)
	}
	one := describe("missing", "ok", "ok2", "ok2")
	codes := map[string]int16{}
	for _, r := range one.Results {
		codes[r.User] = r.ErrorCode
	}
	if codes["missing"] != kerr.ResourceNotFound.Code || codes["ok"] != 0 || codes["ok2"] != kerr.DuplicateResource.Code {
		t.Errorf("describe codes %v", codes)
	}

	// Deleting bob's SCRAM-SHA-512 credential stops that mechanism, not
	// the other.
	if got := alter([]kmsg.AlterUserSCRAMCredentialsRequestDeletion{del(authnScramUser, 2)}, nil); got[authnScramUser] != 0 {
		t.Fatalf("delete: %v", got)
	}
	sp := s.listener("SASL_PLAINTEXT")
	refused(t, sp, s.opts("SASL_PLAINTEXT", scram512(authnScramUser, authnScramPass)), "SASL_AUTHENTICATION_FAILED")
	roundTrip(t, sp, s.opts("SASL_PLAINTEXT", scram256(authnScramUser, authnScramPass)), "authn-scram-left", 1)
}
