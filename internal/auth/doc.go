// Package auth authenticates Kafka connections: TLS configuration and
// certificate principals, the SASL mechanisms (PLAIN, SCRAM, OAUTHBEARER)
// and the audit log of security events.
package auth
