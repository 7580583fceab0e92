package schemaregistry

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sluice-io/sluice/internal/schema"
)

// The records of the _schemas topic, in Confluent Schema Registry's JSON
// key and value formats, so that tools that read Confluent's topic read
// Sluice's too. Every key carries a "keytype"; the value is JSON, or null
// (a tombstone) to remove the key.

// Key types.
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyMode          = "MODE"
	keyNoop          = "NOOP"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyClearSubject  = "CLEAR_SUBJECT"
)

// recordKey is every key type's fields: SCHEMA uses subject, version and
// magic 1; CONFIG and MODE a subject (null for the global setting);
// DELETE_SUBJECT and CLEAR_SUBJECT a subject; NOOP none.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject,omitempty"`
	Version *int    `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

// schemaValue is a SCHEMA record's value: one version of a subject.
type schemaValue struct {
	Subject    string             `json:"subject"`
	Version    int                `json:"version"`
	ID         int                `json:"id"`
	SchemaType string             `json:"schemaType,omitempty"` // empty for Avro
	References []schema.Reference `json:"references,omitempty"`
	Schema     string             `json:"schema"`
	Deleted    bool               `json:"deleted"`
}

// configValue is a CONFIG record's value.
type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

// modeValue is a MODE record's value.
type modeValue struct {
	Mode string `json:"mode"`
}

// deleteSubjectValue is a DELETE_SUBJECT record's value: every version up
// to Version is soft-deleted. Sluice writes the versions' SCHEMA records
// instead; it reads these from topics Confluent's registry wrote.
type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// noopValue is what Sluice puts in a NOOP record, which Confluent's
// registry skips whatever its value: the writer announces itself (its node
// and the URL other nodes forward writes to), and the highest schema ID
// ever given, so that an ID stays used after its schema is permanently
// deleted and its record compacted away. A delete written for a request
// that may be sent again (forward.go) also records the request's ID and
// its answer.
type noopValue struct {
	WriterNode  *int32          `json:"sluice_writer_node,omitempty"`
	WriterURL   string          `json:"sluice_writer_url,omitempty"`
	WriterEpoch int32           `json:"sluice_writer_epoch,omitempty"`
	MaxID       int             `json:"sluice_max_id,omitempty"`
	RequestID   string          `json:"sluice_request_id,omitempty"`
	Result      json.RawMessage `json:"sluice_result,omitempty"`
}

// Record is one record of _schemas to append: key and value bytes (value
// nil for a tombstone).
type Record struct {
	Key, Value []byte
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("schemaregistry: encode %T: %v", v, err)) // only fixed, encodable types reach here
	}
	return b
}

func schemaKey(subject string, version int) []byte {
	return mustJSON(recordKey{KeyType: keySchema, Subject: &subject, Version: &version, Magic: 1})
}

// subjectKey is the key of a CONFIG, MODE, DELETE_SUBJECT or
// CLEAR_SUBJECT record; subject "" is the global setting, whose subject is
// null (written out, as Confluent's registry writes it: compaction compares
// key bytes).
func subjectKey(keyType, subject string) []byte {
	var k struct {
		KeyType string  `json:"keytype"`
		Subject *string `json:"subject"`
		Magic   int     `json:"magic"`
	}
	k.KeyType = keyType
	if subject != "" {
		k.Subject = &subject
	}
	return mustJSON(k)
}

func noopKey() []byte { return mustJSON(recordKey{KeyType: keyNoop}) }

func schemaRecord(v schemaValue) Record {
	return Record{Key: schemaKey(v.Subject, v.Version), Value: mustJSON(v)}
}

// decodedRecord is a record of the topic, decoded.
type decodedRecord struct {
	key    recordKey
	schema *schemaValue
	config *configValue
	mode   *modeValue
	del    *deleteSubjectValue
	noop   *noopValue
	// tombstone: the value was null.
	tombstone bool
}

// errUnknownRecord is a record whose key type Sluice does not know (a
// newer registry's); it is skipped.
var errUnknownRecord = errors.New("unknown key type")

// decodeRecord decodes one record of the topic. A record that is not valid
// JSON of a known key type is an error; the reader logs and skips it.
func decodeRecord(key, value []byte) (decodedRecord, error) {
	var d decodedRecord
	if err := json.Unmarshal(key, &d.key); err != nil {
		return d, fmt.Errorf("key: %w", err)
	}
	d.tombstone = value == nil
	var into any
	switch d.key.KeyType {
	case keySchema:
		if d.key.Subject == nil || d.key.Version == nil {
			return d, errors.New("SCHEMA key without subject or version")
		}
		d.schema = &schemaValue{}
		into = d.schema
	case keyConfig:
		d.config = &configValue{}
		into = d.config
	case keyMode:
		d.mode = &modeValue{}
		into = d.mode
	case keyDeleteSubject, keyClearSubject:
		if d.key.Subject == nil {
			return d, fmt.Errorf("%s key without subject", d.key.KeyType)
		}
		d.del = &deleteSubjectValue{}
		into = d.del
	case keyNoop:
		d.noop = &noopValue{}
		into = d.noop
	default:
		return d, fmt.Errorf("%w %q", errUnknownRecord, d.key.KeyType)
	}
	if value == nil {
		return d, nil
	}
	if err := json.Unmarshal(value, into); err != nil {
		if d.key.KeyType == keyNoop {
			d.noop = &noopValue{} // Confluent's NOOP values are not Sluice's
			return d, nil
		}
		return d, fmt.Errorf("%s value: %w", d.key.KeyType, err)
	}
	return d, nil
}
