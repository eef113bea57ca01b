package dittoconf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// durationUnits are HOCON's duration units.
var durationUnits = map[string]time.Duration{
	"":   time.Millisecond, // a bare number is milliseconds
	"ns": time.Nanosecond, "nano": time.Nanosecond, "nanos": time.Nanosecond,
	"nanosecond": time.Nanosecond, "nanoseconds": time.Nanosecond,
	"us": time.Microsecond, "micro": time.Microsecond, "micros": time.Microsecond,
	"microsecond": time.Microsecond, "microseconds": time.Microsecond,
	"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond,
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseDuration reads a duration as HOCON writes it: a number with an
// optional unit ("10s", "5 minutes", "3d", "1.5h"; no unit means
// milliseconds). Go's own form ("1h30m", "8m0s") is accepted too.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	i := 0
	if i < len(t) && (t[i] == '-' || t[i] == '+') {
		i++
	}
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if f, ok := durationUnits[unit]; ok && num != "" {
		if n, err := strconv.ParseInt(num, 10, 64); err == nil {
			if n > math.MaxInt64/int64(f) || n < math.MinInt64/int64(f) {
				return 0, fmt.Errorf("duration %q: too long", s)
			}
			return time.Duration(n) * f, nil
		}
		if x, err := strconv.ParseFloat(num, 64); err == nil {
			d := x * float64(f)
			if math.IsNaN(d) || d > math.MaxInt64 || d < math.MinInt64 {
				return 0, fmt.Errorf("duration %q: too long", s)
			}
			return time.Duration(d), nil
		}
	}
	if d, err := time.ParseDuration(t); err == nil {
		return d, nil
	}
	return 0, fmt.Errorf("duration %q: want a number with a unit such as 500ms, 10s, 5m, 1h or 3d", s)
}

// FormatDuration writes d in HOCON's form, with the largest unit that
// divides it (90s, 8m, 1h, 3d, 150ms); Go's form for the rest.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	for _, u := range []struct {
		d    time.Duration
		unit string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"},
		{time.Microsecond, "us"}, {time.Nanosecond, "ns"}} {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.unit
		}
	}
	return d.String()
}
