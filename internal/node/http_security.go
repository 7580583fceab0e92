package node

import (
	"context"
	"crypto/hmac"
	"crypto/tls"
	"fmt"

	"github.com/sluice-io/sluice/internal/acl"
	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/httpapi"
	"github.com/sluice-io/sluice/internal/server"
)

// httpTLS is the admin listener's TLS with sluice.http.tls.enable: the
// files of listener.name.http.ssl.*, else the ssl.* settings the Kafka
// listeners use, read by the same code as theirs.
func (n *Node) httpTLS(static *config.Broker) (*tls.Config, error) {
	if !static.Bool("sluice.http.tls.enable") {
		return nil, nil
	}
	_, overrides, err := splitListenerSettings(withNodeID(n.cfg.Settings, n.cfg.NodeID))
	if err != nil {
		return nil, err
	}
	files, err := (&listenerSettings{static: static, override: overrides}).tlsFiles("HTTP")
	if err != nil {
		return nil, fmt.Errorf("HTTP admin listener: %w", err)
	}
	st, err := auth.NewServerTLS(files, 0, n.logger.With("component", "http"))
	if err != nil {
		return nil, fmt.Errorf("HTTP admin listener: %w", err)
	}
	return st.Config(), nil
}

// httpAuth authenticates the admin listener's callers once a Kafka
// listener authenticates with SASL (nil otherwise): HTTP Basic checked
// against the SCRAM credentials and the PLAIN users file, authorized by
// the ACLs when an authorizer is configured.
func (n *Node) httpAuth(static *config.Broker) (httpapi.Auth, error) {
	sasl := false
	for _, spec := range n.specs {
		sasl = sasl || spec.protocol == server.ProtocolSASLPlaintext || spec.protocol == server.ProtocolSASLSSL
	}
	if !sasl {
		return nil, nil
	}
	a := &httpAuthenticator{n: n}
	if file := static.String("sasl.plain.users.file"); file != "" {
		users, err := auth.LoadPlainUsers(file, 0, n.logger.With("component", "http"))
		if err != nil {
			return nil, fmt.Errorf("HTTP admin listener: %w", err)
		}
		a.plain = users
	}
	if static.AuthorizerEnabled() {
		a.authz = acl.NewAuthorizer(acl.Config{SuperUsers: static.String("super.users"), AllowIfNoACL: static.Bool("allow.everyone.if.no.acl.found")})
	}
	return a, nil
}

type httpAuthenticator struct {
	n     *Node
	plain *auth.PlainUsers // nil without sasl.plain.users.file
	authz *acl.Authorizer  // nil without authorizer.class.name
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
