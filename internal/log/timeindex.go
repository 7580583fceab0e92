package log

import "encoding/binary"

// timeEntry is one entry of the time index (.timeindex): the largest
// timestamp among the segment's records up to offset base+rel is ts. Entries
// are added, like offset index entries, once per index.interval.bytes, and
// only when the largest timestamp grew; one more is added when the segment
// rolls. Both fields increase strictly from entry to entry, so everything
// at or before an entry whose ts is below a target is below the target too.
type timeEntry struct {
	ts  int64
	rel uint32
}

const timeEntrySize = 12

func (e timeEntry) put(b []byte) {
	binary.BigEndian.PutUint64(b, uint64(e.ts))
	binary.BigEndian.PutUint32(b[8:], e.rel)
}

func getTimeEntry(b []byte) timeEntry {
	return timeEntry{ts: int64(binary.BigEndian.Uint64(b)), rel: binary.BigEndian.Uint32(b[8:])}
}

func newTimeIndex(f *cachedFile) *sparseIndex[timeEntry] {
	return &sparseIndex[timeEntry]{
		file: f, entrySize: timeEntrySize,
		put: timeEntry.put, get: getTimeEntry,
	}
}

// maybeAddTime appends e when its timestamp is larger than the last entry's
// (and is a timestamp at all: -1 means none).
func maybeAddTime(ix *sparseIndex[timeEntry], e timeEntry) {
	if e.ts < 0 {
		return
	}
	if last, ok, _ := ix.last(); ok && (e.ts <= last.ts || e.rel < last.rel) {
		return
	}
	ix.add(e)
}

// lookupTime returns the last entry whose timestamp is below ts: every
// record up to its offset is older than ts. ok is false when there is none.
func lookupTime(ix *sparseIndex[timeEntry], ts int64) (timeEntry, bool, error) {
	i, e, err := ix.searchLast(func(e timeEntry) bool { return e.ts < ts })
	return e, i >= 0, err
}
