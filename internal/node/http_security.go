package node

import (
	"context"
	"crypto/hmac"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/httpapi"
	"github.com/sluice-io/sluice/internal/server"
)

// httpTLS is the admin listener's TLS with sluice.http.tls.enable: the
// files of listener.name.http.ssl.*, else the ssl.* settings the Kafka
// listeners use, read by the same code as theirs.
func (n *Node) httpTLS(ls *listenerSettings) (*tls.Config, error) {
	if !ls.static.Bool("sluice.http.tls.enable") {
		return nil, nil
	}
	files, err := ls.tlsFiles("HTTP")
	if err != nil {
		return nil, fmt.Errorf("HTTP admin listener: %w", err)
	}
	st, err := auth.NewServerTLS(files, 0, n.logger.With("component", "http"))
	if err != nil {
		return nil, fmt.Errorf("HTTP admin listener: %w", err)
	}
	return st.Config(), nil
}

// httpAuth authenticates and authorizes the admin listener's callers
// once a Kafka listener authenticates its clients (SASL, or TLS with
// ssl.client.auth=required) or an authorizer is configured; nil
// otherwise. Callers give HTTP Basic credentials (checked against the
// SCRAM credentials and the PLAIN users file) or, over HTTPS, a verified
// client certificate mapped by the HTTP listener's
// ssl.principal.mapping.rules; where no Kafka listener authenticates, a
// caller without either is User:ANONYMOUS.
func (n *Node) httpAuth(ls *listenerSettings) (httpapi.Auth, error) {
	static := ls.static
	a := &httpAuthenticator{n: n}
	for _, spec := range n.specs {
		switch spec.protocol {
		case server.ProtocolSASLPlaintext, server.ProtocolSASLSSL:
			a.required = true
		case server.ProtocolSSL:
			a.required = a.required || strings.EqualFold(ls.get(spec.name, "ssl.client.auth"), "required")
		}
	}
	if static.AuthorizerEnabled() {
		a.authz = acl.NewAuthorizer(acl.Config{SuperUsers: static.String("super.users"), AllowIfNoACL: static.Bool("allow.everyone.if.no.acl.found")})
	}
	if !a.required && a.authz == nil {
		return nil, nil
	}
	if file := static.String("sasl.plain.users.file"); file != "" {
		users, err := auth.LoadPlainUsers(file, 0, n.logger.With("component", "http"))
		if err != nil {
			return nil, fmt.Errorf("HTTP admin listener: %w", err)
		}
		a.plain = users
	}
	var err error
	if a.certs, err = auth.ParsePrincipalRules(ls.get("HTTP", "ssl.principal.mapping.rules")); err != nil {
		return nil, fmt.Errorf("HTTP admin listener: %w", err)
	}
	return a, nil
}

type httpAuthenticator struct {
	n        *Node
	required bool                  // a Kafka listener authenticates its clients
	plain    *auth.PlainUsers      // nil without sasl.plain.users.file
	certs    *auth.PrincipalMapper // ssl.principal.mapping.rules
	authz    *acl.Authorizer       // nil without authorizer.class.name
}

func (a *httpAuthenticator) Required() bool { return a.required }

// CertPrincipal maps a client certificate's subject as the Kafka
// listeners do.
func (a *httpAuthenticator) CertPrincipal(cert *x509.Certificate) (string, bool) {
	p, err := a.certs.CertPrincipal(cert)
	if err != nil {
		a.n.logger.Info("HTTP admin listener: client certificate not mapped to a principal", "component", "http", "err", err)
		return "", false
	}
	return p, true
}

// Authenticate checks user's password against the PLAIN users file, then
// its SCRAM credentials in the cluster metadata.
func (a *httpAuthenticator) Authenticate(user, password string) (string, bool) {
	if a.plain != nil {
		ex := a.plain.Start()
		if _, done, err := ex.Step(context.Background(), []byte("\x00"+user+"\x00"+password)); err == nil && done {
			return ex.Principal(), true
		}
	}
	if !a.n.obs.wired.Load() {
		return "", false // the metadata is not there yet
	}
	for _, mech := range []string{auth.MechScramSHA512, auth.MechScramSHA256} {
		cred, ok := a.n.scramLookup(user, mech)
		if !ok {
			continue
		}
		salted, err := auth.SaltPassword(mech, password, cred.Salt, cred.Iterations)
		if err != nil {
			continue
		}
		stored, _, err := auth.ScramKeys(mech, salted)
		if err == nil && hmac.Equal(stored, cred.StoredKey) {
			return "User:" + user, true
		}
	}
	return "", false
}

// Allowed asks the authorizer for Describe (a read) or Alter (a change)
// on the cluster; ClusterAction, which brokers hold, allows both.
func (a *httpAuthenticator) Allowed(principal, host string, change bool) bool {
	if a.authz == nil {
		return true
	}
	if !a.n.obs.wired.Load() {
		return a.authz.IsSuperUser(principal)
	}
	acls := a.n.cluster.Image().ACLs
	op := acl.OpDescribe
	if change {
		op = acl.OpAlter
	}
	return a.authz.Authorize(acls, principal, host, op, acl.ResourceCluster, acl.ClusterName) ||
		a.authz.Authorize(acls, principal, host, acl.OpClusterAction, acl.ResourceCluster, acl.ClusterName)
}
