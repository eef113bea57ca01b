// Package limits holds Ditto's entity size limits (LIMITS_*), which the
// gateway checks on request bodies and the services on the resulting
// entities, so both read them from the same variables with the same syntax.
package limits

import (
	"fmt"
	"strconv"
	"strings"
)

// Config is Ditto's ditto.limits section.
type Config struct {
	ThingsMaxSize   ByteSize `envconfig:"LIMITS_THINGS_MAX_SIZE" default:"100k" desc:"largest thing JSON in bytes (k, m, g suffixes are powers of 1024)"`
	PoliciesMaxSize ByteSize `envconfig:"LIMITS_POLICIES_MAX_SIZE" default:"100k" desc:"largest policy JSON in bytes"`
	MessagesMaxSize ByteSize `envconfig:"LIMITS_MESSAGES_MAX_SIZE" default:"250k" desc:"largest live message payload in bytes"`
}

// ByteSize is a size in bytes written as HOCON writes memory sizes: a
// number with an optional unit (b, k/K/kB/KiB, m/M/MB/MiB, g/G/GB/GiB), all
// powers of 1024 as in Ditto's configuration.
type ByteSize int64

// Decode implements envconfig.Decoder.
func (b *ByteSize) Decode(s string) error {
	n, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = n
	return nil
}

// String renders the size in bytes.
func (b ByteSize) String() string { return strconv.FormatInt(int64(b), 10) }

// ParseByteSize parses a size such as "100k", "1.5m" or "2048".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("size %q: no number", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	var mult float64
	switch unit {
	case "", "b", "byte", "bytes":
		mult = 1
	case "k", "kb", "kib", "kilobytes", "kibibytes":
		mult = 1 << 10
	case "m", "mb", "mib", "megabytes", "mebibytes":
		mult = 1 << 20
	case "g", "gb", "gib", "gigabytes", "gibibytes":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	v := f * mult
	if v > 1<<50 {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return ByteSize(v), nil
}
