package cluster

import (
	"log/slog"
	"maps"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/sluice-io/sluice/internal/pmap"
)

// Each image records what its command changed, and ChangesSince joins
// them back to an earlier image, so a reader applies only what changed.
func TestImageChangesSince(t *testing.T) {
	t.Parallel()
	f := newFSM(slog.New(slog.DiscardHandler), newPublisher())
	apply := func(index uint64, c Command) *Image {
		t.Helper()
		data, err := encodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		if resp := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}); resp != nil {
			t.Fatalf("apply %#v: %v", c, resp)
		}
		return f.state
	}
	base := apply(1, RegisterBroker{Broker: Broker{ID: 1, Host: "h", Port: 1}})
	apply(2, CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1}}})
	// A failed command makes no image: b's creation below follows a's.
	data, _ := encodeCommand(DeleteTopic{ID: tid(9)})
	if resp := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: data}); resp == nil {
		t.Fatal("deleting an unknown topic applied")
	}
	apply(4, CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{1}}})
	last := apply(5, AlterConfigs{ResourceType: 2, Name: "a", Set: map[string]*string{"retention.ms": str("1")}})

	tests := []struct {
		since                  uint64
		ok                     bool
		topics                 []string
		brokers, brokerConfigs bool
	}{
		{since: 5, ok: true},
		{since: 4, ok: true, topics: []string{"a"}},
		{since: 2, ok: true, topics: []string{"a", "b"}},
		{since: 1, ok: true, topics: []string{"a", "b"}},
		{since: 0, ok: true, topics: []string{"a", "b"}, brokers: true},
		{since: 3, ok: false}, // no image at 3
	}
	for _, tt := range tests {
		c, ok := last.ChangesSince(tt.since)
		got := slices.Sorted(maps.Keys(c.Topics))
		if ok != tt.ok || !slices.Equal(got, tt.topics) || c.Brokers != tt.brokers || c.BrokerConfigs != tt.brokerConfigs {
			t.Errorf("ChangesSince(%d) = %v %v brokers %v configs %v, want %v %v brokers %v configs %v",
				tt.since, got, ok, c.Brokers, c.BrokerConfigs, tt.topics, tt.ok, tt.brokers, tt.brokerConfigs)
		}
	}
	if c, ok := base.ChangesSince(5); ok || c.Topics != nil {
		t.Errorf("an older image knows changes since a newer one: %v", c)
	}
	// A broker config change is reported as such.
	img := apply(6, AlterConfigs{ResourceType: 4, Name: "", Set: map[string]*string{"log.retention.ms": str("1")}})
	if c, ok := img.ChangesSince(5); !ok || !c.BrokerConfigs || c.Topics != nil {
		t.Errorf("after a broker config change: %+v %v", c, ok)
	}
	// The chain is bounded: a reader far behind compares whole images.
	for i := uint64(7); i < 7+2*maxDeltaChain; i++ {
		img = apply(i, AlterConfigs{ResourceType: 2, Name: "b", Set: map[string]*string{"retention.ms": str("2")}})
	}
	if _, ok := img.ChangesSince(1); ok {
		t.Error("changes known across more than maxDeltaChain images")
	}
	if c, ok := img.ChangesSince(img.Index - 1); !ok || !slices.Equal(slices.Sorted(maps.Keys(c.Topics)), []string{"b"}) {
		t.Errorf("ChangesSince the previous image: %+v %v", c, ok)
	}
	// The chain slides rather than starting over: at every image, a reader
	// up to maxDeltaChain/2 images behind learns what changed.
	for i, end := img.Index+1, img.Index+1+3*maxDeltaChain; i < end; i++ {
		img = apply(i, AlterConfigs{ResourceType: 2, Name: "b", Set: map[string]*string{"retention.ms": str("3")}})
		for back := uint64(1); back <= maxDeltaChain/2; back++ {
			if _, ok := img.ChangesSince(img.Index - back); !ok {
				t.Fatalf("image %d does not know its changes since %d, %d images back", img.Index, img.Index-back, back)
			}
		}
	}
}

// withoutDelta is img without its Delta, which a restored image does not
// have, for comparing states.
// withoutDelta returns what reflect.DeepEqual should compare of img: the
// topic maps as Go maps (two persistent maps with the same entries may
// differ in layout), without the Delta and the load derived from topics.
func withoutDelta(img *Image) comparableImage {
	c := comparableImage{Image: *img, Topics: maps.Collect(img.Topics.All()), TopicsByID: maps.Collect(img.TopicsByID.All())}
	c.Image.Topics, c.Image.TopicsByID = pmap.Map[string, *Topic]{}, pmap.Map[TopicID, *Topic]{}
	c.Delta = nil
	c.load = nil
	return c
}

type comparableImage struct {
	Image
	Topics     map[string]*Topic
	TopicsByID map[TopicID]*Topic
}
