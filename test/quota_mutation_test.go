package test

// controller_mutation_rate (KIP-599): the partitions a client creates or
// deletes are charged to a token bucket of the rate × the quota window; a
// client in debt has topics of CreateTopics v6+, CreatePartitions v3+ and
// DeleteTopics v5+ refused with THROTTLING_QUOTA_EXCEEDED and a throttle
// time, while older versions go ahead and are throttled (their response
// delayed before KIP-219).

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestControllerMutationRateThrottlesTopicChanges(t *testing.T) {
	// A burst of 2 samples of a second: at 4 partitions a second, 8.
	b := startBroker(t, map[string]string{"controller.quota.window.num": "2", "controller.quota.window.size.seconds": "1"})
	ctx := testContext(t, 60*time.Second)
	// Set through the CLI, as an operator would.
	expectLines(t, "quota set", cli(t, b.addr, "", "quota", "set", "--client-id", "creator", "controller_mutation_rate=4"),
		"ENTITY             KEY                       VALUE",
		"client-id=creator  controller_mutation_rate  4")

	// Clients named "creator" share the quota; each has a connection of
	// its own, so none waits out another's throttle before it asks.
	var hook, freeHook throttleHook
	creator := func() *kadm.Client {
		return kadm.NewClient(newClient(t, b.addr, kgo.ClientID("creator"), kgo.WithHooks(&hook)))
	}
	adm := creator()
	free := kadm.NewClient(newClient(t, b.addr, kgo.ClientID("free"), kgo.WithHooks(&freeHook)))

	// The whole burst, then one topic more: it empties the bucket and
	// goes ahead, putting the client 8 partitions (2 s) in debt.
	if r, err := adm.CreateTopic(ctx, 8, 1, nil, "burst"); err != nil || r.Err != nil {
		t.Fatalf("create 8 partitions within the burst: %v %v", err, r.Err)
	}
	if r, err := adm.CreateTopic(ctx, 8, 1, nil, "into-debt"); err != nil || r.Err != nil {
		t.Fatalf("create the topic that empties the bucket: %v %v", err, r.Err)
	}
	inDebt := time.Now()
	// In debt, every mutation of a strict version is refused at once and
	// told to wait about two seconds.
	r, _ := adm.CreateTopic(ctx, 1, 1, nil, "refused") // the error is r.Err
	if !errors.Is(r.Err, kerr.ThrottlingQuotaExceeded) {
		t.Fatalf("create in debt: %v, want THROTTLING_QUOTA_EXCEEDED", r.Err)
	}
	if took := time.Since(inDebt); took > 500*time.Millisecond {
		t.Fatalf("a refused CreateTopics was answered after %v, want at once", took)
	}
	if d := time.Duration(hook.max.Load()); d < 1500*time.Millisecond || d > 2100*time.Millisecond {
		t.Fatalf("throttle %v for a debt of 8 partitions at 4/s, want about 2s", d)
	}
	dr, err := creator().DeleteTopics(ctx, "burst")
	if err != nil || !errors.Is(dr["burst"].Err, kerr.ThrottlingQuotaExceeded) {
		t.Fatalf("delete in debt: %v %+v, want THROTTLING_QUOTA_EXCEEDED", err, dr)
	}
	pr, err := creator().CreatePartitions(ctx, 1, "burst")
	if err != nil || !errors.Is(pr["burst"].Err, kerr.ThrottlingQuotaExceeded) {
		t.Fatalf("create partitions in debt: %v %+v, want THROTTLING_QUOTA_EXCEEDED", err, pr)
	}
	if time.Since(inDebt) > 1500*time.Millisecond {
		t.Skip("the machine is too slow to ask three times within the debt") // not an assertion on Sluice
	}
	topics, err := free.ListTopics(ctx)
	if err != nil || topics.Has("refused") || len(topics["burst"].Partitions) != 8 {
		t.Fatalf("refused mutations took effect: %v %v", err, topics.Names())
	}
	// A client without the quota is not affected.
	if r, err := free.CreateTopic(ctx, 20, 1, nil, "free-topic"); err != nil || r.Err != nil {
		t.Fatalf("an unlimited client's create: %v %v", err, r.Err)
	}
	if n := freeHook.n.Load(); n != 0 {
		t.Fatalf("the unlimited client was throttled %d times", n)
	}
	// Once the debt is paid back, the client may mutate again.
	time.Sleep(time.Until(inDebt.Add(2200 * time.Millisecond))) // time pays the debt back: it is the input
	if dr, err := adm.DeleteTopics(ctx, "burst"); err != nil || dr["burst"].Err != nil {
		t.Fatalf("delete after the debt is paid: %v %+v", err, dr)
	}

	// Older versions are not refused: CreateTopics v5 goes ahead and is
	// throttled (the client waits, KIP-219); v2 predates KIP-219, so the
	// broker holds its response back for the throttle time.
	setClientQuota(t, b.admin(), "test", "controller_mutation_rate", 4) // dialRaw's client ID
	c := dialRaw(t, b.addr)
	create := func(version int16, corr int32, topic string, partitions int32) (time.Duration, kmsg.CreateTopicsResponse) {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.TimeoutMillis = version, 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
		req.Topics = append(req.Topics, rt)
		frame := []byte{0, 0, 0, 0, 0, 19, 0, 0, 0, 0, 0, 0, 0, 4, 't', 'e', 's', 't'}
		binary.BigEndian.PutUint16(frame[6:], uint16(version))
		binary.BigEndian.PutUint32(frame[8:], uint32(corr))
		if req.IsFlexible() {
			frame = append(frame, 0)
		}
		frame = req.AppendTo(frame)
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		start := time.Now()
		c.write(frame)
		_, body := c.response(req.IsFlexible())
		resp := kmsg.NewCreateTopicsResponse()
		resp.Version = version
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		return time.Since(start), resp
	}
	_, resp := create(5, 1, "old-1", 12) // 8 of burst, 4 in debt
	if code := resp.Topics[0].ErrorCode; code != 0 || resp.ThrottleMillis < 500 {
		t.Fatalf("CreateTopics v5 into debt: %v, throttle %d ms; want created and throttled about 1 s", kerr.ErrorForCode(code), resp.ThrottleMillis)
	}
	time.Sleep(time.Duration(resp.ThrottleMillis) * time.Millisecond) // the client waits (KIP-219)
	create(5, 2, "old-2", 8)                                          // empties what refilled and goes into debt again
	took, resp := create(2, 3, "old-3", 4)
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("CreateTopics v2 in debt: %v, want created (permissive)", kerr.ErrorForCode(code))
	}
	if resp.ThrottleMillis <= 0 || took < time.Duration(resp.ThrottleMillis)*time.Millisecond {
		t.Fatalf("CreateTopics v2 throttled %d ms was answered after %v: want the response held back", resp.ThrottleMillis, took)
	}
	t.Logf("CreateTopics v2 in debt: created, throttle_time_ms %d, answered after %v", resp.ThrottleMillis, took.Round(time.Millisecond))
}
