package tracing

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const (
	// maxBatch is the most spans one export request carries (OpenTelemetry's
	// default batch size), well below a collector's 4 MiB message limit.
	maxBatch = 512
	// exportTimeout bounds one export, retries included; the OTLP client's
	// own timeout (OTEL_EXPORTER_OTLP_TIMEOUT, 10s) normally ends it first.
	exportTimeout = 30 * time.Second
	// warnEvery is how often at most a service logs that spans were lost.
	warnEvery = time.Minute
)

// batcher is the span processor of a Tracer: Kamon's reporter queue. A
// finished sampled span goes into a queue of DITTO_TRACING_REPORTER_QUEUE_SIZE
// without waiting (a full queue drops it and counts it); one goroutine
// exports the queue every DITTO_TRACING_TICK_INTERVAL, or as soon as a batch
// is full. A failed export loses its spans (the OTLP client has retried
// them within its timeout) and counts them; neither case ever reaches
// OpenTelemetry's global error handler, so one rate-limited warning of this
// Tracer's logger reports them.
//
// We use this rather than sdktrace's BatchSpanProcessor because that one
// counts its drops where nobody can read them, reports export errors to
// the process-wide otel.Handle, and keeps exporting after a Shutdown that
// timed out.
type batcher struct {
	exp      sdktrace.SpanExporter
	queue    chan sdktrace.ReadOnlySpan
	interval time.Duration
	flush    chan chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	// exportCtx is the parent of every export; Shutdown cancels it when
	// its context ends first, so that the goroutine ends at once.
	exportCtx     context.Context
	cancelExports context.CancelFunc

	exported atomic.Uint64
	loss     lossReporter
}

func newBatcher(exp sdktrace.SpanExporter, queueSize int, interval time.Duration, log *slog.Logger) *batcher {
	ctx, cancel := context.WithCancel(context.Background())
	b := &batcher{
		exp:           exp,
		queue:         make(chan sdktrace.ReadOnlySpan, queueSize),
		interval:      interval,
		flush:         make(chan chan struct{}),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
		exportCtx:     ctx,
		cancelExports: cancel,
		loss:          lossReporter{log: log, every: warnEvery},
	}
	go b.run()
	return b
}

// OnStart implements sdktrace.SpanProcessor.
func (*batcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd implements sdktrace.SpanProcessor: it never blocks the goroutine
// ending the span.
func (b *batcher) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	select {
	case b.queue <- s:
	default:
		b.loss.add(1, &b.loss.dropped, "export queue full (DITTO_TRACING_REPORTER_QUEUE_SIZE)", nil)
	}
}

// ForceFlush implements sdktrace.SpanProcessor: it returns when the spans
// queued before it have been exported (or failed to be), or when ctx ends.
func (b *batcher) ForceFlush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case b.flush <- ack:
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown implements sdktrace.SpanProcessor: it exports what is queued
// and stops, within ctx; when ctx ends first, the export under way and
// the rest of the queue are given up (and counted lost).
func (b *batcher) Shutdown(ctx context.Context) error {
	b.stopOnce.Do(func() { close(b.stop) })
	var err error
	select {
	case <-b.done:
	case <-ctx.Done():
		err = ctx.Err()
		b.cancelExports()
		<-b.done
	}
	b.cancelExports()
	if serr := b.exp.Shutdown(ctx); err == nil {
		err = serr
	}
	return err
}

// run is the export goroutine; it returns once stop is closed and the
// queue is drained.
func (b *batcher) run() {
	defer close(b.done)
	tick := time.NewTicker(b.interval)
	defer tick.Stop()
	batch := make([]sdktrace.ReadOnlySpan, 0, maxBatch)
	send := func() {
		if len(batch) > 0 {
			b.export(batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	add := func(s sdktrace.ReadOnlySpan) {
		batch = append(batch, s)
		if len(batch) == maxBatch {
			send()
		}
	}
	drain := func() {
		for {
			select {
			case s := <-b.queue:
				add(s)
			default:
				send()
				return
			}
		}
	}
	for {
		select {
		case s := <-b.queue:
			add(s)
		case <-tick.C:
			send()
		case ack := <-b.flush:
			drain()
			close(ack)
		case <-b.stop:
			drain()
			return
		}
	}
}

func (b *batcher) export(batch []sdktrace.ReadOnlySpan) {
	ctx, cancel := context.WithTimeout(b.exportCtx, exportTimeout)
	defer cancel()
	if err := b.exp.ExportSpans(ctx, batch); err != nil {
		b.loss.add(len(batch), &b.loss.failed, "export failed", err)
		return
	}
	b.exported.Add(uint64(len(batch)))
}

// lossReporter counts lost spans and logs a warning of them at most every
// so often: at the first loss at once, then with the count since the last
// warning.
type lossReporter struct {
	log   *slog.Logger
	every time.Duration

	dropped  atomic.Uint64 // spans the full queue dropped
	failed   atomic.Uint64 // spans of failed exports
	lost     atomic.Uint64 // dropped + failed
	reported atomic.Uint64 // lost at the last warning
	next     atomic.Int64  // Unix nanoseconds before which no warning is logged
}

func (l *lossReporter) add(n int, counter *atomic.Uint64, reason string, err error) {
	counter.Add(uint64(n))
	total := l.lost.Add(uint64(n))
	now := time.Now().UnixNano()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(l.every)) {
		return
	}
	since := total - l.reported.Swap(total)
	attrs := []any{"spans_lost", since, "spans_lost_total", total, "reason", reason, "next_warning_after", l.every}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	l.log.Warn("tracing spans lost", attrs...)
}
