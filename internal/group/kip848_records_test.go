package group

import (
	"reflect"
	"testing"
)

func sampleKIP848Values() map[int16]any {
	tp := []cgTopicPartitions{{id: [16]byte{1, 2}, partitions: []int32{0, 3, 5}}, {id: [16]byte{9}, partitions: []int32{}}}
	return map[int16]any{
		cgMetadataKeyVersion: &cgMetadataValue{epoch: 42, metadataHash: -7, creationMs: 1700000000000},
		cgPartitionMetadataVersion: &cgPartitionMetadataValue{topics: []cgTopicMetadata{
			{id: [16]byte{1, 2}, name: "orders", partitions: 12}, {id: [16]byte{3}, name: "", partitions: 0},
		}},
		cgMemberMetadataVersion: &cgMemberMetadataValue{
			instanceID: new("inst-1"), clientID: "client", clientHost: "/10.0.0.1",
			topicNames: []string{"a", "b"}, topicRegex: new("t.*"), rebalanceMs: 30000, serverAssignor: new("range"),
		},
		cgTargetMetadataVersion: &cgTargetMetadataValue{assignmentEpoch: 41},
		cgTargetMemberVersion:   &cgTargetMemberValue{topics: tp},
		cgCurrentAssignmentVersion: &cgCurrentAssignmentValue{
			memberEpoch: 41, prevEpoch: 40, state: int8(memberUnrevoked), assigned: tp, revoking: []cgTopicPartitions{},
		},
	}
}

type kip848Value interface {
	appendTo([]byte) []byte
}

// decodeKIP848Value decodes a value of the record a key version names.
func decodeKIP848Value(version int16, b []byte) (kip848Value, error) {
	var v interface {
		kip848Value
		readFrom([]byte) error
	}
	switch version {
	case cgMetadataKeyVersion:
		v = new(cgMetadataValue)
	case cgPartitionMetadataVersion:
		v = new(cgPartitionMetadataValue)
	case cgMemberMetadataVersion:
		v = new(cgMemberMetadataValue)
	case cgTargetMetadataVersion:
		v = new(cgTargetMetadataValue)
	case cgTargetMemberVersion:
		v = new(cgTargetMemberValue)
	default:
		v = new(cgCurrentAssignmentValue)
	}
	return v, v.readFrom(b)
}

func TestKIP848RecordsRoundTrip(t *testing.T) {
	t.Parallel()
	for version, want := range sampleKIP848Values() {
		b := want.(kip848Value).appendTo(nil)
		got, err := decodeKIP848Value(version, b)
		if err != nil {
			t.Fatalf("value of key %d: %v", version, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("value of key %d: got %+v, want %+v", version, got, want)
		}
		for n := range len(b) {
			if _, err := decodeKIP848Value(version, b[:n]); err == nil {
				t.Fatalf("value of key %d truncated to %d bytes decoded", version, n)
			}
		}
		member := ""
		if cgHasMember(version) {
			member = "m-1"
		}
		kb := cgRecordKey(version, "group", member)
		var k cgKey
		if err := k.readFrom(kb); err != nil || k != (cgKey{version, "group", member}) {
			t.Fatalf("key %d: %+v, %v", version, k, err)
		}
		if err := k.readFrom(kb[:len(kb)-1]); err == nil {
			t.Fatalf("truncated key %d decoded", version)
		}
	}
	// Defaults: no tagged fields written, null strings stay null.
	v := cgMetadataValue{epoch: 1, creationMs: -1}
	if b := v.appendTo(nil); len(b) != 2+4+1 {
		t.Fatalf("group metadata value without tags is %d bytes", len(b))
	}
	var m cgMemberMetadataValue
	if err := m.readFrom((cgMemberMetadataValue{topicNames: []string{}}).appendTo(nil)); err != nil || m.instanceID != nil || m.topicRegex != nil || m.serverAssignor != nil {
		t.Fatalf("member metadata with nulls: %+v, %v", m, err)
	}
	// Unknown tagged fields are skipped.
	b := kip848ValueWithTag((&cgTargetMetadataValue{assignmentEpoch: 3}).appendTo(nil))
	var tm cgTargetMetadataValue
	if err := tm.readFrom(b); err != nil || tm.assignmentEpoch != 3 {
		t.Fatalf("target metadata with an unknown tag: %+v, %v", tm, err)
	}
}

// kip848ValueWithTag replaces a value's empty trailing tag section with
// one holding an unknown tag 7 of 3 bytes.
func kip848ValueWithTag(b []byte) []byte {
	return append(b[:len(b)-1], 1, 7, 3, 'a', 'b', 'c')
}

// FuzzKIP848Records decodes arbitrary keys and values: decoding never
// panics, and what decodes re-encodes to the same thing.
func FuzzKIP848Records(f *testing.F) {
	for version, v := range sampleKIP848Values() {
		f.Add(cgRecordKey(version, "g", "m"), v.(kip848Value).appendTo(nil))
	}
	f.Add([]byte{0, 5, 0, 1, 'g'}, []byte{0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		var k cgKey
		versions := []int16{3, 4, 5, 6, 7, 8}
		if err := k.readFrom(key); err == nil {
			if got := cgRecordKey(k.version, k.group, k.member); string(got) != string(key) {
				t.Fatalf("key %x re-encodes to %x", key, got)
			}
			versions = []int16{k.version}
		}
		for _, version := range versions {
			v, err := decodeKIP848Value(version, value)
			if err != nil {
				continue
			}
			again, err := decodeKIP848Value(version, v.appendTo(nil))
			if err != nil || !reflect.DeepEqual(again, v) {
				t.Fatalf("value of key %d: %+v re-decodes to %+v, %v", version, v, again, err)
			}
		}
	})
}
