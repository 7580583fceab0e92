package test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/mirror"
)

// topicState waits until the mirror reports source topic name in state,
// and returns its status.
func topicState(t *testing.T, m *mirror.Mirror, name, state string) mirror.TopicStatus {
	t.Helper()
	var got mirror.TopicStatus
	waitState(t, 30*time.Second, name+" "+state, func() (bool, string) {
		topics, _ := m.Status()
		for _, ts := range topics {
			if ts.SourceTopic == name {
				got = ts
				return ts.State == state, fmt.Sprintf("%+v", ts)
			}
		}
		return false, fmt.Sprintf("no status for %s in %+v", name, topics)
	})
	return got
}

// produceValues produces values to partition 0 of topic.
func produceValues(t *testing.T, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	var rs []*kgo.Record
	for _, v := range values {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(v)})
	}
	produceSync(t, cl, rs...)
}

// Issue 17's bad input: a target topic with records of its own is refused
// (and left as it is) unless the mirror is told to replace it; an empty one
// is adopted; partitions added on the source are added to the mirror; a
// source topic deleted keeps its mirror read-only with its records; one
// created again under the same name is not mixed into the old mirror.
func TestMirrorRefusesForeignTargetsAndFollowsSourceChanges(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	dst := startBroker(t, nil)
	scl, dcl := src.client(kgo.RecordPartitioner(kgo.ManualPartitioner())), dst.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	srcAdm, dstAdm := src.admin(), dst.admin()
	for _, n := range []string{"taken", "empty", "grows", "gone"} {
		src.createTopic(n, 1, nil)
		produceValues(t, scl, n, n+"-1", n+"-2", n+"-3")
	}
	dst.createTopic("taken", 1, nil)
	produceValues(t, dcl, "taken", "target's own")
	dst.createTopic("empty", 1, nil)

	m, stop := runMirror(t, []string{src.addr}, []string{dst.addr}, mirror.Config{})
	same := func(s string) string { return s }
	ts := topicState(t, m, "taken", mirror.StateRefused)
	if !strings.Contains(ts.Reason, "already exists with records of its own") || !strings.Contains(ts.Reason, "--force") {
		t.Fatalf("refusal of taken: %q", ts.Reason)
	}
	topicState(t, m, "empty", mirror.StateMirroring)
	topicState(t, m, "grows", mirror.StateMirroring)
	waitCaughtUp(t, srcAdm, dstAdm, same, "empty", "grows", "gone")
	// The refused topic is as it was: its record, and writable.
	if got := readAll(t, []string{dst.addr}, "taken", false); len(got) != 1 || string(got[0].Value) != "target's own" {
		t.Fatalf("refused target topic changed: %d records", len(got))
	}
	produceValues(t, dcl, "taken", "still writable")

	// Partitions added on the source follow.
	if _, err := srcAdm.UpdatePartitions(testContext(t, 10*time.Second), 3, "grows"); err != nil {
		t.Fatal(err)
	}
	produceSync(t, src.client(kgo.RecordPartitioner(kgo.ManualPartitioner())), &kgo.Record{Topic: "grows", Partition: 2, Value: []byte("in a new partition")})
	waitCaughtUp(t, srcAdm, dstAdm, same, "grows")
	sameRecords(t, "grows", readAll(t, []string{dst.addr}, "grows", false), readAll(t, []string{src.addr}, "grows", false))

	// A source topic deleted: its mirror stays, read-only, with its records.
	if _, err := srcAdm.DeleteTopic(testContext(t, 10*time.Second), "gone"); err != nil {
		t.Fatal(err)
	}
	ts = topicState(t, m, "gone", mirror.StateDeleted)
	if !strings.Contains(ts.Reason, "was deleted") {
		t.Fatalf("deleted source: %q", ts.Reason)
	}
	if got := readAll(t, []string{dst.addr}, "gone", false); len(got) != 3 {
		t.Fatalf("mirror of a deleted source topic: %d records, want its 3", len(got))
	}
	err := dst.client(kgo.DefaultProduceTopic("gone"), kgo.RecordRetries(2)).ProduceSync(testContext(t, 30*time.Second), &kgo.Record{Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce to the mirror of a deleted topic: %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	// Created again under the same name (a new topic ID, fewer
	// partitions): not mixed into the old mirror.
	waitState(t, 30*time.Second, "gone deleted on the source", func() (bool, string) {
		resp, err := srcAdm.CreateTopic(testContext(t, 10*time.Second), 1, 1, nil, "gone")
		if err == nil {
			err = resp.Err
		}
		return err == nil, fmt.Sprint(err)
	})
	produceValues(t, scl, "gone", "reborn")
	ts = topicState(t, m, "gone", mirror.StateRefused)
	if !strings.Contains(ts.Reason, "deleted and created again") {
		t.Fatalf("recreated source: %q", ts.Reason)
	}
	if got := readAll(t, []string{dst.addr}, "gone", false); len(got) != 3 || string(got[0].Value) != "gone-1" {
		t.Fatalf("the old mirror of gone changed: %d records", len(got))
	}
	stop()

	// Told to (--force), the mirror replaces the foreign topics.
	m2, _ := runMirror(t, []string{src.addr}, []string{dst.addr}, mirror.Config{Force: true})
	topicState(t, m2, "taken", mirror.StateMirroring)
	topicState(t, m2, "gone", mirror.StateMirroring)
	waitCaughtUp(t, srcAdm, dstAdm, same, "taken", "gone")
	sameRecords(t, "taken", readAll(t, []string{dst.addr}, "taken", false), readAll(t, []string{src.addr}, "taken", false))
	sameRecords(t, "gone", readAll(t, []string{dst.addr}, "gone", false), readAll(t, []string{src.addr}, "gone", false))
}

// A source that disappears: the mirror says so and writes nothing; when
// the source is back it goes on from where the target ends.
func TestMirrorWaitsForASourceThatDisappears(t *testing.T) {
	t.Parallel()
	src := startBroker(t, nil)
	dst := startBroker(t, nil)
	src.createTopic("steady", 2, nil)
	scl := src.client(kgo.DefaultProduceTopic("steady"))
	for i := range 50 {
		produceSync(t, scl, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("before-%d", i))})
	}
	m, _ := runMirror(t, []string{src.addr}, []string{dst.addr}, mirror.Config{})
	srcAdm, dstAdm := src.admin(), dst.admin()
	same := func(s string) string { return s }
	waitCaughtUp(t, srcAdm, dstAdm, same, "steady")
	before := targetTotal(testContext(t, 10*time.Second), dstAdm, "steady")

	src.stop()
	waitState(t, 30*time.Second, "the mirror reports the source unreachable", func() (bool, string) {
		_, parts := m.Status()
		for _, p := range parts {
			if p.Error == "" {
				return false, fmt.Sprintf("%+v", parts)
			}
		}
		return len(parts) == 2, fmt.Sprintf("%+v", parts)
	})
	if got := targetTotal(testContext(t, 10*time.Second), dstAdm, "steady"); got != before {
		t.Fatalf("target changed while the source was away: %d records, was %d", got, before)
	}
	src.restart()
	scl = src.client(kgo.DefaultProduceTopic("steady"))
	for i := range 50 {
		produceSync(t, scl, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("after-%d", i))})
	}
	srcAdm = src.admin()
	waitCaughtUp(t, srcAdm, dstAdm, same, "steady")
	sameRecords(t, "steady", readAll(t, []string{dst.addr}, "steady", false), readAll(t, []string{src.addr}, "steady", false))
	status, err := mirror.Lag(testContext(t, 10*time.Second), srcAdm, dstAdm, nil)
	if err != nil || len(status) != 2 {
		t.Fatalf("lag: %v %+v", err, status)
	}
	for _, p := range status {
		if p.Lag != 0 || p.State != "mirroring" || p.SourceEnd != p.TargetEnd || p.SourceTopic != "steady" {
			t.Errorf("status after catching up: %+v", p)
		}
	}
}
