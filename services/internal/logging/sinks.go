package logging

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/tracing"
)

// Sinks are the destinations of a process's log lines. Handler is the
// process's base handler; Close flushes and stops them.
type Sinks struct {
	handler slog.Handler
	stash   *stashSink // nil without DITTO_LOGGING_LOGSTASH_SERVER
	file    *fileSink  // nil without DITTO_LOGGING_FILE_APPENDER
	once    sync.Once
	err     error
}

// Dropped counts the lines a sink could not take.
type Dropped struct {
	// Logstash lines: the queue was full (server slow or unreachable), a
	// write failed, or the sink had closed.
	Logstash uint64
	// File lines: the file could not be opened or written.
	File uint64
}

// options are what tests change; New uses the defaults.
type options struct {
	now                    func() time.Time
	minBackoff, maxBackoff time.Duration
	warnEvery              time.Duration
	// drainTimeout bounds how long Close sends what the Logstash queue
	// holds.
	drainTimeout time.Duration
}

func defaultOptions() options {
	// Logback's appender reconnects every second; this starts faster and
	// backs off to that.
	return options{now: time.Now, minBackoff: 100 * time.Millisecond, maxBackoff: time.Second, warnEvery: 10 * time.Second,
		drainTimeout: 2 * time.Second}
}

// New builds the sinks cfg asks for. stdout gets slog's text lines (the
// console sink, unless DITTO_LOGGING_DISABLE_SYSOUT_LOG) and the sinks'
// own warnings (an unreachable Logstash server, an unwritable file) at
// most once per 10 s each. binary names the lines' logger_name and
// appname (as logback.xml's customFields do), instance is their instance
// field; a record's own "logger_name" or "instance" attribute wins. The
// file sink opens its file at once, so a bad path fails here.
func New(cfg Config, stdout io.Writer, binary, instance string) (*Sinks, error) {
	return newSinks(cfg, stdout, binary, instance, defaultOptions())
}

func newSinks(cfg Config, stdout io.Writer, binary, instance string, o options) (*Sinks, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	out := &lockedWriter{w: stdout}
	warn := &warner{log: slog.New(slog.NewTextHandler(out, nil)), every: o.warnEvery, now: o.now, last: map[string]time.Time{}}
	red := newRedactor(cfg.RedactedHeaders)
	s := &Sinks{}
	var hs []slog.Handler
	if !cfg.DisableSysout {
		hs = append(hs, slog.NewTextHandler(out, &slog.HandlerOptions{Level: devops.LevelAll, ReplaceAttr: textRedact(red)}))
	}
	var outs []jsonOut
	if cfg.LogstashServer != "" {
		s.stash = newStashSink(cfg.LogstashServer, cfg.LogstashWriteBuffer, cfg.LogstashRingBuffer, warn, o)
		outs = append(outs, jsonOut{w: s.stash, level: devops.LevelAll})
	}
	if cfg.FileAppender {
		pat, _ := parsePattern(cfg.FileNamePattern) // validated
		threshold, _ := parseThreshold(cfg.FileThreshold)
		total, _ := ParseSize(cfg.TotalFileSize)
		f, err := newFileSink(pat, cfg.MaxFileHistory, total, cfg.CleanHistoryOnStart, o.now, warn)
		if err != nil {
			if s.stash != nil {
				s.stash.close()
			}
			return nil, err
		}
		s.file = f
		outs = append(outs, jsonOut{w: f, level: threshold})
	}
	if len(outs) > 0 {
		m := &meta{loggerName: binary, red: red}
		if binary != "" {
			m.custom = append(m.custom, field{"appname", appendString(nil, binary)})
		}
		if instance != "" {
			m.custom = append(m.custom, field{"instance", appendString(nil, instance)})
		}
		hs = append(hs, &jsonHandler{outs: outs, meta: m})
	}
	if len(hs) == 0 {
		s.handler = slog.DiscardHandler
	} else {
		s.handler = fanout(hs) // even for one: it adds the traceparent
	}
	return s, nil
}

// Handler is the base handler: it writes every level to the console and
// Logstash, and to the files from their threshold up; callers filter
// (devops.Filter, a devops.Registry).
func (s *Sinks) Handler() slog.Handler { return s.handler }

// Dropped returns the lines dropped so far.
func (s *Sinks) Dropped() Dropped {
	var d Dropped
	if s.stash != nil {
		d.Logstash = s.stash.dropped.Load()
	}
	if s.file != nil {
		d.File = s.file.dropped.Load()
	}
	return d
}

// Close sends what the Logstash queue still holds (for at most 2 s),
// closes the log file, waits for the sinks' goroutines and reports the
// first close error. Lines logged after Close are dropped (the console
// still writes them). Safe to call more than once.
func (s *Sinks) Close() error {
	s.once.Do(func() {
		if s.stash != nil {
			s.stash.close()
		}
		if s.file != nil {
			s.err = s.file.close()
		}
	})
	return s.err
}

// textRedact is the console's ReplaceAttr: redacted header values and
// header maps, as in the JSON sinks. slog's own time, level and msg are
// left alone.
func textRedact(red redactor) func([]string, slog.Attr) slog.Attr {
	if len(red.names) == 0 {
		return nil
	}
	return func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 {
			switch a.Key {
			case slog.TimeKey, slog.LevelKey, slog.MessageKey, slog.SourceKey:
				return a
			}
		}
		return red.attr(a)
	}
}

// fanout hands each record to every handler that admits its level.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, rec slog.Record) error {
	if tp := tracing.Traceparent(ctx); tp != "" {
		// A line logged with a request's context names its trace.
		rec = rec.Clone()
		rec.AddAttrs(slog.String(tracing.HeaderTraceparent, tp))
	}
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, rec.Level) {
			if err := h.Handle(ctx, rec); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(attrs)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	if name == "" {
		return f
	}
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}

// lockedWriter serializes writes of the console handler and the warner,
// which share the writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// warner rate-limits the sinks' warnings about themselves, which go to
// the console writer directly (not through the sinks, which may be what
// fails).
type warner struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time
	mu    sync.Mutex // guards last
	last  map[string]time.Time
}

// allow reports whether a warning of topic may be written now, at most one
// per every.
func (w *warner) allow(topic string) bool {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if last, ok := w.last[topic]; ok && now.Sub(last) < w.every && now.Sub(last) >= 0 {
		return false
	}
	w.last[topic] = now
	return true
}
