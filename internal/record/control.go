package record

import (
	"encoding/binary"
	"fmt"
)

// ControlType is the type of a control record, the one record of a control
// batch (a transaction marker). Its key is a version (int16, 0) followed by
// the type (int16).
type ControlType int16

// The control record types Kafka defines for transaction markers.
const (
	ControlAbort  ControlType = 0
	ControlCommit ControlType = 1
)

// ParseControlKey reads the type from a control record's key.
func ParseControlKey(key []byte) (ControlType, error) {
	if len(key) < 4 {
		return 0, fmt.Errorf("%w: control record key of %d bytes", ErrCorrupt, len(key))
	}
	return ControlType(binary.BigEndian.Uint16(key[2:])), nil
}

// ControlKey returns the key of a control record of type t.
func ControlKey(t ControlType) []byte {
	return binary.BigEndian.AppendUint16([]byte{0, 0}, uint16(t))
}
