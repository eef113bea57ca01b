package tracing_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/services/internal/tracing/tracingtest"
)

func config(endpoint string) tracing.Config {
	return tracing.Config{
		Enabled:            true,
		ReporterEnabled:    true,
		Sampler:            tracing.SamplerAlways,
		RandomProbability:  0.01,
		AdaptiveThroughput: 600,
		TickInterval:       50 * time.Millisecond,
		QueueSize:          4096,
		Endpoint:           endpoint,
	}
}

// Spans of two services of one process reach an OTLP collector with
// their service names, in one trace continued from the request's
// traceparent.
func TestExportToCollector(t *testing.T) {
	t.Parallel()
	rcv := tracingtest.Start(t)
	gw, err := tracing.New(config(rcv.Endpoint()), "gateway", "gw-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	things, err := tracing.New(config(rcv.Endpoint()), "things", "things-1", nil)
	if err != nil {
		t.Fatal(err)
	}

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := httptest.NewRequest(http.MethodPut, "/api/2/things/org.acme:t1", nil)
	r.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	ctx, req := gw.StartHTTP(r, "/api/2/things/{thingId}")
	req.SetCorrelationID("c-1")
	h := tracing.Inject(ctx, nil)

	cctx, proc := things.StartConsumer(context.Background(), tracing.SpanProcess, "things.commands:modifyThing", h)
	proc.SetEntityID("org.acme:t1")
	_, persist := tracing.Start(cctx, tracing.SpanPersist, tracing.EntityID.String("org.acme:t1"))
	persist.Fail(errors.New("disk full"))
	persist.End()
	proc.End()
	req.SetStatusCode(201)
	req.End()

	spans := rcv.WaitTrace(t, 10*time.Second, traceID, "PUT /api/2/things/{thingId}", "process things.commands:modifyThing", tracing.SpanPersist)
	by := map[string]tracingtest.Span{}
	for _, s := range spans {
		by[s.Name] = s
	}
	g, p, j := by["PUT /api/2/things/{thingId}"], by["process things.commands:modifyThing"], by[tracing.SpanPersist]
	if g.Service != "gateway" || g.Instance != "gw-1" || p.Service != "things" || j.Service != "things" || p.Instance != "things-1" {
		t.Errorf("services %s/%s, %s/%s, %s; want gateway/gw-1, things/things-1, things", g.Service, g.Instance, p.Service, p.Instance, j.Service)
	}
	if g.ParentSpanID != "00f067aa0ba902b7" || p.ParentSpanID != g.SpanID || j.ParentSpanID != p.SpanID {
		t.Errorf("parents: request %s (want the traceparent's), process %s (want %s), persist %s (want %s)",
			g.ParentSpanID, p.ParentSpanID, g.SpanID, j.ParentSpanID, p.SpanID)
	}
	wantAttrs := map[string]string{
		"ditto.statusCode": "201", "ditto.request.method": "PUT", "ditto.request.path": "/api/2/things/org.acme:t1",
		"ditto.correlationId": "c-1", "http.route": "/api/2/things/{thingId}",
	}
	for k, v := range wantAttrs {
		if g.Attributes[k] != v {
			t.Errorf("request span %s = %q, want %q", k, g.Attributes[k], v)
		}
	}
	if g.Kind != "server" || p.Kind != "consumer" || j.Kind != "internal" {
		t.Errorf("kinds %s, %s, %s; want server, consumer, internal", g.Kind, p.Kind, j.Kind)
	}
	if p.Attributes["ditto.signal.type"] != "things.commands:modifyThing" || p.Attributes["ditto.entityId"] != "org.acme:t1" {
		t.Errorf("process span attributes %v", p.Attributes)
	}
	if !j.Error || j.StatusMessage != "disk full" || g.Error {
		t.Errorf("persist error %v %q, request error %v; want true \"disk full\", false", j.Error, j.StatusMessage, g.Error)
	}

	ctxT, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.Shutdown(ctxT); err != nil {
		t.Errorf("gateway Shutdown: %v", err)
	}
	if err := things.Shutdown(ctxT); err != nil {
		t.Errorf("things Shutdown: %v", err)
	}
	if st := things.Stats(); st.Exported != 2 || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("things stats %+v, want 2 exported", st)
	}
}

// Shutdown exports what is still queued.
func TestShutdownFlushes(t *testing.T) {
	t.Parallel()
	rcv := tracingtest.Start(t)
	c := config(rcv.Endpoint())
	c.TickInterval = time.Hour
	tr, err := tracing.New(c, "policies", "p-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		_, s := tr.Start(context.Background(), tracing.SpanEnforce)
		s.End()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(rcv.Spans()); got != 1000 {
		t.Errorf("collector got %d spans after Shutdown, want 1000", got)
	}
	if err := tr.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	// After Shutdown nothing is recorded.
	if _, s := tr.Start(context.Background(), tracing.SpanEnforce); s.IsRecording() {
		t.Error("span recorded after Shutdown")
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// An unreachable collector slows nothing: ending spans does not wait,
// Shutdown returns within its context, and the lost spans are counted and
// warned about once.
func TestUnreachableCollector(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now

	var logs syncBuffer
	c := config("http://" + addr)
	c.TickInterval = 10 * time.Millisecond
	c.QueueSize = 100
	tr, err := tracing.New(c, "things", "t-1", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	start := time.Now()
	for range n {
		_, s := tr.Start(context.Background(), tracing.SpanPersist)
		s.End()
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("%d spans took %s to start and end with the collector unreachable", n, d)
	}
	t.Logf("%d spans started and ended in %s", n, time.Since(start))

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start = time.Now()
	err = tr.Shutdown(ctx)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %s with a 500ms context", d)
	}
	t.Logf("Shutdown returned %v after %s", err, time.Since(start))
	st := tr.Stats()
	if st.Exported != 0 || st.Dropped+st.Failed != n || st.Dropped == 0 {
		t.Errorf("stats %+v, want all %d lost, some dropped by the full queue", st, n)
	}
	out := logs.String()
	if got := strings.Count(out, "tracing spans lost"); got != 1 {
		t.Errorf("%d warnings of lost spans, want 1 (a minute apart at most):\n%s", got, out)
	}
	if !strings.Contains(out, "spans_lost=") || !strings.Contains(out, "service=") && !strings.Contains(out, "component=tracing") {
		t.Errorf("warning without count or component:\n%s", out)
	}
	t.Logf("warning: %s", strings.TrimSpace(out))
}
