package httpapi

import (
	"net"
	"net/http"
)

// Authentication of the admin listener (docs/admin-api.md): once the
// Kafka listeners authenticate clients (SASL), so does this one, with
// HTTP Basic credentials checked against the same users (SCRAM
// credentials, the PLAIN users file). /healthz and /readyz stay open for
// probes; /metrics is open only when the operator says so. The admin API
// and pprof need a principal the authorizer allows on the cluster:
// Describe for a read, Alter for a change (or ClusterAction, as brokers
// have).

// Auth checks who calls the admin listener.
type Auth interface {
	// Authenticate returns the principal ("User:alice") whose password
	// this is, or false.
	Authenticate(user, password string) (principal string, ok bool)
	// Allowed reports whether principal, calling from host, may read
	// (change false) or change the broker through the admin API.
	Allowed(principal, host string, change bool) bool
}

// authorize wraps next with the checks cfg asks for.
func authorize(next http.Handler, a Auth, metricsOpen bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if path == "/healthz" || path == "/readyz" || (path == "/metrics" && metricsOpen) {
			next.ServeHTTP(w, r)
			return
		}
		user, pass, ok := r.BasicAuth()
		principal := ""
		if ok {
			principal, ok = a.Authenticate(user, pass)
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="sluice", charset="UTF-8"`)
			writeError(w, Errorf(http.StatusUnauthorized, "authentication required: HTTP Basic with a Kafka user's name and password"))
			return
		}
		if path != "/metrics" {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			change := r.Method != http.MethodGet && r.Method != http.MethodHead
			if !a.Allowed(principal, host, change) {
				op := "Describe"
				if change {
					op = "Alter"
				}
				writeError(w, Errorf(http.StatusForbidden, "%s is not allowed %s on the cluster", principal, op))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
