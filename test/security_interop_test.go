package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// The security interop suite drives secured listeners with clients not
// written in Go, each producing and consuming over TLS and checking the
// exact records, and each refused with wrong credentials:
// kcat/librdkafka (SASL_SSL, SCRAM-SHA-512), kafka-python (SASL_SSL with
// PLAIN and with SCRAM), kafkajs (SSL with SCRAM-SHA-256 and with
// OAUTHBEARER) and confluent-kafka (SSL with client certificates). The
// broker is startSecured's (security_harness_test.go).

// security is the SECURITY argument of the interop scripts.
type security struct {
	Protocol  string `json:"protocol,omitempty"`
	Mechanism string `json:"mechanism,omitempty"`
	User      string `json:"user,omitempty"`
	Password  string `json:"password,omitempty"`
	CA        string `json:"ca"`
	Cert      string `json:"cert,omitempty"`
	Key       string `json:"key,omitempty"`
	Token     string `json:"token,omitempty"`
}

func (s security) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// expectRefused runs a refusal mode of a script and checks the error it
// reports names the cause.
func expectRefused(t *testing.T, want string, prog string, args ...string) {
	t.Helper()
	out := runInterop(t, 30*time.Second, prog, args...)
	var r struct {
		Refused bool   `json:"refused"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || !r.Refused {
		t.Fatalf("%v: printed %q, want a refusal", args, out)
	}
	if !strings.Contains(strings.ToLower(r.Error), strings.ToLower(want)) {
		t.Fatalf("%v: refused with %q, want an error naming %q", args, r.Error, want)
	}
}

func TestSecurityInteropKafkaPython(t *testing.T) {
	t.Parallel()
	needPythonModule(t, "kafka", "python3-kafka")
	s := startSecured(t, nil)
	const script = "security_clients.py"
	for _, c := range []struct{ mech, user, pass string }{
		{"PLAIN", secPlain, secPlainPass},
		{"SCRAM-SHA-512", sec512, sec512Pass},
	} {
		t.Run(c.mech, func(t *testing.T) {
			topic := "kp-sec-" + strings.ToLower(c.mech)
			s.createSecTopic(t, topic)
			sec := security{Protocol: "SASL_SSL", Mechanism: c.mech, User: c.user, Password: c.pass, CA: s.certs.CA}
			runInterop(t, 45*time.Second, interopPython, script, "kp-roundtrip", s.saslSSL, topic, "200", sec.String())
			sec.Password = "wrong"
			expectRefused(t, "<authenticating>", interopPython, script, "kp-refused", s.saslSSL, sec.String())
		})
	}
}

// TestSecurityInteropConfluentKafkaMTLS authenticates confluent-kafka by
// its client certificate alone: with the authorizer on, only ACLs for the
// certificate's principal (User:CN=interop-client, the DEFAULT mapping)
// let it produce and consume.
func TestSecurityInteropConfluentKafkaMTLS(t *testing.T) {
	t.Parallel()
	needPythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	s := startSecured(t, map[string]string{
		"authorizer.class.name": "acl",
		"super.users":           "User:ANONYMOUS", // the PLAINTEXT setup connection
	})
	const script = "security_clients.py"
	s.createSecTopic(t, "ck-mtls")
	adm := kadm.NewClient(newClient(t, s.plain))
	res, err := adm.CreateACLs(testContext(t, 10*time.Second), kadm.NewACLs().Allow("User:CN=interop-client").
		Topics("ck-mtls").Groups("ck-sec-unused").Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe))
	if err == nil {
		for _, r := range res {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	sec := security{Protocol: "SSL", CA: s.certs.CA, Cert: s.certs.ClientCert, Key: s.certs.ClientKey}
	runInterop(t, 45*time.Second, interopPython, script, "ck-roundtrip", s.mtls, "ck-mtls", "300", sec.String())
	// Without a client certificate the handshake fails.
	sec.Cert, sec.Key = "", ""
	expectRefused(t, "certificate required", interopPython, script, "ck-refused", s.mtls, sec.String())
}

func TestSecurityInteropKafkaJS(t *testing.T) {
	t.Parallel()
	node := needKafkaJS(t)
	s := startSecured(t, nil)
	const script = "kafkajs_security_test.js"
	s.createSecTopic(t, "js-sec")
	sec := security{Mechanism: "scram-sha-256", User: sec256, Password: sec256Pass, CA: s.certs.CA}
	runInterop(t, 45*time.Second, node, script, "roundtrip", s.saslSSL, "js-sec", "200", sec.String())
	sec.Password = "wrong"
	expectRefused(t, "SCRAM SHA256 authentication failed", node, script, "refused", s.saslSSL, sec.String())

	// OAUTHBEARER with a token the broker's key set verifies; an expired
	// token and a mechanism the broker does not offer are refused.
	s.createSecTopic(t, "js-sec-oauth")
	oauth := security{Mechanism: "oauthbearer", Token: s.oauthToken("svc-js", time.Now().Add(time.Hour)), CA: s.certs.CA}
	runInterop(t, 45*time.Second, node, script, "roundtrip", s.saslSSL, "js-sec-oauth", "100", oauth.String())
	oauth.Token = s.oauthToken("svc-js", time.Now().Add(-time.Hour))
	expectRefused(t, "OAUTHBEARER authentication failed", node, script, "refused", s.saslSSL, oauth.String())
	expectRefused(t, "does not support the requested SASL mechanism", node, script, "refused", s.saslSSL, security{Mechanism: "aws", CA: s.certs.CA}.String())
}

// TestSecurityInteropKcat produces and consumes with kcat over SASL_SSL
// with SCRAM-SHA-512. Debian's librdkafka (2.0.2, as every release before
// 2.6.1: librdkafka#4895) repeats the client nonce in the SCRAM
// client-final message; the broker accepts it as Kafka 3.8.1 to 3.9 do.
// PLAIN from the users file works too.
func TestSecurityInteropKcat(t *testing.T) {
	t.Parallel()
	kcat := needTool(t, "kcat")
	s := startSecured(t, nil)
	s.createSecTopic(t, "kcat-sec")
	login := func(mech, user, pass string) []string {
		return []string{"-b", s.saslSSL, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mech,
			"-X", "sasl.username=" + user, "-X", "sasl.password=" + pass, "-X", "ssl.ca.location=" + s.certs.CA}
	}
	conf := func(pass string) []string { return login("SCRAM-SHA-512", sec512, pass) }
	const n = 500
	var in strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "k-%d:v-%d\n", i%7, i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, append(conf(sec512Pass), "-P", "-t", "kcat-sec", "-p", "0", "-K:")...)
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P over SASL_SSL: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, kcat, append(conf(sec512Pass), "-C", "-t", "kcat-sec", "-o", "beginning", "-e", "-q", "-f", "%p %o %k %s\n")...).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -C over SASL_SSL: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != n {
		t.Fatalf("kcat consumed %d records, want %d:\n%s", len(lines), n, out)
	}
	for i, line := range lines {
		if want := "0 " + strconv.Itoa(i) + fmt.Sprintf(" k-%d v-%d", i%7, i); line != want {
			t.Fatalf("record %d: kcat printed %q, want %q", i, line, want)
		}
	}
	// franz-go reads the same records over the same listener.
	got := consumeAll(t, s.saslSSL, "kcat-sec", n, s.admin...)
	for i, r := range got {
		if r.Offset != int64(i) || string(r.Value) != fmt.Sprintf("v-%d", i) || string(r.Key) != fmt.Sprintf("k-%d", i%7) {
			t.Fatalf("franz-go read offset %d %q=%q, want %d k-%d=v-%d", r.Offset, r.Key, r.Value, i, i%7, i)
		}
	}
	// PLAIN logs in too, and a wrong password fails, with either, saying why.
	if out, err := exec.CommandContext(ctx, kcat, append(login("PLAIN", secPlain, secPlainPass), "-L", "-t", "kcat-sec", "-m", "5")...).CombinedOutput(); err != nil || !strings.Contains(string(out), `topic "kcat-sec" with 1 partitions`) {
		t.Fatalf("kcat -L with PLAIN: %v\n%s", err, out)
	}
	// The wrong security protocol for a port: kcat says what is wrong,
	// and the broker goes on serving the right one.
	// librdkafka words a TLS handshake the broker cut short either way.
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-b", s.ssl}, []string{"connecting to a SSL listener?"}},
		{[]string{"-b", s.plain, "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + s.certs.CA}, []string{"SSL handshake failed", "in state SSL_HANDSHAKE"}},
	} {
		out, err := exec.CommandContext(ctx, kcat, append(c.args, "-L", "-m", "1")...).CombinedOutput()
		said := false
		for _, w := range c.want {
			said = said || strings.Contains(string(out), w)
		}
		if err == nil || !said {
			t.Fatalf("kcat -L %v: %v, printed:\n%s\nwant one of %q", c.args, err, out, c.want)
		}
	}
	if out, err := exec.CommandContext(ctx, kcat, append(conf(sec512Pass), "-L", "-t", "kcat-sec", "-m", "5")...).CombinedOutput(); err != nil {
		t.Fatalf("kcat -L after the refused clients: %v\n%s", err, out)
	}
	for _, args := range [][]string{conf("wrong"), login("PLAIN", secPlain, "wrong")} {
		out, err = exec.CommandContext(ctx, kcat, append(args, "-L", "-m", "1")...).CombinedOutput()
		if err == nil {
			t.Fatalf("kcat -L with a wrong password succeeded:\n%s", out)
		}
		if !strings.Contains(string(out), "Authentication failed") {
			t.Fatalf("kcat -L with a wrong password printed:\n%s\nwant an authentication failure", out)
		}
	}
}
