package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// scopeName is the instrumentation scope of every span of the platform.
const scopeName = "github.com/dittonats/dittonats/services/internal/tracing"

// propagator reads and writes traceparent and tracestate; it is stateless.
var propagator propagation.TraceContext

// Tracer is the tracing of one service of a process (gateway, things,
// policies, search): its spans carry the service's name and instance, are
// sampled by the configured sampler and exported by its own queue.
//
// A nil *Tracer, and the Tracer New returns when tracing is disabled, are
// valid: their methods do nothing and allocate nothing. A Tracer may be
// used from any goroutine.
type Tracer struct {
	tp     *sdktrace.TracerProvider // nil when disabled
	tracer trace.Tracer
	// root decides about new traces; StartHTTP also asks it about a
	// request whose traceparent is not sampled.
	root  sdktrace.Sampler
	batch *batcher // nil when nothing is exported
	// stopped is set by Shutdown: the SDK's tracer would go on recording
	// spans that no processor takes any more.
	stopped atomic.Bool
}

// Stats counts what a Tracer's export queue did with the sampled spans.
type Stats struct {
	Exported uint64 // spans the collector accepted
	Dropped  uint64 // spans dropped because the export queue was full
	Failed   uint64 // spans of exports that failed (collector unreachable, rejected)
}

// New returns the Tracer of service (resource attribute service.name:
// "gateway", "things", "policies", "search") on instance
// (service.instance.id). With cfg.Enabled false it returns a disabled
// Tracer and no error. Lost spans are reported on log, at most once a
// minute; log may be nil. New does no I/O: the collector is connected to
// on the first export, and an unreachable one only loses spans.
func New(cfg Config, service, instance string, log *slog.Logger) (*Tracer, error) {
	return newTracer(cfg, service, instance, log, nil, nil)
}

// newTracer is New with the exporter replaced by exp (unless nil) and the
// adaptive sampler's clock by now (unless nil), for tests.
func newTracer(cfg Config, service, instance string, log *slog.Logger, exp sdktrace.SpanExporter, now func() time.Time) (*Tracer, error) {
	if !cfg.Enabled {
		return &Tracer{}, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if service == "" {
		return nil, errors.New("tracing: no service name")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "tracing")
	attrs := []attribute.KeyValue{attribute.String("service.name", service)}
	if instance != "" {
		attrs = append(attrs, attribute.String("service.instance.id", instance))
	}
	root := newRootSampler(cfg, now)
	opts := []sdktrace.TracerProviderOption{
		// Merged with OTEL_RESOURCE_ATTRIBUTES; the service name wins.
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sdktrace.ParentBased(root)),
	}
	t := &Tracer{root: root}
	if cfg.ReporterEnabled {
		if exp == nil {
			// The client reads the other OTEL_EXPORTER_OTLP_* variables
			// (headers, certificate, compression, timeout) itself; it
			// connects lazily, so this does no I/O.
			e, err := otlptrace.New(context.Background(), otlptracegrpc.NewClient(otlptracegrpc.WithEndpointURL(cfg.Endpoint)))
			if err != nil {
				return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", cfg.Endpoint, err)
			}
			exp = e
		}
		t.batch = newBatcher(exp, cfg.queueSize(), cfg.tickInterval(), log)
		opts = append(opts, sdktrace.WithSpanProcessor(t.batch))
	}
	t.tp = sdktrace.NewTracerProvider(opts...)
	t.tracer = t.tp.Tracer(scopeName)
	return t, nil
}

// Enabled reports whether t creates spans: it is enabled and not shut
// down.
func (t *Tracer) Enabled() bool { return t != nil && t.tp != nil && !t.stopped.Load() }

// Shutdown exports the spans not exported yet and stops the export,
// within ctx: when ctx ends first, the rest is dropped and ctx's error
// returned. Spans started afterwards are not recorded. Only the first
// call does anything.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil || t.tp == nil || t.stopped.Swap(true) {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// ForceFlush exports the spans ended so far, within ctx.
func (t *Tracer) ForceFlush(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Stats returns the counts of t's export queue (zero when nothing is
// exported).
func (t *Tracer) Stats() Stats {
	if t == nil || t.batch == nil {
		return Stats{}
	}
	return Stats{
		Exported: t.batch.exported.Load(),
		Dropped:  t.batch.loss.dropped.Load(),
		Failed:   t.batch.loss.failed.Load(),
	}
}

// Start starts a span of t named name, a child of the span in ctx or,
// when there is none, the root of a new trace that the sampler decides
// about. Name spans with constants (a name built per call allocates even
// when tracing is off); attrs cost nothing when it is off.
func (t *Tracer) Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, Span) {
	if !t.Enabled() {
		return ctx, Span{}
	}
	return start(ctx, t.tracer, name, trace.SpanKindInternal, attrs)
}

// StartHTTP starts the server span of an HTTP request, named
// "<METHOD> <route>" (route is the path template the request matched, e.g.
// "/api/2/things/{thingId}"; the method alone when empty), continuing the
// trace of the request's traceparent and tracestate headers. As in Ditto, a
// traceparent whose sampled flag is set is recorded whatever the sampler,
// and one whose flag is clear keeps its trace id while the sampler decides.
// The returned context derives from r.Context(); set the response's status
// with [Span.SetStatusCode] before [Span.End].
func (t *Tracer) StartHTTP(r *http.Request, route string) (context.Context, Span) {
	ctx := r.Context()
	if !t.Enabled() {
		return ctx, Span{}
	}
	name := r.Method
	if route != "" {
		name = r.Method + " " + route
	}
	ctx = extract(ctx, propagation.HeaderCarrier(r.Header))
	if psc := trace.SpanContextFromContext(ctx); psc.IsValid() && !psc.IsSampled() {
		// Kamon takes an unsampled incoming traceparent as "not decided"
		// (the caller did not record, which says nothing about us). Past
		// the edge a parent's decision holds (sdktrace.ParentBased), so
		// that one trace is recorded in every service or in none.
		res := t.root.ShouldSample(sdktrace.SamplingParameters{
			ParentContext: ctx, TraceID: psc.TraceID(), Name: name, Kind: trace.SpanKindServer,
		})
		if res.Decision == sdktrace.RecordAndSample {
			ctx = trace.ContextWithRemoteSpanContext(ctx, psc.WithTraceFlags(psc.TraceFlags()|trace.FlagsSampled))
		}
	}
	attrs := []attribute.KeyValue{
		RequestMethod.String(r.Method),
		RequestPath.String(r.URL.Path),
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", r.URL.Path),
	}
	if route != "" {
		attrs = append(attrs, attribute.String("http.route", route))
	}
	ctx, s := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return ctx, Span{s}
}

// Extract returns ctx carrying the trace context of a NATS message's
// headers (traceparent, tracestate) as remote parent, or ctx itself when
// they carry none, a malformed one, or t is disabled.
func (t *Tracer) Extract(ctx context.Context, h nats.Header) context.Context {
	if !t.Enabled() || len(h) == 0 {
		return ctx
	}
	return extract(ctx, HeaderCarrier(h))
}

// StartConsumer starts the span of a service receiving a NATS message
// (command, event), a child of the span whose context the message's
// headers carry ([Inject] on the sending side), or the root of a new trace
// when they carry none. It is named "<op> <signalType>" as Ditto names its
// spans ("process things.commands:modifyThing", with op [SpanProcess]), or
// op alone when signalType is empty, and tagged ditto.signal.type.
func (t *Tracer) StartConsumer(ctx context.Context, op, signalType string, h nats.Header) (context.Context, Span) {
	if !t.Enabled() {
		return ctx, Span{}
	}
	ctx = t.Extract(ctx, h)
	name := op
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
	if signalType != "" {
		name = op + " " + signalType
		opts = append(opts, trace.WithAttributes(SignalType.String(signalType)))
	}
	ctx, s := t.tracer.Start(ctx, name, opts...)
	return ctx, Span{s}
}

// Start starts a span named name, a child of the span in ctx, in the
// service of that span; when ctx carries no span that is being recorded
// (tracing disabled, trace not sampled, no trace) it returns ctx and a
// no-op Span. This is for the spans inside a service (enforcement, journal
// append, event publication, search query): code that has no Tracer of
// its own. Name spans with constants; attrs cost nothing when no span is
// started.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, Span{}
	}
	return start(ctx, parent.TracerProvider().Tracer(scopeName), name, trace.SpanKindInternal, attrs)
}

// start starts a span; it copies attrs, so that they do not escape and a
// caller's attributes are built on its stack when no span is started.
func start(ctx context.Context, tr trace.Tracer, name string, kind trace.SpanKind, attrs []attribute.KeyValue) (context.Context, Span) {
	opts := []trace.SpanStartOption{trace.WithSpanKind(kind)}
	if len(attrs) > 0 {
		opts = append(opts, trace.WithAttributes(append([]attribute.KeyValue(nil), attrs...)...))
	}
	ctx, s := tr.Start(ctx, name, opts...)
	return ctx, Span{s}
}
