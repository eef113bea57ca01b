package protocol

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// DittoDuration is a duration in the syntax of Ditto's DittoDuration: an
// amount and a unit suffix (s, ms, m, h, d, w, mo, y; none means seconds).
// Ditto keeps the unit it was given, so a duration prints back as written
// (up to a leading '+').
type DittoDuration struct {
	Amount int64
	Suffix string
	// Unit is the length of one Suffix; months and years have Java's
	// average lengths (ChronoUnit.MONTHS and YEARS).
	Unit time.Duration
}

// dittoUnits are DittoDuration's units in the order Ditto tries them
// (DittoTimeUnit): the first whose "[+-]digits<suffix>" pattern matches
// decides.
var dittoUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"s", time.Second}, {"", time.Second}, {"ms", time.Millisecond}, {"m", time.Minute},
	{"h", time.Hour}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour},
	{"mo", 2629746 * time.Second}, {"y", 31556952 * time.Second},
}

// ParseDittoDuration reads s as DittoDuration.parseDuration does. A
// negative amount, which DittoDuration refuses, or one out of int64's
// range is not a duration.
func ParseDittoDuration(s string) (DittoDuration, bool) {
	for _, u := range dittoUnits {
		amount, ok := strings.CutSuffix(s, u.suffix)
		if !ok || !signedDigits(amount) {
			continue
		}
		n, err := strconv.ParseInt(amount, 10, 64)
		if err != nil || n < 0 {
			return DittoDuration{}, false
		}
		return DittoDuration{Amount: n, Suffix: u.suffix, Unit: u.unit}, true
	}
	return DittoDuration{}, false
}

// String renders d as Ditto does: the amount and the suffix.
func (d DittoDuration) String() string { return strconv.FormatInt(d.Amount, 10) + d.Suffix }

// Duration is d's length; one too long for a time.Duration saturates at
// its maximum.
func (d DittoDuration) Duration() time.Duration {
	if d.Amount > int64(math.MaxInt64/d.Unit) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d.Amount) * d.Unit
}

func signedDigits(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatDuration renders d as a Ditto duration: whole seconds as "<n>s",
// anything else in milliseconds ("<n>ms").
func FormatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}
