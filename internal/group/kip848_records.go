package group

// Kafka's KIP-848 consumer-group records in __consumer_offsets, which kmsg
// has no types for. The layouts follow the JSON schemas of Kafka's group
// coordinator (group-coordinator/src/main/resources/common/message):
//
//	key 3 ConsumerGroupMetadataKey (group)                   value: group epoch
//	key 4 ConsumerGroupPartitionMetadataKey (group)          value: subscribed topics
//	key 5 ConsumerGroupMemberMetadataKey (group, member)     value: the member's subscription
//	key 6 ConsumerGroupTargetAssignmentMetadataKey (group)   value: assignment epoch
//	key 7 ConsumerGroupTargetAssignmentMemberKey (group, member) value: its target
//	key 8 ConsumerGroupCurrentMemberAssignmentKey (group, member) value: epochs, state, partitions
//
// A key is its version (int16) then non-flexible strings. A value is its
// version (int16, 0) then a flexible body: compact strings and arrays,
// and a tagged-field section after each struct. Decoding checks every
// length against the bytes left before allocating, skips tagged fields it
// does not know, and returns an error (never panics) on anything
// malformed.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

const (
	cgMetadataKeyVersion         = 3
	cgPartitionMetadataVersion   = 4
	cgMemberMetadataVersion      = 5
	cgTargetMetadataVersion      = 6
	cgTargetMemberVersion        = 7
	cgCurrentAssignmentVersion   = 8
	cgValueVersion               = 0
	staticLeaveEpoch             = -2 // LEAVE_GROUP_STATIC_MEMBER_EPOCH
	maxKIP848RecordArrayElements = 1 << 20
)

var errCorrupt = errors.New("malformed record")

// cgKey is the key of a KIP-848 record: its version says which record it
// is; member is empty for the group-level records (3, 4, 6).
type cgKey struct {
	version int16
	group   string
	member  string
}

func cgHasMember(version int16) bool {
	return version == cgMemberMetadataVersion || version == cgTargetMemberVersion || version == cgCurrentAssignmentVersion
}

func (k cgKey) appendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, k.version)
	dst = kbin.AppendString(dst, k.group)
	if cgHasMember(k.version) {
		dst = kbin.AppendString(dst, k.member)
	}
	return dst
}

func cgRecordKey(version int16, group, member string) []byte {
	return cgKey{version: version, group: group, member: member}.appendTo(nil)
}

func (k *cgKey) readFrom(src []byte) error {
	r := kbin.Reader{Src: src}
	k.version = r.Int16()
	if k.version < cgMetadataKeyVersion || k.version > cgCurrentAssignmentVersion {
		return fmt.Errorf("%w: key version %d is not a consumer group record", errCorrupt, k.version)
	}
	k.group = readString(&r)
	k.member = ""
	if cgHasMember(k.version) {
		k.member = readString(&r)
	}
	return finish(&r, "key")
}

// readString reads a non-flexible, non-nullable string.
func readString(r *kbin.Reader) string {
	l := r.Int16()
	if l < 0 {
		r.Span(-1) // invalidates the reader
		return ""
	}
	return string(r.Span(int(l)))
}

func finish(r *kbin.Reader, what string) error {
	if err := r.Complete(); err != nil {
		return fmt.Errorf("%w: %s truncated", errCorrupt, what)
	}
	if len(r.Src) != 0 {
		return fmt.Errorf("%w: %d bytes after the %s", errCorrupt, len(r.Src), what)
	}
	return nil
}

// valueReader reads a flexible value body after checking its version.
func valueReader(src []byte) (*kbin.Reader, error) {
	r := &kbin.Reader{Src: src}
	v := r.Int16()
	if !r.Ok() {
		return nil, fmt.Errorf("%w: value truncated", errCorrupt)
	}
	if v != cgValueVersion {
		return nil, fmt.Errorf("%w: value version %d", errCorrupt, v)
	}
	return r, nil
}

func appendValueHeader(dst []byte) []byte { return kbin.AppendInt16(dst, cgValueVersion) }

// appendNoTags is an empty tagged-field section.
func appendNoTags(dst []byte) []byte { return kbin.AppendUvarint(dst, 0) }

// skipTags reads a tagged-field section, calling fn (if set) for each
// field; unknown fields are skipped.
func skipTags(r *kbin.Reader, fn func(tag uint32, data []byte) error) error {
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		tag := r.Uvarint()
		size := r.Uvarint()
		if !r.Ok() || uint64(size) > uint64(len(r.Src)) {
			return fmt.Errorf("%w: tagged field truncated", errCorrupt)
		}
		data := r.Span(int(size))
		if fn != nil {
			if err := fn(tag, data); err != nil {
				return err
			}
		}
	}
	if !r.Ok() {
		return fmt.Errorf("%w: tagged fields truncated", errCorrupt)
	}
	return nil
}

// arrayLen reads a compact array length; -1 is null. minSize is the least
// number of bytes an element takes, so that a length the remaining bytes
// cannot hold is rejected before anything is allocated.
func arrayLen(r *kbin.Reader, minSize int) (int, error) {
	u := r.Uvarint()
	if !r.Ok() {
		return 0, fmt.Errorf("%w: array length truncated", errCorrupt)
	}
	if u == 0 {
		return -1, nil
	}
	n := int(u) - 1
	if n > maxKIP848RecordArrayElements || n*minSize > len(r.Src) {
		return 0, fmt.Errorf("%w: array of %d elements in %d bytes", errCorrupt, n, len(r.Src))
	}
	return n, nil
}

// requiredArrayLen is arrayLen for a non-nullable array.
func requiredArrayLen(r *kbin.Reader, minSize int) (int, error) {
	n, err := arrayLen(r, minSize)
	if err == nil && n < 0 {
		err = fmt.Errorf("%w: null array", errCorrupt)
	}
	return n, err
}

func compactString(r *kbin.Reader) (string, error) {
	s := r.CompactString()
	if !r.Ok() {
		return "", fmt.Errorf("%w: string truncated", errCorrupt)
	}
	return s, nil
}

func compactNullableString(r *kbin.Reader) (*string, error) {
	s := r.CompactNullableString()
	if !r.Ok() {
		return nil, fmt.Errorf("%w: string truncated", errCorrupt)
	}
	return s, nil
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = kbin.AppendCompactArrayLen(dst, len(ss))
	for _, s := range ss {
		dst = kbin.AppendCompactString(dst, s)
	}
	return dst
}

func readStrings(r *kbin.Reader) ([]string, error) {
	n, err := requiredArrayLen(r, 1)
	if err != nil {
		return nil, err
	}
	ss := make([]string, n)
	for i := range ss {
		if ss[i], err = compactString(r); err != nil {
			return nil, err
		}
	}
	return ss, nil
}

func appendInt32s(dst []byte, vs []int32) []byte {
	dst = kbin.AppendCompactArrayLen(dst, len(vs))
	for _, v := range vs {
		dst = kbin.AppendInt32(dst, v)
	}
	return dst
}

func readInt32s(r *kbin.Reader) ([]int32, error) {
	n, err := requiredArrayLen(r, 4)
	if err != nil {
		return nil, err
	}
	vs := make([]int32, n)
	for i := range vs {
		vs[i] = r.Int32()
	}
	if !r.Ok() {
		return nil, fmt.Errorf("%w: int32 array truncated", errCorrupt)
	}
	return vs, nil
}

// cgMetadataValue is ConsumerGroupMetadataValue. The tagged MetadataHash
// (KIP-1101) and CreationTimeMs are read and kept, and written when set.
type cgMetadataValue struct {
	epoch        int32
	metadataHash int64
	creationMs   int64 // -1 when unknown
}

func (v cgMetadataValue) appendTo(dst []byte) []byte {
	dst = appendValueHeader(dst)
	dst = kbin.AppendInt32(dst, v.epoch)
	var tags []byte
	n := 0
	if v.metadataHash != 0 {
		tags = kbin.AppendUvarint(tags, 0)
		tags = kbin.AppendUvarint(tags, 8)
		tags = kbin.AppendInt64(tags, v.metadataHash)
		n++
	}
	if v.creationMs != -1 {
		tags = kbin.AppendUvarint(tags, 1)
		tags = kbin.AppendUvarint(tags, 8)
		tags = kbin.AppendInt64(tags, v.creationMs)
		n++
	}
	dst = kbin.AppendUvarint(dst, uint32(n))
	return append(dst, tags...)
}

func (v *cgMetadataValue) readFrom(src []byte) error {
	r, err := valueReader(src)
	if err != nil {
		return err
	}
	*v = cgMetadataValue{creationMs: -1}
	v.epoch = r.Int32()
	err = skipTags(r, func(tag uint32, data []byte) error {
		if tag > 1 {
			return nil
		}
		if len(data) != 8 {
			return fmt.Errorf("%w: tagged field %d of %d bytes", errCorrupt, tag, len(data))
		}
		tr := kbin.Reader{Src: data}
		if tag == 0 {
			v.metadataHash = tr.Int64()
		} else {
			v.creationMs = tr.Int64()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return finish(r, "group metadata value")
}

// cgTopicMetadata is a topic of ConsumerGroupPartitionMetadataValue. Its
// PartitionMetadata (racks, unused since Kafka 4.0) is written empty and
// skipped when read.
type cgTopicMetadata struct {
	id         [16]byte
	name       string
	partitions int32
}

type cgPartitionMetadataValue struct{ topics []cgTopicMetadata }

func (v cgPartitionMetadataValue) appendTo(dst []byte) []byte {
	dst = appendValueHeader(dst)
	dst = kbin.AppendCompactArrayLen(dst, len(v.topics))
	for _, t := range v.topics {
		dst = kbin.AppendUuid(dst, t.id)
		dst = kbin.AppendCompactString(dst, t.name)
		dst = kbin.AppendInt32(dst, t.partitions)
		dst = kbin.AppendCompactArrayLen(dst, 0)
		dst = appendNoTags(dst)
	}
	return appendNoTags(dst)
}

func (v *cgPartitionMetadataValue) readFrom(src []byte) error {
	r, err := valueReader(src)
	if err != nil {
		return err
	}
	n, err := requiredArrayLen(r, 16+1+4+1+1)
	if err != nil {
		return err
	}
	v.topics = make([]cgTopicMetadata, n)
	for i := range v.topics {
		t := &v.topics[i]
		t.id = r.Uuid()
		if t.name, err = compactString(r); err != nil {
			return err
		}
		t.partitions = r.Int32()
		np, err := requiredArrayLen(r, 4+1+1)
		if err != nil {
			return err
		}
		for range np {
			r.Int32()
			if _, err := readStrings(r); err != nil {
				return err
			}
			if err := skipTags(r, nil); err != nil {
				return err
			}
		}
		if err := skipTags(r, nil); err != nil {
			return err
		}
	}
	if err := skipTags(r, nil); err != nil {
		return err
	}
	return finish(r, "partition metadata value")
}

// cgMemberMetadataValue is ConsumerGroupMemberMetadataValue. The tagged
// ClassicMemberMetadata (members of a classic protocol in a consumer
// group, which Sluice does not mix) is skipped.
type cgMemberMetadataValue struct {
	instanceID     *string
	rackID         *string
	clientID       string
	clientHost     string
	topicNames     []string
	topicRegex     *string
	rebalanceMs    int32
	serverAssignor *string
}

func (v cgMemberMetadataValue) appendTo(dst []byte) []byte {
	dst = appendValueHeader(dst)
	dst = kbin.AppendCompactNullableString(dst, v.instanceID)
	dst = kbin.AppendCompactNullableString(dst, v.rackID)
	dst = kbin.AppendCompactString(dst, v.clientID)
	dst = kbin.AppendCompactString(dst, v.clientHost)
	dst = appendStrings(dst, v.topicNames)
	dst = kbin.AppendCompactNullableString(dst, v.topicRegex)
	dst = kbin.AppendInt32(dst, v.rebalanceMs)
	dst = kbin.AppendCompactNullableString(dst, v.serverAssignor)
	return appendNoTags(dst)
}

func (v *cgMemberMetadataValue) readFrom(src []byte) error {
	r, err := valueReader(src)
	if err != nil {
		return err
	}
	*v = cgMemberMetadataValue{}
	if v.instanceID, err = compactNullableString(r); err != nil {
		return err
	}
	if v.rackID, err = compactNullableString(r); err != nil {
		return err
	}
	if v.clientID, err = compactString(r); err != nil {
		return err
	}
	if v.clientHost, err = compactString(r); err != nil {
		return err
	}
	if v.topicNames, err = readStrings(r); err != nil {
		return err
	}
	if v.topicRegex, err = compactNullableString(r); err != nil {
		return err
	}
	v.rebalanceMs = r.Int32()
	if v.serverAssignor, err = compactNullableString(r); err != nil {
		return err
	}
	if err := skipTags(r, nil); err != nil {
		return err
	}
	return finish(r, "member metadata value")
}

// cgTargetMetadataValue is ConsumerGroupTargetAssignmentMetadataValue; the
// tagged AssignmentTimestamp (KIP-1263) is skipped.
type cgTargetMetadataValue struct{ assignmentEpoch int32 }

func (v cgTargetMetadataValue) appendTo(dst []byte) []byte {
	dst = appendValueHeader(dst)
	dst = kbin.AppendInt32(dst, v.assignmentEpoch)
	return appendNoTags(dst)
}

func (v *cgTargetMetadataValue) readFrom(src []byte) error {
	r, err := valueReader(src)
	if err != nil {
		return err
	}
	v.assignmentEpoch = r.Int32()
	if err := skipTags(r, nil); err != nil {
		return err
	}
	return finish(r, "target assignment metadata value")
}

// cgTopicPartitions is the TopicPartitions struct of the assignment
// values: a topic ID and its partitions. The tagged AssignmentEpochs
// (KIP-1251) of the current assignment is skipped.
type cgTopicPartitions struct {
	id         [16]byte
	partitions []int32
}

func appendTopicPartitions(dst []byte, ts []cgTopicPartitions) []byte {
	dst = kbin.AppendCompactArrayLen(dst, len(ts))
	for _, t := range ts {
		dst = kbin.AppendUuid(dst, t.id)
		dst = appendInt32s(dst, t.partitions)
		dst = appendNoTags(dst)
	}
	return dst
}

func readTopicPartitions(r *kbin.Reader) ([]cgTopicPartitions, error) {
	n, err := requiredArrayLen(r, 16+1+1)
	if err != nil {
		return nil, err
	}
	ts := make([]cgTopicPartitions, n)
	for i := range ts {
		ts[i].id = r.Uuid()
		if ts[i].partitions, err = readInt32s(r); err != nil {
			return nil, err
		}
		if err := skipTags(r, nil); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// cgTargetMemberValue is ConsumerGroupTargetAssignmentMemberValue.
type cgTargetMemberValue struct{ topics []cgTopicPartitions }

func (v cgTargetMemberValue) appendTo(dst []byte) []byte {
	dst = appendValueHeader(dst)
	dst = appendTopicPartitions(dst, v.topics)
	return appendNoTags(dst)
}

func (v *cgTargetMemberValue) readFrom(src []byte) error {
	r, err := valueReader(src)
	if err != nil {
		return err
	}
	if v.topics, err = readTopicPartitions(r); err != nil {
		return err
	}
	if err := skipTags(r, nil); err != nil {
		return err
	}
	return finish(r, "target assignment member value")
}

// cgCurrentAssignmentValue is ConsumerGroupCurrentMemberAssignmentValue.
// state is Kafka's MemberState: 0 stable, 1 unrevoked partitions, 2
// unreleased partitions.
type cgCurrentAssignmentValue struct {
	memberEpoch, prevEpoch int32
	state                  int8
	assigned, revoking     []cgTopicPartitions
}

func (v cgCurrentAssignmentValue) appendTo(dst []byte) []byte {
	dst = appendValueHeader(dst)
	dst = kbin.AppendInt32(dst, v.memberEpoch)
	dst = kbin.AppendInt32(dst, v.prevEpoch)
	dst = kbin.AppendInt8(dst, v.state)
	dst = appendTopicPartitions(dst, v.assigned)
	dst = appendTopicPartitions(dst, v.revoking)
	return appendNoTags(dst)
}

func (v *cgCurrentAssignmentValue) readFrom(src []byte) error {
	r, err := valueReader(src)
	if err != nil {
		return err
	}
	v.memberEpoch = r.Int32()
	v.prevEpoch = r.Int32()
	v.state = r.Int8()
	if v.assigned, err = readTopicPartitions(r); err != nil {
		return err
	}
	if v.revoking, err = readTopicPartitions(r); err != nil {
		return err
	}
	if err := skipTags(r, nil); err != nil {
		return err
	}
	return finish(r, "current member assignment value")
}

// toTopicPartitions lists an assignment by topic ID order.
func toTopicPartitions(a assignment) []cgTopicPartitions {
	var out []cgTopicPartitions
	a.each(func(t [16]byte, p int32) {
		if n := len(out); n == 0 || out[n-1].id != t {
			out = append(out, cgTopicPartitions{id: t})
		}
		last := &out[len(out)-1]
		last.partitions = append(last.partitions, p)
	})
	return out
}

func fromTopicPartitions(ts []cgTopicPartitions) assignment {
	a := make(assignment)
	for _, t := range ts {
		for _, p := range t.partitions {
			a.add(t.id, p)
		}
	}
	return a
}
