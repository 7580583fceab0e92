package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
)

// String returns the ID as Kafka prints it: unpadded base64url of the 16
// bytes (KIP-516).
func (id TopicID) String() string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// MarshalText encodes the ID as String does.
func (id TopicID) MarshalText() ([]byte, error) {
	return []byte(id.String()), nil
}

// UnmarshalText decodes an unpadded base64url topic ID of exactly 16 bytes.
func (id *TopicID) UnmarshalText(b []byte) error {
	if len(b) != base64.RawURLEncoding.EncodedLen(len(id)) {
		return fmt.Errorf("cluster: topic ID %q: want %d base64url characters", b, base64.RawURLEncoding.EncodedLen(len(id)))
	}
	var out TopicID
	n, err := base64.RawURLEncoding.Strict().Decode(out[:], b)
	if err != nil || n != len(out) {
		return fmt.Errorf("cluster: topic ID %q: invalid base64url", b)
	}
	*id = out
	return nil
}

// newUUID returns a random version 4 UUID the way Kafka's Uuid.randomUuid
// does: never the all-zero ID (Kafka's ZERO_UUID), and never one whose
// base64url form starts with '-', which command-line tools would read as a
// flag.
func newUUID() [16]byte {
	for {
		var u [16]byte
		rand.Read(u[:]) // never fails since Go 1.24
		// Version 4, RFC 4122 variant.
		u[6] = u[6]&0x0f | 0x40
		u[8] = u[8]&0x3f | 0x80
		if u == ([16]byte{}) || strings.HasPrefix(base64.RawURLEncoding.EncodeToString(u[:]), "-") {
			continue
		}
		return u
	}
}

// newClusterID returns a fresh cluster ID in Kafka's format.
func newClusterID() string {
	u := newUUID()
	return base64.RawURLEncoding.EncodeToString(u[:])
}
