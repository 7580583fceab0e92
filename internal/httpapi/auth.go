package httpapi

import (
	"crypto/x509"
	"net"
	"net/http"
)

// Authentication of the admin listener (docs/admin-api.md): once a Kafka
// listener authenticates its clients (SASL, or TLS with
// ssl.client.auth=required), so does this one. A caller proves who it is
// with HTTP Basic credentials, checked against the same users (SCRAM
// credentials, the PLAIN users file), or with a verified client
// certificate on the HTTPS listener, mapped as the Kafka listeners map
// theirs. Otherwise a caller without credentials is User:ANONYMOUS, as on
// a Kafka listener that does not authenticate. /healthz and /readyz stay
// open for probes; /metrics is open only when the operator says so. With
// an authorizer the admin API and pprof need a principal it allows on the
// cluster: Describe for a read, Alter for a change (or ClusterAction, as
// brokers have).

// Anonymous is the principal of a caller that gave no credentials where
// none are required.
const Anonymous = "User:ANONYMOUS"

// Auth checks who calls the admin listener.
type Auth interface {
	// Required reports whether every caller must authenticate; if not,
	// one without credentials is Anonymous.
	Required() bool
	// Authenticate returns the principal ("User:alice") whose password
	// this is, or false.
	Authenticate(user, password string) (principal string, ok bool)
	// CertPrincipal returns the principal of a verified client
	// certificate, or false when no mapping rule applies.
	CertPrincipal(cert *x509.Certificate) (principal string, ok bool)
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
		principal, ok := identify(r, a)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="sluice", charset="UTF-8"`)
			writeError(w, Errorf(http.StatusUnauthorized, "authentication required: HTTP Basic with a Kafka user's name and password, or a client certificate"))
			return
		}
		if path == "/metrics" {
			next.ServeHTTP(w, r) // whoever is identified may scrape
			return
		}
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
		next.ServeHTTP(w, r)
	})
}

// identify returns the caller's principal: from its Basic credentials
// when it gives them (wrong ones fail, as a failed SASL exchange does),
// else from its verified client certificate, else Anonymous where that is
// allowed.
func identify(r *http.Request, a Auth) (string, bool) {
	if user, pass, ok := r.BasicAuth(); ok {
		return a.Authenticate(user, pass)
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		// The TLS configuration verified the chain (ssl.client.auth
		// requested or required); an unverified one is never asked for.
		if p, ok := a.CertPrincipal(r.TLS.PeerCertificates[0]); ok {
			return p, true
		}
	}
	if a.Required() {
		return "", false
	}
	return Anonymous, true
}
