package broker

// SaslHandshake (17) v0-1 and SaslAuthenticate (36) v0-2.
//
// Authentication is the connection's business: on a SASL_PLAINTEXT or
// SASL_SSL listener internal/server runs the exchange (and KIP-368
// re-authentication) itself, before any request reaches the broker. The
// rows here put both APIs in ApiVersions, as Kafka lists them on every
// listener, and answer them where no SASL is spoken (a PLAINTEXT or SSL
// listener) with ILLEGAL_SASL_STATE, as Kafka's KafkaApis does.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) saslHandshake(_ context.Context, _ *Client, req *kmsg.SASLHandshakeRequest) *kmsg.SASLHandshakeResponse {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	return resp
}

func (b *Broker) saslAuthenticate(_ context.Context, c *Client, req *kmsg.SASLAuthenticateRequest) *kmsg.SASLAuthenticateResponse {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	msg := "SaslAuthenticate on listener " + c.Listener + ", which does not use SASL"
	resp.ErrorMessage = &msg
	return resp
}
