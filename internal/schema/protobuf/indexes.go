package protobuf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Message indexes name a message of a schema by its position: the index of a top-level message
// among the file's messages, then of a nested message among its parent's, and so on. Map entry
// messages, which the source does not declare, are not counted.

func declared(ms protoreflect.MessageDescriptors) []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	for i := 0; i < ms.Len(); i++ {
		if !ms.Get(i).IsMapEntry() {
			out = append(out, ms.Get(i))
		}
	}
	return out
}

// MessageIndexes returns the index path of the message with the given full name (the package
// prefix may be left out).
func (s *Schema) MessageIndexes(name string) ([]int, error) {
	pkg := string(s.file.Package())
	rel := name
	if pkg != "" {
		rel = strings.TrimPrefix(name, pkg+".")
	}
	var out []int
	ms := declared(s.file.Messages())
	for _, part := range strings.Split(rel, ".") {
		found := false
		for i, m := range ms {
			if string(m.Name()) == part {
				out = append(out, i)
				ms = declared(m.Messages())
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("schema has no message %q", name)
		}
	}
	return out, nil
}

// MessageName returns the full name of the message at the given index path.
func (s *Schema) MessageName(indexes []int) (string, error) {
	m, err := s.Message(indexes)
	if err != nil {
		return "", err
	}
	return string(m.FullName()), nil
}

// Message returns the message at the given index path; an empty path means the first message.
func (s *Schema) Message(indexes []int) (protoreflect.MessageDescriptor, error) {
	if len(indexes) == 0 {
		indexes = []int{0}
	}
	ms := declared(s.file.Messages())
	var m protoreflect.MessageDescriptor
	for _, i := range indexes {
		if i < 0 || i >= len(ms) {
			return nil, fmt.Errorf("invalid message indexes %v", indexes)
		}
		m = ms[i]
		ms = declared(m.Messages())
	}
	return m, nil
}

// AppendIndexes appends indexes in the form serialized records carry after the schema ID: a
// zigzag varint count followed by zigzag varint indexes, with the common path [0] written as a
// single 0.
func AppendIndexes(dst []byte, indexes []int) []byte {
	if len(indexes) == 1 && indexes[0] == 0 {
		return append(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(len(indexes)))
	for _, i := range indexes {
		dst = binary.AppendVarint(dst, int64(i))
	}
	return dst
}

// ReadIndexes reads indexes written by AppendIndexes from the front of b and returns them with
// the number of bytes read. A count of 0 means the path [0].
func ReadIndexes(b []byte) ([]int, int, error) {
	n, read := binary.Varint(b)
	if read <= 0 {
		return nil, 0, errors.New("truncated message indexes")
	}
	if n == 0 {
		return []int{0}, read, nil
	}
	if n < 0 || n > int64(len(b)) {
		return nil, 0, fmt.Errorf("invalid message index count %d", n)
	}
	out := make([]int, 0, n)
	for i := int64(0); i < n; i++ {
		v, r := binary.Varint(b[read:])
		if r <= 0 {
			return nil, 0, errors.New("truncated message indexes")
		}
		if v < 0 || v > 1<<31 {
			return nil, 0, fmt.Errorf("invalid message index %d", v)
		}
		out = append(out, int(v))
		read += r
	}
	return out, read, nil
}
