package protocol

import (
	"fmt"
	"time"
)

// FormatInstant writes t as Java's Instant.toString does, which is how Ditto
// prints timestamps it computed (policy subject expiries, RQL time
// placeholders): UTC, seconds always, and the fraction in groups of three
// digits, left out when zero.
func FormatInstant(t time.Time) string {
	t = t.UTC()
	s := t.Format("2006-01-02T15:04:05")
	ns := t.Nanosecond()
	switch {
	case ns == 0:
	case ns%1_000_000 == 0:
		s += fmt.Sprintf(".%03d", ns/1_000_000)
	case ns%1_000 == 0:
		s += fmt.Sprintf(".%06d", ns/1_000)
	default:
		s += fmt.Sprintf(".%09d", ns)
	}
	return s + "Z"
}
