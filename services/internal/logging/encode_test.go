package logging

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/devops"
)

// lines collects what a jsonHandler writes.
type lines struct {
	mu  sync.Mutex
	all [][]byte
}

func (l *lines) writeLine(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, b)
}

func (l *lines) decoded(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, b := range l.all {
		out = append(out, decodeLine(t, b))
	}
	return out
}

func decodeLine(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if len(b) == 0 || b[len(b)-1] != '\n' || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("line %q is not one newline-terminated line", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("line %q: %v", b, err)
	}
	return m
}

func newJSON(out lineWriter, level slog.Level, redact ...string) *jsonHandler {
	m := &meta{loggerName: "gateway", red: newRedactor(redact),
		custom: []field{{"appname", appendString(nil, "gateway")}, {"instance", appendString(nil, "i-1")}}}
	return &jsonHandler{outs: []jsonOut{{w: out, level: level}}, meta: m}
}

var timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$`)

// The layout is logstash-logback-encoder's, with logback's level names
// and values, and every attribute a top-level member.
func TestJSONLayout(t *testing.T) {
	t.Parallel()
	var out lines
	log := slog.New(newJSON(&out, devops.LevelAll)).With("service", "gateway").WithGroup("req").With("method", "GET")
	log.Info("hello \"world\"\n", slog.String("correlation-id", "c-1"), slog.Group("h", "a", 1, slog.Group("b", "c", true)))
	for _, lv := range []slog.Level{devops.LevelTrace, slog.LevelDebug, slog.LevelInfo, slog.LevelInfo + 2, slog.LevelWarn, slog.LevelError, slog.LevelError + 4} {
		slog.New(newJSON(&out, devops.LevelAll)).Log(t.Context(), lv, "level")
	}
	got := out.decoded(t)
	first := got[0]
	ts, _ := first["@timestamp"].(string)
	if !timestampRE.MatchString(ts) {
		t.Errorf("@timestamp %q, want ISO-8601 with millis and offset", ts)
	}
	if _, err := time.Parse(timestampLayout, ts); err != nil {
		t.Errorf("@timestamp %q: %v", ts, err)
	}
	delete(first, "@timestamp")
	want := map[string]any{
		"@version": "1", "message": "hello \"world\"\n", "logger_name": "gateway", "level": "INFO", "level_value": 20000.0,
		"appname": "gateway", "instance": "i-1", "service": "gateway", "req.method": "GET",
		"req.correlation-id": "c-1", "req.h.a": 1.0, "req.h.b.c": true,
	}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("line\n%v\nwant\n%v", first, want)
	}
	levels := [][2]any{{"TRACE", 5000.0}, {"DEBUG", 10000.0}, {"INFO", 20000.0}, {"INFO", 20000.0}, {"WARN", 30000.0}, {"ERROR", 40000.0}, {"ERROR", 40000.0}}
	for i, l := range levels {
		if g := got[i+1]; g["level"] != l[0] || g["level_value"] != l[1] {
			t.Errorf("level %d: %v %v, want %v", i, g["level"], g["level_value"], l)
		}
	}
}

// Values keep their JSON types; a key appears once (the last value
// wins); attributes cannot replace the layout's fields, except
// logger_name naming the logger.
func TestJSONValues(t *testing.T) {
	t.Parallel()
	var out lines
	log := slog.New(newJSON(&out, devops.LevelAll)).With("k", "first", "instance", "i-2", "logger_name", "org.eclipse.ditto")
	log.Info("m", "k", "second", "message", "not the message", "level", "x",
		"n", -3, "u", uint64(7), "f", 1.5, "nan", math.NaN(), "d", 1500*time.Millisecond,
		"at", time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), "err", errors.New("boom"), "nil", nil,
		"list", []int{1, 2}, "html", "<a&b>", "bytes", []byte("raw"), "bad", "\xff\u2028", "", "empty key")
	got := out.decoded(t)[0]
	for k, want := range map[string]any{
		"k": "second", "instance": "i-2", "logger_name": "org.eclipse.ditto", "message": "m", "level": "INFO",
		"attr.message": "not the message", "attr.level": "x", "n": -3.0, "u": 7.0, "f": 1.5, "nan": "NaN",
		"d": "1.5s", "at": "2024-01-02T03:04:05.000000006Z", "err": "boom", "nil": nil, "list": []any{1.0, 2.0},
		"html": "<a&b>", "bytes": "raw", "bad": "\ufffd\u2028",
	} {
		if g, ok := got[k]; !ok || !reflect.DeepEqual(g, want) {
			t.Errorf("%s = %#v, want %#v", k, g, want)
		}
	}
	if _, ok := got[""]; ok {
		t.Error("an attribute without key was written")
	}
	raw := string(out.all[0])
	if strings.Count(raw, `"k":`) != 1 || strings.Count(raw, `"instance":`) != 1 {
		t.Errorf("duplicate members in %s", raw)
	}
}

// A threshold admits its level and above.
func TestJSONThreshold(t *testing.T) {
	t.Parallel()
	var out lines
	h := newJSON(&out, slog.LevelWarn)
	log := slog.New(h)
	log.Info("no")
	log.Warn("yes")
	log.Error("yes")
	if h.Enabled(t.Context(), slog.LevelInfo) || !h.Enabled(t.Context(), slog.LevelWarn) {
		t.Error("Enabled does not follow the threshold")
	}
	if got := len(out.decoded(t)); got != 2 {
		t.Errorf("%d lines, want 2", got)
	}
}

// Redacted header names (any case, at any depth, in header maps) are
// written as ***.
func TestJSONRedaction(t *testing.T) {
	t.Parallel()
	var out lines
	log := slog.New(newJSON(&out, devops.LevelAll, "authorization", "x-secret")).With("Authorization", "Bearer s3cret-with")
	hdr := http.Header{"Authorization": {"Bearer s3cret-header"}, "Accept": {"*/*"}}
	log.Info("request", "authorization", "Basic s3cret-attr", slog.Group("headers", "AUTHORIZATION", "s3cret-group", "correlation-id", "c"),
		"http", hdr, "map", map[string]string{"X-Secret": "s3cret-map", "ok": "v"}, slog.Group("authorization", "token", "s3cret-g"))
	raw := string(out.all[0])
	if strings.Contains(raw, "s3cret") {
		t.Fatalf("a secret was logged: %s", raw)
	}
	got := out.decoded(t)[0]
	for k, want := range map[string]any{
		"Authorization": Redacted, "authorization": Redacted, "headers.AUTHORIZATION": Redacted, "headers.correlation-id": "c",
		"http": map[string]any{"Authorization": []any{Redacted}, "Accept": []any{"*/*"}},
		"map":  map[string]any{"X-Secret": Redacted, "ok": "v"},
	} {
		if !reflect.DeepEqual(got[k], want) {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	if hdr.Get("Authorization") != "Bearer s3cret-header" {
		t.Error("redaction changed the caller's header")
	}
	if got := RedactHeaders(hdr, []string{"AUTHORIZATION"}); got.Get("Authorization") != Redacted || got.Get("Accept") != "*/*" {
		t.Errorf("RedactHeaders = %v", got)
	}
}

// appendString writes JSON that reads back as the string (invalid UTF-8
// as U+FFFD, as encoding/json writes it).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\r\t\x00\x1f", "\xff\xfe", "\u2028\u2029", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes as %s: %v", s, b, err)
		}
		// encoding/json writes each invalid byte as U+FFFD too.
		ref, _ := json.Marshal(s)
		var want string
		json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("%q reads back as %q, want %q", s, got, want)
		}
	})
}
