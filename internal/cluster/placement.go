package cluster

// Replica placement for new partitions, Kafka's idea with a greedy twist:
// brokers are ordered alternating racks (as Kafka's rack-aware assignment
// does), and each replica slot takes the broker with the least load among
// those not yet in the partition, preferring racks the partition does not
// use yet. The leader slot counts preferred leaderships, the other slots
// replicas, both including partitions already in the image, so topics
// created one after another still spread evenly. Ties go to the broker
// nearest the partition's rotating start in the rack-alternated order.
// Deterministic: the same image and arguments give the same placement.

import (
	"cmp"
	"fmt"
	"slices"
	"unicode/utf16"
)

// PlaceReplicas chooses replicas for count new partitions numbered from
// first, rf each, over the unfenced brokers of img not shutting down:
// leaders and replicas spread evenly, racks alternated when brokers set
// broker.rack. It fails with ErrInvalidReplication when rf exceeds the
// brokers available.
func PlaceReplicas(img *Image, count, rf, first int) ([][]int32, error) {
	return NewPlacer(img).Place(count, rf, first)
}

// Placer places the partitions of several new topics one after another
// (the topics of one CreateTopics request): each Place counts what the
// earlier ones placed, as if their topics were in the image already.
type Placer struct {
	order             []Broker
	racks             map[string]bool
	rackOf            map[int32]string
	leaders, replicas map[int32]int
}

// NewPlacer returns a Placer starting from img's placement.
func NewPlacer(img *Image) *Placer {
	var brokers []Broker
	for _, b := range img.Brokers {
		if !b.Fenced && !b.ShuttingDown {
			brokers = append(brokers, b)
		}
	}
	p := &Placer{order: rackAlternated(brokers), racks: map[string]bool{}, rackOf: map[int32]string{},
		leaders: map[int32]int{}, replicas: map[int32]int{}}
	load := img.replicaLoad()
	for _, b := range p.order {
		p.racks[b.Rack] = true
		p.rackOf[b.ID] = b.Rack
		p.leaders[b.ID], p.replicas[b.ID] = load.leaders[b.ID], load.replicas[b.ID]
	}
	return p
}

// Place is PlaceReplicas over the image and everything placed before.
func (pl *Placer) Place(count, rf, first int) ([][]int32, error) {
	if count < 0 || first < 0 {
		return nil, fmt.Errorf("place %d partitions from %d: %w", count, first, ErrInvalidPartitions)
	}
	order := pl.order
	if rf < 1 || rf > len(order) {
		return nil, fmt.Errorf("replication factor %d, %d brokers available: %w", rf, len(order), ErrInvalidReplication)
	}
	leaders, replicas := pl.leaders, pl.replicas
	out := make([][]int32, count)
	for i := range out {
		start := (first + i) % len(order)
		rs := make([]int32, 0, rf)
		used := map[string]bool{}
		for slot := range rf {
			if len(used) == len(pl.racks) {
				used = map[string]bool{} // every rack has one: start over
			}
			best, bestKey := int32(-1), [3]int{}
			for k := range order {
				id := order[(start+k)%len(order)].ID
				if slices.Contains(rs, id) {
					continue
				}
				key := [3]int{0, replicas[id], k}
				if used[pl.rackOf[id]] {
					key[0] = 1
				}
				if slot == 0 {
					key = [3]int{leaders[id], replicas[id], k}
				}
				if best < 0 || slices.Compare(key[:], bestKey[:]) < 0 {
					best, bestKey = id, key
				}
			}
			rs = append(rs, best)
			used[pl.rackOf[best]] = true
			replicas[best]++
			if slot == 0 {
				leaders[best]++
			}
		}
		out[i] = rs
	}
	return out, nil
}

// rackAlternated orders brokers one per rack in turn (racks by name,
// brokers of a rack by ID): a1, b1, c1, a2, b2, ... Without racks it is
// the brokers by ID.
func rackAlternated(brokers []Broker) []Broker {
	byRack := map[string][]Broker{}
	for _, b := range brokers {
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	names := make([]string, 0, len(byRack))
	for r, bs := range byRack {
		names = append(names, r)
		slices.SortFunc(bs, func(x, y Broker) int { return cmp.Compare(x.ID, y.ID) })
	}
	slices.Sort(names)
	out := make([]Broker, 0, len(brokers))
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range names {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

// CoordinatorPartition is the partition of an internal topic that holds a
// coordinator key (a group ID in __consumer_offsets, a transactional ID in
// __transaction_state): Kafka's Utils.abs(key.hashCode()) % partitions,
// with Java's String.hashCode over UTF-16 code units.
func CoordinatorPartition(key string, partitions int32) int32 {
	var h int32
	for _, r := range key {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r
	}
	switch {
	case h == -1<<31:
		h = 0 // Utils.abs maps Integer.MIN_VALUE to 0
	case h < 0:
		h = -h
	}
	return h % partitions
}
