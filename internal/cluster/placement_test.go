package cluster

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

func imageOfBrokers(brokers ...Broker) *Image {
	img := emptyImage()
	for _, b := range brokers {
		img.Brokers[b.ID] = b
	}
	return img
}

func TestPlaceReplicas(t *testing.T) {
	t.Parallel()
	b := func(id int32, rack string) Broker { return Broker{ID: id, Rack: rack} }
	tests := []struct {
		name     string
		brokers  []Broker
		count    int
		rf       int
		exact    [][]int32 // if set, the exact placement
		maxSkew  int       // leaders and replicas per broker differ by at most this
		minRacks int       // each partition spans at least this many racks
		wantErr  error
	}{
		{name: "three brokers, rf 3", brokers: []Broker{b(1, ""), b(2, ""), b(3, "")}, count: 3, rf: 3,
			exact: [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}},
		{name: "rf 1 round robin", brokers: []Broker{b(1, ""), b(2, ""), b(3, "")}, count: 6, rf: 1,
			exact: [][]int32{{1}, {2}, {3}, {1}, {2}, {3}}},
		{name: "five brokers, rf 2, many partitions", brokers: []Broker{b(1, ""), b(2, ""), b(3, ""), b(4, ""), b(5, "")}, count: 50, rf: 2, maxSkew: 1},
		{name: "two racks alternate", brokers: []Broker{b(1, "a"), b(2, "a"), b(3, "b"), b(4, "b")}, count: 4, rf: 2,
			exact: [][]int32{{1, 3}, {2, 4}, {4, 2}, {3, 1}}},
		{name: "three racks of unequal size", brokers: []Broker{b(1, "a"), b(2, "a"), b(3, "a"), b(4, "b"), b(5, "b"), b(6, "c")}, count: 12, rf: 3, minRacks: 3},
		{name: "two racks, rf 3", brokers: []Broker{b(1, "a"), b(2, "a"), b(3, "b"), b(4, "b")}, count: 8, rf: 3, maxSkew: 1, minRacks: 2},
		{name: "fenced and shutting-down brokers are skipped", brokers: []Broker{b(1, ""), {ID: 2, Fenced: true}, {ID: 3, ShuttingDown: true}, b(4, "")},
			count: 2, rf: 2, exact: [][]int32{{1, 4}, {4, 1}}},
		{name: "rf above brokers", brokers: []Broker{b(1, ""), b(2, ""), {ID: 3, Fenced: true}}, count: 1, rf: 3, wantErr: ErrInvalidReplication},
		{name: "rf 0", brokers: []Broker{b(1, "")}, count: 1, rf: 0, wantErr: ErrInvalidReplication},
		{name: "no brokers", count: 1, rf: 1, wantErr: ErrInvalidReplication},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			img := imageOfBrokers(tt.brokers...)
			got, err := PlaceReplicas(img, tt.count, tt.rf, 0)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("PlaceReplicas: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if tt.exact != nil && !reflect.DeepEqual(got, tt.exact) {
				t.Errorf("placement %v, want %v", got, tt.exact)
			}
			checkPlacement(t, img, got, tt.count, tt.rf, tt.maxSkew, tt.minRacks)
			again, _ := PlaceReplicas(img, tt.count, tt.rf, 0)
			if !reflect.DeepEqual(again, got) {
				t.Errorf("not deterministic: %v then %v", got, again)
			}
		})
	}
}

func checkPlacement(t *testing.T, img *Image, got [][]int32, count, rf, maxSkew, minRacks int) {
	t.Helper()
	if len(got) != count {
		t.Fatalf("%d partitions placed, want %d", len(got), count)
	}
	leaders, replicas := map[int32]int{}, map[int32]int{}
	for id, b := range img.Brokers {
		if !b.Fenced && !b.ShuttingDown {
			leaders[id], replicas[id] = 0, 0
		}
	}
	for i, rs := range got {
		if len(rs) != rf || validReplicas(rs) != nil {
			t.Fatalf("partition %d: replicas %v", i, rs)
		}
		racks := map[string]bool{}
		for j, r := range rs {
			if _, ok := replicas[r]; !ok {
				t.Fatalf("partition %d placed on unavailable broker %d", i, r)
			}
			replicas[r]++
			if j == 0 {
				leaders[r]++
			}
			racks[img.Brokers[r].Rack] = true
		}
		if len(racks) < minRacks {
			t.Errorf("partition %d %v spans %d racks, want %d", i, rs, len(racks), minRacks)
		}
	}
	if maxSkew > 0 {
		for what, m := range map[string]map[int32]int{"leaders": leaders, "replicas": replicas} {
			lo, hi := count*rf, 0
			for _, c := range m {
				lo, hi = min(lo, c), max(hi, c)
			}
			if hi-lo > maxSkew {
				t.Errorf("%s per broker %v: skew %d > %d", what, m, hi-lo, maxSkew)
			}
		}
	}
}

// Topics placed one after another still spread leaders evenly: placement
// counts what the image already holds.
func TestPlaceReplicasCountsExistingTopics(t *testing.T) {
	t.Parallel()
	img := imageOfBrokers(Broker{ID: 1}, Broker{ID: 2}, Broker{ID: 3})
	leaders := map[int32]int{}
	for i := range 6 {
		rs, err := PlaceReplicas(img, 1, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		leaders[rs[0][0]]++
		b := newImageBuilder(img)
		b.putTopic(&Topic{Name: fmt.Sprint(i), ID: tid(byte(i + 1)), Partitions: []Partition{{Leader: rs[0][0], Replicas: rs[0], ISR: rs[0]}}})
		img = b.build(uint64(i + 1))
	}
	if !reflect.DeepEqual(leaders, map[int32]int{1: 2, 2: 2, 3: 2}) {
		t.Fatalf("leaders of six one-partition topics: %v", leaders)
	}
	// Appending partitions to a topic continues the spread.
	rs, _ := PlaceReplicas(img, 3, 1, 6)
	var flat []int32
	for _, r := range rs {
		flat = append(flat, r...)
	}
	slices.Sort(flat)
	if !reflect.DeepEqual(flat, []int32{1, 2, 3}) {
		t.Fatalf("three more partitions on %v", rs)
	}
}

// The replica load an image carries for placement follows every command
// that changes replicas (create, more partitions, reassignment, delete)
// and equals counting every partition of the image from scratch.
func TestImageReplicaLoadFollowsCommands(t *testing.T) {
	t.Parallel()
	f := fsmWith(t)
	check := func(step string) {
		t.Helper()
		want := computeLoad(f.state.Topics)
		got := f.state.load
		if got == nil {
			t.Fatalf("%s: the image carries no load", step)
		}
		for id := int32(1); id <= 4; id++ {
			if got.leaders[id] != want.leaders[id] || got.replicas[id] != want.replicas[id] {
				t.Fatalf("%s: broker %d: load %d leaders %d replicas, counted %d and %d",
					step, id, got.leaders[id], got.replicas[id], want.leaders[id], want.replicas[id])
			}
		}
	}
	mustApply(t, f, CreateTopic{Name: "a", ID: tid(1), Replicas: [][]int32{{1, 2}, {2, 3}, {3, 4}}})
	check("create a")
	mustApply(t, f, CreateTopic{Name: "b", ID: tid(2), Replicas: [][]int32{{4}, {1}}})
	check("create b")
	mustApply(t, f, CreatePartitions{ID: tid(1), Replicas: [][]int32{{4, 1}}})
	check("more partitions of a")
	mustApply(t, f, Reassign{Topic: tid(1), Partition: 0, Target: []int32{4, 2, 3}})
	check("reassign a-0")
	mustApply(t, f, DeleteTopic{ID: tid(2)})
	check("delete b")
	mustApply(t, f, fenceBroker{ID: 3})
	check("fence 3")
	img := *f.state
	img.load = nil // as restored from a snapshot: counted on demand
	if got, want := img.replicaLoad(), f.state.load; got.leaders[1] != want.leaders[1] || got.replicas[4] != want.replicas[4] {
		t.Fatalf("load counted from scratch %v, kept %v", got, want)
	}
}

// A Placer placing topics one after another places them as PlaceReplicas
// does with each earlier topic committed to the image first.
func TestPlacerCountsEarlierTopics(t *testing.T) {
	t.Parallel()
	f := fsmWith(t)
	pl := NewPlacer(f.state)
	for i, n := range []int{1, 1, 3, 1, 5, 1} {
		got, err := pl.Place(n, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := PlaceReplicas(f.state, n, 2, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("topic %d: placer %v, one by one %v", i, got, want)
		}
		mustApply(t, f, CreateTopic{Name: fmt.Sprint("t", i), ID: tid(byte(i + 1)), Replicas: want})
	}
	if _, err := pl.Place(1, 5, 0); !errors.Is(err, ErrInvalidReplication) {
		t.Fatalf("rf 5 over 4 brokers: %v", err)
	}
}
