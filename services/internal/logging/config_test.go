package logging

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// defaults returns the Config of the built-in defaults.
func defaults(t *testing.T) Config {
	t.Helper()
	var c Config
	if err := envconfig.Process("DITTO_LOGGING_TEST_NOTHING_SET_PREFIX", &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c := defaults(t)
	if c.DisableSysout || c.LogstashServer != "" || c.FileAppender || c.CleanHistoryOnStart {
		t.Errorf("defaults turn something on: %+v", c)
	}
	if c.LogstashWriteBuffer != 8192 || c.LogstashRingBuffer != 8192 || c.MaxFileHistory != 10 ||
		c.TotalFileSize != "1GB" || c.FileThreshold != "info" ||
		c.FileNamePattern != "/var/log/ditto/ditto.log.%d{yyyy-MM-dd}.gz" {
		t.Errorf("defaults %+v, want logback.xml's", c)
	}
	if got, want := c.RedactedHeaders.String(), "authorization"; got != want {
		t.Errorf("redacted headers %q, want %q (ditto-headers.conf)", got, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}

// Every problem is reported, each naming its variable.
func TestValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Running as root, a directory without write permission is still
	// writable; a regular file where a directory should be is not.
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want []string // substrings of the error, in any order
	}{
		{"valid file appender", func(c *Config) {
			c.FileAppender, c.FileNamePattern = true, filepath.Join(dir, "new", "sub", "ditto.%d.log")
		}, nil},
		{"bad threshold", func(c *Config) { c.FileThreshold = "loud" }, []string{"DITTO_LOGGING_FILE_APPENDER_THRESHOLD", "loud"}},
		{"bad size", func(c *Config) { c.TotalFileSize = "1TB" }, []string{"DITTO_LOGGING_TOTAL_LOG_FILE_SIZE", "1TB"}},
		{"pattern without date", func(c *Config) { c.FileNamePattern = "/var/log/ditto/ditto.log.gz" },
			[]string{"DITTO_LOGGING_FILE_NAME_PATTERN", "%d{yyyy-MM-dd}"}},
		{"size-based pattern", func(c *Config) { c.FileNamePattern = "/var/log/d.%d.%i.log" }, []string{"DITTO_LOGGING_FILE_NAME_PATTERN", "%i"}},
		{"unsupported date letter", func(c *Config) { c.FileNamePattern = "/var/log/d.%d{yyyy-ww}.log" }, []string{"DITTO_LOGGING_FILE_NAME_PATTERN", `"ww"`}},
		{"unwritable directory", func(c *Config) {
			c.FileAppender, c.FileNamePattern = true, filepath.Join(notDir, "logs", "ditto.%d.log.gz")
		}, []string{"DITTO_LOGGING_FILE_NAME_PATTERN", "not a directory"}},
		{"unwritable directory without file appender", func(c *Config) {
			c.FileNamePattern = filepath.Join(notDir, "logs", "ditto.%d.log.gz")
		}, nil},
		{"negative history", func(c *Config) { c.MaxFileHistory = -1 }, []string{"DITTO_LOGGING_MAX_LOG_FILE_HISTORY"}},
		{"server without port", func(c *Config) { c.LogstashServer = "logstash" }, []string{"DITTO_LOGGING_LOGSTASH_SERVER", "host:port"}},
		{"server with bad port", func(c *Config) { c.LogstashServer = "logstash:99999" }, []string{"DITTO_LOGGING_LOGSTASH_SERVER", "99999"}},
		{"ring buffer", func(c *Config) { c.LogstashRingBuffer = 0 }, []string{"LOGSTASH_RING_BUFFER_SIZE"}},
		{"write buffer", func(c *Config) { c.LogstashWriteBuffer = -1 }, []string{"LOGSTASH_WRITE_BUFFER_SIZE"}},
		{"all at once", func(c *Config) { c.FileThreshold, c.TotalFileSize, c.LogstashServer = "x", "y", "z" },
			[]string{"DITTO_LOGGING_FILE_APPENDER_THRESHOLD", "DITTO_LOGGING_TOTAL_LOG_FILE_SIZE", "DITTO_LOGGING_LOGSTASH_SERVER"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := defaults(t)
			tc.set(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
		})
	}
	// The directory check left nothing behind.
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("Validate left files: %v", entries)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1GB", 1 << 30, true},
		{"500MB", 500 << 20, true},
		{"10KB", 10 << 10, true},
		{"10kb", 10 << 10, true},
		{"10 kb", 10 << 10, true},
		{"2 GBs", 2 << 30, true},
		{"42", 42, true},
		{" 7 ", 7, true},
		{"0", 0, true},
		{"1TB", 0, false},
		{"1.5GB", 0, false},
		{"-1", 0, false},
		{"GB", 0, false},
		{"", 0, false},
		{"99999999999999GB", 0, false},
		{"99999999999999999999", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1GB", "500MB", "10 kb", "0", "", "x", "9223372036854775807", "8589934592GB", "1gbs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, n)
		}
		if back, err := ParseSize(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d, but %d reads back as %d, %v", s, n, n, back, err)
		}
	})
}

func TestHeaderNamesDecode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"authorization":                  "authorization",
		" Authorization , X-Api-Token,,": "authorization,x-api-token",
		`["Authorization", "cookie"]`:    "authorization,cookie",
		"":                               "",
	} {
		var h HeaderNames
		if err := h.Decode(in); err != nil {
			t.Errorf("Decode(%q): %v", in, err)
			continue
		}
		if got := h.String(); got != want {
			t.Errorf("Decode(%q) = %q, want %q", in, got, want)
		}
	}
	var h HeaderNames
	if err := h.Decode(`[1, 2]`); err == nil {
		t.Error("Decode of a list of numbers passed")
	}
}

func TestPattern(t *testing.T) {
	t.Parallel()
	day := time.Date(2024, 3, 9, 17, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		pattern, active string
		gz              bool
	}{
		{"/var/log/ditto/gateway.log.%d{yyyy-MM-dd}.gz", "/var/log/ditto/gateway.log.2024-03-09", true},
		{"/logs/app.%d.log", "/logs/app.2024-03-09.log", false},
		{"/logs/app-%d{yyyyMMdd'T'HH}.json.gz", "/logs/app-20240309T17.json", true},
		{"rel/app.%d{yy-MM}.log", "rel/app.24-03.log", false},
	} {
		p, err := parsePattern(tc.pattern)
		if err != nil {
			t.Errorf("%s: %v", tc.pattern, err)
			continue
		}
		if got := p.active(day); got != tc.active || p.gz != tc.gz {
			t.Errorf("%s: active %q gz %v, want %q %v", tc.pattern, got, p.gz, tc.active, tc.gz)
		}
		base := filepath.Base(tc.active)
		if _, gz, ok := p.match(base, time.UTC); !ok || gz {
			t.Errorf("%s: %s does not match as the uncompressed file", tc.pattern, base)
		}
		if _, gz, ok := p.match(base+".gz", time.UTC); ok != tc.gz || gz != tc.gz {
			t.Errorf("%s: %s.gz matches %v (compressed %v)", tc.pattern, base, ok, gz)
		}
	}
	p, _ := parsePattern("/l/app.%d{yyyy-MM-dd}.log")
	for _, name := range []string{"app.2024-13-01.log", "app.2024-02-30.log", "app.2024-1-01.log", "other.2024-01-01.log", "app.2024-01-01.log.gz", "app.2024-01-01.logx"} {
		if _, _, ok := p.match(name, time.UTC); ok {
			t.Errorf("%s matches", name)
		}
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"/var/log/ditto/ditto.log.%d{yyyy-MM-dd}.gz", "a.%d", "%d{yyyyMMddHHmmss}.x", "x.%d{'q''r'yy}.gz.gz", "%d{", "a/%d/b.log", "x%d{dd}%i"} {
		f.Add(s)
	}
	times := []time.Time{
		time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC),
		time.Date(2031, 1, 1, 5, 6, 7, 0, time.UTC),
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePattern(s)
		if err != nil {
			return
		}
		for _, tm := range times {
			active := p.active(tm)
			if filepath.Dir(active) != p.dir {
				t.Fatalf("%q: the file %q of %v is not in %q", s, active, tm, p.dir)
			}
			got, gz, ok := p.match(filepath.Base(active), time.UTC)
			if !ok || gz || p.formatDate(got) != p.formatDate(tm) {
				t.Fatalf("%q: %q of %v reads back as %v, %v, %v", s, active, tm, got, gz, ok)
			}
			if p.gz {
				if _, gz, ok := p.match(filepath.Base(active)+".gz", time.UTC); !ok || !gz {
					t.Fatalf("%q: %q.gz does not match as compressed", s, active)
				}
			}
		}
	})
}
