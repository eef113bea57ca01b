package tracing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
)

// disabledPath runs every function of the package the way the services
// call them, once.
func disabledPath(tr *Tracer, r *http.Request, h, empty nats.Header, id string, err error) {
	ctx, req := tr.StartHTTP(r, "/api/2/things/{thingId}")
	req.SetCorrelationID(id)
	ctx, send := tr.Start(ctx, "send", EntityID.String(id), attribute.Int("n", 3))
	Inject(ctx, empty)
	Inject(ctx, nil)
	_ = Traceparent(ctx)
	_ = TraceID(ctx)
	send.End()

	cctx := tr.Extract(context.Background(), h)
	cctx, proc := tr.StartConsumer(cctx, SpanProcess, "things.commands:modifyThing", h)
	proc.SetEntityID(id)
	proc.SetSignalType("things.commands:modifyThing")
	ectx, enforce := Start(cctx, SpanEnforce, EntityID.String(id), CorrelationID.String(id))
	enforce.SetAttributes(EntityID.String(id), attribute.Bool("ok", true))
	enforce.Fail(err)
	enforce.End()
	_, persist := Start(ectx, SpanPersist)
	persist.End()
	SpanFromContext(ectx).SetStatusCode(204)
	proc.SetStatusCode(204)
	proc.End()
	req.SetStatusCode(204)
	_ = req.IsRecording()
	_ = req.SpanContext()
	req.End()
}

// With tracing disabled (a nil Tracer, or New's with DITTO_TRACING_ENABLED
// false) nothing allocates, even for a request and a message that carry a
// traceparent.
func TestDisabledAllocatesNothing(t *testing.T) {
	disabled, err := New(Config{}, "things", "t-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPut, "/api/2/things/org.acme:t1", nil)
	r.Header.Set("traceparent", "00-"+incomingTraceID+"-"+incomingSpanID+"-01")
	h := nats.Header{HeaderTraceparent: {"00-" + incomingTraceID + "-" + incomingSpanID + "-01"}}
	empty := nats.Header{}
	id := string([]byte("org.acme:t1"))
	fail := errors.New("x")
	for name, tr := range map[string]*Tracer{"nil": nil, "disabled": disabled} {
		if got := testing.AllocsPerRun(1000, func() { disabledPath(tr, r, h, empty, id, fail) }); got != 0 {
			t.Errorf("%s Tracer: %v allocations per request, want 0", name, got)
		}
	}
	if len(empty) != 0 {
		t.Errorf("Inject wrote %v with tracing disabled", empty)
	}
}

func BenchmarkDisabled(b *testing.B) {
	r := httptest.NewRequest(http.MethodPut, "/api/2/things/org.acme:t1", nil)
	r.Header.Set("traceparent", "00-"+incomingTraceID+"-"+incomingSpanID+"-01")
	h := nats.Header{HeaderTraceparent: {"00-" + incomingTraceID + "-" + incomingSpanID + "-01"}}
	empty := nats.Header{}
	fail := errors.New("x")
	b.ReportAllocs()
	for b.Loop() {
		disabledPath(nil, r, h, empty, "org.acme:t1", fail)
	}
}

// benchEnabled measures the same path with tracing on, spans recorded or
// not, exported to nowhere.
func benchEnabled(b *testing.B, sampler, traceparent string) {
	c := validConfig()
	c.Sampler, c.ReporterEnabled = sampler, false
	tr, err := New(c, "things", "t-1", nil)
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPut, "/api/2/things/org.acme:t1", nil)
	if traceparent != "" {
		r.Header.Set("traceparent", traceparent)
	}
	fail := errors.New("x")
	b.ReportAllocs()
	for b.Loop() {
		disabledPath(tr, r, nats.Header{}, nats.Header{}, "org.acme:t1", fail)
	}
}

func BenchmarkEnabledNotSampled(b *testing.B) { benchEnabled(b, SamplerNever, "") }
func BenchmarkEnabledSampled(b *testing.B)    { benchEnabled(b, SamplerAlways, "") }
