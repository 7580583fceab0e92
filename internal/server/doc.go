// Package server is Sluice's Kafka listener: it accepts connections, reads
// size-prefixed request frames, parses request headers, decodes bodies with
// kmsg and hands them to the broker, then writes responses back in request
// order.
//
// A connection is served by one reading goroutine and one writing goroutine.
// The reader decodes and dispatches requests one at a time, in order, as
// Kafka does; a handler may hand back a wait function (Produce with acks=-1
// waiting on an fsync), which the writer runs in request order, so the
// reader can append the next pipelined request while an earlier one waits
// for the disk. A malformed frame, an unknown API key or an unsupported
// version closes that connection only, with a log line saying why; a panic
// in a handler does the same. Nothing here decides Kafka semantics: that is
// internal/broker's job.
package server
