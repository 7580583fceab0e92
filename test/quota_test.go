package test

// Client quotas (KIP-13, KIP-219, KIP-546) with real clients: a producer
// whose client ID is limited to 1 MB/s gets about 1 MB/s and is told to
// back off (throttle_time_ms > 0), while an unlimited producer beside it
// is not throttled.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// throttleHook counts the throttles a franz-go client was told of.
type throttleHook struct{ n, max atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		h.n.Add(1)
		for {
			m := h.max.Load()
			if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
				break
			}
		}
	}
}

// setClientQuota sets one quota value for a client ID.
func setClientQuota(t testing.TB, adm *kadm.Client, clientID, key string, value float64) {
	t.Helper()
	res, err := adm.AlterClientQuotas(testContext(t, 10*time.Second), []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &clientID}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: key, Value: value}},
	}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("alter client quota: %v %+v", err, res)
	}
}

// produceFor produces values of size bytes as fast as cl allows for d,
// and returns the bytes acknowledged in each 100 ms since start.
func produceFor(ctx context.Context, cl *kgo.Client, topic string, size int, d time.Duration) []int64 {
	buckets := make([]int64, int(d/(100*time.Millisecond))+20)
	var mu sync.Mutex
	start := time.Now()
	value := make([]byte, size)
	var wg sync.WaitGroup
	for time.Since(start) < d && ctx.Err() == nil {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				return
			}
			i := int(time.Since(start) / (100 * time.Millisecond))
			mu.Lock()
			if i < len(buckets) {
				buckets[i] += int64(len(r.Value))
			}
			mu.Unlock()
		})
	}
	cl.Flush(ctx)
	wg.Wait()
	return buckets
}

// rateBetween is the bytes per second acknowledged between from and to.
func rateBetween(buckets []int64, from, to time.Duration) float64 {
	var n int64
	for i := int(from / (100 * time.Millisecond)); i < int(to/(100*time.Millisecond)) && i < len(buckets); i++ {
		n += buckets[i]
	}
	return float64(n) / (to - from).Seconds()
}

func TestProduceQuotaThrottlesFranzGoToItsByteRate(t *testing.T) {
	// Samples of one second, three of them: the rate reaches its steady
	// state after about two seconds rather than Kafka's ten.
	b := startBroker(t, map[string]string{"quota.window.num": "3", "quota.window.size.seconds": "1"})
	createTopicWith(t, b.client(), "quota", 1)
	setClientQuota(t, b.admin(), "throttled", "producer_byte_rate", 1<<20)

	var hook, freeHook throttleHook
	throttled := newClient(t, b.addr, kgo.ClientID("throttled"), kgo.WithHooks(&hook),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(200))
	free := newClient(t, b.addr, kgo.ClientID("free"), kgo.WithHooks(&freeHook),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(200))
	ctx := testContext(t, 60*time.Second)

	const run = 10 * time.Second
	var freeBuckets []int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		freeBuckets = produceFor(ctx, free, "quota", 10<<10, 4*time.Second)
	}()
	buckets := produceFor(ctx, throttled, "quota", 10<<10, run)
	<-done

	got := rateBetween(buckets, 3*time.Second, run)
	freeRate := rateBetween(freeBuckets, 0, 4*time.Second)
	t.Logf("throttled producer: %.2f MB/s from 3 s to %v (quota 1 MiB/s), %d throttles, longest %v; unthrottled beside it: %.1f MB/s, %d throttles",
		got/1e6, run, hook.n.Load(), time.Duration(hook.max.Load()), freeRate/1e6, freeHook.n.Load())
	if want := float64(1 << 20); got < 0.8*want || got > 1.2*want {
		t.Fatalf("throttled producer got %.0f B/s, want %.0f within 20%%", got, want)
	}
	if hook.n.Load() == 0 {
		t.Fatal("the throttled producer was never told throttle_time_ms > 0")
	}
	if freeHook.n.Load() != 0 {
		t.Fatalf("the unthrottled producer was throttled %d times", freeHook.n.Load())
	}
	if freeRate < 4*float64(1<<20) {
		t.Fatalf("the unthrottled producer got only %.0f B/s beside the throttled one", freeRate)
	}

	// The quota is described as set, and removing it ends the throttling.
	qs, err := b.admin().DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 2}})
	if err != nil || len(qs) != 1 || len(qs[0].Values) != 1 || qs[0].Values[0].Value != 1<<20 {
		t.Fatalf("describe client quotas: %v %+v", err, qs)
	}
}

func TestProduceQuotaThrottlesLibrdkafkaToItsByteRate(t *testing.T) {
	needPythonModule(t, "confluent_kafka", "python3-confluent-kafka")
	b := startBroker(t, map[string]string{"quota.window.num": "5", "quota.window.size.seconds": "1"})
	createTopicWith(t, b.client(), "rdk-quota", 1)
	setClientQuota(t, b.admin(), "rdk-throttled", "producer_byte_rate", 1<<20)

	var freeHook throttleHook
	free := newClient(t, b.addr, kgo.ClientID("free"), kgo.WithHooks(&freeHook),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(200))
	ctx := testContext(t, 60*time.Second)
	adm := b.admin()
	var freeBuckets []int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Measure while librdkafka is running: from when its first
		// records are in the log.
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if offs, err := adm.ListEndOffsets(ctx, "rdk-quota"); err == nil {
				if o, ok := offs.Lookup("rdk-quota", 0); ok && o.Err == nil && o.Offset > 0 {
					break
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		freeBuckets = produceFor(ctx, free, "rdk-quota", 10<<10, 3*time.Second)
	}()
	// librdkafka sends in bursts a few seconds apart: measure over three
	// of them.
	const run = 16 * time.Second
	out := runInterop(t, 45*time.Second, interopPython, "quota_client.py", b.addr, "rdk-quota", "rdk-throttled", "16")
	<-done
	var res struct {
		PerSecond []int64   `json:"per_second"`
		Throttles []float64 `json:"throttles"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("quota_client.py output: %v", err)
	}
	// Throttled, librdkafka sends its backlog in bursts about five
	// seconds apart, so a fixed span holds two or three of them: measure
	// whole periods, from the first burst after the warm-up to the last.
	from, to := 4, len(res.PerSecond)
	first, last := -1, -1
	for i := from; i < len(res.PerSecond); i++ {
		if res.PerSecond[i] > 2<<20 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first >= 0 && last > first {
		from, to = first, last
	}
	var n int64
	for _, b := range res.PerSecond[from:to] {
		n += b
	}
	got := float64(n) / float64(to-from)
	freeRate := rateBetween(freeBuckets, 0, 3*time.Second)
	longest := 0.0
	for _, s := range res.Throttles {
		longest = max(longest, s)
	}
	t.Logf("librdkafka producer: %.2f MB/s from %d s to %d s of %v (quota 1 MiB/s), %d throttles, longest %.3f s; franz-go beside it: %.1f MB/s, %d throttles",
		got/1e6, from, to, run, len(res.Throttles), longest, freeRate/1e6, freeHook.n.Load())
	// Each burst is measured against a span of quota.window.num-1
	// windows, so the bursts average up to 20% over the quota (1.14-1.26
	// MB/s in runs on the development machine); unthrottled, librdkafka
	// sends hundreds of MB/s here.
	if want := float64(1 << 20); got < 0.8*want || got > 1.3*want {
		t.Fatalf("librdkafka producer got %.0f B/s, want %.0f within -20%% and +30%%", got, want)
	}
	if longest == 0 {
		t.Fatal("librdkafka was never told throttle_time_ms > 0")
	}
	if freeHook.n.Load() != 0 || freeRate < 4*float64(1<<20) {
		t.Fatalf("the unthrottled producer got %.0f B/s with %d throttles", freeRate, freeHook.n.Load())
	}
}

// consumer_byte_rate: a franz-go consumer limited to 1 MiB/s reads a
// backlog at about that rate; a fetch over the quota is answered at once
// with no records and the throttle time, which franz-go waits out, and its
// bytes are not counted. Six samples of a second: with fewer, a sample
// expiring drops a third of the measured bytes at once, and a consumer
// fetching a megabyte at a time (franz-go's default) gets little more
// than half its quota; with Kafka's eleven, the first burst of ten
// seconds' worth takes that long to leave the window.
func TestFetchQuotaThrottlesFranzGoConsumer(t *testing.T) {
	b := startBroker(t, map[string]string{"quota.window.num": "6", "quota.window.size.seconds": "1"})
	createTopicWith(t, b.client(), "fetch-quota", 1)
	ctx := testContext(t, 60*time.Second)
	producer := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := make([]byte, 10<<10)
	for i := 0; i < 3000; i++ { // 30 MB of backlog
		producer.Produce(ctx, &kgo.Record{Topic: "fetch-quota", Value: value}, nil)
	}
	if err := producer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	setClientQuota(t, b.admin(), "slow-reader", "consumer_byte_rate", 1<<20)

	var hook throttleHook
	cl := newClient(t, b.addr, kgo.ClientID("slow-reader"), kgo.WithHooks(&hook), kgo.ConsumeTopics("fetch-quota"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	const run, from = 16 * time.Second, 5 * time.Second // after the first burst (5 s worth) has left the window
	start := time.Now()
	buckets := make([]int64, int(run/(100*time.Millisecond))+1)
	for time.Since(start) < run {
		pctx, cancel := context.WithDeadline(ctx, start.Add(run))
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if i := int(time.Since(start) / (100 * time.Millisecond)); i < len(buckets) {
				buckets[i] += int64(len(r.Value))
			}
		})
	}
	got := rateBetween(buckets, from, run)
	t.Logf("consumer limited to 1 MiB/s read %.2f MB/s from %v to %v, %d throttles, longest %v", got/1e6, from, run, hook.n.Load(), time.Duration(hook.max.Load()))
	if want := float64(1 << 20); got < 0.8*want || got > 1.2*want {
		t.Fatalf("consumer read %.0f B/s, want %.0f within 20%%", got, want)
	}
	if hook.n.Load() == 0 {
		t.Fatal("the consumer was never told throttle_time_ms > 0")
	}
}

// request_percentage (KIP-124): a client allowed 0.001% of a handler
// thread is throttled after a few requests (at most one sample window,
// as Kafka caps it), and a produce of a version before KIP-219 (v5) from a
// client over its byte rate gets its response late instead of at once.
func TestRequestPercentageAndPreKIP219Throttling(t *testing.T) {
	b := startBroker(t, nil)
	createTopicWith(t, b.client(), "old-client", 1)
	setClientQuota(t, b.admin(), "busy", "request_percentage", 0.001)
	setClientQuota(t, b.admin(), "old", "producer_byte_rate", 3000)

	var hook, freeHook throttleHook
	busy := newClient(t, b.addr, kgo.ClientID("busy"), kgo.WithHooks(&hook))
	free := newClient(t, b.addr, kgo.ClientID("free"), kgo.WithHooks(&freeHook))
	ctx := testContext(t, 30*time.Second)
	for i := 0; i < 300 && hook.n.Load() == 0; i++ {
		for _, cl := range []*kgo.Client{busy, free} {
			req := kmsg.NewPtrDescribeConfigsRequest()
			res := kmsg.NewDescribeConfigsRequestResource()
			res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "old-client"
			req.Resources = append(req.Resources, res)
			if _, err := req.RequestWith(ctx, cl); err != nil {
				t.Fatal(err)
			}
		}
	}
	if hook.n.Load() == 0 {
		t.Fatal("a client at request_percentage=0.001 was never throttled")
	}
	if d := time.Duration(hook.max.Load()); d > time.Second {
		t.Fatalf("request throttle %v, want at most one sample window (1s)", d)
	}
	if freeHook.n.Load() != 0 {
		t.Fatal("a client without a quota was throttled")
	}

	// Produce v5 predates client-side throttling: the broker holds the
	// response back for the throttle time.
	c := dialRaw(t, b.addr)
	send := func(corr int32) (time.Duration, kmsg.ProduceResponseTopicPartition, int32) {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 5, 1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "old-client"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch(string(make([]byte, 4000)))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		frame := []byte{0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 3, 'o', 'l', 'd'}
		binary.BigEndian.PutUint32(frame[8:], uint32(corr))
		frame = req.AppendTo(frame)
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		start := time.Now()
		c.write(frame)
		_, body := c.response(false)
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 5
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		return time.Since(start), resp.Topics[0].Partitions[0], resp.ThrottleMillis
	}
	// 4 KB a request against 3000 B/s over a 10 s window: the eighth
	// goes over.
	var took time.Duration
	var throttle int32
	for corr := int32(1); corr <= 12 && throttle == 0; corr++ {
		var p kmsg.ProduceResponseTopicPartition
		took, p, throttle = send(corr)
		if p.ErrorCode != 0 {
			t.Fatalf("produce v5: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if throttle <= 0 {
		t.Fatal("48 KB against 3000 B/s: never throttled")
	}
	if took < time.Duration(throttle)*time.Millisecond {
		t.Fatalf("a v5 produce throttled %d ms was answered after %v: want the response held back", throttle, took)
	}
	t.Logf("produce v5 over its quota: throttle_time_ms %d, answered after %v", throttle, took.Round(time.Millisecond))
}

// TestProduceQuotaCountsTheBytesSent: producer_byte_rate counts the record
// bytes as the client sent them, as Kafka does, not what a topic's
// compression.type made of them: uncompressed records to a gzip topic are
// throttled as uncompressed.
func TestProduceQuotaCountsTheBytesSent(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"quota.window.num": "3", "quota.window.size.seconds": "1"})
	gzip := "gzip"
	b.createTopic("quota-gzip", 1, map[string]*string{"compression.type": &gzip})
	setClientQuota(t, b.admin(), "sender", "producer_byte_rate", 200_000)
	var hook throttleHook
	cl := newClient(t, b.addr, kgo.ClientID("sender"), kgo.WithHooks(&hook),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1<<20))
	ctx := testContext(t, 30*time.Second)
	value := make([]byte, 200<<10) // zeros: gzip makes little of them
	for i := 0; i < 10 && hook.n.Load() == 0; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "quota-gzip", Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if hook.n.Load() == 0 {
		t.Fatal("2 MB sent at producer_byte_rate=200000 to a gzip topic was never throttled")
	}
}

// TestClientQuotaRequestsCheckedAsKafka: DescribeClientQuotas refuses the
// filters Kafka's ClientQuotasImage refuses, and AlterClientQuotas the
// entities and values its ClientQuotaControlManager refuses; an IP quota
// applies whatever spelling of the address it was set with, and removing
// a key that was never set is no error.
func TestClientQuotaRequestsCheckedAsKafka(t *testing.T) {
	t.Parallel()
	b := startBroker(t, nil)
	setClientQuota(t, b.admin(), "c1", "producer_byte_rate", 1000)
	cl := b.client()
	ctx := testContext(t, 30*time.Second)
	s := func(v string) *string { return &v }
	for _, c := range []struct {
		name  string
		comps []kmsg.DescribeClientQuotasRequestComponent
		want  int16
	}{
		{"default with a match", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "client-id", MatchType: 1, Match: s("c1")}}, kerr.InvalidRequest.Code},
		{"specified with a match", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "client-id", MatchType: 2, Match: s("zzz")}}, kerr.InvalidRequest.Code},
		{"unknown match type", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "client-id", MatchType: 7}}, kerr.InvalidRequest.Code},
		{"ip with client-id", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "ip", MatchType: 2}, {EntityType: "client-id", MatchType: 2}}, kerr.InvalidRequest.Code},
		{"unknown entity type", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "group", MatchType: 2}}, kerr.UnsupportedVersion.Code},
		{"exact client-id", []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "client-id", MatchType: 0, Match: s("c1")}}, 0},
	} {
		req := kmsg.NewPtrDescribeClientQuotasRequest()
		req.Components = c.comps
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != c.want {
			t.Errorf("describe, %s: %v, want %v", c.name, kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(c.want))
		}
	}
	for _, c := range []struct {
		name   string
		entity []kmsg.AlterClientQuotasRequestEntryEntity
		key    string
		value  float64
		remove bool
		want   int16
	}{
		{"empty client-id", []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "client-id", Name: s("")}}, "producer_byte_rate", 1000, false, kerr.InvalidRequest.Code},
		{"empty user", []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: s("")}}, "producer_byte_rate", 1000, false, kerr.InvalidRequest.Code},
		{"ip not an address", []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "ip", Name: s("not an ip!")}}, "connection_creation_rate", 10, false, kerr.InvalidRequest.Code},
		{"rate above an INT", []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "ip", Name: s("10.0.0.1")}}, "connection_creation_rate", 1e12, false, kerr.InvalidRequest.Code},
		{"removing what was never set", []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "client-id", Name: s("nobody")}}, "no_such_quota", 0, true, 0},
	} {
		req := kmsg.NewPtrAlterClientQuotasRequest()
		e := kmsg.NewAlterClientQuotasRequestEntry()
		e.Entity = c.entity
		e.Ops = []kmsg.AlterClientQuotasRequestEntryOp{{Key: c.key, Value: c.value, Remove: c.remove}}
		req.Entries = append(req.Entries, e)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.Entries[0].ErrorCode; code != c.want {
			t.Errorf("alter, %s: %v, want %v", c.name, kerr.ErrorForCode(code), kerr.ErrorForCode(c.want))
		}
	}

	// An IPv4 address set in its IPv6-mapped spelling limits the
	// connections from that IPv4 address.
	ip := "::ffff:127.0.0.1"
	res, err := b.admin().AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "ip", Name: &ip}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 1}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter client quotas: %v %+v", err, res)
	}
	refused := 0
	for range 20 {
		c := dialRaw(t, b.addr)
		if !answers(c, 2*time.Second) {
			refused++
		}
		c.nc.Close()
	}
	if refused == 0 {
		t.Fatalf("connection_creation_rate=1 set for %s refused none of 20 connections from 127.0.0.1", ip)
	}
}
