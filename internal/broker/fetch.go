package broker

// Fetch, versions 4-16, for consumers and followers. Only the leader
// answers (NOT_LEADER_OR_FOLLOWER elsewhere; KIP-392 fetching from a
// follower is not supported), after checking the fetcher's current leader
// epoch (KIP-320). A consumer (replica ID -1) gets whole stored batches from
// the requested offset up to the high watermark; the client skips records
// before its offset inside the first batch. A follower (replica ID >= 0:
// ReplicaID before v15, ReplicaState.ReplicaID from v15) reads up to the log
// end offset, and its fetch offset tells the leader how far it has
// replicated, which moves the high watermark and the ISR. The first batch of the first partition
// with data is returned whole even when it exceeds max_bytes or
// partition_max_bytes (KIP-74). A fetch with too little data waits up to
// max_wait_ms and is woken by appends to any of its partitions.
//
// Fetch sessions (KIP-227): Sluice answers every fetch in full with session
// ID 0, which Kafka allows a broker to do; a client naming a session it was
// never given gets FETCH_SESSION_ID_NOT_FOUND and starts over. v13+ name
// topics by ID. read_committed (isolation level 1) reads up to the last
// stable offset and lists the aborted transactions that overlap the
// batches returned, so the client drops their records (KIP-98).

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/log"
	"github.com/sluice-io/sluice/internal/record"
	"github.com/sluice-io/sluice/internal/replica"
)

// readBufSize is the size of pooled fetch read buffers: the default
// partition_max_bytes. Larger reads allocate.
const readBufSize = 1 << 20

// fetchBuffers are the pooled read buffers one fetch response refers to.
type fetchBuffers struct {
	pool *sync.Pool
	bufs []*[]byte
}

// get returns a pooled buffer for a read of up to n bytes, or nil when n
// is larger than pooled buffers.
func (f *fetchBuffers) get(n int) []byte {
	if n > readBufSize {
		return nil
	}
	bp := f.pool.Get().(*[]byte)
	f.bufs = append(f.bufs, bp)
	return *bp
}

func (f *fetchBuffers) release() {
	for _, bp := range f.bufs {
		f.pool.Put(bp)
	}
	f.bufs = f.bufs[:0]
}

func (b *Broker) fetch(ctx context.Context, _ *Client, r kmsg.Request) Reply {
	req := r.(*kmsg.FetchRequest)
	if req.SessionID != 0 || req.SessionEpoch > 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return Reply{Response: resp}
	}
	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = 50 << 20
	}
	img := b.cfg.Cluster.Image()
	if cap := int(b.brokerConfig(img).Int64("fetch.max.bytes")); maxBytes > cap {
		maxBytes = cap
	}
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	var timer *time.Timer
	bufs := &fetchBuffers{pool: &b.readBufs}
	replicaID := req.ReplicaID
	if req.Version >= 15 {
		replicaID = req.ReplicaState.ID
	}
	for first := true; ; first = false {
		// Take the wake-up channels before reading, so an append between
		// the read and the wait is not missed.
		resp, waitOn, size, failed := b.readFetch(img, req, replicaID, first, maxBytes, bufs)
		if size >= int(req.MinBytes) || failed || len(waitOn) == 0 || !time.Now().Before(deadline) {
			return Reply{Response: resp, Release: bufs.release}
		}
		bufs.release()
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
			defer timer.Stop()
		}
		cases := make([]reflect.SelectCase, 0, len(waitOn)+2)
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
		for _, ch := range waitOn {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
		}
		switch i, _, _ := reflect.Select(cases); i {
		case 0:
			return Reply{Response: req.ResponseKind()}
		case 1:
			deadline = time.Now() // read once more, then answer
		}
		img = b.cfg.Cluster.Image()
	}
}

// readFetch builds one fetch response from the current state. It returns
// the channels that signal new data for the partitions read, the bytes
// gathered, and whether any partition failed (which answers at once). A
// follower's (replica >= 0) progress is recorded on the first read of the
// request only.
func (b *Broker) readFetch(img *cluster.Image, req *kmsg.FetchRequest, replica int32, first bool, maxBytes int, bufs *fetchBuffers) (*kmsg.FetchResponse, []<-chan struct{}, int, bool) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	var waitOn []<-chan struct{}
	size, failed := 0, false
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		*st = kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var t *cluster.Topic
		if req.Version >= 13 {
			t = img.TopicsByID[cluster.TopicID(rt.TopicID)]
		} else {
			t = img.Topics[rt.Topic]
		}
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			// Kafka sends empty records, never null: librdkafka refuses a
			// null record set.
			sp.RecordBatches = []byte{}
			part, err := b.fetchPartition(t, req.Version, rp)
			if err == nil && replica >= 0 && first {
				err = part.FollowerFetched(replica, rp.FetchOffset, rp.LogStartOffset, b.cfg.Now())
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				failed = true
				continue
			}
			readCommitted := replica < 0 && req.IsolationLevel == 1
			read := part.ReadInto
			switch {
			case replica >= 0:
				read = part.ReadToEnd
				waitOn = append(waitOn, part.Appended())
			case readCommitted:
				read = func(buf []byte, offset int64, maxBytes int) ([]byte, error) {
					b, _, err := part.ReadCommitted(buf, offset, maxBytes)
					return b, err
				}
				waitOn = append(waitOn, part.Changed())
			default:
				waitOn = append(waitOn, part.Changed())
			}
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = part.HighWatermark(), part.LastStableOffset(), part.LogStartOffset()
			limit := min(int(rp.PartitionMaxBytes), maxBytes-size)
			if limit <= 0 && size > 0 {
				continue
			}
			data, err := read(bufs.get(max(limit, 1)), rp.FetchOffset, max(limit, 1))
			if err == nil && readCommitted {
				sp.AbortedTransactions, err = abortedIn(part, rp.FetchOffset, data)
			}
			if err != nil {
				if !errors.Is(err, log.ErrOffsetOutOfRange) {
					b.logger.Debug("fetch read", "topic", part.Topic, "partition", part.Index, "offset", rp.FetchOffset, "err", err)
				}
				sp.ErrorCode = errorCode(err)
				failed = true
				continue
			}
			if len(data) > 0 {
				sp.RecordBatches = data
			}
			size += len(data)
		}
	}
	return resp, waitOn, size, failed
}

// abortedIn lists the aborted transactions a read_committed consumer needs
// to filter the batches read from offset: those overlapping the range the
// batches cover.
func abortedIn(part *replica.Partition, offset int64, data []byte) ([]kmsg.FetchResponseTopicPartitionAbortedTransaction, error) {
	if len(data) == 0 {
		return nil, nil
	}
	end := offset
	_ = record.Batches(data, true, func(h record.Header, _ []byte) error {
		end = h.LastOffset() + 1
		return nil
	})
	txns, err := part.Log().AbortedTransactions(offset, end)
	if err != nil || len(txns) == 0 {
		return nil, err
	}
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(txns))
	for i, t := range txns {
		out[i] = kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: t.ProducerID, FirstOffset: t.FirstOffset}
	}
	return out, nil
}

// fetchPartition finds a partition this broker leads, checking the client's
// view of the leader epoch first (KIP-320), as Kafka does.
func (b *Broker) fetchPartition(t *cluster.Topic, version int16, rp *kmsg.FetchRequestTopicPartition) (*replica.Partition, error) {
	if t == nil {
		if version >= 13 {
			return nil, kerr.UnknownTopicID
		}
		return nil, kerr.UnknownTopicOrPartition
	}
	if rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition
	}
	part, ok := b.cfg.Replicas.Partition(t.Name, rp.Partition)
	if !ok || part.TopicID != t.ID {
		return nil, kerr.NotLeaderForPartition
	}
	if err := checkLeaderEpoch(rp.CurrentLeaderEpoch, part.LeaderEpoch()); err != nil {
		return nil, err
	}
	if !part.IsLeader() {
		return nil, kerr.NotLeaderForPartition
	}
	return part, nil
}

// checkLeaderEpoch compares a client's current leader epoch with ours
// (KIP-320): older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH, and
// -1 means the client does not know.
func checkLeaderEpoch(client, ours int32) error {
	switch {
	case client == -1 || client == ours:
		return nil
	case client < ours:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}
