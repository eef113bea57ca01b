// Package limits holds Ditto's entity size limits (LIMITS_*), which the
// gateway checks on request bodies and the services on the resulting
// entities. Config is their one declaration: a process reads it once and
// hands the same values to the gateway and to each service, so a variable
// means the same in every binary.
package limits

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Config is Ditto's ditto.limits section. A size of 0 means no limit, in the
// gateway and in the services alike.
type Config struct {
	ThingsMaxSize         ByteSize `envconfig:"LIMITS_THINGS_MAX_SIZE" default:"100k" desc:"largest thing JSON in bytes, checked on request bodies and on the thing a change leaves (k = 1024, kB = 1000; 0 for no limit)"`
	PoliciesMaxSize       ByteSize `envconfig:"LIMITS_POLICIES_MAX_SIZE" default:"100k" desc:"largest policy JSON in bytes, checked on request bodies and on the policy a change leaves (k = 1024, kB = 1000; 0 for no limit)"`
	MessagesMaxSize       ByteSize `envconfig:"LIMITS_MESSAGES_MAX_SIZE" default:"250k" desc:"largest live message payload and WebSocket frame in bytes (0 for no limit)"`
	SearchDefaultPageSize int      `envconfig:"LIMITS_THINGS_SEARCH_DEFAULT_PAGE_SIZE" default:"25" desc:"things per search page when the query gives no size"`
	SearchMaxPageSize     int      `envconfig:"LIMITS_THINGS_SEARCH_MAX_PAGE_SIZE" default:"200" desc:"largest size(...) or limit count a search query may ask for"`
	PoliciesMaxImports    int      `envconfig:"LIMITS_POLICIES_MAX_IMPORTS" default:"10" desc:"policies one policy may import (policies:imports.toolarge beyond)"`
}

// DefaultConfig is Config with the defaults of its variables, Ditto's.
func DefaultConfig() Config {
	return Config{ThingsMaxSize: 100 << 10, PoliciesMaxSize: 100 << 10, MessagesMaxSize: 250 << 10,
		SearchDefaultPageSize: 25, SearchMaxPageSize: 200, PoliciesMaxImports: 10}
}

// Validate reports every size that is negative, naming its variable.
func (c Config) Validate() error {
	var errs []error
	for _, l := range []struct {
		name string
		size ByteSize
	}{
		{"LIMITS_THINGS_MAX_SIZE", c.ThingsMaxSize},
		{"LIMITS_POLICIES_MAX_SIZE", c.PoliciesMaxSize},
		{"LIMITS_MESSAGES_MAX_SIZE", c.MessagesMaxSize},
	} {
		if l.size < 0 {
			errs = append(errs, fmt.Errorf("%s %d: must not be negative (0 for no limit)", l.name, l.size))
		}
	}
	if c.PoliciesMaxImports < 0 {
		errs = append(errs, fmt.Errorf("LIMITS_POLICIES_MAX_IMPORTS %d: must not be negative", c.PoliciesMaxImports))
	}
	// 0 stands for the default, so that a zero Config stays valid.
	if c.SearchMaxPageSize < 0 {
		errs = append(errs, fmt.Errorf("LIMITS_THINGS_SEARCH_MAX_PAGE_SIZE %d: must be positive", c.SearchMaxPageSize))
	}
	if c.SearchDefaultPageSize < 0 || c.SearchDefaultPageSize > c.SearchPageMax() {
		errs = append(errs, fmt.Errorf("LIMITS_THINGS_SEARCH_DEFAULT_PAGE_SIZE %d: must be between 1 and LIMITS_THINGS_SEARCH_MAX_PAGE_SIZE (%d)", c.SearchDefaultPageSize, c.SearchPageMax()))
	}
	return errors.Join(errs...)
}

// ByteSize is a number of bytes written as Ditto's (HOCON) configuration
// writes sizes: an integer with an optional unit, "100k" or "2 MiB".
// K, k, Ki, KiB (and M.., G..) are powers of 1024; kB, MB, GB powers of
// 1000.
type ByteSize int64

// byteUnits maps the unit spellings HOCON allows to their factors.
var byteUnits = map[string]int64{
	"": 1, "B": 1, "b": 1, "byte": 1, "bytes": 1,
	"kB": 1e3, "kilobyte": 1e3, "kilobytes": 1e3,
	"MB": 1e6, "megabyte": 1e6, "megabytes": 1e6,
	"GB": 1e9, "gigabyte": 1e9, "gigabytes": 1e9,
	"K": 1 << 10, "k": 1 << 10, "Ki": 1 << 10, "KiB": 1 << 10, "kibibyte": 1 << 10, "kibibytes": 1 << 10,
	"M": 1 << 20, "m": 1 << 20, "Mi": 1 << 20, "MiB": 1 << 20, "mebibyte": 1 << 20, "mebibytes": 1 << 20,
	"G": 1 << 30, "g": 1 << 30, "Gi": 1 << 30, "GiB": 1 << 30, "gibibyte": 1 << 30, "gibibytes": 1 << 30,
}

// ParseByteSize parses a size such as "102400", "100k" or "1 MiB". A
// negative number is accepted (Validate rejects it where it matters).
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	if i < len(t) && (t[i] == '-' || t[i] == '+') {
		i++
	}
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: want an integer with an optional unit such as k or MiB", s)
	}
	f, ok := byteUnits[strings.TrimSpace(t[i:])]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, strings.TrimSpace(t[i:]))
	}
	if n > 0 && n > (1<<63-1)/f || n < 0 && n < -(1<<63-1)/f {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return ByteSize(n * f), nil
}

// Decode implements envconfig.Decoder.
func (b *ByteSize) Decode(value string) error {
	v, err := ParseByteSize(value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// String renders the size in bytes.
func (b ByteSize) String() string { return strconv.FormatInt(int64(b), 10) }

// SearchPageDefault is the page size of a search without one (0 in the
// Config means Ditto's 25).
func (c Config) SearchPageDefault() int {
	if c.SearchDefaultPageSize > 0 {
		return c.SearchDefaultPageSize
	}
	return min(25, c.SearchPageMax())
}

// SearchPageMax is the largest page a search may ask for (0 in the Config
// means Ditto's 200).
func (c Config) SearchPageMax() int {
	if c.SearchMaxPageSize > 0 {
		return c.SearchMaxPageSize
	}
	return 200
}
