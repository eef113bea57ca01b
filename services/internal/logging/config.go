package logging

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dittonats/dittonats/services/internal/devops"
)

// Config is where log lines go, with the variables of Ditto's logback.xml
// and ditto-headers.conf.
type Config struct {
	DisableSysout       bool        `envconfig:"DITTO_LOGGING_DISABLE_SYSOUT_LOG" default:"false" desc:"true writes no log lines to the console (stderr)"`
	LogstashServer      string      `envconfig:"DITTO_LOGGING_LOGSTASH_SERVER" desc:"host:port of a Logstash TCP input (json_lines codec) to send every log line to as JSON; empty sends none"`
	LogstashWriteBuffer int         `envconfig:"LOGSTASH_WRITE_BUFFER_SIZE" default:"8192" desc:"bytes buffered per write to the Logstash server"`
	LogstashRingBuffer  int         `envconfig:"LOGSTASH_RING_BUFFER_SIZE" default:"8192" desc:"log lines queued for the Logstash server; when it is full (server slow or unreachable) lines are dropped and counted"`
	FileAppender        bool        `envconfig:"DITTO_LOGGING_FILE_APPENDER" default:"false" desc:"true also writes log lines as JSON to daily rolled files (DITTO_LOGGING_FILE_NAME_PATTERN)"`
	FileThreshold       string      `envconfig:"DITTO_LOGGING_FILE_APPENDER_THRESHOLD" default:"info" desc:"lowest level written to the log files: trace, debug, info, warn or error"`
	FileNamePattern     string      `envconfig:"DITTO_LOGGING_FILE_NAME_PATTERN" default:"/var/log/ditto/ditto.log.%d{yyyy-MM-dd}.gz" desc:"log file names: %d{yyyy-MM-dd} is the day (the rollover period is its finest unit); the current file is the name without .gz, rolled files are gzipped when it ends in .gz (Ditto's default: /var/log/ditto/<service>.log.%d{yyyy-MM-dd}.gz)"`
	MaxFileHistory      int         `envconfig:"DITTO_LOGGING_MAX_LOG_FILE_HISTORY" default:"10" desc:"rolled log files kept, the oldest deleted first; 0 keeps all"`
	TotalFileSize       string      `envconfig:"DITTO_LOGGING_TOTAL_LOG_FILE_SIZE" default:"1GB" desc:"total size of the log files (e.g. 500MB, 10KB), rolled files deleted oldest first to stay below it; 0 for no limit"`
	CleanHistoryOnStart bool        `envconfig:"DITTO_LOGGING_CLEAN_HISTORY_ON_START" default:"false" desc:"true applies DITTO_LOGGING_MAX_LOG_FILE_HISTORY and DITTO_LOGGING_TOTAL_LOG_FILE_SIZE at start, not only at the first rollover"`
	RedactedHeaders     HeaderNames `envconfig:"DITTO_HEADERS_REDACTED_IN_LOG" default:"authorization" desc:"comma-separated header names (any case) whose values every log line shows as ***"`
}

// maxRingBuffer bounds LOGSTASH_RING_BUFFER_SIZE: the queue is allocated
// up front.
const maxRingBuffer = 1 << 20

// Validate reports every problem of the settings, naming the variable. With
// DITTO_LOGGING_FILE_APPENDER it also checks that the log directory exists
// or can be created and is writable, so that a bad path fails at start.
func (c Config) Validate() error {
	var errs []error
	if c.LogstashServer != "" {
		if err := checkHostPort(c.LogstashServer); err != nil {
			errs = append(errs, fmt.Errorf("DITTO_LOGGING_LOGSTASH_SERVER %q: %w", c.LogstashServer, err))
		}
	}
	if c.LogstashWriteBuffer < 1 || c.LogstashWriteBuffer > math.MaxInt32 {
		errs = append(errs, fmt.Errorf("LOGSTASH_WRITE_BUFFER_SIZE %d: must be positive", c.LogstashWriteBuffer))
	}
	if c.LogstashRingBuffer < 1 || c.LogstashRingBuffer > maxRingBuffer {
		errs = append(errs, fmt.Errorf("LOGSTASH_RING_BUFFER_SIZE %d: must be 1..%d", c.LogstashRingBuffer, maxRingBuffer))
	}
	if _, err := parseThreshold(c.FileThreshold); err != nil {
		errs = append(errs, fmt.Errorf("DITTO_LOGGING_FILE_APPENDER_THRESHOLD: %w", err))
	}
	if c.MaxFileHistory < 0 {
		errs = append(errs, fmt.Errorf("DITTO_LOGGING_MAX_LOG_FILE_HISTORY %d: must not be negative", c.MaxFileHistory))
	}
	if _, err := ParseSize(c.TotalFileSize); err != nil {
		errs = append(errs, fmt.Errorf("DITTO_LOGGING_TOTAL_LOG_FILE_SIZE: %w", err))
	}
	p, err := parsePattern(c.FileNamePattern)
	if err != nil {
		errs = append(errs, fmt.Errorf("DITTO_LOGGING_FILE_NAME_PATTERN: %w", err))
	} else if c.FileAppender {
		if err := checkWritableDir(p.dir); err != nil {
			errs = append(errs, fmt.Errorf("DITTO_LOGGING_FILE_NAME_PATTERN %q: %w", c.FileNamePattern, err))
		}
	}
	return errors.Join(errs...)
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("want host:port, the host is missing")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want 1..65535", port)
	}
	return nil
}

// parseThreshold reads a file threshold as logback's ThresholdFilter
// names levels (and Ditto's off and all).
func parseThreshold(s string) (slog.Level, error) {
	return devops.ParseLevel(strings.TrimSpace(s))
}

// checkWritableDir reports whether dir is a writable directory or can be
// created: it writes and removes a probe file in dir, or in its nearest
// existing ancestor when dir does not exist yet.
func checkWritableDir(dir string) error {
	probe := dir
	for {
		fi, err := os.Stat(probe)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("log directory %s: %s is not a directory", dir, probe)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("log directory %s: %w", dir, err)
		}
		parent := filepath.Dir(probe)
		if parent == probe {
			return fmt.Errorf("log directory %s: %w", dir, err)
		}
		probe = parent
	}
	f, err := os.CreateTemp(probe, ".ditto-log-probe-*")
	if err != nil {
		return fmt.Errorf("log directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}

// HeaderNames are header names, lower case. Decode reads them from a
// comma-separated list (the environment variable) or a JSON array of
// strings (a HOCON list, as ditto-headers.conf writes redacted-in-log).
type HeaderNames []string

// Decode implements envconfig.Decoder.
func (h *HeaderNames) Decode(raw string) error {
	raw = strings.TrimSpace(raw)
	var names []string
	if strings.HasPrefix(raw, "[") {
		if err := json.Unmarshal([]byte(raw), &names); err != nil {
			return errors.New("want comma-separated header names or a list of strings")
		}
	} else {
		names = strings.Split(raw, ",")
	}
	out := HeaderNames{}
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			out = append(out, n)
		}
	}
	*h = out
	return nil
}

// String writes the names as Decode reads them.
func (h HeaderNames) String() string { return strings.Join(h, ",") }

// ParseSize reads a size as logback's FileSize does: a non-negative
// integer, optional spaces and an optional unit kb, mb or gb (any case,
// an optional trailing s; powers of 1024): "1GB", "500 MB", "10kb", "42".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit kb, mb or gb (e.g. 1GB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	unit := strings.ToLower(strings.TrimLeft(t[i:], " \t"))
	unit = strings.TrimSuffix(unit, "s")
	var mult int64
	switch unit {
	case "":
		mult = 1
	case "kb":
		mult = 1 << 10
	case "mb":
		mult = 1 << 20
	case "gb":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q, want kb, mb or gb", s, t[i:])
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mult, nil
}
