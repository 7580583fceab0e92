package test

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsFrame is an ApiVersions request of version v with an empty
// body (header v1, or v2 from version 3).
func apiVersionsFrame(v int16, corr int32) []byte {
	f := []byte{0, 0, 0, 0}
	f = binary.BigEndian.AppendUint16(f, 18)
	f = binary.BigEndian.AppendUint16(f, uint16(v))
	f = binary.BigEndian.AppendUint32(f, uint32(corr))
	f = binary.BigEndian.AppendUint16(f, 4)
	f = append(f, "test"...)
	if v >= 3 {
		f = append(f, 0)
	}
	binary.BigEndian.PutUint32(f, uint32(len(f)-4))
	return f
}

// An ApiVersions of a version the broker does not speak, below its range
// as above it, is answered at v0 with UNSUPPORTED_VERSION and ApiVersions'
// own range alone (KIP-511).
func TestApiVersionsOutsideItsRange(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	for _, v := range []int16{-1, 5, 0x7fff} {
		c := dialRaw(t, b.addr)
		c.write(apiVersionsFrame(v, 77))
		corr, body := c.response(false)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.Version = 0
		if err := resp.ReadFrom(body); err != nil || corr != 77 || resp.ErrorCode != kerr.UnsupportedVersion.Code ||
			len(resp.ApiKeys) != 1 || resp.ApiKeys[0].ApiKey != 18 {
			t.Fatalf("ApiVersions v%d: correlation %d, %+v, %v; want 77, UNSUPPORTED_VERSION and ApiVersions' range alone", v, corr, resp, err)
		}
	}
}

// An ApiVersions the broker does not speak, sent in the middle of a SASL
// exchange, closes the connection unanswered, as a supported one does.
func TestApiVersionsUnsupportedMidSASLExchangeCloses(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, nil)
	rc := dialAuthn(t, s.listener("SASL_PLAINTEXT"))
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "SCRAM-SHA-256"
	if resp, err := rc.request(hs); err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
		t.Fatalf("SaslHandshake: %v %+v", err, resp)
	}
	if _, err := rc.c.Write(apiVersionsFrame(0x7fff, 55)); err != nil {
		t.Fatal(err)
	}
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.r, size[:]); err == nil {
		t.Fatalf("ApiVersions v32767 in the middle of a SCRAM exchange was answered (%d bytes)", binary.BigEndian.Uint32(size[:]))
	}
}

// An empty token after SaslHandshake v0 (a frame of size 0) is taken at
// once, not waited on: the PLAIN exchange fails and the connection closes
// without the 10 s stall of a body that never comes.
func TestSASLv0EmptyTokenIsTakenAtOnce(t *testing.T) {
	t.Parallel()
	s := startSecuredBroker(t, nil)
	rc := dialAuthn(t, s.listener("SASL_PLAINTEXT"))
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 0, "PLAIN"
	if resp, err := rc.request(hs); err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
		t.Fatalf("SaslHandshake v0: %v %+v", err, resp)
	}
	start := time.Now()
	if _, err := rc.c.Write([]byte{0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	rc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	rc.r.ReadByte() // an answer or the close
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("an empty v0 token took %v to be taken", took)
	}
}
