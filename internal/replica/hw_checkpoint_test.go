package replica

import (
	"testing"
)

func TestHWCheckpointRoundTripAndBadInput(t *testing.T) {
	good := "0\n2\norders 0 42\norders 1 7\n"
	got, err := parseHWCheckpoint([]byte(good))
	if err != nil || len(got) != 2 || got[TopicPartition{"orders", 0}] != 42 || got[TopicPartition{"orders", 1}] != 7 {
		t.Fatalf("parse %q: %v %v", good, got, err)
	}
	for _, bad := range []string{
		"", "0\n", "1\n0\n", "0\n2\norders 0 42\n", "0\n1\norders 0\n", "0\n1\norders x 1\n",
		"0\n1\norders 0 -1\n", "0\n1\norders 0 42", "0\nx\n",
	} {
		if _, err := parseHWCheckpoint([]byte(bad)); err == nil {
			t.Errorf("parse %q: no error", bad)
		}
	}
}
