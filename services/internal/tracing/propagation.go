package tracing

import (
	"context"
	"encoding/hex"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// W3C trace context header names, lowercase as the W3C spells them; NATS
// headers keep them so (nats.Header is case-sensitive).
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// HeaderCarrier adapts NATS message headers to OpenTelemetry's
// propagation.TextMapCarrier. Unlike propagation.HeaderCarrier it does not
// canonicalise keys: it writes "traceparent" and "tracestate" exactly,
// and reads them exactly, falling back to any case only when the exact key
// is missing (a publisher that wrote "Traceparent").
type HeaderCarrier nats.Header

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// Set sets key to value, replacing what it had.
func (c HeaderCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys returns the keys of the headers.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the trace context of ctx's span into NATS headers h as
// traceparent (and tracestate when there is one) and returns h, made when
// nil. Without a span in ctx (tracing disabled, no trace) it returns h
// untouched and allocates nothing. Use it on every message that continues
// a trace: command requests, replies, events.
func Inject(ctx context.Context, h nats.Header) nats.Header {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return h
	}
	if h == nil {
		h = nats.Header{}
	}
	propagator.Inject(ctx, HeaderCarrier(h))
	return h
}

// extract returns ctx with the remote parent of c's traceparent and
// tracestate. OpenTelemetry's propagator also takes a version 00
// traceparent followed by a lone "-", which the W3C grammar does not allow
// (version 00 is exactly 55 characters).
func extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	if tp := c.Get(HeaderTraceparent); len(tp) != 55 && strings.HasPrefix(tp, "00") {
		return ctx
	}
	return propagator.Extract(ctx, c)
}

// Traceparent returns the W3C traceparent of ctx's span
// ("00-<trace id>-<span id>-<flags>"), for events and log lines to carry,
// or "" when ctx has none.
func Traceparent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return formatTraceparent(sc)
}

// TraceID returns the trace id of ctx's span in hex (Jaeger's search key),
// or "" when ctx has none.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

func formatTraceparent(sc trace.SpanContext) string {
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))})
	return string(b[:])
}
