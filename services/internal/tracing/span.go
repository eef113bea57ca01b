package tracing

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span names of Ditto (internal/utils/persistent-actors, policies/enforcement,
// thingsearch), for the spans the services start. The gateway's request
// spans are named by [Tracer.StartHTTP].
const (
	// SpanProcess is the op of the span of a service receiving a command
	// ([Tracer.StartConsumer]): "process <signal type>".
	SpanProcess = "process"
	// SpanEnforce is the span of checking a command against its policy.
	SpanEnforce = "enforce_policy"
	// SpanApply is the span of applying a command to its entity.
	SpanApply = "apply_command_strategy"
	// SpanPersist is the span of appending events to the journal.
	SpanPersist = "persist_event"
	// SpanPublish is the span of publishing an event on its stream.
	SpanPublish = "publish_event"
	// SpanSearch is the span of a search query.
	SpanSearch = "things_wildcard_search_query"
)

// Tag keys of Ditto's spans (SpanTagKey): build attributes with them, e.g.
// EntityID.String(id).
const (
	CorrelationID = attribute.Key("ditto.correlationId")
	SignalType    = attribute.Key("ditto.signal.type")
	Channel       = attribute.Key("ditto.channel")
	EntityID      = attribute.Key("ditto.entityId")
	StatusCode    = attribute.Key("ditto.statusCode")
	RequestMethod = attribute.Key("ditto.request.method")
	RequestPath   = attribute.Key("ditto.request.path")
	AuthSubjects  = attribute.Key("ditto.auth.subjects")
)

// Span is a started span. Its zero value, which the functions of this
// package return when they start no span, is valid: its methods do
// nothing. Span is a small value; pass it by value.
type Span struct {
	s trace.Span // nil: no span
}

// SpanFromContext returns the span in ctx, or the zero Span.
func SpanFromContext(ctx context.Context) Span {
	s := trace.SpanFromContext(ctx)
	if !s.SpanContext().IsValid() {
		return Span{}
	}
	return Span{s}
}

// End ends the span. A span is ended once.
func (s Span) End() {
	if s.s != nil {
		s.s.End()
	}
}

// IsRecording reports whether the span records what is set on it (it is
// sampled); setting attributes on a span that does not is free.
func (s Span) IsRecording() bool { return s.s != nil && s.s.IsRecording() }

// SpanContext returns the span's identity (the zero SpanContext for the
// zero Span).
func (s Span) SpanContext() trace.SpanContext {
	if s.s == nil {
		return trace.SpanContext{}
	}
	return s.s.SpanContext()
}

// SetAttributes sets attributes of the span; they cost nothing when it is
// not recording.
func (s Span) SetAttributes(attrs ...attribute.KeyValue) {
	if s.IsRecording() && len(attrs) > 0 {
		// Copied, so that attrs does not escape and the caller's slice
		// stays on its stack.
		s.s.SetAttributes(append([]attribute.KeyValue(nil), attrs...)...)
	}
}

// SetCorrelationID tags the span with ditto.correlationId, unless id is
// empty.
func (s Span) SetCorrelationID(id string) {
	if id != "" && s.IsRecording() {
		s.s.SetAttributes(CorrelationID.String(id))
	}
}

// SetEntityID tags the span with ditto.entityId, unless id is empty.
func (s Span) SetEntityID(id string) {
	if id != "" && s.IsRecording() {
		s.s.SetAttributes(EntityID.String(id))
	}
}

// SetSignalType tags the span with ditto.signal.type, unless typ is
// empty.
func (s Span) SetSignalType(typ string) {
	if typ != "" && s.IsRecording() {
		s.s.SetAttributes(SignalType.String(typ))
	}
}

// SetStatusCode tags the span with the HTTP status of the answer
// (ditto.statusCode, http.response.status_code); a 5xx status marks the
// span failed, as OpenTelemetry's HTTP conventions do for a server (a 4xx
// is the client's error, not the span's).
func (s Span) SetStatusCode(code int) {
	if !s.IsRecording() {
		return
	}
	s.s.SetAttributes(StatusCode.Int(code), attribute.Int("http.response.status_code", code))
	if code >= 500 {
		s.s.SetStatus(codes.Error, "")
	}
}

// Fail marks the span failed with err (Ditto's tagAsFailed), recording
// err as an exception event. A nil err does nothing.
func (s Span) Fail(err error) {
	if err == nil || !s.IsRecording() {
		return
	}
	s.s.RecordError(err)
	s.s.SetStatus(codes.Error, err.Error())
}
