package test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// metricName matches the metric names in a PromQL expression: Sluice's and
// the Go and process collectors' (functions, labels and keywords have no
// such prefix).
var metricName = regexp.MustCompile(`\b(?:sluice|go|process)_[a-zA-Z0-9_]+`)

// TestGrafanaDashboardUsesExportedMetrics parses docs/grafana-dashboard.json
// and looks every metric its panels and variables query up in a scrape of
// a broker that has produced, consumed and committed, so a renamed metric
// cannot leave the dashboard silently empty.
func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	exprs := map[string]string{} // expression -> where
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs[tg.Expr] = "panel " + p.Title
		}
	}
	for _, v := range dash.Templating.List {
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) == nil && q.Query != "" {
			exprs[q.Query] = "variable " + v.Name
		}
	}

	b := startObservedBroker(t)
	ctx := testContext(t, 30*time.Second)
	cl := b.client(kgo.DefaultProduceTopic("dash"), kgo.AllowAutoTopicCreation(), kgo.ConsumeTopics("dash"),
		kgo.ConsumerGroup("dash-group"), kgo.DisableAutoCommit())
	if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 1; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	s := scrapeMetrics(t, b.node.HTTPAddr())

	checked := 0
	for expr, where := range exprs {
		names := metricName.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, name := range names {
			if s[name] == nil && s[histogramFamily(name)] == nil {
				t.Errorf("%s: %s is not in a scrape (%q)", where, name, expr)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d metric references checked", checked)
	}
	t.Logf("%d metric references in %d queries found in the scrape", checked, len(exprs))
}

// histogramFamily is the family of a histogram's series name.
func histogramFamily(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, suffix); ok {
			return f
		}
	}
	return name
}
