package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// replicaWatch samples every broker's replicas (GET /v1/replicas) and
// checks that no replica's own high watermark moves backwards while its
// process lives: followers included, not only the leaders clients ask.
// It also keeps the highest high watermark any replica of a partition
// had, which must not exceed the partition's end once the run is over:
// nothing any replica held committed may disappear.
type replicaWatch struct {
	brokers *nemesisBrokers
	topics  []string
	start   time.Time // of the fault schedule

	mu      sync.Mutex
	last    map[replicaKey]replicaSeen
	highest map[topicPartition]int64
	samples int
	errs    []string
}

type replicaKey struct {
	broker    int32
	topic     string
	partition int32
}

type topicPartition struct {
	topic     string
	partition int32
}

type replicaSeen struct {
	gen, epoch int
	hw         int64
	leader     bool
}

// replicaState is one replica in GET /v1/replicas.
type replicaState struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	Leader        bool   `json:"leader"`
	LeaderEpoch   int    `json:"leader_epoch"`
	HighWatermark int64  `json:"high_watermark"`
	LogEndOffset  int64  `json:"log_end_offset"`
	LogDir        string `json:"log_dir"`
}

func (w *replicaWatch) run(ctx context.Context) {
	w.last, w.highest = map[replicaKey]replicaSeen{}, map[topicPartition]int64{}
	hc := &http.Client{Timeout: time.Second} // a paused broker does not answer
	sampleEvery(ctx, 200*time.Millisecond, func() {
		for id := int32(1); id <= 3; id++ {
			for _, topic := range w.topics {
				gen := w.brokers.generation(id)
				reps, err := replicasOf(ctx, hc, w.brokers.http[id], topic)
				if err != nil || w.brokers.generation(id) != gen {
					continue // down, paused, or restarted meanwhile
				}
				for _, r := range reps {
					w.observe(id, gen, r)
				}
			}
		}
	})
}

func replicasOf(ctx context.Context, hc *http.Client, addr, topic string) ([]replicaState, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/replicas?topic="+topic, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/replicas: %s", resp.Status)
	}
	var body struct {
		Replicas []replicaState `json:"replicas"`
	}
	return body.Replicas, json.NewDecoder(resp.Body).Decode(&body)
}

func (w *replicaWatch) observe(id int32, gen int, r replicaState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.samples++
	k := replicaKey{id, r.Topic, r.Partition}
	now := replicaSeen{gen: gen, epoch: r.LeaderEpoch, hw: r.HighWatermark, leader: r.Leader}
	if prev, ok := w.last[k]; ok && prev.gen == gen && now.hw < prev.hw {
		w.errs = append(w.errs, fmt.Sprintf("+%v: broker %d's replica of %s/%d: high watermark %d (leader %v, epoch %d) after %d (leader %v, epoch %d)",
			time.Since(w.start).Round(time.Millisecond), id, r.Topic, r.Partition, now.hw, now.leader, now.epoch, prev.hw, prev.leader, prev.epoch))
	}
	if r.HighWatermark > r.LogEndOffset {
		w.errs = append(w.errs, fmt.Sprintf("+%v: broker %d's replica of %s/%d: high watermark %d above its log end %d",
			time.Since(w.start).Round(time.Millisecond), id, r.Topic, r.Partition, r.HighWatermark, r.LogEndOffset))
	}
	w.last[k] = now
	tp := topicPartition{r.Topic, r.Partition}
	w.highest[tp] = max(w.highest[tp], r.HighWatermark)
}

// check returns what went wrong, given each partition's final end offset.
func (w *replicaWatch) check(ends map[topicPartition]int64) (samples int, errs []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	errs = append(errs, w.errs...)
	for tp, hw := range w.highest {
		if end, ok := ends[tp]; ok && hw > end {
			errs = append(errs, fmt.Sprintf("%s/%d: a replica had high watermark %d; the log ends at %d", tp.topic, tp.partition, hw, end))
		}
	}
	return w.samples, errs
}
