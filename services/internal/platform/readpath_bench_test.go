package platform

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/gateway"
)

// BenchmarkReadThing measures the read path in one process, gateway to
// things service and back, with allocations: what metrics and tracing cost
// a GET. It reads its configuration from the environment, so the same
// benchmark compares settings (PROMETHEUS_ENABLED, DITTO_TRACING_ENABLED,
// DITTO_TRACING_SAMPLER) and builds:
//
//	PROMETHEUS_PORT=0 go test -run '^$' -bench ReadThing -benchmem ./internal/platform
func BenchmarkReadThing(b *testing.B) {
	do := benchPlatform(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if code := do("GET", "/api/2/things/org.acme.bench:t1", ""); code != http.StatusOK {
			b.Fatalf("GET: %d", code)
		}
	}
}

// BenchmarkModifyThing is BenchmarkReadThing for a PUT of an attribute:
// the write path with its journal append and event publication.
func BenchmarkModifyThing(b *testing.B) {
	do := benchPlatform(b)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		if code := do("PUT", "/api/2/things/org.acme.bench:t1/attributes/n", strconv.Itoa(i)); code != http.StatusNoContent {
			b.Fatalf("PUT: %d", code)
		}
	}
}

// benchPlatform starts the platform configured from the environment with
// one thing, and returns a function sending a request to its gateway.
func benchPlatform(b *testing.B) func(method, path, body string) int {
	cfg, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	cfg.Infra.DataDir = b.TempDir()
	cfg.Infra.NATSListen = "off"
	cfg.Infra.NATSURL, cfg.Infra.MongoURI, cfg.Infra.Instance = "", "", "bench"
	cfg.Gateway.HTTPPort = 0
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, cfg, All, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cancel()
		_ = p.Wait(ctx)
	})
	h := p.runners[Gateway].(*gateway.Gateway).Handler()
	do := func(method, path, body string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.SetBasicAuth("ditto", "ditto")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	deadline := time.Now().Add(10 * time.Second)
	for do("PUT", "/api/2/things/org.acme.bench:t1", `{"attributes":{"on":true,"n":1}}`) != http.StatusCreated {
		if time.Now().After(deadline) {
			b.Fatal("platform not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return do
}
