package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"
)

// TestMetricsScrapeScale measures what a scrape of /metrics costs on a
// broker hosting many partitions (SLUICE_SCALE_TOPICS topics of
// SLUICE_SCALE_PARTITIONS partitions, 10 x 1,000 by default): the
// collectors walk the hosted partitions once per scrape. It is a
// measurement, not a check: it runs only with SLUICE_SCALE set.
//
//	SLUICE_SCALE=1 go test ./internal/node -run MetricsScrapeScale -v
func TestMetricsScrapeScale(t *testing.T) {
	if os.Getenv("SLUICE_SCALE") == "" {
		t.Skip("set SLUICE_SCALE to run")
	}
	topics := envInt("SLUICE_SCALE_TOPICS", 10)
	parts := envInt("SLUICE_SCALE_PARTITIONS", 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := Start(ctx, Config{NodeID: 1, Listen: "127.0.0.1:0", DataDir: t.TempDir(),
		Settings: map[string]string{"sluice.http.listen": "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdownScaleNode(t, n)
	scrape := func() (time.Duration, int) {
		start := time.Now()
		resp, err := http.Get("http://" + n.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape: %v %s", err, resp.Status)
		}
		return time.Since(start), len(body)
	}
	gather := func() time.Duration {
		start := time.Now()
		if _, err := n.obs.reg.Gather(); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	measure := func(label string) {
		var scrapes, gathers []time.Duration
		size := 0
		for range 15 {
			d, s := scrape()
			scrapes, size = append(scrapes, d), s
			gathers = append(gathers, gather())
		}
		slices.Sort(scrapes)
		slices.Sort(gathers)
		t.Logf("%s: /metrics median %v (%d KB), registry gather median %v", label,
			scrapes[len(scrapes)/2].Round(10*time.Microsecond), size>>10, gathers[len(gathers)/2].Round(10*time.Microsecond))
	}
	measure("no topics")
	took := createTopics(t, n, topics, parts)
	t.Logf("created %d partitions in %v", topics*parts, took.Round(time.Millisecond))
	// Wait until every partition is open: the scrape counts them.
	deadline := time.Now().Add(2 * time.Minute)
	for len(n.replicas.Partitions()) < topics*parts {
		if time.Now().After(deadline) {
			t.Fatalf("%d partitions open of %d", len(n.replicas.Partitions()), topics*parts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	measure(fmt.Sprintf("hosting %d partitions", len(n.replicas.Partitions())))
}
