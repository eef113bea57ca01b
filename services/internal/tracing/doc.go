// Package tracing is the platform's OpenTelemetry tracing: the
// configuration of Ditto's ditto-tracing.conf and ditto-kamon.conf
// (DITTO_TRACING_*, OTEL_EXPORTER_OTLP_ENDPOINT), one [Tracer] per service
// of a process exporting spans over OTLP/gRPC with that service's name, the
// samplers of Kamon (always, never, random, adaptive), and W3C trace
// context (traceparent, tracestate) carried in HTTP headers and in NATS
// headers under the exact lowercase keys.
//
// A nil or disabled *Tracer is valid and free: every function of the
// package then returns at once, without allocating, so code instruments
// itself the same way whether tracing is on or off. The package sets no
// global state of OpenTelemetry (no global tracer provider, propagator or
// error handler): each Tracer owns its provider, its export queue and its
// warnings, so the services of the all-in-one binary export under their
// own names.
//
// Spans, named as Ditto names them:
//
//   - gateway request: [Tracer.StartHTTP], "<METHOD> <route>", a server span
//     continuing the caller's traceparent;
//   - command dispatch: [Tracer.StartConsumer], "process <signal type>", a
//     child of the span whose context the command's NATS headers carry
//     ([Inject] on the sending side);
//   - enforcement, journal append, event publication, search query:
//     [Start] with [SpanEnforce], [SpanPersist], [SpanPublish], [SpanSearch],
//     children of the span in the context (none when there is none).
package tracing
