package server

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ArrayLimiter bounds, before a request is decoded, how many entries its
// arrays may hold (Config.ArrayLimits; the broker implements it). Decoding allocates per
// entry (kmsg makes a struct and a string for each name), so an array of
// millions of empty names in a frame of a few megabytes would cost
// gigabytes before any handler saw it.
type ArrayLimiter interface {
	// MaxRequestTopics is the most topics a request may name: those the
	// broker has and room for the ones it might create or that a client
	// with stale metadata may ask about.
	MaxRequestTopics() int
}

// ErrTooManyEntries is returned for a request whose array claims more
// entries than the broker could ever answer; the connection is closed.
var ErrTooManyEntries = errors.New("server: request array longer than the broker could answer")

// checkArrays refuses, from the raw body, a request whose topic array is
// longer than the broker could answer: Metadata, Produce and Fetch, whose
// topics cost two or three bytes each on the wire but tens of bytes and an
// allocation each decoded (a 7 MB Produce of empty topics took 328 MB to
// decode). Other APIs' entries are larger on the wire than decoded by a
// factor kmsg bounds, and their handlers collapse duplicates.
func (s *Server) checkArrays(key, version int16, body []byte) error {
	lim := s.cfg.ArrayLimits
	if lim == nil {
		lim, _ = s.handler.(ArrayLimiter)
	}
	if lim == nil {
		return nil
	}
	var skip int
	var compact bool
	switch key {
	case 3: // Metadata: the topics come first
		compact = version >= 9
	case 0: // Produce: [transactional_id (v3+)] acks timeout_ms topics
		compact = version >= 9
		if version >= 3 {
			n, ok := nullableStringLen(body, compact)
			if !ok {
				return nil
			}
			skip = n
		}
		skip += 2 + 4
	case 1: // Fetch: [replica_id (v0-14)] max_wait min_bytes [max_bytes v3+] [isolation v4+] [session id, epoch v7+] topics
		compact = version >= 12
		if version < 15 {
			skip += 4
		}
		skip += 4 + 4
		if version >= 3 {
			skip += 4
		}
		if version >= 4 {
			skip++
		}
		if version >= 7 {
			skip += 4 + 4
		}
	default:
		return nil
	}
	if skip > len(body) {
		return nil // malformed: the decoder decides
	}
	n, ok := arrayLen(body[skip:], compact)
	if !ok || n <= 0 {
		return nil // null or malformed: the decoder decides
	}
	if max := lim.MaxRequestTopics(); n > int64(max) {
		return fmt.Errorf("%w: %s v%d names %d topics, at most %d could be answered", ErrTooManyEntries, kmsg.NameForKey(key), version, n, max)
	}
	return nil
}

// nullableStringLen returns how many bytes a nullable string at the start
// of b takes: an int16 length, or for flexible versions a uvarint of
// length+1 (0 is null).
func nullableStringLen(b []byte, compact bool) (int, bool) {
	if compact {
		v, k := binary.Uvarint(b)
		if k <= 0 || v > uint64(len(b)) {
			return 0, false
		}
		if v == 0 {
			return k, true
		}
		return k + int(v) - 1, true
	}
	if len(b) < 2 {
		return 0, false
	}
	n := int(int16(binary.BigEndian.Uint16(b)))
	if n < 0 {
		return 2, true
	}
	return 2 + n, true
}

// arrayLen reads an array length at the start of b: an int32, or for
// flexible versions a uvarint of length+1 (0 is null, answered as -1).
func arrayLen(b []byte, compact bool) (int64, bool) {
	if compact {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, false
		}
		return int64(v) - 1, true
	}
	if len(b) < 4 {
		return 0, false
	}
	return int64(int32(binary.BigEndian.Uint32(b))), true
}
