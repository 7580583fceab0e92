package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame errors. Any of them closes the connection.
var (
	ErrFrameTooLarge = errors.New("server: request frame too large")
	ErrFrameTooSmall = errors.New("server: request frame too small")
	ErrBadHeader     = errors.New("server: malformed request header")
)

// headerFixed is the part of every request header before the client ID:
// api key, api version and correlation ID.
const headerFixed = 8

// RequestHeader is a parsed Kafka request header (v0-v2).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      *string
}

// ReadFrameSize reads the 4-byte size prefix of the next request and checks
// it against max before anything is allocated.
func ReadFrameSize(r io.Reader, max int32) (int32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	n := int32(binary.BigEndian.Uint32(b[:]))
	switch {
	case n < 0 || n > max:
		return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, uint32(n), max)
	case n < headerFixed:
		return 0, fmt.Errorf("%w: %d bytes", ErrFrameTooSmall, n)
	}
	return n, nil
}

// PeekKey returns the API key and version at the start of a request frame.
func PeekKey(frame []byte) (key, version int16) {
	return int16(binary.BigEndian.Uint16(frame)), int16(binary.BigEndian.Uint16(frame[2:]))
}

// ParseRequestHeader parses the request header at the start of frame and
// returns it with the body that follows. flexible says whether the header is
// v2 (tagged fields after the client ID); that depends on the API key and
// version, which the caller knows from PeekKey. Every length is checked
// against what remains.
func ParseRequestHeader(frame []byte, flexible bool) (RequestHeader, []byte, error) {
	var h RequestHeader
	if len(frame) < headerFixed+2 {
		return h, nil, fmt.Errorf("%w: %d bytes", ErrBadHeader, len(frame))
	}
	h.APIKey, h.APIVersion = PeekKey(frame)
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	b := frame[headerFixed:]
	// The client ID stays a non-compact nullable string even in header v2.
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	switch {
	case n == -1:
	case n < -1 || int(n) > len(b):
		return h, nil, fmt.Errorf("%w: client id length %d, %d bytes left", ErrBadHeader, n, len(b))
	default:
		s := string(b[:n])
		h.ClientID = &s
		b = b[n:]
	}
	if flexible {
		var err error
		if b, err = skipTags(b); err != nil {
			return h, nil, err
		}
	}
	return h, b, nil
}

// skipTags skips a tagged-field section: a count, then per field a tag and
// a size-prefixed value. Sluice knows no request-header tags.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad tagged field count", ErrBadHeader)
	}
	b = b[n:]
	if count > uint64(len(b)) {
		return nil, fmt.Errorf("%w: %d tagged fields in %d bytes", ErrBadHeader, count, len(b))
	}
	for i := uint64(0); i < count; i++ {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, fmt.Errorf("%w: bad tag", ErrBadHeader)
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: bad tagged field size", ErrBadHeader)
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// AppendResponseHeader appends a response's size placeholder and header:
// the correlation ID, then an empty tagged-field section for flexible
// responses (header v1). ApiVersions always answers with header v0 so that a
// client that does not yet know what the broker supports can read it.
func AppendResponseHeader(dst []byte, correlationID int32, flexible bool, key int16) []byte {
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if flexible && key != 18 {
		dst = append(dst, 0)
	}
	return dst
}

// FinishFrame writes the size prefix of a frame built from offset start.
func FinishFrame(buf []byte, start int) {
	binary.BigEndian.PutUint32(buf[start:], uint32(len(buf)-start-4))
}
