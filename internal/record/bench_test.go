package record

import "testing"

// benchBatch builds an uncompressed batch of about size bytes from 1 KiB
// records.
func benchBatch(b *testing.B, size int) []byte {
	recs := make([]Record, size/1040)
	for i := range recs {
		recs[i] = Record{OffsetDelta: int32(i), Key: []byte("key"), Value: testPayload(1024)}
	}
	return mustBuild(b, BuildOptions{}, recs)
}

func BenchmarkValidate(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"16KiB", 16 << 10}, {"1MiB", 1 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			batch := benchBatch(b, bc.size)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkValidateRecords(b *testing.B) {
	batch := benchBatch(b, 1<<20)
	h, err := Validate(batch)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateRecords(h, batch[HeaderSize:]); err != nil {
			b.Fatal(err)
		}
	}
}
