// Package schemaregistry is the Schema Registry built into Sluice: the REST
// API of Confluent Schema Registry, with its state kept in the compacted
// topic _schemas in Confluent's record formats.
//
// # What it owns
//
// The registry's state (subjects, versions, schema IDs, compatibility
// levels, modes) and the REST API over it. Schema formats and their
// compatibility rules belong to package schema; this package only stores,
// finds and numbers schemas, and asks schema.Parse and schema.Check.
//
// Files by concept:
//
//	records.go   the _schemas records: Confluent's JSON keys and values
//	state.go     the state rebuilt from those records, in order
//	registry.go  the reader (follows _schemas), the writer (appends), waits
//	api.go       the REST routes and the reads
//	writes.go    register, delete, config and mode writes
//	forward.go   writes sent on to the writer from other nodes
//	errors.go    Confluent's error codes and messages
//	server.go    the HTTP listener
//
// # What it guarantees
//
// The first write creates _schemas (one partition, compacted); a registry
// never written to has no topic and asks the cluster for nothing. Every
// node reads _schemas from its start (through a Kafka client of the node's
// own listener, up to the high watermark) and applies its records in
// order, so every node that has read to an offset holds the same state.
// One node writes: the leader of _schemas partition 0, which appends to
// its own replica with acks=all and fails if it no longer leads, so two
// writers never interleave. Before it plans a write, the writer has
// applied everything its log holds, what earlier writers wrote included;
// IDs are the highest ever given plus one, and the highest is kept in a
// NOOP record before a permanent delete removes schemas, so an ID is never
// given twice, across writer changes and compaction. A write is answered
// once this node has read it back. Other nodes forward writes to the URL
// the writer announced in a NOOP record, which Confluent's registry skips;
// a forwarded delete sent again after a try that got no answer gets the
// first try's answer, recorded in a NOOP record (forward.go).
//
// # What it never does
//
// It never writes a record it has not validated (a bad request changes
// nothing), never answers a read before it has loaded the topic, and
// never decides leadership: the cluster metadata does.
package schemaregistry
