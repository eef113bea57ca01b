package rql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol"
)

// scanner holds the lexical rules the filter and option grammars share
// (Ditto's RqlParserBase): literals, properties, escapes and whitespace. It
// works on bytes; every token delimiter is ASCII, so multi-byte characters
// pass through untouched.
type scanner struct {
	src      string
	pos      int
	sentinel *protocol.Error // decides the wire code of errors
}

func (s *scanner) fail(off int, reason string) error {
	return newSyntaxError(s.sentinel, s.src, off, reason)
}

// failInput reports unexpected input at off and what the grammar wanted.
func (s *scanner) failInput(off int, expected string) error {
	if off >= len(s.src) {
		return s.fail(off, "Unexpected end of input, expected "+expected)
	}
	return s.fail(off, fmt.Sprintf("Invalid input %s, expected %s", describeAt(s.src, off), expected))
}

func (s *scanner) eof() bool { return s.pos >= len(s.src) }

// expect consumes c or fails naming c.
func (s *scanner) expect(c byte) error {
	if s.eof() || s.src[s.pos] != c {
		return s.failInput(s.pos, fmt.Sprintf("'%c'", c))
	}
	s.pos++
	return nil
}

func isWhiteSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// skipWhiteSpace skips the grammar's whitespace. The grammar allows it only
// in a few places (before the expression, after a literal, after the comma
// between logical operands); callers skip exactly there.
func (s *scanner) skipWhiteSpace() {
	for s.pos < len(s.src) && isWhiteSpace(s.src[s.pos]) {
		s.pos++
	}
}

// ident consumes an operator name.
func (s *scanner) ident() string {
	start := s.pos
	for s.pos < len(s.src) && isLetter(s.src[s.pos]) {
		s.pos++
	}
	return s.src[start:s.pos]
}

// property consumes a property: anything up to ',', ')', '"' or the end,
// with backslash escapes. It may be empty; field validation rejects that.
func (s *scanner) property() (string, error) {
	start := s.pos
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		if c == ',' || c == ')' || c == '"' || c == '\\' {
			break
		}
		s.pos++
	}
	if s.pos >= len(s.src) || s.src[s.pos] != '\\' {
		return s.src[start:s.pos], nil // common case: nothing to unescape
	}
	var b strings.Builder
	b.WriteString(s.src[start:s.pos])
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch c {
		case ',', ')', '"':
			return b.String(), nil
		case '\\':
			if err := s.escape(&b, '"'); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
			s.pos++
		}
	}
	return b.String(), nil
}

// quoted consumes a string literal opened by quote (' or ") at pos.
func (s *scanner) quoted() (string, error) {
	start := s.pos
	quote := s.src[s.pos]
	s.pos++
	var b strings.Builder
	for {
		if s.pos >= len(s.src) {
			return "", s.fail(start, fmt.Sprintf("Unterminated string literal, missing closing %c", quote))
		}
		c := s.src[s.pos]
		switch c {
		case quote:
			s.pos++
			return b.String(), nil
		case '\\':
			if err := s.escape(&b, quote); err != nil {
				return "", err
			}
		default:
			b.WriteByte(c)
			s.pos++
		}
	}
}

// escape decodes the escape sequence at pos (a backslash) into b. quote is
// the delimiter that may be escaped: " in double-quoted strings and
// properties, ' in single-quoted strings.
func (s *scanner) escape(b *strings.Builder, quote byte) error {
	start := s.pos
	if start+1 >= len(s.src) {
		return s.fail(start, "Incomplete escape sequence at end of input")
	}
	c := s.src[start+1]
	switch c {
	case quote, '\\', '/':
		b.WriteByte(c)
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		r, ok := hex4(s.src[start+2:])
		if !ok {
			return s.fail(start, `Invalid unicode escape, expected \u followed by 4 hex digits`)
		}
		s.pos = start + 6
		if utf16.IsSurrogate(r) {
			// Java strings are UTF-16: a pair of escapes spells one
			// character. A lone half has no UTF-8 form.
			lo, ok := rune(0), false
			if strings.HasPrefix(s.src[s.pos:], `\u`) {
				lo, ok = hex4(s.src[s.pos+2:])
			}
			if ok && r < 0xdc00 && 0xdc00 <= lo && lo <= 0xdfff {
				r = utf16.DecodeRune(r, lo)
				s.pos += 6
			} else {
				r = utf8.RuneError
			}
		}
		b.WriteRune(r)
		return nil
	default:
		return s.fail(start, fmt.Sprintf("Invalid escape sequence: backslash followed by %s", describeAt(s.src, start+1)))
	}
	s.pos = start + 2
	return nil
}

func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(s[:4], 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}

const expectedValue = `a value (number, "string", 'string', true, false, null or time:placeholder)`

// literal consumes a value and the whitespace after it.
func (s *scanner) literal() (Value, error) {
	if s.eof() {
		return Value{}, s.failInput(s.pos, expectedValue)
	}
	rest := s.src[s.pos:]
	var v Value
	switch c := rest[0]; {
	case c == '"' || c == '\'':
		str, err := s.quoted()
		if err != nil {
			return Value{}, err
		}
		v = StringValue(str)
	case c == '+' || c == '-' || isDigit(c):
		n, err := s.number()
		if err != nil {
			return Value{}, err
		}
		v = n
	case strings.HasPrefix(rest, placeholderPrefix):
		p, err := s.placeholder()
		if err != nil {
			return Value{}, err
		}
		v = p
	case strings.HasPrefix(rest, "true"):
		s.pos += len("true")
		v = BoolValue(true)
	case strings.HasPrefix(rest, "false"):
		s.pos += len("false")
		v = BoolValue(false)
	case strings.HasPrefix(rest, "null"):
		s.pos += len("null")
	default:
		return Value{}, s.failInput(s.pos, expectedValue)
	}
	s.skipWhiteSpace()
	return v, nil
}

// number consumes an integer (no leading zeros, no "-0") or a decimal with
// digits on both sides of the point. There is no exponent form.
func (s *scanner) number() (Value, error) {
	start := s.pos
	i := start
	if s.src[i] == '+' || s.src[i] == '-' {
		i++
	}
	if i >= len(s.src) || !isDigit(s.src[i]) {
		return Value{}, s.failInput(i, "a digit")
	}
	if s.src[i] == '0' {
		i++
	} else {
		for i < len(s.src) && isDigit(s.src[i]) {
			i++
		}
	}
	if i+1 < len(s.src) && s.src[i] == '.' && isDigit(s.src[i+1]) {
		i++
		for i < len(s.src) && isDigit(s.src[i]) {
			i++
		}
		f, err := strconv.ParseFloat(s.src[start:i], 64)
		if err != nil {
			return Value{}, s.fail(start, fmt.Sprintf("Number %s is out of range", s.src[start:i]))
		}
		s.pos = i
		return FloatValue(f), nil
	}
	text := s.src[start:i]
	if text == "-0" {
		return Value{}, s.fail(start, "Invalid input \"-0\", expected an integer without sign or a decimal like -0.0")
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return Value{}, s.fail(start, fmt.Sprintf("Integer %s is out of range (64 bit)", text))
	}
	s.pos = i
	return IntValue(n), nil
}

// placeholderPrefix is the only placeholder prefix Ditto's grammar accepts
// as a value.
const placeholderPrefix = "time:"

// placeholder consumes time:<name>. The name keeps its raw spelling (Ditto
// captures the input text, escapes and all) and is resolved at evaluation.
func (s *scanner) placeholder() (Value, error) {
	start := s.pos
	s.pos += len(placeholderPrefix)
	var scratch strings.Builder
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		if c == ',' || c == ')' || c == '"' {
			break
		}
		if c == '\\' {
			if err := s.escape(&scratch, '"'); err != nil {
				return Value{}, err
			}
			continue
		}
		s.pos++
	}
	raw := s.src[start:s.pos]
	name := raw[len(placeholderPrefix):]
	if name == "" || strings.ContainsAny(name, "\n\r\u0085\u2028\u2029") {
		return Value{}, s.fail(start, "Placeholder was not in expected format <prefix:name>")
	}
	return Value{kind: KindPlaceholder, s: raw}, nil
}
