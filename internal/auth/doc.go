// Package auth authenticates Kafka connections: the TLS configuration of
// listeners and of a broker's connections to other brokers, principals
// from client certificates, the SASL mechanisms, and the audit log of
// security events.
//
// What it owns:
//
//   - ServerTLS: a listener's certificate, key and CA from PEM files,
//     reloaded when the files change (a stat at most every few seconds, on
//     a handshake); a reload that fails keeps the loaded files.
//     ClientTLS is the other side, for inter-broker and controller
//     connections.
//   - PrincipalMapper: ssl.principal.mapping.rules over the certificate
//     subject written as Kafka writes it (SubjectRFC2253).
//   - The mechanisms, each an Exchange per connection: PLAIN against a
//     users file of bcrypt or argon2id hashes (PlainUsers), SCRAM-SHA-256
//     and SCRAM-SHA-512 against credentials the caller looks up (Sluice
//     reads them from the replicated metadata), OAUTHBEARER validating
//     signed JWTs against a JSON Web Key Set.
//   - Audit: one rate-limited INFO line per failed authentication or
//     denied operation.
//
// What it guarantees: a refusal is an error wrapping ErrAuthentication
// whose message is safe for the client and the log; no password, hash,
// salted password, key or token is ever logged or returned. Client tokens
// are untrusted bytes: every parser refuses malformed input without
// panicking (FuzzSASLTokens). A PLAIN check takes the same time for an
// unknown user as for a wrong password (SCRAM, as in Kafka, refuses an
// unknown user at its first message).
//
// What it never does: speak the Kafka protocol (internal/server runs
// SaslHandshake and SaslAuthenticate and keeps each connection's state)
// or decide what a principal may do (internal/acl).
package auth
