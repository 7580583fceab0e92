package broker

// DescribeUserScramCredentials (50) v0 and AlterUserScramCredentials (51)
// v0, KIP-554: SCRAM credentials are cluster metadata, so every broker
// authenticates SCRAM clients from its own image, and these APIs are
// served by any broker (the change is proposed to the controller).
//
// Kafka's validation and error codes: an empty user name or an iteration
// count outside 4096..16384 is UNACCEPTABLE_CREDENTIAL, a mechanism other
// than SCRAM-SHA-256 (1) or SCRAM-SHA-512 (2) UNSUPPORTED_SASL_MECHANISM,
// the same user and mechanism twice in one request DUPLICATE_RESOURCE,
// deleting or describing a credential that does not exist
// RESOURCE_NOT_FOUND. Results come one per user; a user with any invalid
// alteration has none applied. The upsertion carries the salted password
// (never the password); the broker derives and stores StoredKey and
// ServerKey only.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/cluster"
)

// scramMechanism maps KIP-554's mechanism numbers to names.
func scramMechanism(m int8) (string, bool) {
	switch m {
	case 1:
		return auth.MechScramSHA256, true
	case 2:
		return auth.MechScramSHA512, true
	}
	return "", false
}

func scramMechanismCode(name string) int8 {
	switch name {
	case auth.MechScramSHA256:
		return 1
	case auth.MechScramSHA512:
		return 2
	}
	return 0
}

func (b *Broker) describeUserScramCredentials(_ context.Context, _ *Client, req *kmsg.DescribeUserSCRAMCredentialsRequest) *kmsg.DescribeUserSCRAMCredentialsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	img := b.cfg.Cluster.Image()
	result := func(user string, creds []cluster.ScramCredential) kmsg.DescribeUserSCRAMCredentialsResponseResult {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = user
		for _, c := range creds {
			info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			info.Mechanism, info.Iterations = scramMechanismCode(c.Mechanism), int32(c.Iterations)
			r.CredentialInfos = append(r.CredentialInfos, info)
		}
		return r
	}
	if len(req.Users) == 0 {
		img.ScramUsers(func(user string, creds []cluster.ScramCredential) bool {
			resp.Results = append(resp.Results, result(user, creds))
			return true
		})
		return resp
	}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	seen := map[string]bool{}
	for _, u := range req.Users {
		if seen[u.Name] {
			continue
		}
		seen[u.Name] = true
		r := result(u.Name, img.ScramUser(u.Name))
		switch {
		case count[u.Name] > 1:
			r = kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
			r.User = u.Name
			r.ErrorCode = kerr.DuplicateResource.Code
			r.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request")
		case len(r.CredentialInfos) == 0:
			r.ErrorCode = kerr.ResourceNotFound.Code
			r.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist")
		}
		resp.Results = append(resp.Results, r)
	}
	return resp
}

// scramAlteration is one deletion or upsertion of a request.
type scramAlteration struct {
	mechanism string
	cmd       cluster.Command
}

func (b *Broker) alterUserScramCredentials(ctx context.Context, _ *Client, req *kmsg.AlterUserSCRAMCredentialsRequest) *kmsg.AlterUserSCRAMCredentialsResponse {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	var order []string
	byUser := map[string][]scramAlteration{}
	failed := map[string]error{}
	fail := func(user string, err error) {
		if failed[user] == nil {
			failed[user] = err
		}
	}
	add := func(user string, mechCode int8, build func(mech string) (cluster.Command, error)) {
		if _, ok := byUser[user]; !ok {
			order = append(order, user)
			byUser[user] = nil
		}
		if user == "" {
			fail(user, kerrf(kerr.UnacceptableCredential, "Username must not be empty"))
			return
		}
		mech, ok := scramMechanism(mechCode)
		if !ok {
			fail(user, kerrf(kerr.UnsupportedSaslMechanism, "Unknown SCRAM mechanism %d", mechCode))
			return
		}
		for _, a := range byUser[user] {
			if a.mechanism == mech {
				fail(user, kerrf(kerr.DuplicateResource, "A user credential cannot be altered twice in the same request"))
				return
			}
		}
		cmd, err := build(mech)
		if err != nil {
			fail(user, err)
			return
		}
		byUser[user] = append(byUser[user], scramAlteration{mechanism: mech, cmd: cmd})
	}
	for _, d := range req.Deletions {
		add(d.Name, d.Mechanism, func(mech string) (cluster.Command, error) {
			return cluster.DeleteScramCredential{User: d.Name, Mechanism: mech}, nil
		})
	}
	for _, u := range req.Upsertions {
		add(u.Name, u.Mechanism, func(mech string) (cluster.Command, error) {
			switch {
			case u.Iterations < auth.ScramMinIterations:
				return nil, kerrf(kerr.UnacceptableCredential, "Too few iterations")
			case u.Iterations > auth.ScramMaxIterations:
				return nil, kerrf(kerr.UnacceptableCredential, "Too many iterations")
			case len(u.Salt) == 0:
				return nil, kerrf(kerr.UnacceptableCredential, "Salt must not be empty")
			case len(u.SaltedPassword) == 0:
				return nil, kerrf(kerr.UnacceptableCredential, "Salted password must not be empty")
			}
			stored, server, err := auth.ScramKeys(mech, u.SaltedPassword)
			if err != nil {
				return nil, kerrf(kerr.UnsupportedSaslMechanism, "%v", err)
			}
			return cluster.UpsertScramCredential{User: u.Name, Credential: cluster.ScramCredential{
				Mechanism: mech, Salt: u.Salt, Iterations: int(u.Iterations), StoredKey: stored, ServerKey: server,
			}}, nil
		})
	}
	for _, user := range order {
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = user
		err := failed[user]
		img := b.cfg.Cluster.Image()
		for _, a := range byUser[user] {
			if d, ok := a.cmd.(cluster.DeleteScramCredential); ok && err == nil {
				if _, exists := img.ScramCredential(d.User, d.Mechanism); !exists {
					err = cluster.ErrScramCredentialNotFound
				}
			}
		}
		if err == nil {
			for _, a := range byUser[user] {
				if err = b.cfg.Cluster.Propose(ctx, a.cmd); err != nil {
					break
				}
			}
		}
		if errors.Is(err, cluster.ErrScramCredentialNotFound) {
			err = kerrf(kerr.ResourceNotFound, "Attempt to delete a user credential that does not exist")
		}
		r.ErrorCode, r.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Results = append(resp.Results, r)
	}
	return resp
}
