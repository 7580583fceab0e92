package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"
)

// scrape is one parse of a /metrics page.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t testing.TB, httpAddr string) scrape {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// value sums the samples of name whose labels include all of labels
// (name=value pairs): counters' and gauges' values, histograms' sample
// counts. ok is false when there is no such sample.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			has := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					has = true
				}
			}
			if !has {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

func (s scrape) must(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.value(name, labels...)
	if !ok {
		t.Fatalf("no sample %s%v in the scrape", name, labels)
	}
	return v
}

func startObservedBroker(t *testing.T) *broker {
	t.Helper()
	return startBroker(t, map[string]string{"sluice.http.listen": "127.0.0.1:0"})
}

// TestMetricsCountProduceFetchAndGroupLag produces, consumes and commits
// with franz-go and checks that each counter moved by exactly what the
// workload did: one Produce request per ProduceSync, the records and batch
// bytes in and out of the topic, and the group's lag from its committed
// offset and the high watermark.
func TestMetricsCountProduceFetchAndGroupLag(t *testing.T) {
	t.Parallel()
	b := startObservedBroker(t)
	httpAddr := b.node.HTTPAddr()
	b.createTopic("metered", 1, nil)
	ctx := testContext(t, 30*time.Second)

	before := scrapeMetrics(t, httpAddr)
	producesBefore, _ := before.value("sluice_requests_total", "api", "Produce")

	var produced atomic.Int64 // kgo calls hooks from its own goroutines
	cl := b.client(kgo.DefaultProduceTopic("metered"), kgo.WithHooks(batchBytesHook{&produced}))
	const n = 20
	for i := range n {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("value-%02d", i))).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	// Each acks=all produce, one after another, waited for one sync of
	// its partition's log alone: n syncs of one log each, and nothing
	// waits any more.
	synced := scrapeMetrics(t, httpAddr)
	if d := synced.must(t, "sluice_log_flush_duration_seconds") - before.must(t, "sluice_log_flush_duration_seconds"); d != n {
		t.Errorf("log syncs %v, want %d", d, n)
	}
	if d := histogramSum(synced, "sluice_log_flush_partitions") - histogramSum(before, "sluice_log_flush_partitions"); d != n {
		t.Errorf("partitions synced %v, want %d", d, n)
	}
	if v := synced.must(t, "sluice_purgatory_requests", "operation", "produce"); v != 0 {
		t.Errorf("produce requests waiting after every ack: %v", v)
	}
	// Consume everything in a group and commit it.
	consumer := b.client(kgo.ConsumeTopics("metered"), kgo.ConsumerGroup("metered-group"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < n {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		got += fs.NumRecords()
	}
	if got != n {
		t.Fatalf("consumed %d records, want %d", got, n)
	}
	// With everything read, the consumer's next fetch waits for data
	// (fetch.max.wait.ms) in purgatory.
	waitMetric(t, httpAddr, "a consumer fetch waiting", func(s scrape) bool {
		v, _ := s.value("sluice_purgatory_requests", "operation", "fetch_consumer")
		return v >= 1
	})
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}

	after := scrapeMetrics(t, httpAddr)
	batchBytes := produced.Load()
	if d := after.must(t, "sluice_requests_total", "api", "Produce") - producesBefore; d != n {
		t.Errorf("Produce requests counted %v, want %d", d, n)
	}
	if c := after.must(t, "sluice_request_duration_seconds", "api", "Produce"); c != n {
		t.Errorf("Produce latency samples %v, want %d", c, n)
	}
	if c := after.must(t, "sluice_requests_total", "api", "Fetch"); c < 1 {
		t.Errorf("Fetch requests counted %v, want some", c)
	}
	if v := after.must(t, "sluice_topic_records_in_total", "topic", "metered"); v != n {
		t.Errorf("records in %v, want %d", v, n)
	}
	if v := after.must(t, "sluice_topic_bytes_in_total", "topic", "metered"); v != float64(batchBytes) {
		t.Errorf("bytes in %v, want the %d bytes of batches produced", v, batchBytes)
	}
	if v := after.must(t, "sluice_topic_records_out_total", "topic", "metered"); v != n {
		t.Errorf("records out %v, want %d", v, n)
	}
	if v := after.must(t, "sluice_topic_bytes_out_total", "topic", "metered"); v != float64(batchBytes) {
		t.Errorf("bytes out %v, want %d", v, batchBytes)
	}
	if v := after.must(t, "sluice_partitions_leader"); v < 2 { // metered-0 and __consumer_offsets
		t.Errorf("partitions led %v, want at least 2", v)
	}
	if v := after.must(t, "sluice_log_dir_size_bytes", "dir", filepath.Clean(b.dataDir)); v < float64(batchBytes) {
		t.Errorf("log directory size %v, want at least the %d bytes produced", v, batchBytes)
	}
	if v := after.must(t, "sluice_log_size_bytes", "topic", "metered", "partition", "0"); v != float64(batchBytes) {
		t.Errorf("metered-0 log size %v, want the %d bytes of batches produced", v, batchBytes)
	}
	if e, led := after.must(t, "sluice_leader_elections_total"), after.must(t, "sluice_partitions_leader"); e < led {
		t.Errorf("leader elections %v, fewer than the %v partitions led", e, led)
	}
	if v := after.must(t, "sluice_isr_shrinks_total") + after.must(t, "sluice_isr_expands_total"); v != 0 {
		t.Errorf("ISR changes on a single broker: %v", v)
	}
	if v := after.must(t, "sluice_log_dir_offline", "dir", filepath.Clean(b.dataDir)); v != 0 {
		t.Errorf("log directory offline = %v, want 0", v)
	}
	if v := after.must(t, "sluice_partitions_under_replicated"); v != 0 {
		t.Errorf("under-replicated partitions %v, want 0", v)
	}
	if v := after.must(t, "sluice_connections", "listener", "PLAINTEXT"); v < 2 {
		t.Errorf("connections %v, want at least the producer's and consumer's", v)
	}
	if v := after.must(t, "sluice_raft_state", "state", "leader"); v != 1 {
		t.Errorf("raft leader state %v, want 1", v)
	}
	if v := after.must(t, "sluice_client_software_connections_total", "client_software_name", "kgo"); v < 2 {
		t.Errorf("kgo connections %v, want at least 2", v)
	}
	if v := after.must(t, "sluice_consumer_group_lag", "group", "metered-group", "topic", "metered", "partition", "0"); v != 0 {
		t.Errorf("lag after committing everything %v, want 0", v)
	}

	// Five more records: the group's lag is five.
	consumer.Close()
	for i := range 5 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("more-%d", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	last := scrapeMetrics(t, httpAddr)
	if v := last.must(t, "sluice_consumer_group_lag", "group", "metered-group", "topic", "metered", "partition", "0"); v != 5 {
		t.Errorf("lag %v, want 5", v)
	}
	if v := last.must(t, "sluice_consumer_groups", "state", "Empty"); v != 1 {
		t.Errorf("empty groups %v, want 1", v)
	}
}

// histogramSum is the sum of a histogram's observations.
func histogramSum(s scrape, name string) float64 {
	var sum float64
	if f := s[name]; f != nil {
		for _, m := range f.Metric {
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	return sum
}

// waitMetric scrapes until ok holds, for at most 20 seconds.
func waitMetric(t *testing.T, httpAddr, what string, ok func(scrape) bool) scrape {
	t.Helper()
	var s scrape
	waitFor(t, 20*time.Second, "the metrics to show "+what, func() bool {
		s = scrapeMetrics(t, httpAddr)
		return ok(s)
	})
	return s
}

// recordBatchHeader is the v2 record batch header, which kgo's batch sizes
// leave out.
const recordBatchHeader = 61

// batchBytesHook sums the bytes of the record batches franz-go produced.
type batchBytesHook struct{ n *atomic.Int64 }

func (h batchBytesHook) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	h.n.Add(int64(m.CompressedBytes + recordBatchHeader))
}

// TestHTTPHealthAndReadiness: /healthz and /readyz of a running broker
// answer 200 with JSON; /readyz answers 503 naming why once shutdown has
// begun; pprof is not served without sluice.http.pprof.enable.
func TestHTTPHealthAndReadiness(t *testing.T) {
	t.Parallel()
	b := startObservedBroker(t)
	addr := b.node.HTTPAddr()
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var v map[string]any
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatalf("GET %s: %v in %s", path, err, body)
			}
		}
		return resp.StatusCode, v
	}
	if code, v := get("/healthz"); code != 200 || v["status"] != "ok" {
		t.Fatalf("/healthz = %d %v", code, v)
	}
	// Ready once the partitions placed here at start-up are open.
	waitForErr(t, 10*time.Second, "/readyz to report ready", func() error {
		if code, v := get("/readyz"); code != 200 || v["ready"] != true {
			return fmt.Errorf("/readyz = %d %v", code, v)
		}
		return nil
	})
	if code, _ := get("/debug/pprof/"); code != 404 {
		t.Errorf("/debug/pprof/ without pprof enabled = %d, want 404", code)
	}
	b.stop()
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Errorf("HTTP listener still serves after shutdown")
	}
}

// TestHTTPPprofOnlyWhenEnabled: sluice.http.pprof.enable (--http-pprof)
// serves Go's pprof index and handlers.
func TestHTTPPprofOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"sluice.http.listen": "127.0.0.1:0", "sluice.http.pprof.enable": "true"})
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		resp, err := http.Get("http://" + b.node.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %s, want 200", path, resp.Status)
		}
	}
}

// TestMetricsLogCleaner writes ten values of each of five keys to a
// compacted topic whose segments roll every batch, and checks that the
// cleaner's counters moved by what it did: once nothing more is cleaned,
// the records it removed are exactly those no longer read from the log,
// it read more bytes than it wrote, and its last pass is recent.
func TestMetricsLogCleaner(t *testing.T) {
	t.Parallel()
	b := startBroker(t, map[string]string{"sluice.http.listen": "127.0.0.1:0", "log.cleaner.backoff.ms": "100"})
	httpAddr := b.node.HTTPAddr()
	b.createTopic("cleaned", 1, map[string]*string{
		"cleanup.policy":            strp("compact"),
		"segment.bytes":             strp("100"), // every batch in a segment of its own
		"min.cleanable.dirty.ratio": strp("0.01"),
	})
	start := time.Now()
	ctx := testContext(t, 60*time.Second)
	cl := b.client(kgo.DefaultProduceTopic("cleaned"))
	const keys, updates = 5, 10
	for i := range keys * updates {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%keys)), Value: []byte(fmt.Sprintf("v%03d", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var s scrape
	var kept int
	var logs, removed float64
	waitForErr(t, 30*time.Second, "the cleaner's metrics to match what is read back", func() error {
		s = scrapeMetrics(t, httpAddr)
		kept = len(readCompacted(t, b.addr, "cleaned"))
		again := scrapeMetrics(t, httpAddr)
		logs, removed = s.must(t, "sluice_log_cleaner_cleanings_total"), s.must(t, "sluice_log_cleaner_removed_records_total")
		settled := logs > 0 && again.must(t, "sluice_log_cleaner_cleanings_total") == logs
		if !settled || removed != float64(keys*updates-kept) || kept >= keys*updates {
			return fmt.Errorf("%v cleanings, %v records removed, %d of %d records read back", logs, removed, kept, keys*updates)
		}
		return nil
	})
	if r, w := s.must(t, "sluice_log_cleaner_read_bytes_total"), s.must(t, "sluice_log_cleaner_written_bytes_total"); r <= w || w <= 0 {
		t.Errorf("cleaner read %v bytes and wrote %v, want it to read more than it wrote", r, w)
	}
	if v := s.must(t, "sluice_log_cleaner_segments_total"); v < 1 {
		t.Errorf("segments cleaned %v", v)
	}
	if v := s.must(t, "sluice_log_cleaner_errors_total"); v != 0 {
		t.Errorf("cleaner errors %v", v)
	}
	if v := s.must(t, "sluice_log_cleaner_last_pass_timestamp_seconds"); v < float64(start.Unix()) {
		t.Errorf("last pass at %v, before the test began (%d)", v, start.Unix())
	}
	t.Logf("%d cleanings removed %v records; %d of %d read back", int(logs), removed, kept, keys*updates)
}
