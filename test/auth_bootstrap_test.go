package test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// --bootstrap-admin gives a new cluster its first SCRAM user, and only
// once: after the password was changed, a restart with the same flag
// keeps the new password.
func TestAuthBootstrapAdminOnlyOnce(t *testing.T) {
	t.Parallel()
	b := &broker{t: t, dataDir: t.TempDir()}
	b.cfg.NodeID, b.cfg.Listen, b.cfg.DataDir = 1, "127.0.0.1:0", b.dataDir
	b.cfg.Settings = map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"}
	b.cfg.BootstrapAdmin, b.cfg.Logger = "root:first-secret", testLogger(t)
	b.start()
	t.Cleanup(b.stop)
	sasl := func() string { return b.node.ListenerAddr("SASL_PLAINTEXT") }
	roundTrip(t, sasl(), []kgo.Opt{kgo.SASL(scram256("root", "first-secret"))}, "authn-boot-1", 1)
	ctx := testContext(t, 10*time.Second)
	adm := kadm.NewClient(newClient(t, b.node.ListenerAddr("PLAINTEXT")))
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "root", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "second-secret"},
		{User: "root", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "second-secret"},
	}); err != nil {
		t.Fatal(err)
	}
	// Restart on the same data with the same flag; ports may change.
	b.stop()
	b.cfg.Listen = "127.0.0.1:0"
	b.start()
	refused(t, sasl(), []kgo.Opt{kgo.SASL(scram512("root", "first-secret"))}, "SASL_AUTHENTICATION_FAILED")
	roundTrip(t, sasl(), []kgo.Opt{kgo.SASL(scram512("root", "second-secret"))}, "authn-boot-2", 1)
}

// KIP-368 with OAUTHBEARER: the session ends with the token when the
// token expires before connections.max.reauth.ms.
func TestAuthOAuthSessionEndsWithItsToken(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, map[string]string{"connections.max.reauth.ms": "3600000"})
	rc := dialAuthn(t, s.listener("SASL_PLAINTEXT"))
	r := rc.authenticateOAuth(s.files.token(t, "carol", time.Now().Add(90*time.Second)))
	if r.ErrorCode != 0 || r.SessionLifetimeMillis <= 0 || r.SessionLifetimeMillis > 90_000 {
		t.Fatalf("error %d, session lifetime %d ms; want at most the token's 90 s", r.ErrorCode, r.SessionLifetimeMillis)
	}
}
