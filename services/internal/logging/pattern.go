package logging

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pattern is a file name pattern of logback's TimeBasedRollingPolicy:
// one %d{<date format>} (%d alone is %d{yyyy-MM-dd}) in the file name, a
// directory without one, and an optional .gz suffix that asks for rolled
// files to be gzipped. The file of the current period is the name for now
// without .gz; a file of an earlier period is an archive.
type pattern struct {
	dir            string
	prefix, suffix string // of the base name around the date; suffix without .gz
	gz             bool
	date           []dateToken
}

// dateToken is one part of a date format: a field of fixed width or
// literal text.
type dateToken struct {
	field byte // 'y' (4 digits), 'Y' (yy), 'M', 'd', 'H', 'm', 's'; 0 for literal
	lit   string
}

// parsePattern reads a logback file name pattern. Supported date letters
// are those of SimpleDateFormat a rollover period needs: yyyy, yy, MM, dd,
// HH, mm, ss; text in single quotes and any other non-letter is literal.
func parsePattern(s string) (*pattern, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty; want a file name with %d{yyyy-MM-dd}")
	}
	if strings.HasSuffix(s, ".zip") {
		return nil, fmt.Errorf("%q: only .gz compression is supported", s)
	}
	dir, base := filepath.Split(s)
	if strings.Contains(dir, "%") {
		return nil, fmt.Errorf("%q: %%d must be in the file name, not in the directory", s)
	}
	if dir == "" {
		dir = "."
	}
	p := &pattern{dir: filepath.Clean(dir)}
	if strings.HasSuffix(base, ".gz") {
		p.gz = true
		base = strings.TrimSuffix(base, ".gz")
	}
	i := strings.Index(base, "%")
	if i < 0 || !strings.HasPrefix(base[i:], "%d") {
		return nil, fmt.Errorf("%q: want a date %%d{yyyy-MM-dd} in the file name", s)
	}
	p.prefix = base[:i]
	rest := base[i+2:]
	format := "yyyy-MM-dd"
	if strings.HasPrefix(rest, "{") {
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return nil, fmt.Errorf("%q: %%d{ without }", s)
		}
		format, rest = rest[1:end], rest[end+1:]
		if strings.Contains(format, ",") {
			return nil, fmt.Errorf("%q: %%d options (time zone, aux) are not supported", s)
		}
	}
	if strings.Contains(rest, "%") {
		return nil, fmt.Errorf("%q: one %%d and no other conversion (%%i needs a size-based policy, which is not supported)", s)
	}
	p.suffix = rest
	var err error
	if p.date, err = parseDateFormat(format); err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	if p.prefix == "" && p.suffix == "" && !hasLiteral(p.date) {
		// Every digit string of the right length would match: too easily
		// another program's file.
		return nil, fmt.Errorf("%q: want a file name around the date", s)
	}
	return p, nil
}

func hasLiteral(ts []dateToken) bool {
	for _, t := range ts {
		if t.field == 0 && t.lit != "" {
			return true
		}
	}
	return false
}

// parseDateFormat reads the supported subset of Java's SimpleDateFormat.
func parseDateFormat(f string) ([]dateToken, error) {
	if f == "" {
		return nil, errors.New("empty date format")
	}
	var out []dateToken
	lit := func(s string) {
		if n := len(out); n > 0 && out[n-1].field == 0 {
			out[n-1].lit += s
			return
		}
		out = append(out, dateToken{lit: s})
	}
	fields := 0
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(f[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("date format %q: unclosed quote", f)
			}
			if end == 0 {
				lit("'")
			} else {
				lit(f[i+1 : i+1+end])
			}
			i += end + 2
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(f) && f[j] == c {
				j++
			}
			run := f[i:j]
			var field byte
			switch run {
			case "yyyy":
				field = 'y'
			case "yy":
				field = 'Y'
			case "MM", "dd", "HH", "mm", "ss":
				field = c
			default:
				return nil, fmt.Errorf("date format %q: %q is not supported (use yyyy, yy, MM, dd, HH, mm, ss)", f, run)
			}
			out = append(out, dateToken{field: field})
			fields++
			i = j
		default:
			lit(string(c))
			i++
		}
	}
	if fields == 0 {
		return nil, fmt.Errorf("date format %q: no date field", f)
	}
	for _, t := range out {
		if strings.ContainsAny(t.lit, `/\`) {
			return nil, fmt.Errorf("date format %q: a path separator is not allowed in a file name date", f)
		}
	}
	return out, nil
}

// width is the number of digits of a field.
func width(field byte) int {
	if field == 'y' {
		return 4
	}
	return 2
}

// formatDate writes t in the date format.
func (p *pattern) formatDate(t time.Time) string {
	return p.formatDateOf(t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
}

// parseDate reads a date the format wrote, as the start of its period in
// loc; ok is false for anything formatDate cannot have written.
func (p *pattern) parseDate(s string, loc *time.Location) (time.Time, bool) {
	year, month, day, hour, minute, second := 2000, 1, 1, 0, 0, 0 // a leap year: MM-dd may be 02-29
	for _, tok := range p.date {
		if tok.field == 0 {
			if !strings.HasPrefix(s, tok.lit) {
				return time.Time{}, false
			}
			s = s[len(tok.lit):]
			continue
		}
		w := width(tok.field)
		if len(s) < w {
			return time.Time{}, false
		}
		v := 0
		for _, c := range []byte(s[:w]) {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			v = v*10 + int(c-'0')
		}
		s = s[w:]
		switch tok.field {
		case 'y':
			year = v
		case 'Y':
			year = 2000 + v
		case 'M':
			month = v
		case 'd':
			day = v
		case 'H':
			hour = v
		case 'm':
			minute = v
		case 's':
			second = v
		}
	}
	if s != "" {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, 0, loc)
	if p.formatDate(t) != p.formatDateOf(year, month, day, hour, minute, second) {
		return time.Time{}, false // out of range (month 13, Feb 30)
	}
	return t, true
}

// formatDateOf writes the fields as they are (parseDate compares it with
// formatDate's of the normalised date to reject month 13 or February 30).
func (p *pattern) formatDateOf(year, month, day, hour, minute, second int) string {
	var b strings.Builder
	for _, tok := range p.date {
		var v int
		switch tok.field {
		case 0:
			b.WriteString(tok.lit)
			continue
		case 'y':
			v = year
		case 'Y':
			v = year % 100
		case 'M':
			v = month
		case 'd':
			v = day
		case 'H':
			v = hour
		case 'm':
			v = minute
		case 's':
			v = second
		}
		s := strconv.Itoa(v)
		for len(s) < width(tok.field) {
			s = "0" + s
		}
		b.WriteString(s)
	}
	return b.String()
}

// active is the path of the file written at t.
func (p *pattern) active(t time.Time) string {
	return filepath.Join(p.dir, p.prefix+p.formatDate(t)+p.suffix)
}

// match reads a base name of p's directory: whether it is one of p's files,
// its period and whether it is gzipped.
func (p *pattern) match(name string, loc *time.Location) (t time.Time, gz, ok bool) {
	if t, ok = p.matchPlain(name, loc); ok {
		return t, false, true
	}
	if p.gz && strings.HasSuffix(name, ".gz") {
		t, ok = p.matchPlain(strings.TrimSuffix(name, ".gz"), loc)
		return t, ok, ok
	}
	return time.Time{}, false, false
}

func (p *pattern) matchPlain(name string, loc *time.Location) (time.Time, bool) {
	if len(name) < len(p.prefix)+len(p.suffix) || !strings.HasPrefix(name, p.prefix) || !strings.HasSuffix(name, p.suffix) {
		return time.Time{}, false
	}
	return p.parseDate(name[len(p.prefix):len(name)-len(p.suffix)], loc)
}
