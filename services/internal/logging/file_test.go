package logging

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is the injected time of a file sink.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func day(d int) time.Time { return time.Date(2024, 1, d, 12, 0, 0, 0, time.UTC) }

// fileSinks starts sinks with only the file sink, at the clock's time.
func fileSinks(t *testing.T, c *clock, set func(*Config)) (*Sinks, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := defaults(t)
	cfg.DisableSysout = true
	cfg.FileAppender = true
	cfg.FileNamePattern = filepath.Join(dir, "ditto.log.%d{yyyy-MM-dd}.gz")
	if set != nil {
		set(&cfg)
	}
	if !filepath.IsAbs(cfg.FileNamePattern) {
		cfg.FileNamePattern = filepath.Join(dir, cfg.FileNamePattern)
	}
	o := testOptions()
	o.now = c.now
	s, err := newSinks(cfg, &syncBuffer{}, "things", "i", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// names lists the files of dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return string(b)
}

func wantNames(t *testing.T, dir string, want ...string) {
	t.Helper()
	got := names(t, dir)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

// A day change rolls the file: the old day's file is gzipped, the new
// day's is the current one; the lines are the JSON layout.
func TestFileRollsOverDaily(t *testing.T) {
	t.Parallel()
	c := &clock{t: day(1)}
	s, dir := fileSinks(t, c, nil)
	log := slog.New(s.Handler())
	log.Info("first day", "thing_id", "ns:a")
	log.Info("first day again")
	c.set(day(2))
	log.Info("second day")
	s.file.sync()
	wantNames(t, dir, "ditto.log.2024-01-01.gz", "ditto.log.2024-01-02")
	old := read(t, filepath.Join(dir, "ditto.log.2024-01-01.gz"))
	if lines := strings.Split(strings.TrimSpace(old), "\n"); len(lines) != 2 {
		t.Fatalf("rolled file has %d lines:\n%s", len(lines), old)
	} else if m := decodeLine(t, []byte(lines[0]+"\n")); m["message"] != "first day" || m["thing_id"] != "ns:a" || m["level"] != "INFO" || m["appname"] != "things" {
		t.Errorf("rolled line %v", m)
	}
	if cur := read(t, filepath.Join(dir, "ditto.log.2024-01-02")); !strings.Contains(cur, `"message":"second day"`) || strings.Contains(cur, "first") {
		t.Errorf("current file %q", cur)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := s.Dropped().File; d != 0 {
		t.Errorf("dropped %d", d)
	}
}

// Without .gz, rolled files stay as they are.
func TestFileWithoutCompression(t *testing.T) {
	t.Parallel()
	c := &clock{t: day(1)}
	s, dir := fileSinks(t, c, func(cfg *Config) { cfg.FileNamePattern = "app.%d{yyyy-MM-dd}.json" })
	log := slog.New(s.Handler())
	log.Info("one")
	c.set(day(2))
	log.Info("two")
	s.file.sync()
	wantNames(t, dir, "app.2024-01-01.json", "app.2024-01-02.json")
}

// DITTO_LOGGING_MAX_LOG_FILE_HISTORY keeps the newest rolled files.
func TestFileMaxHistory(t *testing.T) {
	t.Parallel()
	c := &clock{t: day(1)}
	s, dir := fileSinks(t, c, func(cfg *Config) { cfg.MaxFileHistory = 2 })
	log := slog.New(s.Handler())
	for d := 1; d <= 5; d++ {
		c.set(day(d))
		log.Info("day")
		s.file.sync()
	}
	wantNames(t, dir, "ditto.log.2024-01-03.gz", "ditto.log.2024-01-04.gz", "ditto.log.2024-01-05")
}

// presetFiles writes size bytes into each name of dir.
func presetFiles(t *testing.T, dir string, size int, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), bytes.Repeat([]byte("x"), size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// DITTO_LOGGING_TOTAL_LOG_FILE_SIZE deletes the oldest rolled files until
// all files (the current one counted) fit, at a rollover.
func TestFileTotalSize(t *testing.T) {
	t.Parallel()
	c := &clock{t: day(5)}
	dir := t.TempDir()
	presetFiles(t, dir, 4096, "app.2024-01-01.log", "app.2024-01-02.log", "app.2024-01-03.log", "app.2024-01-04.log", "unrelated.log")
	s, _ := fileSinks(t, c, func(cfg *Config) {
		cfg.FileNamePattern = filepath.Join(dir, "app.%d{yyyy-MM-dd}.log")
		cfg.MaxFileHistory = 0
		cfg.TotalFileSize = "10KB"
	})
	s.file.sync() // the limits apply at a rollover (sync stands in for one)
	wantNames(t, dir, "app.2024-01-03.log", "app.2024-01-04.log", "app.2024-01-05.log", "unrelated.log")
	// A current file that grows pushes out more.
	slog.New(s.Handler()).Info(strings.Repeat("y", 3000))
	s.file.sync()
	wantNames(t, dir, "app.2024-01-04.log", "app.2024-01-05.log", "unrelated.log")
}

// DITTO_LOGGING_CLEAN_HISTORY_ON_START applies the limits at start;
// without it nothing is deleted before the first rollover. Files of
// earlier days left uncompressed are compressed at start either way.
func TestFileCleanHistoryOnStart(t *testing.T) {
	t.Parallel()
	for _, clean := range []bool{false, true} {
		c := &clock{t: day(10)}
		dir := t.TempDir()
		presetFiles(t, dir, 100, "ditto.log.2024-01-01.gz", "ditto.log.2024-01-02.gz", "ditto.log.2024-01-03.gz", "ditto.log.2024-01-04.gz")
		if err := os.WriteFile(filepath.Join(dir, "ditto.log.2024-01-05"), []byte("left over\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		s, _ := fileSinks(t, c, func(cfg *Config) {
			cfg.FileNamePattern = filepath.Join(dir, "ditto.log.%d{yyyy-MM-dd}.gz")
			cfg.MaxFileHistory = 2
			cfg.CleanHistoryOnStart = clean
		})
		s.Close() // waits for the worker to do what start asked
		if clean {
			wantNames(t, dir, "ditto.log.2024-01-04.gz", "ditto.log.2024-01-05.gz", "ditto.log.2024-01-10")
		} else {
			wantNames(t, dir, "ditto.log.2024-01-01.gz", "ditto.log.2024-01-02.gz", "ditto.log.2024-01-03.gz",
				"ditto.log.2024-01-04.gz", "ditto.log.2024-01-05.gz", "ditto.log.2024-01-10")
		}
		if got := read(t, filepath.Join(dir, "ditto.log.2024-01-05.gz")); got != "left over\n" {
			t.Errorf("clean %v: left-over file compressed to %q", clean, got)
		}
	}
}

// A period rolled twice (a restart) appends a gzip member; the file reads
// as both.
func TestFileGzipAppendsToExisting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "a.log")
	for _, text := range []string{"one\n", "two\n"} {
		if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := gzipFile(src); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(t, src+".gz"); got != "one\ntwo\n" {
		t.Errorf("read %q", got)
	}
	wantNames(t, dir, "a.log.gz")
}

// DITTO_LOGGING_FILE_APPENDER_THRESHOLD filters the file only; the console
// gets every level.
func TestFileThreshold(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := defaults(t)
	cfg.FileAppender = true
	cfg.FileNamePattern = filepath.Join(dir, "t.%d.log")
	cfg.FileThreshold = "WARN"
	var console syncBuffer
	s, err := New(cfg, &console, "ditto", "")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(s.Handler())
	log.Debug("debug line")
	log.Info("info line")
	log.Warn("warn line")
	log.Error("error line")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := names(t, dir)
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	got := read(t, filepath.Join(dir, files[0]))
	if strings.Contains(got, "info line") || strings.Contains(got, "debug line") || !strings.Contains(got, "warn line") || !strings.Contains(got, "error line") {
		t.Errorf("file:\n%s", got)
	}
	for _, l := range []string{"debug line", "info line", "warn line", "error line"} {
		if !strings.Contains(console.String(), l) {
			t.Errorf("console lacks %q:\n%s", l, console.String())
		}
	}
}

// A file that cannot be opened fails New, naming the problem.
func TestFileUnopenable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := defaults(t)
	cfg.FileAppender = true
	cfg.FileNamePattern = filepath.Join(dir, "x.%d.log")
	// The current file's name is taken by a directory.
	if err := os.Mkdir(filepath.Join(dir, "x."+time.Now().Format("2006-01-02")+".log"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, io.Discard, "ditto", ""); err == nil {
		t.Fatal("New passed with a directory where the log file goes")
	}
}
