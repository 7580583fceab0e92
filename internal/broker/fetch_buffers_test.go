package broker

import (
	"testing"
)

// The partitions of one fetch response share pooled chunks: reads that
// return little take little, so many small partitions need one chunk, and
// a read never overlaps bytes an earlier one returned.
func TestFetchBuffersShareChunks(t *testing.T) {
	f := &fetchBuffers{pool: &chunkPool{}}
	var kept [][]byte
	for i := range 1000 {
		buf, _ := f.get(readBufSize)
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
	buf, _ := f.get(10)
	f.took(buf, make([]byte, 5))
	if again, _ := f.get(10); &again[0] != &buf[0] {
		t.Fatal("a read that allocated still took room")
	}
	// Larger than a partition's share: no pooled room.
	if buf, ok := f.get(readBufSize + 1); buf != nil || !ok {
		t.Fatal("a read larger than readBufSize got pooled room")
	}
	f.release()
	if len(f.bufs) != 0 || f.free != nil {
		t.Fatal("release kept chunks")
	}
}

// Fetch memory is bounded broker-wide: once fetchChunksInUse chunks are
// held by responses in flight, a response that holds one already reads no
// more partitions, while one that holds none still gets its first (every
// fetch makes progress); released chunks beyond fetchChunksIdle are not
// kept.
func TestFetchChunksAreBoundedBrokerWide(t *testing.T) {
	pool := &chunkPool{}
	big := &fetchBuffers{pool: pool}
	for i := range fetchChunksInUse {
		if buf, ok := big.get(readBufSize); !ok || buf == nil {
			t.Fatalf("chunk %d refused below the bound", i)
		}
		big.took(big.free[:readBufSize], big.free[:readChunkSize])
	}
	if buf, ok := big.get(readBufSize); ok || buf != nil {
		t.Fatal("a response holding chunks got one past the bound")
	}
	other := &fetchBuffers{pool: pool}
	if buf, ok := other.get(100); !ok || buf == nil {
		t.Fatal("a response holding no chunk was refused its first")
	}
	other.release()
	big.release()
	if pool.inUse != 0 || len(pool.idle) != fetchChunksIdle {
		t.Fatalf("after release: %d in use, %d kept; want 0 and %d", pool.inUse, len(pool.idle), fetchChunksIdle)
	}
}
