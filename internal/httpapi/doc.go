// Package httpapi is Sluice's HTTP admin listener (--http-listen, default
// 127.0.0.1:9644): /healthz, /readyz, /metrics and, with --http-pprof,
// Go's pprof handlers. Each endpoint is a function computing its answer
// (a Readiness, a metrics registry) and a thin handler serving it; all
// routes are registered in one place, New.
package httpapi
