package log

import (
	"sort"
	"sync"
)

// epochEntry says that leader epoch epoch wrote its first batch at
// startOffset.
type epochEntry struct {
	epoch       int32
	startOffset int64
}

// undefinedEpoch and undefinedEpochOffset are Kafka's UNDEFINED_EPOCH and
// UNDEFINED_EPOCH_OFFSET, the answer to OffsetForLeaderEpoch when the epoch
// is unknown.
const (
	undefinedEpoch       int32 = -1
	undefinedEpochOffset int64 = -1
)

// epochCache is the leader-epoch cache (Kafka's LeaderEpochFileCache): one
// entry per epoch that appended to this log, epochs and start offsets both
// strictly increasing. Followers use it through OffsetForLeaderEpoch to find
// where their log diverges from the leader's (KIP-101, KIP-279).
//
// Writers hold Log.mu and persist the entries after a change; mu only keeps
// concurrent readers (EndOffsetForEpoch) consistent.
type epochCache struct {
	mu      sync.RWMutex
	entries []epochEntry
}

// latest is the newest epoch, or undefinedEpoch when the cache is empty.
func (c *epochCache) latest() int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.entries) == 0 {
		return undefinedEpoch
	}
	return c.entries[len(c.entries)-1].epoch
}

// forOffset is the epoch that wrote offset: the newest whose start is at
// or below it, or undefinedEpoch when none is.
func (c *epochCache) forOffset(offset int64) int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].startOffset > offset })
	if i == 0 {
		return undefinedEpoch
	}
	return c.entries[i-1].epoch
}

// assign records that epoch starts at startOffset when epoch is newer than
// the latest one. Entries that start at or after startOffset are replaced:
// they described offsets that no longer exist. It reports whether the cache
// changed.
func (c *epochCache) assign(epoch int32, startOffset int64) bool {
	if epoch < 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.entries); n > 0 && epoch <= c.entries[n-1].epoch {
		return false
	}
	for len(c.entries) > 0 && c.entries[len(c.entries)-1].startOffset >= startOffset {
		c.entries = c.entries[:len(c.entries)-1]
	}
	c.entries = append(c.entries, epochEntry{epoch: epoch, startOffset: startOffset})
	return true
}

// truncateFromEnd removes the entries that start at or after end, the new
// log end offset.
func (c *epochCache) truncateFromEnd(end int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	for n > 0 && c.entries[n-1].startOffset >= end {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops the entries wholly below start, the new log start
// offset, and moves the entry that covers start up to it, as Kafka does.
func (c *epochCache) truncateFromStart(start int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := len(c.entries) - 1
	for i >= 0 && c.entries[i].startOffset > start {
		i--
	}
	if i < 0 || (i == 0 && c.entries[0].startOffset == start) {
		return false
	}
	c.entries = append(c.entries[:0], c.entries[i:]...)
	c.entries[0].startOffset = start
	return true
}

// clear empties the cache.
func (c *epochCache) clear() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := len(c.entries) > 0
	c.entries = nil
	return changed
}

// set replaces the entries (after reading the checkpoint).
func (c *epochCache) set(entries []epochEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = entries
}

// snapshot copies the entries for writing the checkpoint.
func (c *epochCache) snapshot() []epochEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]epochEntry(nil), c.entries...)
}

// endOffsetFor answers OffsetForLeaderEpoch for the requested epoch, given
// the log end offset (KIP-101, KIP-279):
//   - the latest epoch ends at the log end offset;
//   - an older epoch ends where the next larger epoch starts, and the answer
//     names the largest known epoch at or below the requested one;
//   - an epoch below the first known one ends where the first known one
//     starts, and the answer names the requested epoch: the records of
//     the epochs before it are gone from the log, and a follower that asks
//     for one cuts its own log there, so that it replicates from the start
//     of what the log still holds;
//   - an epoch above the latest, or an empty cache, has no answer:
//     (undefinedEpoch, undefinedEpochOffset).
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := len(c.entries)
	if n == 0 || epoch < 0 || epoch > c.entries[n-1].epoch {
		return undefinedEpoch, undefinedEpochOffset
	}
	if epoch == c.entries[n-1].epoch {
		return epoch, logEnd
	}
	if epoch < c.entries[0].epoch {
		return epoch, c.entries[0].startOffset
	}
	// The first entry with a larger epoch; entries[i-1] is the floor.
	i := 1
	for c.entries[i].epoch <= epoch {
		i++
	}
	return c.entries[i-1].epoch, c.entries[i].startOffset
}
