package broker

import (
	"sync"
	"testing"
)

// The partitions of one fetch response share pooled chunks: reads that
// return little take little, so many small partitions need one chunk, and
// a read never overlaps bytes an earlier one returned.
func TestFetchBuffersShareChunks(t *testing.T) {
	pool := &sync.Pool{New: func() any { b := make([]byte, readChunkSize); return &b }}
	f := &fetchBuffers{pool: pool}
	var kept [][]byte
	for i := range 1000 {
		buf := f.get(readBufSize)
		if len(buf) != readBufSize || cap(buf) != readBufSize {
			t.Fatalf("read %d: room of len %d cap %d, want %d", i, len(buf), cap(buf), readBufSize)
		}
		data := buf[:100]
		for j := range data {
			data[j] = byte(i)
		}
		f.took(buf, data)
		kept = append(kept, data)
	}
	// 1,000 reads of 100 bytes need a megabyte of room each while they
	// read, but hold 100 bytes each after: two chunks at most.
	if n := len(f.bufs); n > 2 {
		t.Fatalf("1,000 small reads took %d chunks, want at most 2", n)
	}
	for i, d := range kept {
		for _, b := range d {
			if b != byte(i) {
				t.Fatalf("read %d was overwritten by a later one", i)
			}
		}
	}
	// A read the log could not place in the room it was given (it
	// allocated) takes nothing.
	buf := f.get(10)
	f.took(buf, make([]byte, 5))
	if again := f.get(10); &again[0] != &buf[0] {
		t.Fatal("a read that allocated still took room")
	}
	// Larger than a partition's share: no pooled room.
	if f.get(readBufSize+1) != nil {
		t.Fatal("a read larger than readBufSize got pooled room")
	}
	f.release()
	if len(f.bufs) != 0 || f.free != nil {
		t.Fatal("release kept chunks")
	}
}
