package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/cluster"
)

// A manual replica assignment is checked as Kafka's ReplicationControlManager
// checks it; a partition none of whose brokers can lead (fenced, or shutting
// down) is INVALID_REPLICA_ASSIGNMENT, as no leader could be elected for it.
func TestCheckAssignmentRefusesWhatKafkaRefuses(t *testing.T) {
	t.Parallel()
	img := &cluster.Image{Brokers: map[int32]cluster.Broker{
		1: {ID: 1},
		2: {ID: 2, Fenced: true},
		3: {ID: 3, ShuttingDown: true},
	}}
	for _, tc := range []struct {
		replicas []int32
		rf       int
		want     int16
	}{
		{[]int32{1}, -1, 0},
		{[]int32{2, 1}, 2, 0},
		{nil, -1, kerr.InvalidReplicaAssignment.Code},
		{[]int32{1, 1}, -1, kerr.InvalidReplicaAssignment.Code},
		{[]int32{4}, -1, kerr.InvalidReplicaAssignment.Code},
		{[]int32{1}, 2, kerr.InvalidReplicaAssignment.Code},
		{[]int32{2}, -1, kerr.InvalidReplicaAssignment.Code},
		{[]int32{2, 3}, 2, kerr.InvalidReplicaAssignment.Code},
	} {
		if got := errorCode(checkAssignment(img, 0, tc.replicas, tc.rf)); got != tc.want {
			t.Errorf("checkAssignment(%v, rf %d) = %v; want %v", tc.replicas, tc.rf, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}
}

// A broker resource name is an int32 or no broker at all; it never wraps.
func TestParseIDRefusesWhatIsNotAnInt32(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int32{
		"1": 1, "2147483647": 2147483647, "4294967297": -1, "2147483648": -1, "x": -1, "": -1, "1a": -1,
	} {
		if got := parseID(s); got != want {
			t.Errorf("parseID(%q) = %d; want %d", s, got, want)
		}
	}
}
