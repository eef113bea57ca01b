package devops

import (
	"fmt"
	"log/slog"
	"math"
	"strings"
)

// Ditto's log levels (its LogLevel enum) as slog levels. slog has no
// trace, off or all: trace is one step (4) below debug, as slog spaces its
// own levels; off admits nothing and all admits everything.
const (
	LevelTrace = slog.LevelDebug - 4
	LevelOff   = slog.Level(math.MaxInt)
	LevelAll   = slog.Level(math.MinInt)
)

// levels lists Ditto's level names from the most verbose to none.
var levels = []struct {
	name  string
	level slog.Level
}{
	{"all", LevelAll}, {"trace", LevelTrace}, {"debug", slog.LevelDebug}, {"info", slog.LevelInfo},
	{"warn", slog.LevelWarn}, {"error", slog.LevelError}, {"off", LevelOff},
}

// ParseLevel reads a level as Ditto names it (off, error, warn, info,
// debug, trace, all; any case) or as slog does (e.g. "INFO+2").
func ParseLevel(s string) (slog.Level, error) {
	for _, l := range levels {
		if strings.EqualFold(s, l.name) {
			return l.level, nil
		}
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want off, error, warn, info, debug, trace or all", s)
	}
	return l, nil
}

// parseDittoLevel reads a level name of Ditto's LogLevel only, as its
// LogLevel.forIdentifier does (case-insensitive).
func parseDittoLevel(s string) (slog.Level, bool) {
	for _, l := range levels {
		if strings.EqualFold(s, l.name) {
			return l.level, true
		}
	}
	return 0, false
}

// LevelName names l as Ditto does: the most verbose of Ditto's levels that
// admits no record l does not admit (slog's "INFO+2" admits warnings and
// errors: "warn").
func LevelName(l slog.Level) string {
	for _, n := range levels {
		if n.level >= l {
			return n.name
		}
	}
	return "off"
}
