package tracingtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// The receiver gets what OpenTelemetry's own OTLP/gRPC exporter sends.
func TestReceiver(t *testing.T) {
	t.Parallel()
	r := Start(t)
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpointURL(r.Endpoint()))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(resource.NewSchemaless(
		attribute.String("service.name", "things"), attribute.String("service.instance.id", "t-1"))))
	defer tp.Shutdown(context.Background())
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tp.Tracer("test").Start(ctx, "child", trace.WithAttributes(attribute.Int("n", 7), attribute.String("s", "x")))
	child.End()
	parent.End()

	traceID := parent.SpanContext().TraceID().String()
	spans := r.WaitTrace(t, 10*time.Second, traceID, "parent", "child")
	if len(spans) != 2 {
		t.Fatalf("trace has %d spans, want 2:\n%s", len(spans), Dump(spans))
	}
	c := r.WaitSpan(t, time.Second, traceID, "child")
	p := r.WaitSpan(t, time.Second, "", "parent")
	if c.ParentSpanID != p.SpanID || p.ParentSpanID != "" || p.Kind != "server" || c.Kind != "internal" {
		t.Errorf("parent %+v\nchild %+v", p, c)
	}
	if c.Service != "things" || c.Instance != "t-1" || c.Attributes["n"] != "7" || c.Attributes["s"] != "x" {
		t.Errorf("child %+v", c)
	}
	if got := r.Trace(traceID); len(got) != 2 {
		t.Errorf("Trace = %d spans, want 2", len(got))
	}
}

// fatalTB records Fatalf instead of stopping the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}

// Waiting for what never comes fails the test after the timeout.
func TestWaitTimesOut(t *testing.T) {
	t.Parallel()
	r := Start(t)
	tb := &fatalTB{TB: t}
	start := time.Now()
	r.WaitSpan(tb, 50*time.Millisecond, "", "never")
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Errorf("WaitSpan returned after %s, want about 50ms", d)
	}
	if !strings.Contains(tb.msg, "not met within 50ms") {
		t.Errorf("failure %q", tb.msg)
	}
}
