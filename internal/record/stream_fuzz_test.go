package record

import (
	"errors"
	"testing"
)

// FuzzCheckCompressed feeds CheckCompressed (the produce path's streaming
// check) batches cut at every byte and mutated: it must not panic, must
// never reserve past its limit by more than one step, and must agree with
// decompressing whole and checking (Decompress then CheckRecords) on
// whether a batch is valid.
func FuzzCheckCompressed(f *testing.F) {
	addSeeds(f)
	cs := NewCodecs()
	const limit = 64 << 10
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil || h.Size() != len(b) || h.Codec() == CodecNone || h.Codec() > CodecZstd {
			return
		}
		src := b[HeaderSize:]
		reserved := 0
		streamErr := cs.CheckCompressed(h, src, limit, func(n int) error { reserved += n; return nil }, nil)
		if reserved > 2*limit+zstdMaxBlock+1024 {
			t.Fatalf("reserved %d bytes for a limit of %d", reserved, limit)
		}
		raw, err := cs.Decompress(h.Codec(), src, limit)
		wholeErr := err
		if err == nil {
			wholeErr = CheckRecords(h, raw, nil)
		}
		if (streamErr == nil) != (wholeErr == nil) {
			t.Fatalf("streamed check: %v; whole check: %v", streamErr, wholeErr)
		}
		if streamErr != nil && !errors.Is(streamErr, ErrCorrupt) && !errors.Is(streamErr, ErrInvalid) {
			t.Fatalf("error wraps neither ErrCorrupt nor ErrInvalid: %v", streamErr)
		}
	})
}
