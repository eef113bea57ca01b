package platform

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/services/internal/tracing/tracingtest"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// TestTraceSpansGatewayThingsAndStore: a PUT carrying a traceparent is one
// trace with the request's trace id, from the gateway's request span through
// the things service's command span to the journal append and the event's
// publication, exported over OTLP; the event carries the trace on.
func TestTraceSpansGatewayThingsAndStore(t *testing.T) {
	recv := tracingtest.Start(t)
	cfg := testConfig(t)
	cfg.Tracing.Enabled = true
	cfg.Tracing.Endpoint = recv.Endpoint()
	cfg.Tracing.TickInterval = 50 * time.Millisecond
	// Ditto's default sampler, never: only the client's sampled
	// traceparent makes this trace recorded.
	cfg.Tracing.Sampler = "never"
	pl := startPlatform(t, cfg)

	if r := pl.do(t, "ditto", "PUT", "/api/2/things/org.acme.trace:lamp", `{}`, nil); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const parent = "00f067aa0ba902b7"
	r := pl.do(t, "ditto", "PUT", "/api/2/things/org.acme.trace:lamp/attributes/on", `true`,
		map[string]string{"traceparent": "00-" + traceID + "-" + parent + "-01", "correlation-id": "trace-me"})
	if r.status != 201 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	spans := recv.WaitTrace(t, 10*time.Second, traceID,
		"PUT /api/2/things/x/attributes/x", "process things.commands:modifyAttribute", tracing.SpanEnforce, tracing.SpanPersist, tracing.SpanPublish)
	byName := map[string]tracingtest.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	gw := byName["PUT /api/2/things/x/attributes/x"]
	cmd := byName["process things.commands:modifyAttribute"]
	if gw.Service != "gateway" || cmd.Service != "things" || byName[tracing.SpanPersist].Service != "things" {
		t.Errorf("services: gateway span in %q, command in %q, persist in %q\n%s", gw.Service, cmd.Service,
			byName[tracing.SpanPersist].Service, tracingtest.Dump(spans))
	}
	if gw.ParentSpanID != parent {
		t.Errorf("gateway span's parent = %q, want the client's %s", gw.ParentSpanID, parent)
	}
	if cmd.ParentSpanID != gw.SpanID {
		t.Errorf("command span's parent = %q, want the gateway span %s\n%s", cmd.ParentSpanID, gw.SpanID, tracingtest.Dump(spans))
	}
	for _, name := range []string{tracing.SpanEnforce, tracing.SpanPersist, tracing.SpanPublish} {
		if byName[name].ParentSpanID != cmd.SpanID {
			t.Errorf("%s's parent = %q, want the command span %s\n%s", name, byName[name].ParentSpanID, cmd.SpanID, tracingtest.Dump(spans))
		}
	}
	if got := gw.Attributes[string(tracing.StatusCode)]; got != "201" {
		t.Errorf("gateway span status code = %q, want 201", got)
	}
	if got := cmd.Attributes[string(tracing.CorrelationID)]; got != "trace-me" {
		t.Errorf("command span correlation id = %q, want trace-me", got)
	}

	// The event carries the trace: its traceparent names the command span.
	j, err := pl.p.store.Journal(journal.Things)
	if err != nil {
		t.Fatal(err)
	}
	events, err := j.Events(t.Context(), "thing:org.acme.trace:lamp", 1, 10)
	if err != nil || len(events) == 0 {
		t.Fatalf("events: %v, %v", events, err)
	}
	want := `"traceparent":"00-` + traceID + "-" + cmd.SpanID + `-01"`
	if last := string(events[len(events)-1].Payload); !strings.Contains(last, want) {
		t.Errorf("event %s does not carry %s", last, want)
	}

	// A search continues its request's trace in the search service.
	const searchTrace = "5bf92f3577b34da6a3ce929d0e0e4737"
	streamstest.Eventually(t, 10*time.Second, func() error {
		r := pl.do(t, "ditto", "GET", "/api/2/search/things?filter=eq(attributes/on,true)", "",
			map[string]string{"traceparent": "00-" + searchTrace + "-" + parent + "-01"})
		if r.status != 200 || !strings.Contains(r.body, "org.acme.trace:lamp") {
			return fmt.Errorf("search: %d %s", r.status, r.body)
		}
		return nil
	})
	q := recv.WaitSpan(t, 10*time.Second, searchTrace, tracing.SpanSearch+" thing-search.commands:queryThings")
	if q.Service != "search" {
		t.Errorf("search span in service %q, want search", q.Service)
	}
}

// TestTracingOffAddsNoHeaders: with tracing off (the default), a client's
// traceparent is not carried into events.
func TestTracingOffAddsNoHeaders(t *testing.T) {
	pl := startPlatform(t, testConfig(t))
	if r := pl.do(t, "ditto", "PUT", "/api/2/things/org.acme.trace:off", `{}`, nil); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r := pl.do(t, "ditto", "PUT", "/api/2/things/org.acme.trace:off/attributes/on", `true`,
		map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	if r.status != 201 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	j, err := pl.p.store.Journal(journal.Things)
	if err != nil {
		t.Fatal(err)
	}
	events, err := j.Events(t.Context(), "thing:org.acme.trace:off", 1, 10)
	if err != nil || len(events) == 0 {
		t.Fatalf("events: %v, %v", events, err)
	}
	for _, e := range events {
		if strings.Contains(string(e.Payload), "traceparent") {
			t.Errorf("event %s carries a traceparent with tracing off", e.Payload)
		}
	}
}

// TestTraceOverWebSocket: a Ditto Protocol command sent over the WebSocket
// with a traceparent header continues that trace into the things service.
func TestTraceOverWebSocket(t *testing.T) {
	recv := tracingtest.Start(t)
	cfg := testConfig(t)
	cfg.Tracing.Enabled = true
	cfg.Tracing.Endpoint = recv.Endpoint()
	cfg.Tracing.TickInterval = 50 * time.Millisecond
	cfg.Tracing.Sampler = "never"
	pl := startPlatform(t, cfg)
	c := pl.mustDial(t, "ditto")

	const traceID = "0af7651916cd43dd8448eb211c80319c"
	const parent = "b7ad6b7169203331"
	c.send(`{"topic":"org.acme.trace/ws-1/things/twin/commands/create","headers":{"correlation-id":"ws-trace","traceparent":"00-` +
		traceID + `-` + parent + `-01"},"path":"/","value":{}}`)
	if env := c.envelope(); env.Status != 201 {
		t.Fatalf("create answered %+v", env)
	}
	spans := recv.WaitTrace(t, 10*time.Second, traceID, "WS things.commands:createThing", "process things.commands:createThing", tracing.SpanPersist)
	byName := map[string]tracingtest.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	ws, cmd := byName["WS things.commands:createThing"], byName["process things.commands:createThing"]
	if ws.Service != "gateway" || ws.ParentSpanID != parent || cmd.ParentSpanID != ws.SpanID {
		t.Errorf("the WebSocket command's trace is not one chain from the client's span:\n%s", tracingtest.Dump(spans))
	}
}
