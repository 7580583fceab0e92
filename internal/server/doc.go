// Package server is Sluice's Kafka listener: it accepts connections, reads
// size-prefixed request frames, parses request headers, decodes bodies with
// kmsg and hands them to the broker, then writes responses back in request
// order.
//
// A connection is served by one reading goroutine and one writing goroutine.
// The reader decodes and dispatches requests one at a time, in order, as
// Kafka does; a handler may hand back a wait function (Produce with acks=-1
// waiting on an fsync), which the writer runs in request order, so the
// reader can append the next pipelined request while an earlier one waits
// for the disk. A malformed frame, an unknown API key or an unsupported
// version closes that connection only, with a log line saying why; a panic
// in a handler does the same. Nothing here decides Kafka semantics: that is
// internal/broker's job.
//
// Each listener has a security protocol (security.go). On SSL and SASL_SSL
// the TLS handshake runs first, in the connection's goroutine, within a
// timeout; a client that does not speak TLS is named in the log, and so is
// a TLS client on a plaintext listener (its first bytes are a TLS record,
// not a request size). On SASL_PLAINTEXT and SASL_SSL the reader keeps the
// connection's SASL state: until a mechanism of internal/auth accepts the
// client, only ApiVersions, SaslHandshake and SaslAuthenticate are served
// (any other request closes the connection unread) and requests are
// capped at 512 KiB; after SaslHandshake v0 the tokens
// travel as bare size-prefixed frames. A refusal is answered, audited, and
// the connection closed after connection.failed.authentication.delay.ms.
// With connections.max.reauth.ms, and with an OAUTHBEARER token's expiry
// in any case, the session ends (KIP-368): a request after its end other
// than a re-authentication closes the connection. The
// principal (certificate subject on SSL, SASL user, else User:ANONYMOUS)
// is set on broker.Client before any request reaches the broker.
package server
