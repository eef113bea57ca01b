package rql

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// Ditto resolves time placeholders in filter values (ImmutableTimePlaceholder):
//
//	time:now                 the current instant, ISO-8601 in UTC
//	time:now_epoch_millis    milliseconds since the epoch
//	time:now-1h, now+2d      shifted by a duration (ms, s or none, m, h, d, w, mo, y)
//	time:now[h], now-1d[d]   truncated to a unit, after shifting
//
// Both resolve to strings: a string meets a number field numerically, so
// now_epoch_millis compares with numbers and now with ISO timestamps.

const (
	nowName       = "now"
	nowMillisName = "now_epoch_millis"
)

// Ditto's ChronoUnit estimates for the calendar units.
const (
	day   = 24 * time.Hour
	year  = 31556952 * time.Second
	month = year / 12
)

// resolvePlaceholder returns the value of a "prefix:name" placeholder at
// now; ok is false when Ditto would not resolve it (and the value is null).
func resolvePlaceholder(placeholder string, now time.Time) (string, bool) {
	name, ok := strings.CutPrefix(placeholder, placeholderPrefix)
	if !ok {
		return "", false
	}
	millis := strings.HasPrefix(name, nowMillisName)
	var suffix string
	switch {
	case millis:
		suffix = name[len(nowMillisName):]
	case strings.HasPrefix(name, nowName):
		suffix = name[len(nowName):]
	default:
		return "", false
	}
	t, ok := shiftAndTruncate(now.UTC(), suffix)
	if !ok {
		return "", false
	}
	if millis {
		return strconv.FormatInt(t.UnixMilli(), 10), true
	}
	return protocol.FormatInstant(t), true
}

// shiftAndTruncate applies a suffix like "", "-1h", "+2d[d]" or "[mo]".
func shiftAndTruncate(t time.Time, suffix string) (time.Time, bool) {
	if suffix == "" {
		return t, true
	}
	span, unit, truncate := suffix, "", false
	if open := strings.IndexByte(suffix, '['); open >= 0 {
		end := strings.LastIndexByte(suffix, ']')
		if end < open {
			return t, false
		}
		span, unit, truncate = suffix[:open], suffix[open+1:end], true
	}
	switch {
	case span == "" && truncate:
	case span != "" && (span[0] == '-' || span[0] == '+'):
		d, ok := parseDittoDuration(span[1:])
		if !ok {
			return t, false
		}
		if span[0] == '-' {
			d = -d
		}
		t = t.Add(d)
	default:
		return t, false
	}
	if truncate {
		return truncateTo(t, unit)
	}
	return t, true
}

// parseDittoDuration reads "<amount><unit>" like DittoDuration; a
// negative amount, or one too large for a time.Duration, makes the
// placeholder unresolvable.
func parseDittoDuration(s string) (time.Duration, bool) {
	d, ok := protocol.ParseDittoDuration(s)
	if !ok || d.Amount > math.MaxInt64/int64(d.Unit) {
		return 0, false
	}
	return d.Duration(), true
}

// truncateTo cuts t down to the start of unit. Weeks start on Monday. Ditto
// truncates weeks, months and years in the JVM's zone; this uses UTC.
func truncateTo(t time.Time, unit string) (time.Time, bool) {
	switch unit {
	case "ms":
		return t.Truncate(time.Millisecond), true
	case "s", "":
		return t.Truncate(time.Second), true
	case "m":
		return t.Truncate(time.Minute), true
	case "h":
		return t.Truncate(time.Hour), true
	case "d":
		return startOfDay(t), true
	case "w":
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return startOfDay(t.AddDate(0, 0, -back)), true
	case "mo":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC), true
	case "y":
		return time.Date(t.Year(), time.January, 1, 0, 0, 0, 0, time.UTC), true
	}
	return t, false
}

func startOfDay(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
