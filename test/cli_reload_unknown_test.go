package test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAdminAPIConfigReloadRefusesUnknownSettings checks that POST
// /v1/config/reload answers 400 naming a setting the broker does not know
// (one that would make it refuse to start), and a listener.name.* setting
// of an unknown config, with nothing applied; a valid listener.name.*
// setting still needs a restart.
func TestAdminAPIConfigReloadRefusesUnknownSettings(t *testing.T) {
	t.Parallel()
	b, _, write := startReloadableBroker(t, "sluice.http.listen=127.0.0.1:0\nlog.retention.ms=3600000\n")
	httpAddr := b.node.HTTPAddr()
	type reloadResult struct {
		Applied         map[string]*string `json:"applied"`
		RestartRequired []string           `json:"restart_required"`
	}
	reload := func() (int, string, reloadResult) {
		t.Helper()
		var r reloadResult
		code, msg := adminCall(t, httpAddr, "POST", "/v1/config/reload", "", &r)
		return code, msg, r
	}

	write("sluice.http.listen=127.0.0.1:0\nlog.retention.ms=7200000\nlog.retention.bogus=1\n")
	if code, msg, _ := reload(); code != http.StatusBadRequest || !strings.Contains(msg, "log.retention.bogus") {
		t.Fatalf("reload with an unknown setting: %d %q, want 400 naming it", code, msg)
	}
	write("sluice.http.listen=127.0.0.1:0\nlog.retention.ms=7200000\nlistener.name.plaintext.no.such.config=1\n")
	if code, msg, _ := reload(); code != http.StatusBadRequest || !strings.Contains(msg, "listener.name.plaintext.no.such.config") {
		t.Fatalf("reload with an unknown listener setting: %d %q, want 400 naming it", code, msg)
	}
	write("sluice.http.listen=127.0.0.1:0\nlog.retention.ms=3600000\nlistener.name.plaintext.connections.max.reauth.ms=0\n")
	if code, msg, r := reload(); code != http.StatusOK || strings.Join(r.RestartRequired, ",") != "listener.name.plaintext.connections.max.reauth.ms" || len(r.Applied) != 0 {
		t.Fatalf("reload with a listener setting: %d %q %+v, want 200 with it restart_required", code, msg, r)
	}
}
