// Package record understands Kafka record batches (format v2, "magic 2").
//
// It owns the byte layout of a batch: the 61-byte header, the CRC32C that
// covers everything from the attributes to the end, the records inside, and
// the compression codecs. It validates batches that arrive from producers,
// rewrites the fields the broker owns (base offset, partition leader epoch,
// LogAppendTime) and decodes records when a caller needs them (compaction,
// tests, tools).
//
// Compression goes through a Codecs, which pools the coders and is passed
// to whoever needs it (there is no package-level coder). Decoding accepts
// what Kafka clients send: gzip, raw or xerial-framed snappy, LZ4 frames
// and zstd frames with or without a stated content size. Records are
// decoded one at a time by IterRecords, which allocates only header keys,
// or all at once by (*Codecs).Records; Build writes a batch, and
// (*Codecs).Recompress changes a batch's codec (a topic's compression.type)
// keeping its records' bytes, at Kafka's compression levels
// (CompressLevel).
//
// The package does no I/O and imports nothing else of Sluice's and no kmsg:
// it works on []byte. Every length read from a batch is checked against the
// bytes that remain before anything is allocated, and decompression is
// capped, so a hostile batch costs at most what its caller allows.
//
// Batch layout (big-endian):
//
//	offset  size  field
//	0       8     baseOffset            rewritten by the broker, not in the CRC
//	8       4     batchLength           bytes after this field
//	12      4     partitionLeaderEpoch  rewritten by the broker, not in the CRC
//	16      1     magic                 must be 2
//	17      4     crc                   CRC32C of bytes [21, end)
//	21      2     attributes            codec (bits 0-2), timestamp type (3),
//	                                    transactional (4), control (5),
//	                                    delete horizon set (6, KIP-534)
//	23      4     lastOffsetDelta
//	27      8     baseTimestamp         the delete horizon when bit 6 is set
//	35      8     maxTimestamp
//	43      8     producerId
//	51      2     producerEpoch
//	53      4     baseSequence
//	57      4     recordCount
//	61      ...   records (compressed as a whole when the codec is not none)
package record
