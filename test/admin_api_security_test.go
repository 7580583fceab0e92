package test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// httpsGet sends method path to an HTTPS admin listener trusting tlsCfg,
// with Basic credentials when user is set, and returns the status and
// body.
func httpsCall(t *testing.T, tlsCfg *tls.Config, httpAddr, method, path, user, pass, body string) (int, string) {
	t.Helper()
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 30 * time.Second}
	defer cl.CloseIdleConnections()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "https://"+httpAddr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestAdminAPITLSAndAuthentication: with SASL on the Kafka listeners and
// sluice.http.tls.enable, the admin listener serves HTTPS with the
// listeners' certificate and asks for HTTP Basic credentials, checked
// against the PLAIN users file and the SCRAM credentials, everywhere but
// /healthz and /readyz. The admin API then needs Describe (reads) or
// Alter (changes) on the cluster from the ACLs; a super user has both.
func TestAdminAPITLSAndAuthentication(t *testing.T) {
	t.Parallel()
	b := startSecuredBroker(t, map[string]string{
		"sluice.http.listen":     "127.0.0.1:0",
		"sluice.http.tls.enable": "true",
		"authorizer.class.name":  "acl",
		"super.users":            "User:ANONYMOUS;User:" + authnPlainUser, // PLAINTEXT sets up; alice administers
	})
	httpAddr := b.node.HTTPAddr()
	tlsCfg := b.files.clientTLS(false)
	call := func(method, path, user, pass, body string) (int, string) {
		return httpsCall(t, tlsCfg, httpAddr, method, path, user, pass, body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := call("GET", path, "", "", ""); code != 200 {
			t.Errorf("GET %s without credentials = %d %s, want 200", path, code, body)
		}
	}
	// Plain HTTP is not served.
	if resp, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP answered 200 on the TLS admin listener")
		}
	}
	for _, tc := range []struct {
		method, path, user, pass, body string
		code                           int
		want                           string
	}{
		{"GET", "/metrics", "", "", "", 401, "authentication required"},
		{"GET", "/v1/broker", "", "", "", 401, "authentication required"},
		{"GET", "/v1/broker", authnPlainUser, "wrong", "", 401, "authentication required"},
		{"GET", "/v1/broker", authnScramUser, "wrong", "", 401, "authentication required"},
		{"GET", "/v1/broker", "nobody", "x", "", 401, "authentication required"},
		{"GET", "/metrics", authnScramUser, authnScramPass, "", 200, "sluice_build_info"},
		{"GET", "/v1/broker", authnScramUser, authnScramPass, "", 403, "User:bob is not allowed Describe"},
		{"GET", "/v1/broker", authnPlainUser, authnPlainPass, "", 200, `"node_id": 1`},
		{"POST", "/v1/maintenance", authnPlainUser, authnPlainPass, `{"enabled": true}`, 409, "no other live broker"},
	} {
		code, body := call(tc.method, tc.path, tc.user, tc.pass, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s as %q = %d %.200s, want %d %q", tc.method, tc.path, tc.user, code, body, tc.code, tc.want)
		}
	}

	// Describe on the cluster lets bob read, not change.
	ctx := testContext(t, 10*time.Second)
	adm := kadm.NewClient(newClient(t, b.listener("PLAINTEXT")))
	grant := func(op kadm.ACLOperation) {
		t.Helper()
		acl := kadm.NewACLs().Allow("User:" + authnScramUser).AllowHosts("*").Clusters().Operations(op).ResourcePatternType(kadm.ACLPatternLiteral)
		res, err := adm.CreateACLs(ctx, acl)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	grant(kadm.OpDescribe)
	waitStatus := func(method, path, body string, want int) {
		t.Helper()
		waitForErr(t, 10*time.Second, "the grant to reach the admin API", func() error {
			if code, got := call(method, path, authnScramUser, authnScramPass, body); code != want {
				return fmt.Errorf("%s %s as bob = %d %s, want %d", method, path, code, got, want)
			}
			return nil
		})
	}
	waitStatus("GET", "/v1/broker", "", 200)
	if code, body := call("POST", "/v1/config/reload", authnScramUser, authnScramPass, ""); code != 403 || !strings.Contains(body, "not allowed Alter") {
		t.Errorf("POST as bob with Describe only = %d %s, want 403", code, body)
	}
	grant(kadm.OpAlter)
	waitStatus("POST", "/v1/config/reload", "", 409) // allowed: no settings file to reload
}

// TestAdminAPIMetricsOpen: sluice.http.auth.metrics=false leaves /metrics
// open for a scraper without credentials; the admin API still asks.
func TestAdminAPIMetricsOpen(t *testing.T) {
	t.Parallel()
	b := startSecuredBroker(t, map[string]string{"sluice.http.listen": "127.0.0.1:0", "sluice.http.auth.metrics": "false"})
	httpAddr := b.node.HTTPAddr()
	if s := scrapeMetrics(t, httpAddr); s["sluice_build_info"] == nil {
		t.Errorf("open /metrics has no sluice_build_info")
	}
	if code, msg := adminCall(t, httpAddr, "GET", "/v1/broker", "", nil); code != 401 || !strings.Contains(msg, "authentication required") {
		t.Errorf("GET /v1/broker without credentials = %d %s, want 401", code, msg)
	}
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/v1/broker", nil)
	req.SetBasicAuth(authnScramUser, authnScramPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 { // no authorizer: every authenticated user
		t.Errorf("GET /v1/broker as bob without an authorizer = %s, want 200", resp.Status)
	}
}

// TestAdminAPIClientCertificate: with mutual TLS on a Kafka listener and
// no SASL, the admin listener still authenticates: a caller without
// credentials gets 401 (even though User:ANONYMOUS is a super user for the
// PLAINTEXT listener), and a client certificate over HTTPS is mapped to
// its principal as the Kafka listeners map it, then authorized by the
// ACLs.
func TestAdminAPIClientCertificate(t *testing.T) {
	t.Parallel()
	f := newAuthnFiles(t)
	b := startBroker(t, f.settings(map[string]string{
		"listeners":                          "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
		"sluice.http.listen":                 "127.0.0.1:0",
		"sluice.http.tls.enable":             "true",
		"listener.name.http.ssl.client.auth": "requested",
		"authorizer.class.name":              "acl",
		"super.users":                        "User:ANONYMOUS", // PLAINTEXT sets up
	}))
	httpAddr := b.node.HTTPAddr()
	anon := func(path string) (int, string) {
		return httpsCall(t, f.clientTLS(false), httpAddr, "GET", path, "", "", "")
	}
	alice := func(method, path string) (int, string) {
		return httpsCall(t, f.clientTLS(true), httpAddr, method, path, "", "", "")
	}
	if code, body := anon("/readyz"); code != 200 {
		t.Errorf("GET /readyz without credentials = %d %s, want 200", code, body)
	}
	for _, path := range []string{"/v1/broker", "/metrics"} {
		if code, body := anon(path); code != 401 || !strings.Contains(body, "authentication required") {
			t.Errorf("GET %s without a certificate = %d %.200s, want 401", path, code, body)
		}
	}
	if code, body := alice("GET", "/metrics"); code != 200 || !strings.Contains(body, "sluice_build_info") {
		t.Errorf("GET /metrics with alice's certificate = %d %.200s, want 200", code, body)
	}
	if code, body := alice("GET", "/v1/broker"); code != 403 || !strings.Contains(body, "User:CN=alice") {
		t.Errorf("GET /v1/broker with alice's certificate and no ACL = %d %.200s, want 403 naming User:CN=alice", code, body)
	}

	ctx := testContext(t, 10*time.Second)
	adm := kadm.NewClient(newClient(t, b.node.ListenerAddr("PLAINTEXT")))
	res, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:CN=alice").AllowHosts("*").Clusters().Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	waitForErr(t, 10*time.Second, "the grant to reach the admin API", func() error {
		if code, body := alice("GET", "/v1/broker"); code != 200 {
			return fmt.Errorf("GET /v1/broker as alice = %d %.200s, want 200", code, body)
		}
		return nil
	})
	if code, body := alice("POST", "/v1/config/reload"); code != 403 || !strings.Contains(body, "not allowed Alter") {
		t.Errorf("POST /v1/config/reload as alice with Describe only = %d %.200s, want 403", code, body)
	}
}

// TestAdminAPIAnonymousUnderAuthorizer: with an authorizer and no Kafka
// listener that authenticates, an admin API caller is User:ANONYMOUS and
// is authorized like an anonymous Kafka client; probes and /metrics stay
// open.
func TestAdminAPIAnonymousUnderAuthorizer(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{
		"sluice.http.listen":    "127.0.0.1:0",
		"authorizer.class.name": "acl",
	})
	httpAddr := b.node.HTTPAddr()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, msg := adminCall(t, httpAddr, "GET", path, "", nil); code != 200 {
			t.Errorf("GET %s = %d %.200s, want 200", path, code, msg)
		}
	}
	if s := scrapeMetrics(t, httpAddr); s["sluice_build_info"] == nil {
		t.Errorf("/metrics under an authorizer has no sluice_build_info")
	}
	if code, msg := adminCall(t, httpAddr, "GET", "/v1/broker", "", nil); code != 403 || !strings.Contains(msg, "User:ANONYMOUS is not allowed Describe") {
		t.Errorf("GET /v1/broker as an anonymous caller without an ACL = %d %.200s, want 403", code, msg)
	}
	if code, msg := adminCall(t, httpAddr, "POST", "/v1/maintenance", `{"enabled": true}`, nil); code != 403 || !strings.Contains(msg, "not allowed Alter") {
		t.Errorf("POST /v1/maintenance as an anonymous caller without an ACL = %d %.200s, want 403", code, msg)
	}
}
