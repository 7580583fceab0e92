package record

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// seedBatches returns a valid batch for each codec, named by codec.
func seedBatches(t testing.TB) map[string][]byte {
	cs := NewCodecs()
	seeds := map[string][]byte{}
	for _, c := range allCodecs {
		o := BuildOptions{BaseOffset: 5, Codec: c, Codecs: cs, BaseTimestamp: 1700000000000,
			Producer: &Producer{ID: 3, Epoch: 1, BaseSequence: 0}}
		seeds[c.String()] = mustBuild(t, o, testRecords(4))
	}
	seeds["control"] = mustBuild(t, BuildOptions{Control: true, Transactional: true,
		Producer: &Producer{ID: 3, Epoch: 1, BaseSequence: -1}},
		[]Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}})
	return seeds
}

// addSeeds adds every valid seed batch and each of its prefixes, so the
// fuzzer starts from inputs cut at every byte.
func addSeeds(f *testing.F) {
	for _, b := range seedBatches(f) {
		for i := range len(b) + 1 {
			f.Add(b[:i])
		}
	}
}

// TestFuzzSeedCorpora checks the seed files under testdata/fuzz: every
// fuzzer has a valid batch of every codec (plus truncated prefixes, which
// are not checked). Run with -update-seeds to rewrite them.
func TestFuzzSeedCorpora(t *testing.T) {
	t.Parallel()
	cs := NewCodecs()
	for _, target := range []string{"FuzzParseHeader", "FuzzValidate", "FuzzRecords"} {
		dir := filepath.Join("testdata", "fuzz", target)
		for name, b := range seedBatches(t) {
			files := map[string][]byte{
				"valid-" + name:        b,
				"header-only-" + name:  b[:HeaderSize],
				"short-header-" + name: b[:HeaderSize-1],
				"missing-last-" + name: b[:len(b)-1],
				"half-" + name:         b[:len(b)/2],
			}
			if *updateSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for file, data := range files {
					seed := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
					if err := os.WriteFile(filepath.Join(dir, file), seed, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				continue
			}
			path := filepath.Join(dir, "valid-"+name)
			seed, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -run TestFuzzSeedCorpora -update-seeds writes it)", err)
			}
			lit, ok := strings.CutPrefix(strings.TrimSpace(string(seed)), "go test fuzz v1\n[]byte(")
			lit, ok2 := strings.CutSuffix(lit, ")")
			data, err := strconv.Unquote(lit)
			if !ok || !ok2 || err != nil {
				t.Fatalf("%s: not a []byte seed: %v", path, err)
			}
			if _, err := Validate([]byte(data)); err != nil {
				t.Errorf("%s: %v", path, err)
			}
			if _, err := cs.Records([]byte(data), 1<<20); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		// The header round-trips through putHeader byte for byte.
		out := make([]byte, HeaderSize)
		putHeader(out, &h)
		if !bytes.Equal(out, b[:HeaderSize]) {
			t.Fatalf("header re-encodes as % x, was % x", out, b[:HeaderSize])
		}
		if h.Size() < HeaderSize {
			t.Fatalf("accepted size %d", h.Size())
		}
	})
}

func FuzzValidate(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Validate(b)
		if err != nil {
			return
		}
		if h.Size() != len(b) || Checksum(b) != h.CRC || h.RecordCount < 0 || h.Codec() > CodecZstd {
			t.Fatalf("Validate accepted %+v for %d bytes", h, len(b))
		}
		// The broker-owned fields are outside the CRC.
		c := slices.Clone(b)
		SetBaseOffset(c, h.BaseOffset+1)
		SetPartitionLeaderEpoch(c, h.PartitionLeaderEpoch+1)
		if _, err := Validate(c); err != nil {
			t.Fatalf("after rewriting base offset and epoch: %v", err)
		}
		if h.Codec() == CodecNone {
			_ = ValidateRecords(h, b[HeaderSize:])
		}
	})
}

func FuzzRecords(f *testing.F) {
	addSeeds(f)
	cs := NewCodecs()
	const maxOut = 1 << 20
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err == nil && h.Size() == len(b) {
			if raw, err := cs.Decompress(h.Codec(), b[HeaderSize:], maxOut); err == nil {
				_ = ValidateRecords(h, raw)
			}
		}
		recs, err := cs.Records(b, maxOut)
		if err != nil {
			return
		}
		if len(recs) != int(h.RecordCount) {
			t.Fatalf("%d records, header says %d", len(recs), h.RecordCount)
		}
		// Whatever decodes can be rebuilt, and decodes the same again.
		if len(recs) == 0 {
			return
		}
		for i := range recs {
			if recs[i].OffsetDelta < 0 || i > 0 && recs[i].OffsetDelta <= recs[i-1].OffsetDelta {
				return // Build refuses these
			}
		}
		rebuilt, err := Build(BuildOptions{Codec: h.Codec(), Codecs: cs, BaseTimestamp: h.BaseTimestamp}, recs)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		again, err := cs.Records(rebuilt, 2*maxOut)
		if err != nil {
			t.Fatalf("Records of rebuilt batch: %v", err)
		}
		if !equalRecords(again, recs) {
			t.Fatalf("rebuilt batch decodes differently")
		}
	})
}
