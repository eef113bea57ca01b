package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const testNS = "org.dittonats.bench"

// startTestBaseline serves a baseline of n things in-process.
func startTestBaseline(t *testing.T, n int) string {
	t.Helper()
	b, err := newBaseline(testNS, n, "ditto:ditto")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.handler())
	t.Cleanup(func() {
		srv.Close()
		b.close()
	})
	return srv.URL
}

func TestBaselineAnswers(t *testing.T) {
	t.Parallel()
	base := startTestBaseline(t, 10)
	tests := []struct {
		name       string
		path, user string
		wantStatus int
		wantBody   string
	}{
		{"existing thing", "/api/2/things/" + thingID(testNS, 9), "ditto:ditto", http.StatusOK, string(appendThing(nil, testNS, 9, true))},
		{"unknown thing", "/api/2/things/" + thingID(testNS, 10), "ditto:ditto", http.StatusNotFound, ""},
		{"wrong password", "/api/2/things/" + thingID(testNS, 0), "ditto:nope", http.StatusUnauthorized, ""},
		{"health", "/health", "", http.StatusOK, `{"status":"UP"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodGet, base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.user != "" {
				req.Header.Set("Authorization", newAuth(tt.user))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body %s, want %s", body, tt.wantBody)
			}
		})
	}
}

// The load generator against the baseline: successes are counted and timed,
// errors classified by Ditto error code, nothing dropped.
func TestRunPhase(t *testing.T) {
	t.Parallel()
	const n = 10
	base := startTestBaseline(t, n)
	c := newCorpus(testNS, n+5) // things n..n+4 do not exist
	read := &op{method: http.MethodGet, path: func(i int) string { return c.thing[i] }}
	tests := []struct {
		name     string
		user     string
		pick     picker
		wantOK   int64
		wantErrs map[string]int64
	}{
		{"every thing once", "ditto:ditto", sequentialPick(n), n, nil},
		{"missing things are errors", "ditto:ditto", sequentialPick(n + 5), n,
			map[string]int64{"HTTP 404 things:thing.notfound": 5}},
		{"unauthorized", "ditto:x", sequentialPick(3), 0,
			map[string]int64{"HTTP 401 gateway:authentication.failed": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tg, err := newTarget(base, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			ws := newWorkers(3)
			defer closeWorkers(ws)
			p := runPhase(context.Background(), tg, ws, read, tt.pick, 0, true)
			if p.ops != tt.wantOK || int64(len(p.lat)) != tt.wantOK {
				t.Errorf("ops %d with %d latencies, want %d of both", p.ops, len(p.lat), tt.wantOK)
			}
			if got, want := p.errs.total(), sum(tt.wantErrs); got != want {
				t.Errorf("errors %d, want %d: %+v", got, want, p.errs.sorted())
			}
			for kind, want := range tt.wantErrs {
				if k := p.errs[kind]; k == nil || k.Count != want {
					t.Errorf("errors of kind %q: %+v, want %d", kind, k, want)
				}
			}
			for i := 1; i < len(p.lat); i++ {
				if p.lat[i] < p.lat[i-1] {
					t.Fatalf("latencies not sorted at %d", i)
				}
			}
		})
	}
}

func TestRunPhaseDuration(t *testing.T) {
	t.Parallel()
	base := startTestBaseline(t, 10)
	tg, err := newTarget(base, "ditto:ditto")
	if err != nil {
		t.Fatal(err)
	}
	c := newCorpus(testNS, 10)
	read := &op{method: http.MethodGet, path: func(i int) string { return c.thing[i] }}
	ctx := context.Background()
	ws := newWorkers(2)
	defer closeWorkers(ws)
	warm := runPhase(ctx, tg, ws, read, randomPick(10), 50*time.Millisecond, false)
	if warm.ops == 0 || len(warm.lat) != 0 {
		t.Errorf("warm-up: %d ops, %d latencies; want some ops and no latencies", warm.ops, len(warm.lat))
	}
	p := runPhase(ctx, tg, ws, read, randomPick(10), 100*time.Millisecond, true)
	if p.ops == 0 || int64(len(p.lat)) != p.ops || p.errs.total() != 0 {
		t.Errorf("measured: %d ops, %d latencies, %d errors; want ops = latencies > 0, no errors", p.ops, len(p.lat), p.errs.total())
	}
	if p.elapsed < 100*time.Millisecond {
		t.Errorf("elapsed %v, want at least the duration", p.elapsed)
	}
}

func TestRunPhaseTransportError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler) // drops the connection without an answer
	}))
	defer srv.Close()
	tg, err := newTarget(srv.URL, "ditto:ditto")
	if err != nil {
		t.Fatal(err)
	}
	ws := newWorkers(1)
	defer closeWorkers(ws)
	ctx := context.Background()
	o := &op{method: http.MethodPut, path: func(int) string { return "/x" }, body: func(*worker, int) []byte { return []byte("1") }}
	p := runPhase(ctx, tg, ws, o, sequentialPick(2), 0, true)
	if p.ops != 0 || p.errs.total() != 2 {
		t.Fatalf("got %d ops and %d errors, want 0 and 2", p.ops, p.errs.total())
	}
	for _, k := range p.errs.sorted() {
		if k.Kind == "" || k.Kind[:10] != "transport:" {
			t.Errorf("kind %q, want a transport error", k.Kind)
		}
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// The re-exec path: the test binary serves the baseline as bench would (see
// TestMain), announces its address and exits on stop.
func TestStartBaselineSubprocess(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "baseline.log")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, base, err := startBaseline(ctx, exe, testNS, 10, "ditto:ditto", logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = p.stop(5 * time.Second) }()
	if r, err := rss(p.pid()); err != nil || r <= 0 {
		t.Errorf("rss of the baseline: %d, %v", r, err)
	}
	if err := p.waitHTTP(ctx, base+"/api/2/things/"+thingID(testNS, 3), newAuth("ditto:ditto"), 10*time.Millisecond, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := p.stop(10 * time.Second); err != nil {
		t.Errorf("stop: %v", err)
	}
	if !p.exited() {
		t.Error("baseline still running after stop")
	}
}

func TestServeBaselineExitsWhenStdinCloses(t *testing.T) {
	t.Parallel()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveBaseline(context.Background(), testNS, 1, "ditto:ditto", stdinR, outW) }()
	buf := make([]byte, len(readyLine))
	if _, err := io.ReadFull(outR, buf); err != nil || string(buf) != readyLine {
		t.Fatalf("announcement %q, %v; want %q", buf, err, readyLine)
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serveBaseline: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serveBaseline still running 10s after stdin closed")
	}
}

func TestClassifyUnwrapsURL(t *testing.T) {
	t.Parallel()
	err := transportError{errors.New("boom")}
	kind, ex := classify(err)
	if kind != "transport: boom" || ex != "transport: boom" {
		t.Errorf("got %q, %q; want the transport error as kind and example", kind, ex)
	}
}
