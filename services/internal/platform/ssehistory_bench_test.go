package platform

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/services/gateway"
)

// BenchmarkSSEHistory streams the 10,000 persisted events of a thing over
// SSE, over real HTTP, gateway to things service (journal reads, paged)
// and back, and reports events per second (the target: 30,000).
//
//	go test -run '^$' -bench SSEHistory ./internal/platform
func BenchmarkSSEHistory(b *testing.B) {
	const events = 10000
	cfg, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	cfg.Infra.DataDir = b.TempDir()
	cfg.Infra.NATSListen = "off"
	cfg.Infra.NATSURL, cfg.Infra.MongoURI, cfg.Infra.Instance = "", "", "bench"
	cfg.Gateway.HTTPPort = 0
	cfg.Metrics.Hostname, cfg.Metrics.Port = "127.0.0.1", 0
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, cfg, All, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	srv := httptest.NewServer(p.runners[Gateway].(*gateway.Gateway).Handler())
	b.Cleanup(func() {
		srv.Close()
		cancel()
		_ = p.Wait(ctx)
	})
	do := func(method, path, body string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.SetBasicAuth("ditto", "ditto")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const thing = "/api/2/things/org.acme.bench:history"
	for do("PUT", thing, `{"attributes":{"n":1}}`) != http.StatusCreated {
		if ctx.Err() != nil {
			b.Fatal("platform not ready")
		}
	}
	for n := 2; n <= events; n++ {
		if code := do("PUT", thing+"/attributes/n", strconv.Itoa(n)); code != http.StatusNoContent {
			b.Fatalf("PUT %d: %d", n, code)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("GET", srv.URL+thing+"?from-historical-revision=0&fields=thingId,attributes,_revision", nil)
		req.SetBasicAuth("ditto", "ditto")
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		got := 0
		for sc.Scan() {
			if bytes.HasPrefix(sc.Bytes(), []byte("data:{")) {
				got++
			}
		}
		resp.Body.Close()
		if got != events {
			b.Fatalf("got %d events, want %d", got, events)
		}
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}
