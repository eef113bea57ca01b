package jsonv

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol/internal/jsonsyntax"
)

// MaxDepth is the deepest nesting of arrays and objects Parse accepts; deeper
// input is rejected as invalid rather than risking unbounded recursion.
// Writers keep what they store within it (see Value.Depth), so that every
// client can read it back with any parser that has the same limit.
const MaxDepth = 512

// MaxStoredDepth is the deepest nesting ParseStored accepts. It only bounds
// the recursion: documents written before writes were held to MaxDepth got
// deeper only through the path of a write, and the gateway's 64 KiB limit on
// a request's head keeps any path below 32768 segments.
const MaxStoredDepth = 1 << 16

// Parse parses one JSON text (RFC 8259, strict: no comments, no trailing
// commas, nothing but whitespace around the value). It copies data once and
// shares that copy between all strings and keys of the result, so the caller
// may reuse data.
//
// Beyond RFC 8259 it follows Ditto's parser:
//   - a repeated key keeps its first position and takes its last value;
//   - an empty key ("") is rejected, as Ditto's JsonKey cannot be empty;
//   - an integer literal (no fraction or exponent) must fit in int64.
//
// Invalid UTF-8 and unpaired surrogate escapes become U+FFFD, as in
// encoding/json. Number literals are kept verbatim. Errors are
// *protocol.Error with code "json.invalid" (ErrInvalidJSON).
func Parse(data []byte) (Value, error) {
	if uint64(len(data)) > maxLen {
		return Value{}, parseError("input larger than 4 GiB")
	}
	return parse(string(data), MaxDepth)
}

// ParseStored is Parse for JSON the platform stored itself after validating
// it (entity documents, journal events, snapshots), nested up to
// MaxStoredDepth: an entity stored deeper than MaxDepth, by a version that
// did not check the depth of writes, must still load so that it can be
// repaired or deleted. Client input must go through Parse.
func ParseStored(data []byte) (Value, error) {
	if uint64(len(data)) > maxLen {
		return Value{}, parseError("input larger than 4 GiB")
	}
	return parse(string(data), MaxStoredDepth)
}

// ParseStoredString is ParseStored for a string, which it shares instead of
// copying.
func ParseStoredString(s string) (Value, error) {
	if uint64(len(s)) > maxLen {
		return Value{}, parseError("input larger than 4 GiB")
	}
	return parse(s, MaxStoredDepth)
}

// ParseString is Parse for a string, which it shares instead of copying.
func ParseString(s string) (Value, error) {
	if uint64(len(s)) > maxLen {
		return Value{}, parseError("input larger than 4 GiB")
	}
	return parse(s, MaxDepth)
}

// MustParse parses s and panics on error; for tests and constants.
func MustParse(s string) Value {
	v, err := ParseString(s)
	if err != nil {
		panic(err)
	}
	return v
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *Value) UnmarshalJSON(data []byte) error {
	w, err := Parse(data)
	if err != nil {
		return err
	}
	*v = w
	return nil
}

// parser is a recursive-descent parser. Children of the containers being
// parsed are collected on the vals and mems stacks and copied into an exactly
// sized slice when their container closes, so each container costs one
// allocation and none of its slack is retained.
type parser struct {
	s     string
	i     int
	depth int
	limit int // the deepest nesting accepted
	vals  []Value
	mems  []Member
	buf   []byte // unescaping scratch
	err   error
	// Highest stack lengths of this parse: the entries below them may still
	// point into the input and are cleared before the parser is pooled.
	hiVals, hiMems int
}

// parsers recycles the scratch stacks: without it every Parse allocates and
// drops them, which for a twin-sized document costs more than the result.
var parsers = sync.Pool{New: func() any { return new(parser) }}

// maxPooledScratch keeps one huge document from pinning its scratch forever.
const maxPooledScratch = 1 << 10

func parse(s string, limit int) (Value, error) {
	p := parsers.Get().(*parser)
	p.s, p.limit = s, limit
	v, ok := p.value()
	if ok {
		p.skipSpace()
		if p.i < len(p.s) {
			p.err = p.unexpected("after the JSON value")
			ok = false
		}
	}
	err := p.err
	p.reset()
	parsers.Put(p)
	if !ok {
		return Value{}, err
	}
	return v, nil
}

// reset empties p for reuse, dropping every reference into the parsed input.
func (p *parser) reset() {
	clear(p.vals[:max(p.hiVals, len(p.vals))])
	clear(p.mems[:max(p.hiMems, len(p.mems))])
	if cap(p.vals) > maxPooledScratch {
		p.vals = nil
	}
	if cap(p.mems) > maxPooledScratch {
		p.mems = nil
	}
	if cap(p.buf) > maxPooledScratch*16 {
		p.buf = nil
	}
	*p = parser{vals: p.vals[:0], mems: p.mems[:0], buf: p.buf[:0]}
}

func (p *parser) fail(what string) (Value, bool) {
	p.err = parseErrorAt(p.s, p.i, what)
	return Value{}, false
}

// unexpected describes the byte at p.i, or the end of input.
func (p *parser) unexpected(context string) error {
	if p.i >= len(p.s) {
		return parseErrorAt(p.s, p.i, "unexpected end of input "+context)
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	return parseErrorAt(p.s, p.i, "unexpected character "+strconv.QuoteRune(r)+" "+context)
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value() (Value, bool) {
	p.skipSpace()
	if p.i >= len(p.s) {
		p.err = p.unexpected("where a value was expected")
		return Value{}, false
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, plain, ok := p.str()
		if !ok {
			return Value{}, false
		}
		return stringValue(s, plain), true
	case c == 't':
		return p.literal("true", Bool(true))
	case c == 'f':
		return p.literal("false", Bool(false))
	case c == 'n':
		return p.literal("null", Null())
	case c == '-' || (c >= '0' && c <= '9'):
		end, ok := jsonsyntax.ScanNumber(p.s, p.i)
		if !ok {
			p.i = end
			p.err = p.unexpected("in number")
			return Value{}, false
		}
		lit := p.s[p.i:end]
		if !intInRange(lit) {
			return p.fail("integer " + clip(lit) + " out of 64-bit range")
		}
		p.i = end
		return numberValue(lit), true
	}
	p.err = p.unexpected("where a value was expected")
	return Value{}, false
}

func (p *parser) literal(word string, v Value) (Value, bool) {
	if !strings.HasPrefix(p.s[p.i:], word) {
		// Point at the first byte that differs.
		for j := 0; j < len(word) && p.i < len(p.s) && p.s[p.i] == word[j]; j++ {
			p.i++
		}
		p.err = p.unexpected("in literal " + word)
		return Value{}, false
	}
	p.i += len(word)
	return v, true
}

func (p *parser) enter() bool {
	p.depth++
	if p.depth > p.limit {
		p.err = parseErrorAt(p.s, p.i, "nesting deeper than "+strconv.Itoa(p.limit)+" levels")
		return false
	}
	return true
}

func (p *parser) object() (Value, bool) {
	if !p.enter() {
		return Value{}, false
	}
	p.i++ // '{'
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		p.depth--
		return Value{k: KindObject}, true
	}
	start := len(p.mems)
	var idx keyIndex
	for {
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			p.err = p.unexpected("where an object key was expected")
			return Value{}, false
		}
		keyAt := p.i
		key, _, ok := p.str()
		if !ok {
			return Value{}, false
		}
		if key == "" {
			p.i = keyAt
			return p.fail("empty object key")
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			p.err = p.unexpected("where ':' was expected")
			return Value{}, false
		}
		p.i++
		v, ok := p.value()
		if !ok {
			return Value{}, false
		}
		p.mems = idx.put(p.mems, start, key, v)
		more, ok := p.next('}', "where ',' or '}' was expected")
		if !ok {
			return Value{}, false
		}
		if !more {
			break
		}
	}
	ms := make([]Member, len(p.mems)-start)
	copy(ms, p.mems[start:])
	p.hiMems = max(p.hiMems, len(p.mems))
	p.mems = p.mems[:start]
	p.depth--
	return objectValue(ms), true
}

// next consumes the ',' or the closing bracket after a member or element:
// more reports a ','. Anything else sets p.err (with context) and !ok.
func (p *parser) next(closing byte, context string) (more, ok bool) {
	p.skipSpace()
	if p.i < len(p.s) {
		switch p.s[p.i] {
		case ',':
			p.i++
			return true, true
		case closing:
			p.i++
			return false, true
		}
	}
	p.err = p.unexpected(context)
	return false, false
}

func (p *parser) array() (Value, bool) {
	if !p.enter() {
		return Value{}, false
	}
	p.i++ // '['
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		p.depth--
		return Value{k: KindArray}, true
	}
	start := len(p.vals)
	for {
		v, ok := p.value()
		if !ok {
			return Value{}, false
		}
		p.vals = append(p.vals, v)
		more, ok := p.next(']', "where ',' or ']' was expected")
		if !ok {
			return Value{}, false
		}
		if !more {
			break
		}
	}
	vs := make([]Value, len(p.vals)-start)
	copy(vs, p.vals[start:])
	p.hiVals = max(p.hiVals, len(p.vals))
	p.vals = p.vals[:start]
	p.depth--
	return arrayValue(vs), true
}

// str parses the string starting at the quote at p.i. Strings without
// escapes or invalid UTF-8 are returned as substrings of the input (no copy)
// and are plain; the rest are decoded into a new string.
func (p *parser) str() (s string, plain, ok bool) {
	src := p.s
	i := p.i + 1
	for i < len(src) {
		c := src[i]
		switch {
		case c == '"':
			s = src[p.i+1 : i]
			p.i = i + 1
			return s, true, true
		case c == '\\':
			return p.strSlow(i)
		case c < 0x20:
			p.i = i
			p.err = parseErrorAt(src, i, "control character "+strconv.QuoteRune(rune(c))+" in string")
			return "", false, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && size == 1 {
				return p.strSlow(i)
			}
			i += size
		}
	}
	p.i = i
	p.err = parseErrorAt(src, i, "unterminated string")
	return "", false, false
}

// strSlow decodes a string from i on, the first byte needing work.
func (p *parser) strSlow(i int) (string, bool, bool) {
	src := p.s
	buf := append(p.buf[:0], src[p.i+1:i]...)
	for i < len(src) {
		c := src[i]
		switch {
		case c == '"':
			s := string(buf)
			p.buf = buf[:0]
			p.i = i + 1
			return s, isPlain(s), true
		case c == '\\':
			n, ok := p.escape(&buf, i)
			if !ok {
				return "", false, false
			}
			i += n
		case c < 0x20:
			p.i = i
			p.err = parseErrorAt(src, i, "control character "+strconv.QuoteRune(rune(c))+" in string")
			return "", false, false
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, src[i:i+size]...)
			}
			i += size
		}
	}
	p.i = i
	p.err = parseErrorAt(src, i, "unterminated string")
	return "", false, false
}

// escape decodes the escape sequence at src[i] (a backslash) onto *buf and
// returns its length in bytes.
func (p *parser) escape(buf *[]byte, i int) (int, bool) {
	src := p.s
	if i+1 >= len(src) {
		p.i = i + 1
		p.err = parseErrorAt(src, i+1, "unterminated string")
		return 0, false
	}
	var c byte
	switch src[i+1] {
	case '"':
		c = '"'
	case '\\':
		c = '\\'
	case '/':
		c = '/'
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		r, ok := jsonsyntax.Hex4(src, i+2)
		if !ok {
			p.i = i
			p.err = parseErrorAt(src, i, "invalid \\u escape")
			return 0, false
		}
		n := 6
		if utf16.IsSurrogate(r) {
			r2, ok := rune(-1), false
			if i+7 < len(src) && src[i+6] == '\\' && src[i+7] == 'u' {
				r2, ok = jsonsyntax.Hex4(src, i+8)
			}
			if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
				r = dec
				n = 12
			} else {
				// An unpaired surrogate cannot be held in UTF-8.
				r = utf8.RuneError
			}
		}
		*buf = utf8.AppendRune(*buf, r)
		return n, true
	default:
		p.i = i
		p.err = parseErrorAt(src, i, "invalid escape sequence")
		return 0, false
	}
	*buf = append(*buf, c)
	return 2, true
}

// intInRange reports whether a valid literal is either not an integer
// literal or an integer that fits in int64. Ditto parses integer literals
// with Long.parseLong and rejects the document when that fails.
func intInRange(lit string) bool {
	if strings.ContainsAny(lit, ".eE") {
		return true
	}
	if len(lit) <= 18 { // at most 18 digits always fits
		return true
	}
	_, err := strconv.ParseInt(lit, 10, 64)
	return err == nil
}
