package logging

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/services/internal/devops"
)

// An authorization header is written in no sink, whichever way it is
// logged; correlation ids are.
func TestRedactedInEverySink(t *testing.T) {
	t.Parallel()
	srv := startStash(t, "127.0.0.1:0")
	dir := t.TempDir()
	cfg := defaults(t)
	cfg.LogstashServer = srv.addr()
	cfg.FileAppender = true
	cfg.FileNamePattern = filepath.Join(dir, "ditto.log.%d{yyyy-MM-dd}.gz")
	cfg.RedactedHeaders = HeaderNames{"authorization", "x-api-key"}
	var console syncBuffer
	s, err := newSinks(cfg, &console, "gateway", "i", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(s.Handler()).With("Authorization", "Bearer secret-1")
	log.Info("request",
		CorrelationID("cid-1"),
		"authorization", "Basic secret-2",
		slog.Group("headers", "AUTHORIZATION", "secret-3", "X-Api-Key", "secret-4", "accept", "*/*"),
		"header", http.Header{"Authorization": {"secret-5"}},
		"ditto_headers", map[string]string{"authorization": "secret-6", "correlation-id": "cid-1"})
	raw := srv.nextRaw(t)
	line := decodeLine(t, raw)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := names(t, dir)
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	for sink, out := range map[string]string{
		"console":  console.String(),
		"logstash": string(raw),
		"file":     read(t, filepath.Join(dir, files[0])),
	} {
		if strings.Contains(out, "secret") {
			t.Errorf("%s wrote a secret:\n%s", sink, out)
		}
		if !strings.Contains(out, Redacted) || !strings.Contains(out, "cid-1") || !strings.Contains(out, "*/*") {
			t.Errorf("%s lacks ***, the correlation id or a plain header:\n%s", sink, out)
		}
	}
	if line[KeyCorrelationID] != "cid-1" || line["headers.accept"] != "*/*" || line["headers.AUTHORIZATION"] != Redacted {
		t.Errorf("logstash line %v", line)
	}
}

// The console keeps slog's text format and admits every level, so that
// the devops registries in front of it decide.
func TestConsoleTextFormat(t *testing.T) {
	t.Parallel()
	var console syncBuffer
	s, err := New(defaults(t), &console, "ditto", "i")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := devops.NewRegistry(slog.LevelInfo, slog.LevelInfo)
	log := reg.Logger(devops.Ditto, s.Handler()).With("service", "things")
	log.Debug("hidden")
	log.Info("shown", "thing_id", "ns:x")
	reg.Set(devops.Ditto, devops.LevelTrace)
	log.Log(t.Context(), devops.LevelTrace, "now shown")
	out := console.String()
	if strings.Contains(out, "hidden") {
		t.Errorf("the registry's level did not filter:\n%s", out)
	}
	for _, want := range []string{`level=INFO msg=shown service=things thing_id=ns:x`, `level=DEBUG-4 msg="now shown"`} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	if !s.Handler().Enabled(t.Context(), devops.LevelTrace) {
		t.Error("the base handler does not admit trace")
	}
}

// With every sink off, lines go nowhere (and nothing breaks); logging
// after Close does not panic, and Close may be called twice.
func TestNoSinksAndClose(t *testing.T) {
	t.Parallel()
	cfg := defaults(t)
	cfg.DisableSysout = true
	var console syncBuffer
	s, err := New(cfg, &console, "ditto", "")
	if err != nil {
		t.Fatal(err)
	}
	slog.New(s.Handler()).Error("nowhere")
	if console.String() != "" || s.Handler().Enabled(t.Context(), slog.LevelError) {
		t.Errorf("console got %q", console.String())
	}

	cfg = defaults(t)
	cfg.LogstashServer = "127.0.0.1:1"
	cfg.FileAppender = true
	cfg.FileNamePattern = filepath.Join(t.TempDir(), "c.%d.log")
	s, err = newSinks(cfg, &console, "ditto", "", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	slog.New(s.Handler()).Info("after close")
	if d := s.Dropped(); d.Logstash != 1 || d.File != 1 {
		t.Errorf("after Close dropped %+v, want one line each", d)
	}
}

// A bad configuration fails New.
func TestNewValidates(t *testing.T) {
	t.Parallel()
	cfg := defaults(t)
	cfg.TotalFileSize = "lots"
	if _, err := New(cfg, os.Stderr, "ditto", ""); err == nil || !strings.Contains(err.Error(), "DITTO_LOGGING_TOTAL_LOG_FILE_SIZE") {
		t.Errorf("New: %v", err)
	}
}
