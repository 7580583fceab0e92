package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitLog waits until a process has logged a line containing want.
func (p *process) waitLog(want string) string {
	p.t.Helper()
	waitForErr(p.t, 15*time.Second, fmt.Sprintf("%q in the output", want), func() error {
		if logs := p.logs(); !strings.Contains(logs, want) {
			return fmt.Errorf("not in:\n%s", logs)
		}
		return nil
	})
	return p.logs()
}

// TestServeDevSecurity runs `sluice serve --dev-security` and uses the
// client configuration it prints: TLS with its CA, SCRAM as admin with the
// generated password, ACLs enforced for everyone else, nothing in
// plaintext; a restart reuses the certificates and the password and does
// not print the password again.
func TestServeDevSecurity(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir, "127.0.0.1:0", "--dev-security")
	logs := p.waitLog("franz-go:")
	m := regexp.MustCompile(`admin password \(shown once; kept in (\S+), mode 0600\): (\S+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no admin password in the output:\n%s", logs)
	}
	sec := filepath.Join(dir, "dev-security")
	if m[1] != filepath.Join(sec, "admin.password") {
		t.Fatalf("password kept in %s, want %s/admin.password", m[1], sec)
	}
	password := m[2]
	if b, err := os.ReadFile(m[1]); err != nil || strings.TrimSpace(string(b)) != password {
		t.Fatalf("admin.password holds %q (%v), printed %q", b, err, password)
	}
	for _, f := range []string{"admin.password", "ca-key.pem", "server-key.pem", "client-key.pem", "librdkafka.properties", "client.properties"} {
		st, err := os.Stat(filepath.Join(sec, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	ca := filepath.Join(sec, "ca.pem")
	caBefore, _ := os.ReadFile(ca)
	javaProps, _ := os.ReadFile(filepath.Join(sec, "client.properties"))
	for _, want := range []string{"bootstrap.servers=" + p.addr, "security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512",
		`username="admin" password="` + password + `";`, "ssl.truststore.type=PEM", "ssl.truststore.location=" + ca} {
		if !bytes.Contains(javaProps, []byte(want)) {
			t.Fatalf("client.properties lacks %q:\n%s", want, javaProps)
		}
		// The banner prints the same configuration.
		if !strings.Contains(logs, want) {
			t.Fatalf("the banner lacks %q:\n%s", want, logs)
		}
	}

	// The CLI, as the banner says.
	t.Setenv("SLUICE_SASL_PASSWORD", password)
	admin := []string{"--tls-ca", ca, "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "admin"}
	cli(t, p.addr, "", append([]string{"topic", "create", "dev", "-p", "1"}, admin...)...)
	cli(t, p.addr, "k1:v1\nk2:v2\n", append([]string{"produce", "dev", "--key-separator", ":"}, admin...)...)
	out := cli(t, p.addr, "", append([]string{"consume", "dev", "--from", "beginning", "-e", "--format", "%o %k=%v"}, admin...)...)
	expectLines(t, "consume as admin", out, "0 k1=v1", "1 k2=v2")

	// Nothing in plaintext.
	cliFails(t, p.addr, "is TLS missing", "topic", "list", "--timeout", "3s")

	// Anyone else needs ACLs.
	cli(t, p.addr, "", append([]string{"user", "create", "bob", "--password", "bob-secret"}, admin...)...)
	t.Setenv("SLUICE_SASL_PASSWORD", "bob-secret")
	bob := []string{"--tls-ca", ca, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "bob"}
	expectLines(t, "topic list as bob", cli(t, p.addr, "", append([]string{"topic", "list"}, bob...)...), "TOPIC  PARTITIONS  REPLICAS")
	if r := runCLI(t, p.addr, "x\n", append([]string{"produce", "dev", "--timeout", "5s"}, bob...)...); r.code != 1 || !strings.Contains(r.stderr, "TOPIC_AUTHORIZATION_FAILED") {
		t.Fatalf("produce as bob without ACLs: exit %d, stderr %q; want TOPIC_AUTHORIZATION_FAILED", r.code, r.stderr)
	}
	t.Setenv("SLUICE_SASL_PASSWORD", password)
	cli(t, p.addr, "", append([]string{"acl", "create", "--allow-principal", "bob", "--operation", "read,describe", "--topic", "dev", "--group", "bob-"}, admin...)...)
	t.Setenv("SLUICE_SASL_PASSWORD", "bob-secret")
	out = cli(t, p.addr, "", append([]string{"consume", "dev", "--from", "beginning", "-e", "--format", "%o %k=%v"}, bob...)...)
	expectLines(t, "consume as bob", out, "0 k1=v1", "1 k2=v2")

	// kcat with the librdkafka properties it wrote.
	if kcat, err := exec.LookPath("kcat"); err == nil {
		out, err := exec.Command(kcat, "-F", filepath.Join(sec, "librdkafka.properties"), "-C", "-t", "dev", "-o", "beginning", "-e", "-q", "-f", "%o %k=%s\n").CombinedOutput()
		if err != nil || string(out) != "% Reading configuration from file "+filepath.Join(sec, "librdkafka.properties")+"\n0 k1=v1\n1 k2=v2\n" {
			t.Fatalf("kcat -F librdkafka.properties: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("kcat is not installed; .ci/run installs it")
	}

	// A restart reuses everything and keeps the password to itself.
	p.kill(syscall.SIGTERM)
	p.mu.Lock()
	p.output.Reset()
	p.mu.Unlock()
	p.restart()
	logs = p.waitLog("franz-go:")
	if strings.Contains(logs, password) {
		t.Fatalf("the restarted broker printed the password again:\n%s", logs)
	}
	if !strings.Contains(logs, "admin password: in "+filepath.Join(sec, "admin.password")) ||
		!strings.Contains(logs, "sasl.password=<in "+filepath.Join(sec, "admin.password")+">") {
		t.Fatalf("the restarted broker does not say where the password is:\n%s", logs)
	}
	if caAfter, _ := os.ReadFile(ca); !bytes.Equal(caBefore, caAfter) {
		t.Fatal("the restart made a new CA")
	}
	t.Setenv("SLUICE_SASL_PASSWORD", password)
	out = cli(t, p.addr, "", append([]string{"consume", "dev", "--from", "beginning", "-e", "--format", "%o %k=%v"}, admin...)...)
	expectLines(t, "consume as admin after a restart", out, "0 k1=v1", "1 k2=v2")

	// The client certificate, on an SSL listener added with -c (the
	// user's settings win), is admin once the principal mapping takes
	// the CN, as the README shows.
	p.kill(syscall.SIGTERM)
	ssl := startProcess(t, dir, "127.0.0.1:0", "--dev-security",
		"-c", "listeners=SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0", "-c", "listener.name.ssl.ssl.client.auth=required",
		"-c", "ssl.principal.mapping.rules=RULE:^CN=(.*)$/$1/,DEFAULT")
	m = regexp.MustCompile(`name=SSL protocol=SSL listen=(\S+)`).FindStringSubmatch(ssl.waitLog("name=SSL protocol=SSL"))
	if m == nil {
		t.Fatalf("no SSL listener in the log:\n%s", ssl.logs())
	}
	mtls := []string{"--tls-ca", ca, "--tls-cert", filepath.Join(sec, "client.pem"), "--tls-key", filepath.Join(sec, "client-key.pem")}
	cli(t, m[1], "", append([]string{"topic", "create", "by-cert", "-p", "1"}, mtls...)...)
	cliFails(t, m[1], "certificate required", "topic", "list", "--timeout", "3s", "--tls-ca", ca)

	// A lost password is not replaced behind the cluster's back.
	ssl.kill(syscall.SIGTERM)
	if err := os.Remove(filepath.Join(sec, "admin.password")); err != nil {
		t.Fatal(err)
	}
	out3, err := exec.Command(sluiceBin, "serve", "--dev-security", "--data-dir", dir, "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out3), "admin.password is missing") {
		t.Fatalf("--dev-security without its password file: %v\n%s", err, out3)
	}

	// --dev-security makes its own admin.
	out2, err := exec.Command(sluiceBin, "serve", "--dev-security", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--bootstrap-admin", "x:y").CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "drop --bootstrap-admin") {
		t.Fatalf("--dev-security with --bootstrap-admin: %v\n%s", err, out2)
	}
}
