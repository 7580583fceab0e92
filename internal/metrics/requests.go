package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice-io/sluice/internal/broker"
)

// handler is what the Kafka listener calls: the broker, or a wrapper of it.
type handler interface {
	Supports(key, version int16) bool
	Handle(ctx context.Context, c *broker.Client, req kmsg.Request) broker.Reply
}

// maxVersion bounds the versions counted per API key; a request at a higher
// version (only ApiVersions is answered at any version, KIP-511) is counted
// as version "other".
const maxVersion = 32

// apiMetrics are the request metrics of one API key, created once so that
// a request costs an array index and atomic adds, no label lookup.
type apiMetrics struct {
	versions [maxVersion + 1]prometheus.Counter
	other    prometheus.Counter
	latency  prometheus.Observer
}

// Handler counts the requests the listener hands to the broker and times
// them: from the call until the response is ready, including the wait of a
// deferred reply (acks=all Produce, a Fetch waiting for data). It also
// counts the bytes and records produced to and fetched from each topic.
type Handler struct {
	next   handler
	apis   [kmsg.MaxKey + 1]*apiMetrics
	topics *Topics
	// software counts clients by the software they name (KIP-511).
	software *prometheus.CounterVec
	// softwareSeen bounds software's label pairs: clients choose them.
	softwareMu   sync.Mutex
	softwareSeen map[[2]string]struct{}
}

// maxSoftware is how many client software name/version pairs are counted
// apart; later ones count as "other".
const maxSoftware = 200

// NewHandler wraps next and registers sluice_requests_total and
// sluice_request_duration_seconds on reg. Counters exist, at zero, for
// every API key and version next supports.
func NewHandler(reg prometheus.Registerer, next handler, topics *Topics) *Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_requests_total",
		Help: "Kafka requests handled, by API and version.",
	}, []string{"api", "version"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluice_request_duration_seconds",
		Help:    "Time from a request's dispatch to its response being ready, by API; includes waiting (acks=all, fetch.max.wait.ms), not queueing or writing.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14), // 100µs to ~15s
	}, []string{"api"})
	software := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_client_software_connections_total",
		Help: "ApiVersions requests (one per connection) of clients naming their software (KIP-511), by name and version; after 200 pairs, name and version \"other\".",
	}, []string{"client_software_name", "client_software_version"})
	reg.MustRegister(requests, latency, software)
	h := &Handler{next: next, topics: topics, software: software, softwareSeen: map[[2]string]struct{}{}}
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		var m *apiMetrics
		name := kmsg.NameForKey(key)
		for v := int16(0); v <= maxVersion; v++ {
			if !next.Supports(key, v) {
				continue
			}
			if m == nil {
				m = &apiMetrics{latency: latency.WithLabelValues(name), other: requests.WithLabelValues(name, "other")}
			}
			m.versions[v] = requests.WithLabelValues(name, strconv.Itoa(int(v)))
		}
		h.apis[key] = m
	}
	return h
}

// Supports is the wrapped handler's.
func (h *Handler) Supports(key, version int16) bool { return h.next.Supports(key, version) }

// Handle serves req through the wrapped handler and records it.
func (h *Handler) Handle(ctx context.Context, c *broker.Client, req kmsg.Request) broker.Reply {
	start := time.Now()
	reply := h.next.Handle(ctx, c, req)
	if reply.Wait != nil {
		wait := reply.Wait
		reply.Wait = func(ctx context.Context) kmsg.Response {
			resp := wait(ctx)
			h.done(start, req, resp)
			return resp
		}
		return reply
	}
	h.done(start, req, reply.Response)
	return reply
}

// done records a request whose response (nil: none, as for acks=0) is
// ready.
func (h *Handler) done(start time.Time, req kmsg.Request, resp kmsg.Response) {
	key, v := req.Key(), req.GetVersion()
	if key < 0 || int(key) >= len(h.apis) || h.apis[key] == nil {
		return
	}
	m := h.apis[key]
	if v >= 0 && v <= maxVersion && m.versions[v] != nil {
		m.versions[v].Inc()
	} else {
		m.other.Inc()
	}
	m.latency.Observe(time.Since(start).Seconds())
	if h.topics == nil {
		return
	}
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		if r.Version >= 3 && r.ClientSoftwareName != "" {
			h.countSoftware(r.ClientSoftwareName, r.ClientSoftwareVersion)
		}
	case *kmsg.ProduceRequest:
		p, _ := resp.(*kmsg.ProduceResponse)
		h.topics.produced(r, p)
	case *kmsg.FetchRequest:
		if f, ok := resp.(*kmsg.FetchResponse); ok {
			h.topics.fetched(r, f)
		}
	}
}

func (h *Handler) countSoftware(name, version string) {
	k := [2]string{name, version}
	h.softwareMu.Lock()
	if _, ok := h.softwareSeen[k]; !ok {
		if len(h.softwareSeen) >= maxSoftware {
			k = [2]string{"other", "other"}
		} else {
			h.softwareSeen[k] = struct{}{}
		}
	}
	h.softwareMu.Unlock()
	h.software.WithLabelValues(k[0], k[1]).Inc()
}
