package node

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/config"
)

func listenerSettingsOf(t *testing.T, settings map[string]string) (*listenerSettings, error) {
	t.Helper()
	rest, over, err := splitListenerSettings(settings)
	if err != nil {
		return nil, err
	}
	static, err := config.NewBroker(rest)
	if err != nil {
		return nil, err
	}
	return &listenerSettings{static: static, override: over}, nil
}

func TestParseListeners(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		settings map[string]string
		want     []listenerSpec
		inter    string
		err      string
	}{
		{name: "shorthand", settings: nil, want: []listenerSpec{{"PLAINTEXT", "PLAINTEXT", "127.0.0.1:9092", "kafka:9092"}}, inter: "PLAINTEXT"},
		{
			name:     "protocols as names, inter-broker by protocol",
			settings: map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,SASL_SSL://:9093", "security.inter.broker.protocol": "SASL_SSL", "advertised.listeners": "SASL_SSL://kafka.example:9093"},
			want:     []listenerSpec{{"PLAINTEXT", "PLAINTEXT", "127.0.0.1:9092", ""}, {"SASL_SSL", "SASL_SSL", ":9093", "kafka.example:9093"}},
			inter:    "SASL_SSL",
		},
		{
			name:     "custom names",
			settings: map[string]string{"listeners": "internal://127.0.0.1:9094,EXTERNAL://0.0.0.0:9095", "listener.security.protocol.map": "INTERNAL:SASL_PLAINTEXT,EXTERNAL:SSL", "inter.broker.listener.name": "INTERNAL"},
			want:     []listenerSpec{{"INTERNAL", "SASL_PLAINTEXT", "127.0.0.1:9094", ""}, {"EXTERNAL", "SSL", "0.0.0.0:9095", ""}},
			inter:    "INTERNAL",
		},
		{name: "unmapped name", settings: map[string]string{"listeners": "FOO://:1"}, err: "FOO has no security protocol"},
		{name: "bad protocol", settings: map[string]string{"listeners": "FOO://:1", "listener.security.protocol.map": "FOO:TLS"}, err: "unknown security protocol"},
		{name: "no port", settings: map[string]string{"listeners": "PLAINTEXT://localhost"}, err: "missing port"},
		{name: "twice", settings: map[string]string{"listeners": "PLAINTEXT://:1,PLAINTEXT://:2"}, err: "listed twice"},
		{name: "advertised unknown", settings: map[string]string{"listeners": "PLAINTEXT://:1", "advertised.listeners": "SSL://h:2"}, err: "not in listeners"},
		{name: "inter unknown", settings: map[string]string{"listeners": "PLAINTEXT://:1", "inter.broker.listener.name": "X"}, err: "not in listeners"},
	} {
		ls, err := listenerSettingsOf(t, tc.settings)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, inter, err := parseListeners(ls, "127.0.0.1:9092", "kafka:9092")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) || inter != tc.inter {
			t.Errorf("%s: %+v inter %q err %v; want %+v inter %q", tc.name, got, inter, err, tc.want, tc.inter)
		}
	}
}

func TestListenerOverrides(t *testing.T) {
	t.Parallel()
	ls, err := listenerSettingsOf(t, map[string]string{
		"ssl.client.auth":                                       "none",
		"listener.name.external.ssl.client.auth":                "required",
		"listener.name.INTERNAL.scram-sha-512.sasl.jaas.config": `ScramLoginModule required username="b" password="p";`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ls.get("EXTERNAL", "ssl.client.auth"); got != "required" {
		t.Errorf("EXTERNAL ssl.client.auth %q", got)
	}
	if got := ls.get("OTHER", "ssl.client.auth"); got != "none" {
		t.Errorf("OTHER ssl.client.auth %q", got)
	}
	if got := ls.get("internal", "scram-sha-512.sasl.jaas.config"); !strings.Contains(got, `username="b"`) {
		t.Errorf("per-mechanism JAAS %q", got)
	}
	for _, bad := range []map[string]string{
		{"listener.name.x.no.such.config": "1"},
		{"listener.name.x.ssl.client.auth": "sometimes"},
		{"listener.name..ssl.client.auth": "none"},
	} {
		if _, _, err := splitListenerSettings(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestParseJAAS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, user, pass string }{
		{`org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="s3cr=t;";`, "broker", "s3cr=t;"},
		{`PlainLoginModule required password="p\"q" username="u";`, "u", `p"q`},
	} {
		u, p, err := parseJAAS(tc.in)
		if err != nil || u != tc.user || p != tc.pass {
			t.Errorf("%s: %q %q %v", tc.in, u, p, err)
		}
	}
	if _, _, err := parseJAAS(`ScramLoginModule required;`); err == nil {
		t.Error("JAAS without a username accepted")
	}
}

func TestMinTLSVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []string
		want uint16
		ok   bool
	}{
		{[]string{"TLSv1.2", "TLSv1.3"}, tls.VersionTLS12, true},
		{[]string{"TLSv1.3"}, tls.VersionTLS13, true},
		{[]string{"TLSv1.1", "TLSv1.2"}, 0, false},
		{nil, 0, false},
	} {
		got, err := minTLSVersion(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%v: %x, %v", tc.in, got, err)
		}
	}
}
