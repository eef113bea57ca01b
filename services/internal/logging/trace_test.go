package logging

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// TestLinesNameTheirTrace: a line logged with the context of a traced
// request carries its traceparent; one without a trace carries none.
func TestLinesNameTheirTrace(t *testing.T) {
	t.Parallel()
	var console syncBuffer
	s, err := New(defaults(t), &console, "ditto", "")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(s.Handler())
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	log.InfoContext(ctx, "traced line")
	log.Info("plain line")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(console.String(), "\n") {
		switch {
		case strings.Contains(line, "traced line") && !strings.Contains(line, "traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"):
			t.Errorf("traced line without its traceparent: %s", line)
		case strings.Contains(line, "plain line") && strings.Contains(line, "traceparent"):
			t.Errorf("untraced line with a traceparent: %s", line)
		}
	}
}
