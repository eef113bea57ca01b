package dittoconf

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options are what a HOCON document is read with.
type Options struct {
	// Env looks up environment variables for ${NAME} and ${?NAME} when
	// the configuration has no such path; nil looks up none.
	Env func(name string) (string, bool)
	// Base is the configuration the document is layered on: ${path}
	// finds its keys when the document has not set them (yet). It is
	// not changed.
	Base *Tree
	// Warn receives what the reader skips (include); nil drops it.
	Warn func(msg string)
}

// Error is a syntax or substitution error, with where it is.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// ParseFile reads the HOCON file at path.
func ParseFile(path string, opts Options) (*Tree, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts)
}

// maxDepth bounds the nesting of objects and arrays, so that hostile
// input cannot exhaust the stack.
const maxDepth = 256

// Parse reads a HOCON document; name is what errors and warnings call
// it (its file name). The root is an object, with or without braces.
func Parse(name string, src []byte, opts Options) (*Tree, error) {
	if !utf8.Valid(src) {
		return nil, &Error{File: name, Line: 1, Col: 1, Msg: "not UTF-8 text"}
	}
	p := &parser{lex: lexer{name: name, src: string(src), line: 1, col: 1}, opts: opts, root: map[string]any{}}
	if err := p.parseRoot(); err != nil {
		return nil, err
	}
	return &Tree{root: p.root}, nil
}

// Token kinds.
type tokKind int

const (
	tEOF tokKind = iota
	tSpace
	tNewline
	tComma
	tColon
	tEquals
	tPlusEquals
	tLBrace
	tRBrace
	tLBracket
	tRBracket
	tQuoted   // "..." or """...""": text is the value
	tUnquoted // text as written
	tSubst    // ${path} or ${?path}: text is the path expression
)

func (k tokKind) String() string {
	return [...]string{"end of file", "whitespace", "newline", "','", "':'", "'='", "'+='", "'{'", "'}'",
		"'['", "']'", "quoted string", "unquoted text", "substitution"}[k]
}

type token struct {
	kind      tokKind
	text      string
	optional  bool // ${?...}
	list      bool // ${NAME[]}
	line, col int
}

// describe names a token for an error message.
func (t token) describe() string {
	switch t.kind {
	case tUnquoted:
		return fmt.Sprintf("%q", t.text)
	case tSubst:
		return "${" + t.text + "}"
	}
	return t.kind.String()
}

// lexer splits HOCON text into tokens; comments become nothing (the
// newline that ends them stays).
type lexer struct {
	name      string
	src       string
	pos       int
	line, col int
	peeked    []token
}

func (l *lexer) errorf(line, col int, format string, args ...any) *Error {
	return &Error{File: l.name, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// advance moves past n bytes, counting lines and columns.
func (l *lexer) advance(n int) {
	for _, r := range l.src[l.pos : l.pos+n] {
		if r == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
	}
	l.pos += n
}

func (l *lexer) peek() (token, error) {
	if len(l.peeked) == 0 {
		t, err := l.scan()
		if err != nil {
			return token{}, err
		}
		l.peeked = append(l.peeked, t)
	}
	return l.peeked[0], nil
}

func (l *lexer) next() (token, error) {
	t, err := l.peek()
	if err == nil {
		l.peeked = l.peeked[1:]
	}
	return t, err
}

// unread pushes t back; it is the next token again.
func (l *lexer) unread(t token) { l.peeked = append([]token{t}, l.peeked...) }

func isSpace(r rune) bool {
	return r != '\n' && (unicode.IsSpace(r) || r == '\uFEFF' || r == '\u00A0' || r == '\u2007' || r == '\u202F')
}

// forbiddenUnquoted reports the characters an unquoted string cannot
// contain (HOCON's spec).
func forbiddenUnquoted(r rune) bool {
	return strings.ContainsRune("$\"{}[]:=,+#`^?!@*&\\", r)
}

func (l *lexer) scan() (token, error) {
	for {
		if l.pos >= len(l.src) {
			return token{kind: tEOF, line: l.line, col: l.col}, nil
		}
		rest := l.src[l.pos:]
		line, col := l.line, l.col
		tok := func(k tokKind, n int) (token, error) {
			t := token{kind: k, text: rest[:n], line: line, col: col}
			l.advance(n)
			return t, nil
		}
		r, _ := utf8.DecodeRuneInString(rest)
		switch {
		case r == '#' || strings.HasPrefix(rest, "//"):
			end := strings.IndexByte(rest, '\n')
			if end < 0 {
				end = len(rest)
			}
			l.advance(end)
			continue
		case r == '\n':
			return tok(tNewline, 1)
		case isSpace(r):
			n := 0
			for n < len(rest) {
				r, s := utf8.DecodeRuneInString(rest[n:])
				if !isSpace(r) {
					break
				}
				n += s
			}
			return tok(tSpace, n)
		case r == ',':
			return tok(tComma, 1)
		case r == ':':
			return tok(tColon, 1)
		case r == '=':
			return tok(tEquals, 1)
		case r == '{':
			return tok(tLBrace, 1)
		case r == '}':
			return tok(tRBrace, 1)
		case r == '[':
			return tok(tLBracket, 1)
		case r == ']':
			return tok(tRBracket, 1)
		case strings.HasPrefix(rest, "+="):
			return tok(tPlusEquals, 2)
		case strings.HasPrefix(rest, `"""`):
			end := strings.Index(rest[3:], `"""`)
			if end < 0 {
				return token{}, l.errorf(line, col, `unterminated triple-quoted string (no closing """)`)
			}
			end += 3
			for end+3 < len(rest) && rest[end+3] == '"' {
				end++ // """"" ends with quotes in the string
			}
			t := token{kind: tQuoted, text: rest[3:end], line: line, col: col}
			l.advance(end + 3)
			return t, nil
		case r == '"':
			s, n, err := readQuoted(rest)
			if err != nil {
				return token{}, l.errorf(line, col, "%v", err)
			}
			t := token{kind: tQuoted, text: s, line: line, col: col}
			l.advance(n)
			return t, nil
		case strings.HasPrefix(rest, "${"):
			end := strings.IndexByte(rest, '}')
			if end < 0 || strings.Contains(rest[:end], "\n") {
				return token{}, l.errorf(line, col, "unterminated substitution: ${ without }")
			}
			inner := rest[2:end]
			t := token{kind: tSubst, line: line, col: col}
			if strings.HasPrefix(inner, "?") {
				t.optional, inner = true, inner[1:]
			}
			t.text = strings.TrimSpace(inner)
			// ${?NAME[]} is the list of the environment variables
			// NAME.0, NAME.1, ... (Typesafe Config's list syntax, which
			// Ditto's files use).
			if name, ok := strings.CutSuffix(t.text, "[]"); ok {
				t.list, t.text = true, strings.TrimSpace(name)
			}
			if _, err := ParsePath(t.text); err != nil {
				return token{}, l.errorf(line, col, "substitution ${%s}: %v", inner, err)
			}
			l.advance(end + 1)
			return t, nil
		case forbiddenUnquoted(r):
			return token{}, l.errorf(line, col, "unexpected %q (quote the string if it is part of one)", r)
		}
		n := 0
		for n < len(rest) {
			r, s := utf8.DecodeRuneInString(rest[n:])
			if r == '\n' || isSpace(r) || forbiddenUnquoted(r) || strings.HasPrefix(rest[n:], "//") {
				break
			}
			n += s
		}
		return tok(tUnquoted, n)
	}
}

// parser builds the tree as it reads: the fields of the root, and of
// each object value written in place, go straight into root, so that a
// substitution sees every key set before it.
type parser struct {
	lex   lexer
	opts  Options
	root  map[string]any
	depth int
}

func (p *parser) errorf(t token, format string, args ...any) *Error {
	return p.lex.errorf(t.line, t.col, format, args...)
}

// skip consumes tokens of the given kinds.
func (p *parser) skip(kinds ...tokKind) error {
	for {
		t, err := p.lex.peek()
		if err != nil {
			return err
		}
		match := false
		for _, k := range kinds {
			match = match || t.kind == k
		}
		if !match {
			return nil
		}
		p.lex.next()
	}
}

func (p *parser) parseRoot() error {
	if err := p.skip(tSpace, tNewline); err != nil {
		return err
	}
	t, err := p.lex.peek()
	if err != nil {
		return err
	}
	switch t.kind {
	case tLBracket:
		return p.errorf(t, "the root of a configuration must be an object, not an array")
	case tLBrace:
		p.lex.next()
		if err := p.parseFields(p.root, nil, tRBrace); err != nil {
			return err
		}
		if err := p.skip(tSpace, tNewline); err != nil {
			return err
		}
		if t, err := p.lex.next(); err != nil {
			return err
		} else if t.kind != tEOF {
			return p.errorf(t, "unexpected %s after the closing '}' of the root object", t.describe())
		}
		return nil
	}
	return p.parseFields(p.root, nil, tEOF)
}

// parseFields reads fields into obj, which is at path (nil for a value
// not in the tree yet) until the end token, which it consumes.
func (p *parser) parseFields(obj map[string]any, path []string, end tokKind) error {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		t, _ := p.lex.peek()
		return p.errorf(t, "objects and arrays nested more than %d deep", maxDepth)
	}
	for {
		if err := p.skip(tSpace, tNewline); err != nil {
			return err
		}
		t, err := p.lex.peek()
		if err != nil {
			return err
		}
		if t.kind == end {
			p.lex.next()
			return nil
		}
		switch t.kind {
		case tEOF:
			return p.errorf(t, "unexpected end of file: missing '}'")
		case tRBrace, tRBracket, tComma:
			return p.errorf(t, "unexpected %s where a key was expected", t.describe())
		}
		if err := p.parseField(obj, path); err != nil {
			return err
		}
		// A field ends at a newline, a comma or the end of its object.
		if err := p.skip(tSpace); err != nil {
			return err
		}
		t, err = p.lex.peek()
		if err != nil {
			return err
		}
		switch t.kind {
		case tNewline, tComma:
			p.lex.next()
		case end:
		default:
			return p.errorf(t, "unexpected %s after a value: fields are separated by a newline or ','", t.describe())
		}
	}
}

// parseField reads one "key = value", "key { ... }", "key += value" or
// include into obj.
func (p *parser) parseField(obj map[string]any, path []string) error {
	first, _ := p.lex.peek()
	if first.kind == tUnquoted && first.text == "include" {
		if skipped, err := p.skipInclude(first); skipped || err != nil {
			return err
		}
	}
	key, err := p.parseKey()
	if err != nil {
		return err
	}
	if err := p.skip(tSpace, tNewline); err != nil {
		return err
	}
	sep, err := p.lex.next()
	if err != nil {
		return err
	}
	switch sep.kind {
	case tColon, tEquals, tPlusEquals:
		// The value may start on the next line (Ditto's files do that).
		if err := p.skip(tSpace, tNewline); err != nil {
			return err
		}
		if t, err := p.lex.peek(); err != nil {
			return err
		} else if t.kind == tEOF || t.kind == tComma || t.kind == tRBrace || t.kind == tRBracket {
			return p.errorf(t, "no value after %s for key %s", sep.describe(), JoinPath(key...))
		}
	case tLBrace:
		p.lex.unread(sep)
	default:
		return p.errorf(sep, "expected ':', '=' or '{' after key %s, found %s", JoinPath(key...), sep.describe())
	}
	full := append(path[:len(path):len(path)], key...)
	// An object written right after the key is merged into place, so
	// that substitutions inside it see its earlier fields.
	if t, _ := p.lex.peek(); t.kind == tLBrace && sep.kind != tPlusEquals {
		p.lex.next()
		child := p.objectAt(obj, key)
		if err := p.parseFields(child, full, tRBrace); err != nil {
			return err
		}
		v, defined, err := p.parseValue(tRBrace)
		if err != nil {
			return err
		}
		if !defined {
			return nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return p.errorf(t, "cannot concatenate an object with %s", kindName(v))
		}
		mergeInto(child, m)
		return nil
	}
	v, defined, err := p.parseValue(tRBrace)
	if err != nil {
		return err
	}
	if sep.kind == tPlusEquals {
		prev, _ := lookupIn(obj, key)
		arr, ok := prev.([]any)
		if prev != nil && !ok {
			return p.errorf(sep, "+= on %s, which is %s, not an array", JoinPath(full...), kindName(prev))
		}
		if defined {
			arr = append(arr, v)
		}
		setIn(obj, key, arr)
		return nil
	}
	if !defined {
		return nil // ${?UNSET}: the key keeps what it had
	}
	assignIn(obj, key, v)
	return nil
}

// skipInclude skips an include directive with a warning; it reports false
// when "include" is a key after all.
func (p *parser) skipInclude(first token) (bool, error) {
	p.lex.next()
	sp, err := p.lex.next()
	if err != nil {
		return false, err
	}
	arg, err := p.lex.peek()
	if err != nil {
		return false, err
	}
	isInclude := sp.kind == tSpace && (arg.kind == tQuoted || arg.kind == tUnquoted && includeRE.MatchString(arg.text))
	if !isInclude {
		p.lex.unread(sp)
		p.lex.unread(first)
		return false, nil
	}
	var what strings.Builder
	for {
		t, err := p.lex.peek()
		if err != nil {
			return true, err
		}
		if t.kind == tNewline || t.kind == tComma || t.kind == tRBrace || t.kind == tEOF {
			break
		}
		p.lex.next()
		if t.kind == tQuoted {
			fmt.Fprintf(&what, "%q", t.text)
		} else {
			what.WriteString(t.text)
		}
	}
	if p.opts.Warn != nil {
		p.opts.Warn(fmt.Sprintf("%s:%d: include %s ignored: includes are not supported, put the settings in this file",
			p.lex.name, first.line, strings.TrimSpace(what.String())))
	}
	return true, nil
}

// parseKey reads a key path: unquoted parts split at '.', quoted parts
// taken as they are, whitespace between parts kept.
func (p *parser) parseKey() ([]string, error) {
	var segs []string
	var cur strings.Builder
	started := false
	var pendingSpace string
	first, _ := p.lex.peek()
	for {
		t, err := p.lex.peek()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tSpace:
			p.lex.next()
			if started || len(segs) > 0 {
				pendingSpace += t.text
			}
			continue
		case tQuoted:
			p.lex.next()
			cur.WriteString(pendingSpace)
			cur.WriteString(t.text)
			pendingSpace, started = "", true
			continue
		case tUnquoted:
			p.lex.next()
			cur.WriteString(pendingSpace)
			pendingSpace = ""
			parts := strings.Split(t.text, ".")
			for i, part := range parts {
				if i > 0 {
					if !started {
						return nil, p.errorf(t, "invalid key %q: empty key (a leading, trailing or doubled '.'; quote an empty key as \"\")", t.text)
					}
					segs = append(segs, cur.String())
					cur.Reset()
					started = false
				}
				if part != "" {
					cur.WriteString(part)
					started = true
				}
			}
			continue
		}
		if !started {
			if len(segs) == 0 && cur.Len() == 0 {
				return nil, p.errorf(t, "expected a key, found %s", t.describe())
			}
			return nil, p.errorf(first, "invalid key: it ends with '.'")
		}
		return append(segs, cur.String()), nil
	}
}

// objectAt returns the object at key in obj, putting a new one there if
// there is none or a non-object.
func (p *parser) objectAt(obj map[string]any, key []string) map[string]any {
	cur := obj
	for _, s := range key {
		child, ok := cur[s].(map[string]any)
		if !ok {
			child = map[string]any{}
			cur[s] = child
		}
		cur = child
	}
	return cur
}

// piece is one part of a value concatenation.
type piece struct {
	tok   token
	value any  // resolved value
	space bool // whitespace between other pieces
	undef bool // a ${?...} with no value
	raw   bool // unquoted text, typed when it is alone
}

// parseValue reads a value up to the end of its field or element: a
// newline, ',', or the closing token of its object (end) or array. It
// concatenates what it reads (strings with the whitespace between them,
// objects merged, arrays appended). defined is false when the value is
// only ${?...} substitutions that have no value.
func (p *parser) parseValue(end tokKind) (v any, defined bool, err error) {
	var pieces []piece
	for {
		t, err := p.lex.peek()
		if err != nil {
			return nil, false, err
		}
		switch t.kind {
		case tNewline, tComma, tEOF, tRBrace, tRBracket:
			if (t.kind == tRBrace || t.kind == tRBracket) && t.kind != end {
				return nil, false, p.errorf(t, "unexpected %s", t.describe())
			}
			return p.concat(pieces)
		case tSpace:
			p.lex.next()
			pieces = append(pieces, piece{tok: t, value: t.text, space: true})
		case tQuoted:
			p.lex.next()
			pieces = append(pieces, piece{tok: t, value: t.text})
		case tUnquoted:
			p.lex.next()
			pieces = append(pieces, piece{tok: t, value: t.text, raw: true})
		case tSubst:
			p.lex.next()
			v, ok, err := p.resolve(t)
			if err != nil {
				return nil, false, err
			}
			pieces = append(pieces, piece{tok: t, value: v, undef: !ok})
		case tLBrace:
			p.lex.next()
			obj := map[string]any{}
			if err := p.parseFields(obj, nil, tRBrace); err != nil {
				return nil, false, err
			}
			pieces = append(pieces, piece{tok: t, value: obj})
		case tLBracket:
			p.lex.next()
			arr, err := p.parseArray(t)
			if err != nil {
				return nil, false, err
			}
			pieces = append(pieces, piece{tok: t, value: arr})
		default:
			return nil, false, p.errorf(t, "unexpected %s in a value", t.describe())
		}
	}
}

// parseArray reads the elements of an array after its '['.
func (p *parser) parseArray(open token) ([]any, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errorf(open, "objects and arrays nested more than %d deep", maxDepth)
	}
	arr := []any{}
	for {
		if err := p.skip(tSpace, tNewline); err != nil {
			return nil, err
		}
		t, err := p.lex.peek()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tRBracket:
			p.lex.next()
			return arr, nil
		case tEOF:
			return nil, p.errorf(open, "array not closed: missing ']'")
		case tComma:
			return nil, p.errorf(t, "unexpected ',' in array: an element is missing")
		}
		v, defined, err := p.parseValue(tRBracket)
		if err != nil {
			return nil, err
		}
		if defined {
			arr = append(arr, v)
		}
		if err := p.skip(tSpace); err != nil {
			return nil, err
		}
		if t, _ := p.lex.peek(); t.kind == tComma || t.kind == tNewline {
			p.lex.next()
		}
	}
}

// includeRE matches the start of include's argument when it is not a
// quoted string.
var includeRE = regexp.MustCompile(`^(file|url|classpath|required)\(`)

var numberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// typed gives unquoted text its JSON type when it is a number, true,
// false or null.
func typed(s string) any {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if numberRE.MatchString(s) {
		return json.Number(s)
	}
	return s
}

// concat joins the pieces of a value.
func (p *parser) concat(pieces []piece) (any, bool, error) {
	// Whitespace at either end is not part of the value.
	for len(pieces) > 0 && pieces[0].space {
		pieces = pieces[1:]
	}
	for len(pieces) > 0 && pieces[len(pieces)-1].space {
		pieces = pieces[:len(pieces)-1]
	}
	var vals []piece
	for _, pc := range pieces {
		if !pc.space && !pc.undef {
			vals = append(vals, pc)
		}
	}
	if len(vals) == 0 {
		return nil, false, nil
	}
	if len(vals) == 1 && len(pieces) == 1 {
		if vals[0].raw {
			return typed(vals[0].value.(string)), true, nil
		}
		return vals[0].value, true, nil
	}
	switch vals[0].value.(type) {
	case map[string]any:
		out := map[string]any{}
		for _, pc := range vals {
			m, ok := pc.value.(map[string]any)
			if !ok {
				return nil, false, p.errorf(pc.tok, "cannot concatenate an object with %s", kindName(pc.value))
			}
			mergeInto(out, m)
		}
		return out, true, nil
	case []any:
		out := []any{}
		for _, pc := range vals {
			a, ok := pc.value.([]any)
			if !ok {
				return nil, false, p.errorf(pc.tok, "cannot concatenate an array with %s", kindName(pc.value))
			}
			out = append(out, a...)
		}
		return out, true, nil
	}
	var b strings.Builder
	for i, pc := range pieces {
		if pc.undef {
			continue
		}
		if pc.space {
			// Whitespace next to an undefined substitution at an end
			// still separates the defined pieces only.
			if !definedBefore(pieces, i) || !definedAfter(pieces, i) {
				continue
			}
			b.WriteString(pc.value.(string))
			continue
		}
		switch v := pc.value.(type) {
		case map[string]any, []any:
			return nil, false, p.errorf(pc.tok, "cannot concatenate %s with a string", kindName(v))
		}
		b.WriteString(Text(pc.value))
	}
	return b.String(), true, nil
}

func definedBefore(pieces []piece, i int) bool {
	for j := i - 1; j >= 0; j-- {
		if !pieces[j].space && !pieces[j].undef {
			return true
		}
	}
	return false
}

func definedAfter(pieces []piece, i int) bool {
	for j := i + 1; j < len(pieces); j++ {
		if !pieces[j].space && !pieces[j].undef {
			return true
		}
	}
	return false
}

// kindName names a value's type for an error message.
func kindName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// resolve looks a substitution up: in what the document has set so far,
// then in the base tree, then in the environment.
func (p *parser) resolve(t token) (any, bool, error) {
	if t.list {
		return p.resolveList(t)
	}
	segs, _ := ParsePath(t.text) // checked by the lexer
	if v, ok := lookupIn(p.root, segs); ok {
		return clone(v), true, nil
	}
	if v, ok := p.opts.Base.lookup(segs); ok {
		return clone(v), true, nil
	}
	if p.opts.Env != nil {
		if v, ok := p.opts.Env(t.text); ok {
			return v, true, nil
		}
	}
	if t.optional {
		return nil, false, nil
	}
	return nil, false, p.errorf(t, "unresolved substitution ${%s}: no such key set before it and no environment variable %s (use ${?%s} to make it optional)",
		t.text, t.text, t.text)
}

// resolveList resolves ${NAME[]}: the environment variables NAME.0,
// NAME.1, ... up to the first missing one.
func (p *parser) resolveList(t token) (any, bool, error) {
	var out []any
	for i := 0; p.opts.Env != nil; i++ {
		v, ok := p.opts.Env(t.text + "." + strconv.Itoa(i))
		if !ok {
			break
		}
		out = append(out, v)
	}
	if out != nil {
		return out, true, nil
	}
	if t.optional {
		return nil, false, nil
	}
	return nil, false, p.errorf(t, "unresolved substitution ${%s[]}: no environment variable %s.0 (use ${?%s[]} to make it optional)",
		t.text, t.text, t.text)
}

func lookupIn(m map[string]any, segs []string) (any, bool) {
	var cur any = m
	for _, s := range segs {
		o, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = o[s]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// setIn sets key in m to v, creating objects on the way.
func setIn(m map[string]any, key []string, v any) {
	cur := m
	for _, s := range key[:len(key)-1] {
		child, ok := cur[s].(map[string]any)
		if !ok {
			child = map[string]any{}
			cur[s] = child
		}
		cur = child
	}
	cur[key[len(key)-1]] = v
}

// assignIn sets key in m to v as HOCON does for a key given again: an
// object is merged into an object already there, anything else replaces.
func assignIn(m map[string]any, key []string, v any) {
	if nv, ok := v.(map[string]any); ok {
		if old, ok := lookupIn(m, key); ok {
			if om, ok := old.(map[string]any); ok {
				mergeInto(om, nv)
				return
			}
		}
	}
	setIn(m, key, v)
}
