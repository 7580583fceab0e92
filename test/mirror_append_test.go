package test

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/config"
)

// A mirror append's log start offset (config.MirrorLogStartTag) that is
// malformed is refused with a message naming it, and one with no batches
// needs the log start; neither changes the mirror topic. A well-formed log
// start moves past the high watermark only to start an empty (or wholly
// expired) topic over at it, records and all.
func TestMirrorAppendLogStartBadInput(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	b.createTopic("mirrored", 1, map[string]*string{
		config.MirrorSourceConfig: kadm.StringPtr("cluster/mirrored/00000000000000000000000000000001"),
		config.MirrorStateConfig:  kadm.StringPtr(config.MirrorStateMirroring),
	})
	cl := b.client()
	ctx := testContext(t, 30*time.Second)
	appendWith := func(tag []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 5000
		req.UnknownTags.Set(config.MirrorAppendTag, nil)
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "mirrored"
		rp := kmsg.NewProduceRequestTopicPartition()
		if tag != nil {
			rp.UnknownTags.Set(config.MirrorLogStartTag, tag)
		}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("mirror append: %v", err)
		}
		return resp.Topics[0].Partitions[0]
	}
	message := func(p kmsg.ProduceResponseTopicPartition) string {
		if p.ErrorMessage == nil {
			return ""
		}
		return *p.ErrorMessage
	}

	if p := appendWith(nil); p.ErrorCode != kerr.InvalidRecord.Code || !strings.Contains(message(p), "log start offset") {
		t.Fatalf("an append with nothing: error %d %q; want INVALID_RECORD naming the log start", p.ErrorCode, message(p))
	}
	if p := appendWith([]byte{1, 2, 3}); p.ErrorCode != kerr.InvalidRequest.Code || !strings.Contains(message(p), "holds 3 bytes, want 8") {
		t.Fatalf("a 3-byte log start: error %d %q; want INVALID_REQUEST naming its size", p.ErrorCode, message(p))
	}
	// A log start at or past the end of an empty mirror topic (its source's
	// records expired before they were copied) starts the topic over there.
	p := appendWith(binary.BigEndian.AppendUint64(nil, 5))
	if p.ErrorCode != 0 || p.LogStartOffset != 5 {
		t.Fatalf("a log start past the end 0: error %d %q, log start %d; want the topic started over at 5", p.ErrorCode, message(p), p.LogStartOffset)
	}
	adm := b.admin()
	if start, end := logStartOffset(t, adm, "mirrored", 0), endOffsets(t, cl, "mirrored")[0]; start != 5 || end != 5 {
		t.Fatalf("after the appends the mirror topic spans [%d, %d), want [5, 5)", start, end)
	}
}
