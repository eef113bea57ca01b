package tracingtest

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// Span is a span the receiver got, flattened for assertions.
type Span struct {
	Service       string // resource attribute service.name
	Instance      string // resource attribute service.instance.id
	TraceID       string // hex
	SpanID        string // hex
	ParentSpanID  string // hex; "" for the root of a trace
	TraceState    string
	Name          string
	Kind          string            // "server", "client", "producer", "consumer", "internal"
	Attributes    map[string]string // values as text (ints in decimal, bools as true/false)
	Error         bool              // status is error
	StatusMessage string
	Start, End    time.Time
}

// Receiver is an OTLP/gRPC trace service on 127.0.0.1 that keeps every
// span exported to it. It is safe for concurrent use.
type Receiver struct {
	coltracepb.UnimplementedTraceServiceServer

	srv  *grpc.Server
	addr string

	mu      sync.Mutex
	spans   []Span
	changed chan struct{} // closed (and replaced) when spans grow
}

// Start starts a receiver on a free port of 127.0.0.1; t's cleanup stops
// it.
func Start(t testing.TB) *Receiver {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tracingtest: listen: %v", err)
	}
	r := &Receiver{srv: grpc.NewServer(), addr: lis.Addr().String(), changed: make(chan struct{})}
	coltracepb.RegisterTraceServiceServer(r.srv, r)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = r.srv.Serve(lis) // returns when Stop closes the listener
	}()
	t.Cleanup(func() {
		r.srv.Stop()
		<-served
	})
	return r
}

// Endpoint is the receiver's URL, the value for OTEL_EXPORTER_OTLP_ENDPOINT.
func (r *Receiver) Endpoint() string { return "http://" + r.addr }

// Addr is the receiver's host:port.
func (r *Receiver) Addr() string { return r.addr }

// Export implements the OTLP trace service.
func (r *Receiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		res := attributes(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{
					Service:       res["service.name"],
					Instance:      res["service.instance.id"],
					TraceID:       hex.EncodeToString(s.GetTraceId()),
					SpanID:        hex.EncodeToString(s.GetSpanId()),
					ParentSpanID:  hex.EncodeToString(s.GetParentSpanId()),
					TraceState:    s.GetTraceState(),
					Name:          s.GetName(),
					Kind:          strings.ToLower(strings.TrimPrefix(s.GetKind().String(), "SPAN_KIND_")),
					Attributes:    attributes(s.GetAttributes()),
					Error:         s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
					StatusMessage: s.GetStatus().GetMessage(),
					Start:         time.Unix(0, int64(s.GetStartTimeUnixNano())),
					End:           time.Unix(0, int64(s.GetEndTimeUnixNano())),
				})
			}
		}
	}
	if len(got) > 0 {
		r.mu.Lock()
		r.spans = append(r.spans, got...)
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func attributes(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = x.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = fmt.Sprint(x.IntValue)
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = fmt.Sprint(x.DoubleValue)
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = fmt.Sprint(x.BoolValue)
		default:
			m[kv.GetKey()] = fmt.Sprint(v)
		}
	}
	return m
}

// Spans returns a copy of the spans received so far, in order of arrival.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Trace returns the spans received so far of the trace with id traceID
// (hex).
func (r *Receiver) Trace(traceID string) []Span {
	var out []Span
	for _, s := range r.Spans() {
		if s.TraceID == traceID {
			out = append(out, s)
		}
	}
	return out
}

// Wait waits until done holds for the spans received so far and returns
// them; it fails t when timeout passes first.
func (r *Receiver) Wait(t testing.TB, timeout time.Duration, done func([]Span) bool) []Span {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		spans, changed := append([]Span(nil), r.spans...), r.changed
		r.mu.Unlock()
		if done(spans) {
			return spans
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("tracingtest: condition not met within %s; received %d spans:\n%s", timeout, len(spans), Dump(spans))
			return nil
		}
	}
}

// WaitSpan waits for a span named name in the trace traceID (any trace
// when traceID is empty) and returns it; it fails t after timeout.
func (r *Receiver) WaitSpan(t testing.TB, timeout time.Duration, traceID, name string) Span {
	t.Helper()
	var found Span
	r.Wait(t, timeout, func(spans []Span) bool {
		for _, s := range spans {
			if s.Name == name && (traceID == "" || s.TraceID == traceID) {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// WaitTrace waits until the trace traceID holds a span of each of names
// and returns the trace's spans received by then; it fails t after
// timeout.
func (r *Receiver) WaitTrace(t testing.TB, timeout time.Duration, traceID string, names ...string) []Span {
	t.Helper()
	var trace []Span
	r.Wait(t, timeout, func(spans []Span) bool {
		trace = trace[:0]
		have := map[string]bool{}
		for _, s := range spans {
			if s.TraceID == traceID {
				trace = append(trace, s)
				have[s.Name] = true
			}
		}
		for _, n := range names {
			if !have[n] {
				return false
			}
		}
		return true
	})
	return trace
}

// Dump formats spans one a line, for failure messages.
func Dump(spans []Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s trace=%s span=%s parent=%s %s %q %v\n", s.Service, s.TraceID, s.SpanID, s.ParentSpanID, s.Kind, s.Name, s.Attributes)
	}
	return b.String()
}
