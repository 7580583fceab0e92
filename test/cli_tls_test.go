package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLISASL logs the CLI in to Sluice's SASL_SSL listener with every
// mechanism, and checks that wrong credentials fail with a clear error.
func TestCLISASL(t *testing.T) {
	s := startSecured(t, nil)
	s.createSecTopic(t, "secured")
	tlsArgs := []string{"--tls-ca", s.certs.CA}
	for _, c := range []struct{ mech, user, pass string }{
		{"PLAIN", secPlain, secPlainPass},
		{"SCRAM-SHA-256", sec256, sec256Pass},
		{"SCRAM-SHA-512", sec512, sec512Pass},
	} {
		args := append([]string{"topic", "list", "--sasl-mechanism", c.mech, "--sasl-user", c.user}, tlsArgs...)
		if out := cli(t, s.saslSSL, "", append(args, "--sasl-password", c.pass)...); !strings.Contains(out, "secured") {
			t.Fatalf("topic list with %s printed %q, want the topic secured", c.mech, out)
		}
		cliFails(t, s.saslSSL, "Authentication failed", append(args, "--timeout", "5s", "--sasl-password", "wrong")...)
	}
	// The password can come from the environment instead of the command line.
	t.Setenv("SLUICE_SASL_PASSWORD", sec256Pass)
	if out := cli(t, s.saslSSL, "", append([]string{"topic", "list", "--sasl-mechanism", "scram-sha-256", "--sasl-user", sec256}, tlsArgs...)...); !strings.Contains(out, "secured") {
		t.Fatalf("topic list with the password from SLUICE_SASL_PASSWORD printed %q", out)
	}
	t.Setenv("SLUICE_SASL_PASSWORD", "")

	// OAUTHBEARER: a token on the command line, from the environment, or
	// from a file; an expired token is refused.
	token := s.oauthToken("svc-reports", time.Now().Add(time.Hour))
	if out := cli(t, s.saslSSL, "", append([]string{"topic", "list", "--sasl-oauth-token", token}, tlsArgs...)...); !strings.Contains(out, "secured") {
		t.Fatalf("topic list with an OAUTHBEARER token printed %q", out)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := cli(t, s.saslSSL, "", append([]string{"topic", "list", "--sasl-mechanism", "OAUTHBEARER", "--sasl-oauth-token-file", tokenFile}, tlsArgs...)...); !strings.Contains(out, "secured") {
		t.Fatalf("topic list with an OAUTHBEARER token file printed %q", out)
	}
	t.Setenv("SLUICE_SASL_OAUTH_TOKEN", token)
	if out := cli(t, s.saslSSL, "", append([]string{"topic", "list", "--sasl-mechanism", "OAUTHBEARER"}, tlsArgs...)...); !strings.Contains(out, "secured") {
		t.Fatalf("topic list with the token from SLUICE_SASL_OAUTH_TOKEN printed %q", out)
	}
	t.Setenv("SLUICE_SASL_OAUTH_TOKEN", "")
	expired := s.oauthToken("svc-reports", time.Now().Add(-time.Hour))
	cliFails(t, s.saslSSL, "Authentication failed", append([]string{"topic", "list", "--timeout", "5s", "--sasl-oauth-token", expired}, tlsArgs...)...)

	cliMisused(t, s.saslSSL, "want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", "topic", "list", "--sasl-mechanism", "GSSAPI", "--sasl-user", "bob")
	cliMisused(t, s.saslSSL, "needs --sasl-user", "topic", "list", "--sasl-mechanism", "PLAIN")
	cliMisused(t, s.saslSSL, "needs --sasl-oauth-token", "topic", "list", "--sasl-mechanism", "OAUTHBEARER")
	cliMisused(t, s.saslSSL, "not --sasl-user", "topic", "list", "--sasl-oauth-token", token, "--sasl-user", "bob")
}

// TestCLITLS connects the CLI to Sluice's SSL listeners: verifying the
// broker against a CA file, presenting a client certificate where one is
// required, and failing clearly where the TLS setup does not match.
func TestCLITLS(t *testing.T) {
	t.Parallel()
	s := startSecured(t, nil)
	s.createSecTopic(t, "secured")
	for _, args := range [][]string{
		{"--tls", "--tls-ca", s.certs.CA},
		{"--tls-ca", s.certs.CA},
		{"--tls", "--tls-insecure-skip-verify"},
	} {
		if out := cli(t, s.ssl, "", append([]string{"topic", "list"}, args...)...); !strings.Contains(out, "secured") {
			t.Fatalf("topic list %v printed %q, want the topic secured", args, out)
		}
	}
	// Mutual TLS: the MTLS listener requires a client certificate.
	mtls := []string{"topic", "list", "--tls-ca", s.certs.CA, "--tls-cert", s.certs.ClientCert, "--tls-key", s.certs.ClientKey}
	if out := cli(t, s.mtls, "", mtls...); !strings.Contains(out, "secured") {
		t.Fatalf("topic list with a client certificate printed %q", out)
	}
	cliFails(t, s.mtls, "certificate required", "topic", "list", "--timeout", "3s", "--tls-ca", s.certs.CA)
	// System roots do not trust the test CA.
	cliFails(t, s.ssl, "certificate signed by unknown authority", "topic", "list", "--tls", "--timeout", "3s")
	// A plaintext client on a TLS port, and a TLS client on a plaintext port.
	cliFails(t, s.ssl, "is TLS missing", "topic", "list", "--timeout", "3s")
	cliFails(t, s.plain, "using TLS when the broker is not expecting it", "topic", "list", "--timeout", "3s", "--tls-ca", s.certs.CA)
	// The broker keeps serving others.
	if out := cli(t, s.ssl, "", "topic", "list", "--tls-ca", s.certs.CA); !strings.Contains(out, "secured") {
		t.Fatalf("topic list after refused clients printed %q", out)
	}
	cliMisused(t, s.ssl, "no PEM certificates", "topic", "list", "--tls-ca", os.Args[0])
	cliMisused(t, s.ssl, "--tls-cert and --tls-key go together", "topic", "list", "--tls-cert", s.certs.CA)
}
