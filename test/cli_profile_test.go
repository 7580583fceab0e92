package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCLIWithEnv runs the sluice binary with no -b, in an environment with
// no SLUICE_* variables but env, as a user with a profile would.
func runCLIWithEnv(t testing.TB, env []string, args ...string) cliResult {
	t.Helper()
	var full []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			full = append(full, kv)
		}
	}
	full = append(full, "HOME="+t.TempDir(), "XDG_CONFIG_HOME=")
	return runSluice(t, append(full, env...), "", args...)
}

func writeFile(t testing.TB, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCLIProfile: brokers, TLS and SASL from a profile file, with flags
// and environment variables winning over it.
func TestCLIProfile(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	createTopicWith(t, b.client(), "from-profile", 1)
	dir := t.TempDir()
	dead := "127.0.0.1:1"
	good := writeFile(t, filepath.Join(dir, "good.yaml"), "brokers: ["+b.addr+"]\ntimeout: 5s\n")
	bad := writeFile(t, filepath.Join(dir, "bad.yaml"), "brokers: "+dead+"\ntimeout: 2s\n")

	listed := func(r cliResult) bool { return r.code == 0 && strings.Contains(r.stdout, "from-profile") }
	if r := runCLIWithEnv(t, []string{"SLUICE_CONFIG=" + good}, "topic", "list"); !listed(r) {
		t.Fatalf("topic list with the profile: %+v", r)
	}
	// The default place: ~/.config/sluice/sluice.yaml (XDG_CONFIG_HOME).
	cfgHome := t.TempDir()
	writeFile(t, filepath.Join(cfgHome, "sluice", "sluice.yaml"), "brokers: "+b.addr+"\n")
	if r := runCLIWithEnv(t, []string{"XDG_CONFIG_HOME=" + cfgHome}, "topic", "list"); !listed(r) {
		t.Fatalf("topic list with the default profile: %+v", r)
	}
	// -b and SLUICE_BROKERS win over the profile.
	if r := runCLIWithEnv(t, []string{"SLUICE_CONFIG=" + bad}, "-b", b.addr, "topic", "list"); !listed(r) {
		t.Fatalf("-b over the profile: %+v", r)
	}
	if r := runCLIWithEnv(t, []string{"SLUICE_CONFIG=" + bad, "SLUICE_BROKERS=" + b.addr}, "topic", "list"); !listed(r) {
		t.Fatalf("SLUICE_BROKERS over the profile: %+v", r)
	}
	if r := runCLIWithEnv(t, []string{"SLUICE_CONFIG=" + good}, "-b", dead, "--timeout", "2s", "topic", "list"); r.code != 1 || !strings.Contains(r.stderr, dead) {
		t.Fatalf("-b %s with a good profile: %+v", dead, r)
	}
	// The profile's timeout applies: the dead broker fails in about 2s.
	start := time.Now()
	if r := runCLIWithEnv(t, []string{"SLUICE_CONFIG=" + bad}, "topic", "list"); r.code != 1 || !strings.Contains(r.stderr, "within 2s") && !strings.Contains(r.stderr, dead) {
		t.Fatalf("topic list with a dead broker in the profile: %+v", r)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("the profile's timeout of 2s was not used: took %v", took)
	}

	// profile show says which file and what comes from it.
	r := runCLIWithEnv(t, []string{"SLUICE_CONFIG=" + good}, "profile", "show")
	if r.code != 0 || !strings.Contains(r.stdout, "Profile: "+good) || !strings.Contains(r.stdout, "Brokers: "+b.addr) || !strings.Contains(r.stdout, "Timeout: 5s") {
		t.Fatalf("profile show: %+v", r)
	}

	// Mistakes in the profile are misuse, named with the file.
	typo := writeFile(t, filepath.Join(dir, "typo.yaml"), "brokers: "+b.addr+"\nsasl:\n  mechansim: PLAIN\n")
	if r := runCLIWithEnv(t, []string{"SLUICE_CONFIG=" + typo}, "topic", "list"); r.code != 2 || !strings.Contains(r.stderr, "profile "+typo) ||
		!strings.Contains(r.stderr, "mechansim") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("a profile with an unknown field: %+v", r)
	}
	if r := runCLIWithEnv(t, []string{"SLUICE_CONFIG=" + filepath.Join(dir, "missing.yaml")}, "topic", "list"); r.code != 2 || !strings.Contains(r.stderr, "missing.yaml") {
		t.Fatalf("a missing SLUICE_CONFIG: %+v", r)
	}
	// serve does not read the client profile.
	if r := runCLIWithEnv(t, []string{"SLUICE_CONFIG=" + typo}, "serve", "--listen", "nonsense"); strings.Contains(r.stderr, "profile") {
		t.Fatalf("serve read the client profile: %+v", r)
	}
}

// TestCLIProfileSecurity: TLS and SASL settings from the profile, with
// relative file names, and a --sasl flag replacing the profile's SASL.
func TestCLIProfileSecurity(t *testing.T) {
	t.Parallel()
	s := startSecured(t, nil)
	s.createSecTopic(t, "secured")
	dir := t.TempDir()
	ca, err := os.ReadFile(s.certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "certs", "ca.pem"), string(ca))
	prof := writeFile(t, filepath.Join(dir, "sluice.yaml"), `brokers:
  - `+s.saslSSL+`
tls:
  enabled: true
  ca_file: certs/ca.pem
sasl:
  mechanism: SCRAM-SHA-512
  user: `+sec512+`
  password: `+sec512Pass+`
`)
	env := []string{"SLUICE_CONFIG=" + prof}
	if r := runCLIWithEnv(t, env, "topic", "list"); r.code != 0 || !strings.Contains(r.stdout, "secured") {
		t.Fatalf("topic list over SASL_SSL from the profile: %+v", r)
	}
	// SLUICE_SASL_PASSWORD wins over the profile's password.
	if r := runCLIWithEnv(t, append(env, "SLUICE_SASL_PASSWORD=wrong"), "topic", "list", "--timeout", "5s"); r.code != 1 || !strings.Contains(r.stderr, "Authentication failed") {
		t.Fatalf("a wrong SLUICE_SASL_PASSWORD over the profile: %+v", r)
	}
	// A --sasl flag replaces the profile's SASL settings as a whole.
	if r := runCLIWithEnv(t, env, "topic", "list", "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", sec256, "--sasl-password", sec256Pass); r.code != 0 || !strings.Contains(r.stdout, "secured") {
		t.Fatalf("--sasl flags over the profile: %+v", r)
	}
	r := runCLIWithEnv(t, env, "profile", "show", "--output", "json")
	if r.code != 0 || strings.Contains(r.stdout, sec512Pass) || !strings.Contains(r.stdout, `"password":"[hidden]"`) || !strings.Contains(r.stdout, filepath.Join(dir, "certs", "ca.pem")) {
		t.Fatalf("profile show --output json: %+v", r)
	}
}
