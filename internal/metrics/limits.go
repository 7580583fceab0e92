package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluice-io/sluice/internal/quota"
)

// LimitSources are the broker-wide memory budgets the limits collector
// reads when scraped (issue 13: what bounds the broker's memory). Any
// field may be nil: its metrics are left out.
type LimitSources struct {
	// Requests is the request budget (queued.max.request.bytes).
	Requests *quota.Budget
	// Decompression is the budget produced batches and ListOffsets by
	// timestamp decompress on (sluice.decompression.max.bytes).
	Decompression *quota.Budget
	// FetchBuffers reports the bytes of pooled fetch read chunks in use
	// by responses now, and the most that may be.
	FetchBuffers func() (inUse, limit int64)
}

// limitsCollector exports the budgets' use at scrape time.
type limitsCollector struct {
	src LimitSources

	reqInUse, reqLimit, reqClients, reqWaits *prometheus.Desc
	decInUse, decLimit, decWaits             *prometheus.Desc
	fetchInUse, fetchLimit                   *prometheus.Desc
}

// RegisterLimits registers the collector of src's budgets on reg.
func RegisterLimits(reg prometheus.Registerer, src LimitSources) {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	reg.MustRegister(&limitsCollector{
		src:        src,
		reqInUse:   d("sluice_request_budget_in_use_bytes", "Request bytes read or being read and not yet handled, over all connections."),
		reqLimit:   d("sluice_request_budget_limit_bytes", "The request budget, queued.max.request.bytes."),
		reqClients: d("sluice_request_budget_clients", "Client addresses holding or waiting for request budget now; each may hold, beyond one request, the budget divided by them (at most half)."),
		reqWaits:   d("sluice_request_budget_waits_total", "Requests whose reading had to wait for request budget (full, or the client at its share)."),
		decInUse:   d("sluice_decompression_budget_in_use_bytes", "Bytes of decompression output held by batches being validated or searched now."),
		decLimit:   d("sluice_decompression_budget_limit_bytes", "The decompression budget, sluice.decompression.max.bytes."),
		decWaits:   d("sluice_decompression_budget_waits_total", "Decompressions that had to wait for the decompression budget."),
		fetchInUse: d("sluice_fetch_buffers_in_use_bytes", "Bytes of pooled fetch read chunks held by fetch responses now."),
		fetchLimit: d("sluice_fetch_buffers_limit_bytes", "The most fetch read chunks may hold; a response finding them taken carries less."),
	})
}

func (c *limitsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reqInUse, c.reqLimit, c.reqClients, c.reqWaits,
		c.decInUse, c.decLimit, c.decWaits, c.fetchInUse, c.fetchLimit} {
		ch <- d
	}
}

func (c *limitsCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	if b := c.src.Requests; b != nil {
		gauge(c.reqInUse, float64(b.InUse()))
		gauge(c.reqLimit, float64(b.Size()))
		gauge(c.reqClients, float64(b.Holders()))
		counter(c.reqWaits, float64(b.Waits()))
	}
	if b := c.src.Decompression; b != nil {
		gauge(c.decInUse, float64(b.InUse()))
		gauge(c.decLimit, float64(b.Size()))
		counter(c.decWaits, float64(b.Waits()))
	}
	if c.src.FetchBuffers != nil {
		inUse, limit := c.src.FetchBuffers()
		gauge(c.fetchInUse, float64(inUse))
		gauge(c.fetchLimit, float64(limit))
	}
}
