package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/cluster"
)

// bootstrapIterations is the SCRAM iteration count of the bootstrap
// admin's credentials.
const bootstrapIterations = 8192

// parseBootstrapAdmin splits "user:password".
func parseBootstrapAdmin(s string) (user, password string, err error) {
	user, password, ok := strings.Cut(s, ":")
	if !ok || user == "" || password == "" {
		return "", "", fmt.Errorf("bootstrap admin: want user:password")
	}
	return user, password, nil
}

// bootstrapAdmin gives user SCRAM-SHA-256 and SCRAM-SHA-512 credentials
// for password, each only when the metadata has none for that user and
// mechanism: a new cluster gets its first user, and a restart with the
// same flag changes nothing (a password changed since is kept).
func (n *Node) bootstrapAdmin(ctx context.Context, spec string) error {
	user, password, err := parseBootstrapAdmin(spec)
	if err != nil {
		return err
	}
	for _, mech := range []string{auth.MechScramSHA256, auth.MechScramSHA512} {
		if _, ok := n.cluster.Image().ScramCredential(user, mech); ok {
			continue
		}
		c, err := auth.NewScramCredential(mech, password, bootstrapIterations)
		if err != nil {
			return err
		}
		cmd := cluster.UpsertScramCredential{User: user, Credential: cluster.ScramCredential{
			Mechanism: mech, Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey,
		}}
		if err := n.cluster.Propose(ctx, cmd); err != nil {
			return fmt.Errorf("bootstrap admin %s: %w", user, err)
		}
		n.logger.Info("bootstrap admin credential created", "user", user, "mechanism", mech)
	}
	return nil
}
