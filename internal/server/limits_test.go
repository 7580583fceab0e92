package server

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type topicLimit int

func (l topicLimit) MaxRequestTopics() int { return int(l) }

// checkArrays reads the topic array's length where each API and version
// puts it, and refuses a Metadata, Produce or Fetch naming more topics
// than the limit; a request within it passes.
func TestCheckArraysBoundsTopicArrays(t *testing.T) {
	s := &Server{cfg: Config{ArrayLimits: topicLimit(100)}}
	txn := "a-transactional-id"
	build := func(key, version int16, topics int) []byte {
		var req kmsg.Request
		switch key {
		case 0:
			r := kmsg.NewPtrProduceRequest()
			r.TransactionID = &txn
			r.Topics = make([]kmsg.ProduceRequestTopic, topics)
			req = r
		case 1:
			r := kmsg.NewPtrFetchRequest()
			r.Topics = make([]kmsg.FetchRequestTopic, topics)
			req = r
		case 3:
			r := kmsg.NewPtrMetadataRequest()
			r.Topics = make([]kmsg.MetadataRequestTopic, topics)
			req = r
		}
		req.SetVersion(version)
		return req.AppendTo(nil)
	}
	for _, tc := range []struct{ key, version int16 }{
		{0, 2}, {0, 3}, {0, 8}, {0, 9}, {0, 11},
		{1, 0}, {1, 3}, {1, 4}, {1, 7}, {1, 11}, {1, 12}, {1, 15}, {1, 17},
		{3, 1}, {3, 8}, {3, 9}, {3, 12},
	} {
		if err := s.checkArrays(tc.key, tc.version, build(tc.key, tc.version, 100)); err != nil {
			t.Errorf("%s v%d with 100 topics: %v", kmsg.NameForKey(tc.key), tc.version, err)
		}
		if err := s.checkArrays(tc.key, tc.version, build(tc.key, tc.version, 101)); !errors.Is(err, ErrTooManyEntries) {
			t.Errorf("%s v%d with 101 topics: %v, want ErrTooManyEntries", kmsg.NameForKey(tc.key), tc.version, err)
		}
	}
}
