package main

// The TLS benchmark (-tls): what encryption and authentication cost.
//
// Throughput: the large workload (1 KiB values, acks=all, idempotent, one
// franz-go producer then one consumer) over plaintext and over TLS, each
// on a fresh broker, alternating which goes first, for Sluice (one node
// with PLAINTEXT, SSL and SASL_SSL listeners) and beside it kfake (one
// cluster per transport: its TLS option applies to every listener). The
// result is the TLS/plaintext ratio per broker.
//
// Handshakes: connections per second that connect, handshake, authenticate
// and answer one ApiVersions (kgo's Ping), -tls-conns of them from
// -tls-workers goroutines, for plaintext, TLS, and SASL_SSL with
// SCRAM-SHA-256 and SCRAM-SHA-512 credentials of 4096 iterations (Kafka's
// default; kfake only serves those) and SCRAM-SHA-512 at 8192 (sluice user
// create's default). The client and the broker share the machine: a SCRAM
// connection costs the client one PBKDF2 of the password and the broker
// none (it stores the salted keys), plus four HMACs each.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice-io/sluice/internal/devcert"
	"github.com/sluice-io/sluice/internal/node"
)

const (
	transportPlain = "plaintext"
	transportTLS   = "tls"
)

// TLSRun is one broker over one transport in one repetition.
type TLSRun struct {
	Rep           int     `json:"rep"`
	Broker        string  `json:"broker"`
	Transport     string  `json:"transport"`
	Records       int     `json:"records"`
	ProduceRecSec float64 `json:"produce_records_per_sec"`
	ProduceMBSec  float64 `json:"produce_mb_per_sec"`
	P50Ms         float64 `json:"produce_p50_ms"`
	P99Ms         float64 `json:"produce_p99_ms"`
	ConsumeRecSec float64 `json:"consume_records_per_sec"`
	ConsumeMBSec  float64 `json:"consume_mb_per_sec"`
	// ProduceCPUus and ConsumeCPUus are this process's CPU time per
	// record: client and broker together, both in this process. Less
	// moved by other load on the machine than the rates.
	ProduceCPUus float64 `json:"produce_cpu_us_per_record"`
	ConsumeCPUus float64 `json:"consume_cpu_us_per_record"`
	Err          string  `json:"error,omitempty"`
}

// HandshakeRun is one kind of connection to one broker in one repetition.
type HandshakeRun struct {
	Rep     int     `json:"rep"`
	Broker  string  `json:"broker"`
	Kind    string  `json:"kind"`
	Conns   int     `json:"connections"`
	ConnSec float64 `json:"connections_per_sec"`
	Err     string  `json:"error,omitempty"`
}

// TLSRatio is a broker's median over TLS divided by its median over
// plaintext (below 1: TLS is slower).
type TLSRatio struct {
	Broker        string  `json:"broker"`
	ProduceRecSec float64 `json:"produce_records_per_sec"`
	ConsumeRecSec float64 `json:"consume_records_per_sec"`
	P50           float64 `json:"produce_p50"`
	ProduceCPU    float64 `json:"produce_cpu_per_record"`
	ConsumeCPU    float64 `json:"consume_cpu_per_record"`
}

// TLSResults is everything one -tls run measured.
type TLSResults struct {
	Config     map[string]any     `json:"config"`
	Runs       []TLSRun           `json:"runs"`
	Handshakes []HandshakeRun     `json:"handshakes"`
	Ratios     []TLSRatio         `json:"tls_over_plaintext"`
	ConnSec    map[string]float64 `json:"median_connections_per_sec"`
}

// Failed counts the runs that failed.
func (r *TLSResults) Failed() int {
	n := 0
	for _, x := range r.Runs {
		if x.Err != "" {
			n++
		}
	}
	for _, x := range r.Handshakes {
		if x.Err != "" {
			n++
		}
	}
	return n
}

// tlsBrokers are the brokers of the TLS benchmark.
var tlsBrokers = []string{brokerSluice, brokerKfakeMem}

// secureBroker is a broker reachable over plaintext, TLS and SASL_SSL
// (an address may be empty where the broker does not serve it).
type secureBroker struct {
	plain, tls, sasl string
	stop             func(context.Context) error
}

// handshakeKinds are the connections the handshake benchmark opens.
var handshakeKinds = []struct {
	name       string
	mech       string // "", SCRAM-SHA-256 or SCRAM-SHA-512
	iterations int
	tls        bool
}{
	{"plaintext", "", 0, false},
	{"tls", "", 0, true},
	{"scram-sha-256/4096", "SCRAM-SHA-256", 4096, true},
	{"scram-sha-512/4096", "SCRAM-SHA-512", 4096, true},
	{"scram-sha-512/8192", "SCRAM-SHA-512", 8192, true},
}

func scramUser(mech string, iterations int) string {
	return fmt.Sprintf("bench-%s-%d", mech, iterations)
}

const scramBenchPassword = "bench-password"

// RunTLS runs the TLS benchmark and prints each run, the medians, the
// ratios and the JSON line to opts.Out.
func RunTLS(ctx context.Context, opts Options) (*TLSResults, error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Reps <= 0 || opts.RecordsLarge <= 0 || opts.SizeLarge <= 0 || opts.TLSConns <= 0 || opts.TLSWorkers <= 0 {
		return nil, errors.New("tls: reps, records, value size, connections and workers must be positive")
	}
	if len(opts.TLSBrokers) == 0 {
		return nil, errors.New("tls: no brokers")
	}
	for _, b := range opts.TLSBrokers {
		if b != brokerSluice && b != brokerKfakeMem {
			return nil, fmt.Errorf("tls: unknown broker %q (want %s or %s)", b, brokerSluice, brokerKfakeMem)
		}
	}
	certDir, err := os.MkdirTemp(opts.TmpDir, "sluice-bench-certs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(certDir)
	certs, _, err := devcert.Ensure(certDir, time.Now(), "bench-client", "localhost", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	clientTLS, err := benchClientTLS(certs.CA)
	if err != nil {
		return nil, err
	}
	w := workload{name: "large", records: opts.RecordsLarge, size: opts.SizeLarge, acksAll: true, noIdempotence: opts.NoIdempotence}
	pool := newPayloadPool(w.size)
	res := &TLSResults{Config: map[string]any{
		"cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0), "go": runtime.Version(),
		"reps": opts.Reps, "partitions": opts.Partitions, "records": w.records, "value_bytes": w.size,
		"acks": w.acks(), "connections": opts.TLSConns, "workers": opts.TLSWorkers,
		"tls": "TLS 1.3, ECDSA P-256 server certificate", "loadavg_start": loadAvg(),
	}, ConnSec: map[string]float64{}}
	out := opts.Out
	fmt.Fprintf(out, "Sluice TLS bench: %d CPUs, GOMAXPROCS %d, %s; load average at start %.2f\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadAvg())
	fmt.Fprintf(out, "%d reps: %s over plaintext and TLS, %d partitions; then %d connections from %d workers per kind\n\n",
		opts.Reps, w, opts.Partitions, opts.TLSConns, opts.TLSWorkers)
	// An untimed run first: the first broker started in a process ran
	// several times slower than the rest (heap growth, page faults on the
	// payload pool), whichever transport it served.
	warm := w
	warm.records = max(1000, w.records/10)
	if r := tlsRunOne(ctx, opts, opts.TLSBrokers[0], transportPlain, certs, clientTLS, warm, 0, pool); r.Err != "" {
		fmt.Fprintln(out, "warm-up run failed:", r.Err)
	}
	for rep := 1; rep <= opts.Reps; rep++ {
		for _, name := range opts.TLSBrokers {
			transports := []string{transportPlain, transportTLS}
			if rep%2 == 0 {
				transports = []string{transportTLS, transportPlain}
			}
			for _, tr := range transports {
				if err := ctx.Err(); err != nil {
					return res, err
				}
				r := tlsRunOne(ctx, opts, name, tr, certs, clientTLS, w, rep, pool)
				res.Runs = append(res.Runs, r)
				fmt.Fprintln(out, tlsRunLine(r, opts.Reps))
			}
			for _, h := range handshakeRuns(ctx, opts, name, certs, clientTLS, rep) {
				res.Handshakes = append(res.Handshakes, h)
				fmt.Fprintln(out, handshakeLine(h, opts.Reps))
			}
		}
	}
	res.Config["loadavg_end"] = loadAvg()
	printTLSSummary(out, res, opts)
	if !opts.NoJSON {
		if b, err := json.Marshal(res); err == nil {
			fmt.Fprintf(out, "\n%s\n", b)
		}
	}
	return res, ctx.Err()
}

func benchClientTLS(caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificates in %s", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// startSecure starts one broker of the TLS benchmark on dir. kfake takes
// one transport per cluster: transport says which (SASL_SSL is the TLS
// cluster with SASL on, for the handshakes).
func startSecure(ctx context.Context, name, transport string, sasl bool, dir string, certs devcert.Files) (*secureBroker, error) {
	switch name {
	case brokerSluice:
		return startSluiceSecure(ctx, dir, certs)
	case brokerKfakeMem:
		opts := []kfake.Opt{kfake.NumBrokers(1)}
		if transport == transportTLS {
			cert, err := tls.LoadX509KeyPair(certs.ServerCert, certs.ServerKey)
			if err != nil {
				return nil, err
			}
			opts = append(opts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
		}
		if sasl {
			opts = append(opts, kfake.EnableSASL(),
				kfake.Superuser("SCRAM-SHA-256", scramUser("SCRAM-SHA-256", 4096), scramBenchPassword),
				kfake.Superuser("SCRAM-SHA-512", scramUser("SCRAM-SHA-512", 4096), scramBenchPassword))
		}
		c, err := kfake.NewCluster(opts...)
		if err != nil {
			return nil, fmt.Errorf("start kfake: %w", err)
		}
		b := &secureBroker{stop: func(context.Context) error { c.Close(); return nil }}
		switch {
		case transport == transportPlain:
			b.plain = c.ListenAddrs()[0]
		case sasl:
			b.sasl = c.ListenAddrs()[0]
		default:
			b.tls = c.ListenAddrs()[0]
		}
		return b, nil
	}
	return nil, fmt.Errorf("tls: unknown broker %q", name)
}

// startSluiceSecure starts one Sluice node with PLAINTEXT, SSL and
// SASL_SSL listeners, and SCRAM users for the handshake kinds.
func startSluiceSecure(ctx context.Context, dir string, certs devcert.Files) (*secureBroker, error) {
	n, err := node.Start(ctx, node.Config{
		NodeID:  1,
		DataDir: dir,
		Settings: map[string]string{
			"listeners":                  "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
			"inter.broker.listener.name": "PLAINTEXT",
			"ssl.certificate.location":   certs.ServerCert,
			"ssl.key.location":           certs.ServerKey,
			"ssl.ca.location":            certs.CA,
			"sasl.enabled.mechanisms":    "SCRAM-SHA-256,SCRAM-SHA-512",
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, fmt.Errorf("start sluice: %w", err)
	}
	b := &secureBroker{plain: n.ListenerAddr("PLAINTEXT"), tls: n.ListenerAddr("SSL"), sasl: n.ListenerAddr("SASL_SSL"), stop: n.Shutdown}
	// SCRAM users, created over the plaintext listener (no authorizer).
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.plain))
	if err != nil {
		b.stop(ctx)
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, k := range handshakeKinds {
		if k.mech == "" {
			continue
		}
		m := kadm.ScramSha256
		if k.mech == "SCRAM-SHA-512" {
			m = kadm.ScramSha512
		}
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: scramUser(k.mech, k.iterations), Mechanism: m, Iterations: int32(k.iterations), Password: scramBenchPassword}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			b.stop(ctx)
			return nil, fmt.Errorf("create SCRAM user: %w", err)
		}
	}
	return b, nil
}

// tlsRunOne produces and consumes the workload over one transport on a
// fresh broker.
func tlsRunOne(ctx context.Context, opts Options, name, transport string, certs devcert.Files, clientTLS *tls.Config, w workload, rep int, pool payloadPool) (r TLSRun) {
	r = TLSRun{Rep: rep, Broker: name, Transport: transport, Records: w.records}
	fail := func(err error) TLSRun {
		if r.Err == "" && err != nil {
			r.Err = err.Error()
		}
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, opts.RunTimeout)
	defer cancel()
	dir, err := os.MkdirTemp(opts.TmpDir, "sluice-bench-tls-"+name+"-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	runtime.GC()
	b, err := startSecure(ctx, name, transport, false, filepath.Join(dir, "data"), certs)
	if err != nil {
		return fail(err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		if err := b.stop(sctx); err != nil {
			fail(fmt.Errorf("stop broker: %w", err))
		}
	}()
	addr, extra := b.plain, []kgo.Opt(nil)
	if transport == transportTLS {
		addr, extra = b.tls, []kgo.Opt{kgo.DialTLSConfig(clientTLS.Clone())}
	}
	topic := "bench-tls"
	if err := createTopics(ctx, addr, map[string]int{topic: opts.Partitions, warmupTopic(topic): 1}, 1, nil, 30*time.Second, extra...); err != nil {
		return fail(err)
	}
	stop, err := tlsProfile(opts, name, transport, "produce", rep)
	if err != nil {
		return fail(err)
	}
	cpu0 := selfCPU()
	pr, err := produce(ctx, addr, topic, w, opts.Window, pool, extra...)
	cpu1 := selfCPU()
	stop()
	if err != nil {
		return fail(fmt.Errorf("produce: %w", err))
	}
	r.ProduceCPUus = perRecordUs(cpu1-cpu0, pr.records)
	r.ProduceRecSec = float64(pr.records) / pr.elapsed.Seconds()
	r.ProduceMBSec = float64(pr.bytes) / pr.elapsed.Seconds() / 1e6
	r.P50Ms, r.P99Ms = ms(pr.p50), ms(pr.p99)
	if stop, err = tlsProfile(opts, name, transport, "consume", rep); err != nil {
		return fail(err)
	}
	cr, err := consume(ctx, addr, topic, opts.Partitions, pr.records, w.size, extra...)
	cpu2 := selfCPU()
	stop()
	if err != nil {
		return fail(fmt.Errorf("consume: %w", err))
	}
	r.ConsumeCPUus = perRecordUs(cpu2-cpu1, cr.records)
	r.ConsumeRecSec = float64(cr.records) / cr.elapsed.Seconds()
	r.ConsumeMBSec = float64(cr.bytes) / cr.elapsed.Seconds() / 1e6
	return r
}

// tlsProfile starts a CPU profile of one phase of a Sluice run when
// -cpuprofile asks for one (FILE.tls-<transport>.rep<N>.<phase>); the
// returned function stops it. The profile holds the client's CPU too.
func tlsProfile(opts Options, name, transport, phase string, rep int) (func(), error) {
	if opts.CPUProfile == "" || name != brokerSluice || rep == 0 {
		return func() {}, nil
	}
	f, err := os.Create(profilePath(opts.CPUProfile, "tls-"+transport, rep, phase))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// handshakeRuns measures every handshake kind on one fresh broker (kfake:
// one cluster per transport).
func handshakeRuns(ctx context.Context, opts Options, name string, certs devcert.Files, clientTLS *tls.Config, rep int) []HandshakeRun {
	ctx, cancel := context.WithTimeout(ctx, opts.RunTimeout)
	defer cancel()
	var runs []HandshakeRun
	started := map[string]*secureBroker{}
	defer func() {
		for _, b := range started {
			sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
			b.stop(sctx)
			scancel()
		}
	}()
	dir, err := os.MkdirTemp(opts.TmpDir, "sluice-bench-handshake-"+name+"-")
	if err != nil {
		return []HandshakeRun{{Rep: rep, Broker: name, Kind: "all", Err: err.Error()}}
	}
	defer os.RemoveAll(dir)
	broker := func(transport string, sasl bool) (*secureBroker, error) {
		key := transport
		if name == brokerSluice {
			key = "all"
		} else if sasl {
			key = "sasl"
		}
		if b, ok := started[key]; ok {
			return b, nil
		}
		b, err := startSecure(ctx, name, transport, sasl, filepath.Join(dir, key), certs)
		if err != nil {
			return nil, err
		}
		started[key] = b
		return b, nil
	}
	for _, k := range handshakeKinds {
		h := HandshakeRun{Rep: rep, Broker: name, Kind: k.name, Conns: opts.TLSConns}
		if name == brokerKfakeMem && k.iterations > 4096 {
			continue // kfake announces 4096 iterations whatever the credential
		}
		transport := transportPlain
		if k.tls {
			transport = transportTLS
		}
		b, err := broker(transport, k.mech != "")
		if err != nil {
			h.Err = err.Error()
			runs = append(runs, h)
			continue
		}
		addr := b.plain
		opts2 := []kgo.Opt{}
		if k.tls {
			addr = b.tls
			opts2 = append(opts2, kgo.DialTLSConfig(clientTLS.Clone()))
		}
		if k.mech != "" {
			addr = b.sasl
			var m sasl.Mechanism
			a := scram.Auth{User: scramUser(k.mech, k.iterations), Pass: scramBenchPassword}
			if k.mech == "SCRAM-SHA-512" {
				m = a.AsSha512Mechanism()
			} else {
				m = a.AsSha256Mechanism()
			}
			opts2 = append(opts2, kgo.SASL(m))
		}
		d, err := connectMany(ctx, addr, opts.TLSConns, opts.TLSWorkers, opts2)
		if err != nil {
			h.Err = err.Error()
		} else {
			h.ConnSec = float64(opts.TLSConns) / d.Seconds()
		}
		runs = append(runs, h)
	}
	return runs
}

// connectMany opens n connections from workers goroutines, each a new
// client that pings (connect, TLS and SASL handshakes, ApiVersions) and
// closes, and returns the time they took.
func connectMany(ctx context.Context, addr string, n, workers int, opts []kgo.Opt) (time.Duration, error) {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
				if err == nil {
					pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					err = cl.Ping(pctx)
					cancel()
					cl.Close()
				}
				if err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, fmt.Errorf("connect: %w", first)
	}
	return time.Since(start), nil
}

func tlsRunLine(r TLSRun, reps int) string {
	head := fmt.Sprintf("rep %d/%d  %-10s %-9s", r.Rep, reps, r.Broker, r.Transport)
	if r.Err != "" {
		return head + "  FAILED: " + r.Err
	}
	return fmt.Sprintf("%s  produce %6s rec/s %6.1f MB/s p50 %7s p99 %7s cpu %5.2fus/rec | consume %6s rec/s %6.1f MB/s cpu %5.2fus/rec",
		head, rate(r.ProduceRecSec), r.ProduceMBSec, msString(r.P50Ms), msString(r.P99Ms), r.ProduceCPUus,
		rate(r.ConsumeRecSec), r.ConsumeMBSec, r.ConsumeCPUus)
}

func handshakeLine(h HandshakeRun, reps int) string {
	head := fmt.Sprintf("rep %d/%d  %-10s %-19s", h.Rep, reps, h.Broker, h.Kind)
	if h.Err != "" {
		return head + "  FAILED: " + h.Err
	}
	return fmt.Sprintf("%s  %6.0f connections/s", head, h.ConnSec)
}

func printTLSSummary(out io.Writer, res *TLSResults, opts Options) {
	med := func(broker, transport string, f func(TLSRun) float64) float64 {
		var xs []float64
		for _, r := range res.Runs {
			if r.Broker == broker && r.Transport == transport && r.Err == "" {
				xs = append(xs, f(r))
			}
		}
		return median(xs)
	}
	prodRate := func(r TLSRun) float64 { return r.ProduceRecSec }
	consRate := func(r TLSRun) float64 { return r.ConsumeRecSec }
	p50 := func(r TLSRun) float64 { return r.P50Ms }
	prodCPU := func(r TLSRun) float64 { return r.ProduceCPUus }
	consCPU := func(r TLSRun) float64 { return r.ConsumeCPUus }
	fmt.Fprintf(out, "\nmedians over %d reps (1 KiB, acks=all; CPU of client and broker together):\n", opts.Reps)
	for _, b := range opts.TLSBrokers {
		for _, tr := range []string{transportPlain, transportTLS} {
			fmt.Fprintf(out, "  %-10s %-9s produce %6s rec/s p50 %7s cpu %5.2fus/rec | consume %6s rec/s cpu %5.2fus/rec\n", b, tr,
				rate(med(b, tr, prodRate)), msString(med(b, tr, p50)), med(b, tr, prodCPU), rate(med(b, tr, consRate)), med(b, tr, consCPU))
		}
		ratio := TLSRatio{
			Broker:        b,
			ProduceRecSec: round3(med(b, transportTLS, prodRate) / med(b, transportPlain, prodRate)),
			ConsumeRecSec: round3(med(b, transportTLS, consRate) / med(b, transportPlain, consRate)),
			P50:           round3(med(b, transportTLS, p50) / med(b, transportPlain, p50)),
			ProduceCPU:    round3(med(b, transportTLS, prodCPU) / med(b, transportPlain, prodCPU)),
			ConsumeCPU:    round3(med(b, transportTLS, consCPU) / med(b, transportPlain, consCPU)),
		}
		res.Ratios = append(res.Ratios, ratio)
		fmt.Fprintf(out, "  %-10s TLS/plaintext: produce %.2fx, consume %.2fx, produce p50 %.2fx; CPU per record: produce %.2fx, consume %.2fx\n",
			b, ratio.ProduceRecSec, ratio.ConsumeRecSec, ratio.P50, ratio.ProduceCPU, ratio.ConsumeCPU)
	}
	fmt.Fprintf(out, "\nconnections/s, median over %d reps (%d connections, %d workers; client and broker on the same machine):\n", opts.Reps, opts.TLSConns, opts.TLSWorkers)
	for _, b := range opts.TLSBrokers {
		var plain float64
		for _, k := range handshakeKinds {
			var xs []float64
			for _, h := range res.Handshakes {
				if h.Broker == b && h.Kind == k.name && h.Err == "" {
					xs = append(xs, h.ConnSec)
				}
			}
			if len(xs) == 0 {
				continue
			}
			m := median(xs)
			res.ConnSec[b+" "+k.name] = round3(m)
			if k.name == "plaintext" {
				plain = m
			}
			fmt.Fprintf(out, "  %-10s %-19s %6.0f/s  (%.2fx plaintext)\n", b, k.name, m, m/plain)
		}
	}
	if len(opts.TLSBrokers) == 2 {
		for _, k := range handshakeKinds {
			s, okS := res.ConnSec[brokerSluice+" "+k.name]
			f, okF := res.ConnSec[brokerKfakeMem+" "+k.name]
			if okS && okF {
				fmt.Fprintf(out, "  sluice/kfake %-19s %.2fx\n", k.name, s/f)
			}
		}
	}
}
