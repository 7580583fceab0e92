package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sluice-io/sluice/internal/node"
)

// The schema registry benchmark (go run ./bench -schema-registry): Sluice's
// built-in registry beside franz-go's srfake, an in-memory registry that
// stores nothing durably, in the same run. Each repetition registers
// srSchemas distinct Avro schemas one at a time (register latency: for
// Sluice an acks=all, fsynced append to _schemas and its read back), then
// srWorkers goroutines look schemas up by ID (GET /schemas/ids/{id}) and
// by schema (POST /subjects/{subject}) through franz-go's sr client.

const (
	srSchemas     = 200
	srWorkers     = 8
	srLookupsByID = 40000
	srLookupsBySc = 8000
)

// srResult is one registry's figures in one repetition.
type srResult struct {
	name                   string
	registerP50, p99, mean time.Duration
	byID, bySchema         float64 // lookups per second
}

// RunSchemaRegistry runs the schema registry benchmark and prints a table
// and the ratios of Sluice to srfake.
func RunSchemaRegistry(ctx context.Context, opts Options) error {
	reps := max(opts.Reps, 1)
	out := opts.Out
	fmt.Fprintf(out, "schema registry: %d registers, %d lookups by ID and %d by schema over %d workers, %d reps\n",
		srSchemas, srLookupsByID, srLookupsBySc, srWorkers, reps)
	fmt.Fprintf(out, "%-8s %-4s %12s %12s %12s %14s %16s\n", "registry", "rep", "reg p50", "reg p99", "reg mean", "by ID /s", "by schema /s")
	var all []srResult
	for rep := 1; rep <= reps; rep++ {
		for _, name := range []string{"sluice", "srfake"} {
			res, err := runRegistryOnce(ctx, opts, name)
			if err != nil {
				return fmt.Errorf("%s rep %d: %w", name, rep, err)
			}
			fmt.Fprintf(out, "%-8s %-4d %12v %12v %12v %14.0f %16.0f\n", name, rep,
				res.registerP50.Round(time.Microsecond), res.p99.Round(time.Microsecond), res.mean.Round(time.Microsecond), res.byID, res.bySchema)
			all = append(all, res)
		}
	}
	med := func(name string, f func(srResult) float64) float64 {
		var v []float64
		for _, r := range all {
			if r.name == name {
				v = append(v, f(r))
			}
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, m := range []struct {
		what string
		f    func(srResult) float64
	}{
		{"register p50", func(r srResult) float64 { return float64(r.registerP50) }},
		{"lookups by ID/s", func(r srResult) float64 { return r.byID }},
		{"lookups by schema/s", func(r srResult) float64 { return r.bySchema }},
	} {
		s, f := med("sluice", m.f), med("srfake", m.f)
		fmt.Fprintf(out, "median %-20s sluice/srfake %.2f\n", m.what, s/f)
	}
	return nil
}

func runRegistryOnce(ctx context.Context, opts Options, name string) (srResult, error) {
	res := srResult{name: name}
	var url string
	switch name {
	case "sluice":
		dir, err := os.MkdirTemp(opts.TmpDir, "sluice-bench-sr-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		n, err := node.Start(ctx, node.Config{
			NodeID: 1, Listen: "127.0.0.1:0", DataDir: dir, Logger: slog.New(slog.DiscardHandler),
			SchemaRegistryListen: "127.0.0.1:0",
		})
		if err != nil {
			return res, err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n.Shutdown(sctx)
		}()
		url = "http://" + n.SchemaRegistryAddr()
	default:
		reg := srfake.New()
		defer reg.Close()
		url = reg.URL()
	}
	httpcl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: srWorkers}}
	cl, err := sr.NewClient(sr.URLs(url), sr.HTTPClient(httpcl))
	if err != nil {
		return res, err
	}
	schemaText := func(i int) string {
		return fmt.Sprintf(`{"type":"record","name":"Bench%d","fields":[{"name":"id","type":"long"},{"name":"f%d","type":"string"}]}`, i, i)
	}
	lat := make([]int64, 0, srSchemas)
	ids := make([]int, 0, srSchemas)
	var total time.Duration
	for i := range srSchemas {
		start := time.Now()
		id, err := cl.RegisterSchema(ctx, fmt.Sprintf("bench-%d-value", i), sr.Schema{Schema: schemaText(i)}, -1, -1)
		if err != nil {
			return res, fmt.Errorf("register %d: %w", i, err)
		}
		d := time.Since(start)
		total += d
		lat = append(lat, int64(d))
		ids = append(ids, id)
	}
	slices.Sort(lat)
	res.registerP50, res.p99 = time.Duration(percentile(lat, 0.50)), time.Duration(percentile(lat, 0.99))
	res.mean = total / srSchemas

	lookups := func(count int, one func(i int) error) (float64, error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		start := time.Now()
		for range srWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= count {
						return
					}
					if err := one(i); err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(count) / time.Since(start).Seconds(), firstErr
	}
	if res.byID, err = lookups(srLookupsByID, func(i int) error {
		_, err := cl.SchemaByID(ctx, ids[i%len(ids)])
		return err
	}); err != nil {
		return res, fmt.Errorf("lookup by ID: %w", err)
	}
	if res.bySchema, err = lookups(srLookupsBySc, func(i int) error {
		k := i % srSchemas
		ss, err := cl.LookupSchema(ctx, fmt.Sprintf("bench-%d-value", k), sr.Schema{Schema: schemaText(k)})
		if err == nil && ss.ID != ids[k] {
			err = fmt.Errorf("lookup of schema %d gave id %d, want %d", k, ss.ID, ids[k])
		}
		return err
	}); err != nil {
		return res, fmt.Errorf("lookup by schema: %w", err)
	}
	return res, nil
}
