package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	incomingTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingSpanID  = "00f067aa0ba902b7"
)

// memTracer returns an enabled Tracer of service whose spans end in the
// returned in-memory exporter (exported on ForceFlush).
func memTracer(t *testing.T, service, sampler string) (*Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	c := validConfig()
	c.Sampler = sampler
	tr, err := newTracer(c, service, service+"-1", nil, exp, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown(context.Background()) })
	return tr, exp
}

func parentOf(s Span) trace.SpanContext { return s.s.(sdktrace.ReadOnlySpan).Parent() }

func httpRequest(traceparent, tracestate string) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "/api/2/things/org.acme:t1", nil)
	if traceparent != "" {
		r.Header.Set("Traceparent", traceparent) // as net/http canonicalises it
	}
	if tracestate != "" {
		r.Header.Set("tracestate", tracestate)
	}
	return r
}

// The trace of an HTTP request's traceparent continues through the gateway's
// spans, a NATS header and the receiving service's span, parent to child.
func TestPropagationHTTPToNATS(t *testing.T) {
	t.Parallel()
	gw, gwSpans := memTracer(t, "gateway", SamplerNever)
	things, thingsSpans := memTracer(t, "things", SamplerNever)

	r := httpRequest("00-"+incomingTraceID+"-"+incomingSpanID+"-01", "congo=t61rcWkgMzE")
	ctx, req := gw.StartHTTP(r, "/api/2/things/{thingId}")
	if !req.IsRecording() {
		t.Fatal("request with a sampled traceparent not recorded under sampler never")
	}
	if got := req.SpanContext().TraceID().String(); got != incomingTraceID {
		t.Errorf("request span trace id %s, want the traceparent's %s", got, incomingTraceID)
	}
	if got := parentOf(req).SpanID().String(); got != incomingSpanID {
		t.Errorf("request span parent %s, want the traceparent's %s", got, incomingSpanID)
	}
	ctx, send := Start(ctx, "send command", EntityID.String("org.acme:t1"))
	h := Inject(ctx, nil)

	// The exact lowercase keys, and nothing else.
	if len(h) != 2 || len(h[HeaderTraceparent]) != 1 || len(h[HeaderTracestate]) != 1 {
		t.Fatalf("NATS header %v, want exactly the keys traceparent and tracestate", h)
	}
	if got, want := h[HeaderTraceparent][0], "00-"+incomingTraceID+"-"+send.SpanContext().SpanID().String()+"-01"; got != want {
		t.Errorf("traceparent %q, want %q", got, want)
	}
	if got, want := h[HeaderTracestate][0], "congo=t61rcWkgMzE"; got != want {
		t.Errorf("tracestate %q, want %q", got, want)
	}
	if got, want := Traceparent(ctx), h[HeaderTraceparent][0]; got != want {
		t.Errorf("Traceparent(ctx) = %q, want the injected %q", got, want)
	}
	if got := TraceID(ctx); got != incomingTraceID {
		t.Errorf("TraceID(ctx) = %q, want %q", got, incomingTraceID)
	}

	// The receiving service, with its own Tracer.
	cctx, proc := things.StartConsumer(context.Background(), SpanProcess, "things.commands:modifyThing", h)
	if !proc.IsRecording() {
		t.Fatal("consumer span of a sampled trace not recorded")
	}
	if got := proc.SpanContext().TraceID().String(); got != incomingTraceID {
		t.Errorf("consumer trace id %s, want %s", got, incomingTraceID)
	}
	if got, want := parentOf(proc).SpanID(), send.SpanContext().SpanID(); got != want {
		t.Errorf("consumer parent %s, want the sending span %s", got, want)
	}
	_, enforce := Start(cctx, SpanEnforce)
	if got, want := parentOf(enforce).SpanID(), proc.SpanContext().SpanID(); got != want {
		t.Errorf("enforce parent %s, want the consumer span %s", got, want)
	}
	enforce.End()
	proc.SetStatusCode(204)
	proc.End()
	send.End()
	req.SetStatusCode(204)
	req.End()

	gw.ForceFlush(context.Background())
	things.ForceFlush(context.Background())
	names := func(e *tracetest.InMemoryExporter) map[string]tracetest.SpanStub {
		m := map[string]tracetest.SpanStub{}
		for _, s := range e.GetSpans() {
			m[s.Name] = s
		}
		return m
	}
	g, th := names(gwSpans), names(thingsSpans)
	if _, ok := g["PUT /api/2/things/{thingId}"]; !ok {
		t.Errorf("gateway exported %v, want the request span", g)
	}
	if _, ok := g["send command"]; !ok {
		t.Errorf("gateway exported %v, want the send span", g)
	}
	p, ok := th["process things.commands:modifyThing"]
	if !ok {
		t.Fatalf("things exported %v, want the consumer span", th)
	}
	if _, ok := th[SpanEnforce]; !ok {
		t.Errorf("things exported %v, want the enforce span", th)
	}
	if got := p.Resource.Set(); !got.HasValue("service.name") {
		t.Errorf("things resource %v has no service.name", got)
	} else if v, _ := got.Value("service.name"); v.AsString() != "things" {
		t.Errorf("things resource service.name %q, want things", v.AsString())
	}
	if !hasAttr(p.Attributes, SignalType.String("things.commands:modifyThing")) || !hasAttr(p.Attributes, StatusCode.Int(204)) {
		t.Errorf("consumer attributes %v, want ditto.signal.type and ditto.statusCode", p.Attributes)
	}
	if p.SpanKind != trace.SpanKindConsumer {
		t.Errorf("consumer kind %v, want consumer", p.SpanKind)
	}
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, a := range attrs {
		if a == want {
			return true
		}
	}
	return false
}

// Sampling at the edge follows Kamon: a sampled traceparent is recorded
// whatever the sampler, an unsampled one keeps its trace id while the
// sampler decides; past the edge the parent's decision holds.
func TestEdgeSampling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		sampler     string
		traceparent string
		recorded    bool
		traceID     string // "" for a new one
	}{
		{"sampled parent, never", SamplerNever, "00-" + incomingTraceID + "-" + incomingSpanID + "-01", true, incomingTraceID},
		{"unsampled parent, always", SamplerAlways, "00-" + incomingTraceID + "-" + incomingSpanID + "-00", true, incomingTraceID},
		{"unsampled parent, never", SamplerNever, "00-" + incomingTraceID + "-" + incomingSpanID + "-00", false, incomingTraceID},
		{"no parent, always", SamplerAlways, "", true, ""},
		{"no parent, never", SamplerNever, "", false, ""},
		{"malformed parent, always", SamplerAlways, "00-" + incomingTraceID + "-" + incomingSpanID + "-0", true, ""},
		{"upper-case parent, always", SamplerAlways, "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + incomingSpanID + "-01", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, _ := memTracer(t, "gateway", tt.sampler)
			ctx, s := gw.StartHTTP(httpRequest(tt.traceparent, ""), "/api/2/things/{thingId}")
			defer s.End()
			if got := s.IsRecording(); got != tt.recorded {
				t.Errorf("recorded %v, want %v", got, tt.recorded)
			}
			sc := s.SpanContext()
			if !sc.IsValid() {
				t.Fatal("no span context: a trace id must travel even when not recorded")
			}
			if tt.traceID != "" && sc.TraceID().String() != tt.traceID {
				t.Errorf("trace id %s, want %s", sc.TraceID(), tt.traceID)
			}
			if tt.traceID == "" && sc.TraceID().String() == incomingTraceID {
				t.Errorf("trace id %s of a malformed or missing traceparent, want a new one", sc.TraceID())
			}
			if sc.IsSampled() != tt.recorded {
				t.Errorf("sampled flag %v, want %v", sc.IsSampled(), tt.recorded)
			}
			// Past the edge: a service whose sampler says always follows
			// the gateway's decision.
			svc, _ := memTracer(t, "things", SamplerAlways)
			_, c := svc.StartConsumer(context.Background(), SpanProcess, "", Inject(ctx, nil))
			defer c.End()
			if c.IsRecording() != tt.recorded || c.SpanContext().TraceID() != sc.TraceID() {
				t.Errorf("service span recorded %v in trace %s, want %v in %s", c.IsRecording(), c.SpanContext().TraceID(), tt.recorded, sc.TraceID())
			}
		})
	}
}

// NATS headers are read by their exact key first, then in any case.
func TestHeaderCarrier(t *testing.T) {
	t.Parallel()
	tp := "00-" + incomingTraceID + "-" + incomingSpanID + "-01"
	tests := []struct {
		name string
		h    nats.Header
		want string
	}{
		{"exact", nats.Header{"traceparent": {tp}}, tp},
		{"canonical", nats.Header{"Traceparent": {tp}}, tp},
		{"exact wins", nats.Header{"TRACEPARENT": {"x"}, "traceparent": {tp}}, tp},
		{"none", nats.Header{"Nats-Msg-Id": {"x"}}, ""},
		{"empty values", nats.Header{"traceparent": {}}, ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := HeaderCarrier(tt.h).Get(HeaderTraceparent); got != tt.want {
				t.Errorf("Get = %q, want %q", got, tt.want)
			}
		})
	}
	h := nats.Header{"Nats-Msg-Id": {"x"}}
	HeaderCarrier(h).Set(HeaderTraceparent, tp)
	if _, ok := h["traceparent"]; !ok || len(h) != 2 {
		t.Errorf("Set wrote %v, want the key traceparent beside Nats-Msg-Id", h)
	}
}

// Traceparent formats as OpenTelemetry's propagator does.
func TestTraceparentFormat(t *testing.T) {
	t.Parallel()
	for _, flags := range []trace.TraceFlags{0, trace.FlagsSampled, trace.FlagsSampled | trace.FlagsRandom} {
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{0x4b, 0xf9, 1, 2, 3}, SpanID: trace.SpanID{0, 0xf0, 0x67}, TraceFlags: flags,
		})
		ctx := trace.ContextWithSpanContext(context.Background(), sc)
		m := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(ctx, m)
		if got, want := Traceparent(ctx), m["traceparent"]; got != want {
			t.Errorf("Traceparent = %q, want %q", got, want)
		}
	}
	if got := Traceparent(context.Background()); got != "" {
		t.Errorf("Traceparent without span = %q, want empty", got)
	}
}

var traceparentRE = regexp.MustCompile(`^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$`)

// validTraceparent is the W3C grammar of traceparent (trace-context §3.2),
// written independently of the propagator, as the oracle of the fuzz test.
func validTraceparent(s string) (traceID, spanID string, ok bool) {
	m := traceparentRE.FindStringSubmatch(s)
	if m == nil || m[1] == "ff" {
		return "", "", false
	}
	if m[1] == "00" && (m[5] != "" || m[4] > "03") {
		return "", "", false
	}
	if m[2] == "00000000000000000000000000000000" || m[3] == "0000000000000000" {
		return "", "", false
	}
	return m[2], m[3], true
}

// Extract never panics on what a NATS or HTTP client sends, and gives a
// remote parent exactly for a valid traceparent.
func FuzzExtract(f *testing.F) {
	f.Add("00-"+incomingTraceID+"-"+incomingSpanID+"-01", "congo=t61rcWkgMzE")
	f.Add("00-"+incomingTraceID+"-"+incomingSpanID+"-00", "")
	f.Add("01-"+incomingTraceID+"-"+incomingSpanID+"-09-future", "a=b,c=d")
	f.Add("00-00000000000000000000000000000000-"+incomingSpanID+"-01", "")
	f.Add("ff-"+incomingTraceID+"-"+incomingSpanID+"-01", "")
	f.Add("00-"+incomingTraceID+"-"+incomingSpanID+"-01-", "=,=")
	f.Add("", "")
	f.Add("\x00-\xff", "k=\x00")
	c := validConfig()
	c.ReporterEnabled = false // every span recorded, none kept
	tr, err := New(c, "things", "i", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, traceparent, tracestate string) {
		tid, sid, valid := validTraceparent(traceparent)
		check := func(where string, ctx context.Context) {
			sc := trace.SpanContextFromContext(ctx)
			if sc.IsValid() != valid {
				t.Fatalf("%s: traceparent %q gave a parent %v, want %v", where, traceparent, sc.IsValid(), valid)
			}
			if valid && (sc.TraceID().String() != tid || sc.SpanID().String() != sid || !sc.IsRemote()) {
				t.Fatalf("%s: traceparent %q gave %s/%s remote %v, want %s/%s remote", where, traceparent, sc.TraceID(), sc.SpanID(), sc.IsRemote(), tid, sid)
			}
		}
		check("NATS", tr.Extract(context.Background(), nats.Header{HeaderTraceparent: {traceparent}, HeaderTracestate: {tracestate}}))
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header[http.CanonicalHeaderKey(HeaderTraceparent)] = []string{traceparent}
		r.Header[http.CanonicalHeaderKey(HeaderTracestate)] = []string{tracestate}
		ctx, s := tr.StartHTTP(r, "/")
		s.End()
		if valid && parentOf(s).TraceID().String() != tid {
			t.Fatalf("HTTP: traceparent %q: span parent %s, want trace %s", traceparent, parentOf(s).TraceID(), tid)
		}
		if !valid && parentOf(s).IsValid() {
			t.Fatalf("HTTP: invalid traceparent %q gave parent %v", traceparent, parentOf(s))
		}
		// What is injected again is well-formed.
		h := Inject(ctx, nil)
		if _, _, ok := validTraceparent(h.Get(HeaderTraceparent)); !ok {
			t.Fatalf("re-injected traceparent %q is invalid", h.Get(HeaderTraceparent))
		}
	})
}
