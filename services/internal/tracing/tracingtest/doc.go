// Package tracingtest is an in-process OTLP/gRPC trace receiver for tests:
// [Start] serves OpenTelemetry's trace service (collector/trace/v1) on a
// free port of 127.0.0.1; point a service's OTEL_EXPORTER_OTLP_ENDPOINT
// (tracing.Config.Endpoint) at [Receiver.Endpoint] and wait for the spans
// it exports with [Receiver.WaitSpan] or [Receiver.WaitTrace], which poll
// nothing: they wake on every export.
package tracingtest
