package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// One CreateTopics request of 2,000 topics creates them all (committed
// together, not one metadata command per topic), each answered on its
// own; validate_only creates none; and in a request that mixes good and
// bad topics each bad one gets exactly its own error while the good ones
// are created.
func TestCreateTopicsManyInOneRequest(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	adm := b.admin()
	cl := b.client()
	ctx := testContext(t, 2*time.Minute)

	const n = 2000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("many-%04d", i)
	}
	dry, err := adm.ValidateCreateTopics(ctx, 2, 1, nil, names...)
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	if len(dry) != n {
		t.Fatalf("validate answered %d topics, want %d", len(dry), n)
	}
	for _, name := range names[:3] {
		if r := dry[name]; r.Err != nil || r.NumPartitions != 2 {
			t.Fatalf("validate %s: %v, %d partitions", name, r.Err, r.NumPartitions)
		}
	}
	if got := metadataTopics(t, cl, false, names[0], names[n-1]); got[names[0]].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("validate_only created %s: %+v", names[0], got[names[0]])
	}

	start := time.Now()
	created, err := adm.CreateTopics(ctx, 2, 1, nil, names...)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Logf("created %d topics of 2 partitions in one request in %v", n, time.Since(start))
	if len(created) != n {
		t.Fatalf("create answered %d topics, want %d", len(created), n)
	}
	ids := map[[16]byte]bool{}
	for _, name := range names {
		r := created[name]
		if r.Err != nil || r.NumPartitions != 2 || r.ReplicationFactor != 1 {
			t.Fatalf("create %s: %v (%s), %d partitions, rf %d", name, r.Err, r.ErrMessage, r.NumPartitions, r.ReplicationFactor)
		}
		if ids[r.ID] {
			t.Fatalf("topic ID %v answered twice", r.ID)
		}
		ids[r.ID] = true
	}
	md := metadataTopics(t, cl, false, names...)
	for _, name := range names {
		mt := md[name]
		if mt.ErrorCode != 0 || len(mt.Partitions) != 2 || mt.TopicID != [16]byte(created[name].ID) {
			t.Fatalf("metadata of %s: error %d, %d partitions, ID %v (created %v)", name, mt.ErrorCode, len(mt.Partitions), mt.TopicID, created[name].ID)
		}
		for _, p := range mt.Partitions {
			if p.Leader != 1 {
				t.Fatalf("%s/%d has leader %d", name, p.Partition, p.Leader)
			}
		}
	}
	produceTo(t, manualClient(b), names[n-1], 1, "after the batch")

	// Good and bad topics in one request.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 60000
	add := func(name string, partitions int32, configs map[string]string) {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
		for k, v := range configs {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, ptr(v)
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
	}
	add("mixed-ok-1", 1, nil)
	add(names[7], 1, nil)   // exists
	add("bad/name", 1, nil) // invalid name
	add("mixed-bad-config", 1, map[string]string{"retention.ms": "abc"})
	add("mixed-zero", 0, nil)  // invalid partitions
	add("mixed-twice", 1, nil) // twice in the request
	add("mixed-twice", 1, nil)
	add("mixed-ok-2", 3, map[string]string{"retention.ms": "60000"})
	add("__consumer_offsets", 1, nil) // internal
	want := []struct {
		name string
		code int16
	}{
		{"mixed-ok-1", 0},
		{names[7], kerr.TopicAlreadyExists.Code},
		{"bad/name", kerr.InvalidTopicException.Code},
		{"mixed-bad-config", kerr.InvalidConfig.Code},
		{"mixed-zero", kerr.InvalidPartitions.Code},
		{"mixed-twice", kerr.InvalidRequest.Code},
		{"mixed-twice", kerr.InvalidRequest.Code},
		{"mixed-ok-2", 0},
		{"__consumer_offsets", kerr.InvalidTopicException.Code},
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("mixed request: %v", err)
	}
	if len(resp.Topics) != len(want) {
		t.Fatalf("mixed request answered %d topics, want %d", len(resp.Topics), len(want))
	}
	for i, w := range want {
		st := resp.Topics[i]
		if st.Topic != w.name || st.ErrorCode != w.code {
			t.Errorf("answer %d: %s code %d (%v), want %s code %d", i, st.Topic, st.ErrorCode, ptrString(st.ErrorMessage), w.name, w.code)
		}
	}
	md = metadataTopics(t, cl, false, "mixed-ok-1", "mixed-ok-2", "mixed-bad-config", "mixed-zero", "mixed-twice")
	if len(md["mixed-ok-1"].Partitions) != 1 || len(md["mixed-ok-2"].Partitions) != 3 {
		t.Errorf("good topics of the mixed request: %+v %+v", md["mixed-ok-1"], md["mixed-ok-2"])
	}
	for _, name := range []string{"mixed-bad-config", "mixed-zero", "mixed-twice"} {
		if md[name].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("refused topic %s exists: %+v", name, md[name])
		}
	}
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
