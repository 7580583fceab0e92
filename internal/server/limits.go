package server

import (
	"encoding/binary"
	"errors"
	"fmt"
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
// longer than the broker could answer. Only Metadata is checked here: its
// topics come first in the body and cost two bytes each on the wire but
// tens of bytes decoded. Other APIs' entries are larger on the wire than
// decoded by a factor kmsg bounds, and their handlers collapse duplicates.
func (s *Server) checkArrays(key, version int16, body []byte) error {
	lim := s.cfg.ArrayLimits
	if lim == nil {
		lim, _ = s.handler.(ArrayLimiter)
	}
	if lim == nil || key != 3 {
		return nil
	}
	n, ok := arrayLen(body, version >= 9)
	if !ok || n <= 0 {
		return nil // null or malformed: the decoder decides
	}
	if max := lim.MaxRequestTopics(); n > int64(max) {
		return fmt.Errorf("%w: Metadata v%d names %d topics, at most %d could be answered", ErrTooManyEntries, version, n, max)
	}
	return nil
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
