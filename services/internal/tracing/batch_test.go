package tracing

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// blockingExporter blocks every export until release is closed or the
// export's context ends, and counts what it got.
type blockingExporter struct {
	entered  chan struct{} // gets a value when an export starts
	release  chan struct{}
	exported atomic.Int64
}

func newBlockingExporter() *blockingExporter {
	return &blockingExporter{entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (e *blockingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.entered <- struct{}{}
	select {
	case <-e.release:
		e.exported.Add(int64(len(spans)))
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (*blockingExporter) Shutdown(context.Context) error { return nil }

func batchedTracer(t *testing.T, exp sdktrace.SpanExporter, queue int) *Tracer {
	t.Helper()
	c := validConfig()
	c.QueueSize, c.TickInterval = queue, time.Hour
	tr, err := newTracer(c, "things", "t-1", slog.New(slog.DiscardHandler), exp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func endSpans(tr *Tracer, n int) {
	for range n {
		_, s := tr.Start(context.Background(), SpanPublish)
		s.End()
	}
}

// While an export is under way, ended spans wait in the queue up to its
// size; the rest are dropped and counted, and End never waits.
func TestBatcherDropsWhenQueueFull(t *testing.T) {
	t.Parallel()
	exp := newBlockingExporter()
	tr := batchedTracer(t, exp, 4)
	endSpans(tr, 1)
	flushed := make(chan error, 1)
	go func() { flushed <- tr.ForceFlush(context.Background()) }()
	<-exp.entered // the export of the first span blocks

	endSpans(tr, 10) // 4 queue up, 6 are dropped
	if got := tr.Stats(); got.Dropped != 6 {
		t.Errorf("stats %+v with a queue of 4 and 10 spans ended during an export, want 6 dropped", got)
	}
	close(exp.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := tr.Stats(), (Stats{Exported: 5, Dropped: 6}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// Shutdown gives up an export that outlasts its context, and returns.
func TestBatcherShutdownBounded(t *testing.T) {
	t.Parallel()
	exp := newBlockingExporter()
	tr := batchedTracer(t, exp, 100)
	endSpans(tr, 50)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := tr.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %s with a 100ms context", d)
	}
	if got := tr.Stats(); got.Failed != 50 {
		t.Errorf("stats %+v, want the 50 spans of the given-up export failed", got)
	}
	select {
	case <-tr.batch.done:
	default:
		t.Error("export goroutine still running after Shutdown")
	}
}

// The warning of lost spans comes at once, then at most every interval,
// with the count since the last one.
func TestLossReporterRateLimits(t *testing.T) {
	t.Parallel()
	var lines []string
	h := &captureHandler{lines: &lines}
	l := lossReporter{log: slog.New(h), every: time.Hour}
	var c atomic.Uint64
	for range 1000 {
		l.add(3, &c, "test", nil)
	}
	if len(lines) != 1 {
		t.Fatalf("%d warnings, want 1: %v", len(lines), lines)
	}
	if c.Load() != 3000 || l.lost.Load() != 3000 {
		t.Errorf("counted %d (total %d), want 3000", c.Load(), l.lost.Load())
	}
	l.next.Store(0) // the interval is over
	l.add(1, &c, "test", nil)
	if len(lines) != 2 || lines[1] != "spans_lost=2998 spans_lost_total=3001" {
		t.Errorf("warnings %q, want a second one with the 2998 lost since the first", lines)
	}
}

// captureHandler records the spans_lost attributes of each record.
type captureHandler struct{ lines *[]string }

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *captureHandler) WithGroup(string) slog.Handler            { return h }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	var lost, total string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "spans_lost":
			lost = a.Value.String()
		case "spans_lost_total":
			total = a.Value.String()
		}
		return true
	})
	*h.lines = append(*h.lines, "spans_lost="+lost+" spans_lost_total="+total)
	return nil
}
