// Package jsonsyntax holds the JSON grammar the platform's parsers share:
// a validator, the scanners of numbers and \u escapes, and Ditto's string
// escaping.
package jsonsyntax

import (
	"unicode/utf8"
	"unsafe"
)

// maxValidDepth is the deepest nesting Valid accepts, encoding/json's limit.
const maxValidDepth = 10000

// Valid reports whether data is one JSON value, with optional white space
// around it. It accepts exactly what encoding/json.Valid accepts (invalid
// UTF-8 inside strings included, nesting up to 10,000 levels) at several
// times its speed: every command that enters a service is checked with it.
func Valid(data []byte) bool {
	// Read in place as a string, to share the parser's scanners; data is
	// not changed while Valid runs.
	return valid(unsafe.String(unsafe.SliceData(data), len(data)))
}

func valid(data string) bool {
	// stack holds the open containers, '{' or '['; it lives on the
	// goroutine's stack for the nesting real messages have.
	var buf [32]byte
	stack := buf[:0]
	i := skipWS(data, 0)
	for {
		// A value starts at data[i].
		if i >= len(data) {
			return false
		}
		switch c := data[i]; {
		case c == '{' || c == '[':
			if len(stack) == maxValidDepth {
				return false
			}
			stack = append(stack, c)
			i = skipWS(data, i+1)
			if i < len(data) && (c == '{' && data[i] == '}' || c == '[' && data[i] == ']') {
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i = member(data, i); i < 0 {
					return false
				}
			}
			continue
		case c == '"':
			if i = validString(data, i); i < 0 {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			var ok bool
			if i, ok = ScanNumber(data, i); !ok {
				return false
			}
		case c == 't':
			if i = literal(data, i, "true"); i < 0 {
				return false
			}
		case c == 'f':
			if i = literal(data, i, "false"); i < 0 {
				return false
			}
		case c == 'n':
			if i = literal(data, i, "null"); i < 0 {
				return false
			}
		default:
			return false
		}
		// A value ended before data[i]: close containers or go on to the
		// next element or member.
		for {
			i = skipWS(data, i)
			if len(stack) == 0 {
				return i == len(data)
			}
			if i >= len(data) {
				return false
			}
			top := stack[len(stack)-1]
			if c := data[i]; c == ',' {
				i = skipWS(data, i+1)
				if top == '{' {
					if i = member(data, i); i < 0 {
						return false
					}
				}
				break
			} else if top == '{' && c == '}' || top == '[' && c == ']' {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			return false
		}
	}
}

// member checks the `"key" :` of an object member at data[i] and returns
// where its value starts, or -1.
func member(data string, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	if i = validString(data, i); i < 0 {
		return -1
	}
	i = skipWS(data, i)
	if i >= len(data) || data[i] != ':' {
		return -1
	}
	return skipWS(data, i+1)
}

func skipWS(data string, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// validString returns the index after the string starting at data[i] == '"',
// or -1.
func validString(data string, i int) int {
	for i++; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(data) {
				return -1
			}
			switch data[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := Hex4(data, i+1); !ok {
					return -1
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// literal returns the index after lit at data[i], or -1.
func literal(data string, i int, lit string) int {
	if len(data)-i < len(lit) || data[i:i+len(lit)] != lit {
		return -1
	}
	return i + len(lit)
}

// Hex4 reads the four hex digits at s[i:] as a UTF-16 code unit.
func Hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// ScanNumber matches the RFC 8259 number grammar at s[i:] and returns the end
// of the match; on failure it returns the offset of the offending byte.
func ScanNumber(s string, i int) (int, bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i >= len(s):
		return i, false
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		i = digits(s, i+1)
	default:
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

const hexDigits = "0123456789ABCDEF"

// AppendString appends s as a quoted JSON string the way Ditto's writer
// (JsonCharEscaper) escapes it: '"' and '\\', the control characters with
// their short forms (\b \f \n \r \t) or as \u00XX in upper-case hex, and
// nothing else (not <, > and &, not U+2028). Invalid UTF-8 becomes U+FFFD, as
// it would in Ditto's UTF-16 strings. Unescaped runs are copied in one go.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	run := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[run:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			run = i
			continue
		}
		dst = append(dst, s[run:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		run = i
	}
	dst = append(dst, s[run:]...)
	return append(dst, '"')
}
