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
// one thing, and returns a function sending a request to its gateway
// (header: names and values).
func benchPlatform(b *testing.B) func(method, path, body string, header ...string) int {
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
	do := func(method, path, body string, header ...string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
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

// BenchmarkReadHistory reads an attribute of a thing with 2,000 revisions
// at spread revisions (at-historical-revision): the entity rebuilt from
// the nearest snapshot (THING_SNAPSHOT_THRESHOLD, 500) and the journal.
// Parallel, it is HISTORY_READ's many readers of one thing.
func BenchmarkReadHistory(b *testing.B) {
	const revs = 2000
	do := benchPlatform(b)
	for i := 2; i <= revs; i++ {
		if code := do("PUT", "/api/2/things/org.acme.bench:t1/attributes/n", strconv.Itoa(i)); code != http.StatusNoContent {
			b.Fatalf("PUT: %d", code)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			rev := 1 + (i*7919)%revs
			if code := do("GET", "/api/2/things/org.acme.bench:t1/attributes/n", "", "at-historical-revision", strconv.Itoa(rev)); code != http.StatusOK {
				b.Fatalf("GET at %d: %d", rev, code)
			}
		}
	})
}
