package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Deleting a topic removes every group's committed offsets of it, as
// Kafka does: a consumer group of a topic created again under the same
// name starts from its auto.offset.reset, not from the old topic's
// offsets. The group's offsets of other topics stay.
func TestGroupOffsetsGoWithTheirTopic(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	ctx := testContext(t, 30*time.Second)
	adm := b.admin()
	b.createTopic("gone", 2, nil)
	b.createTopic("kept", 1, nil)
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: "gone", Partition: 0, At: 5, LeaderEpoch: -1})
	offsets.Add(kadm.Offset{Topic: "gone", Partition: 1, At: 7, LeaderEpoch: -1})
	offsets.Add(kadm.Offset{Topic: "kept", Partition: 0, At: 3, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "g", offsets); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	b.createTopic("gone", 2, nil)

	waitForErr(t, 10*time.Second, "the deleted topic's offsets to go", func() error {
		fetched, err := adm.FetchOffsets(ctx, "g")
		if err != nil {
			return err
		}
		if o, ok := fetched.Lookup("gone", 0); ok && o.At >= 0 {
			return fmt.Errorf("gone/0 still at %d", o.At)
		}
		if o, ok := fetched.Lookup("gone", 1); ok && o.At >= 0 {
			return fmt.Errorf("gone/1 still at %d", o.At)
		}
		if o, ok := fetched.Lookup("kept", 0); !ok || o.At != 3 {
			return fmt.Errorf("kept/0 at %+v, want 3", o)
		}
		return nil
	})
}
