package dittoconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Tree is a configuration keyed by dotted paths, as Ditto's configuration
// is: ditto.gateway.authentication.devops.password is the key password of
// the object devops of ... of the object ditto of the root.
//
// Its values are JSON-shaped: map[string]any (objects), []any, string,
// json.Number, bool and nil. A Tree is not safe for concurrent writes;
// once built it may be read from any goroutine. The nil *Tree is an empty
// tree for reading.
type Tree struct {
	root map[string]any
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{root: map[string]any{}} }

// Root returns a deep copy of the whole tree as one object.
func (t *Tree) Root() map[string]any {
	if t == nil {
		return map[string]any{}
	}
	return clone(t.root).(map[string]any)
}

// Clone returns a deep copy of t.
func (t *Tree) Clone() *Tree { return &Tree{root: t.Root()} }

// Empty reports whether t has no key.
func (t *Tree) Empty() bool { return t == nil || len(t.root) == 0 }

// Get returns a deep copy of the value at path, a HOCON path expression
// (a.b."c.d"); false when there is none or path is not a valid path.
func (t *Tree) Get(path string) (any, bool) {
	segs, err := ParsePath(path)
	if err != nil {
		return nil, false
	}
	return t.GetPath(segs)
}

// GetPath is Get with the path given as its keys.
func (t *Tree) GetPath(segs []string) (any, bool) {
	v, ok := t.lookup(segs)
	if !ok {
		return nil, false
	}
	return clone(v), true
}

// Has reports whether path has a value (null included).
func (t *Tree) Has(path string) bool {
	segs, err := ParsePath(path)
	if err != nil {
		return false
	}
	_, ok := t.lookup(segs)
	return ok
}

// lookup returns the value at segs without copying it.
func (t *Tree) lookup(segs []string) (any, bool) {
	if t == nil || len(segs) == 0 {
		return nil, false
	}
	var cur any = t.root
	for _, s := range segs {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[s]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// String returns the value at path as text, the way an environment
// variable would carry it: a string as it is, a number or boolean as
// written, an object or array as compact JSON. It reports false for a
// missing path and for null (HOCON's way of unsetting a key).
func (t *Tree) String(path string) (string, bool) {
	segs, err := ParsePath(path)
	if err != nil {
		return "", false
	}
	v, ok := t.lookup(segs)
	if !ok || v == nil {
		return "", false
	}
	return Text(v), true
}

// Text renders a tree value as text: a string as it is, a number or
// boolean as written, null as "null", an object or array as compact JSON.
func Text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	b, err := marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Set sets the value at path, a HOCON path expression, creating the
// objects on the way (and replacing any non-object there). v is any
// JSON-marshallable Go value; an object replaces what was at path: use
// Merge to merge.
func (t *Tree) Set(path string, v any) error {
	segs, err := ParsePath(path)
	if err != nil {
		return err
	}
	return t.SetPath(segs, v)
}

// SetPath is Set with the path given as its keys.
func (t *Tree) SetPath(segs []string, v any) error {
	if len(segs) == 0 {
		return errors.New("empty path")
	}
	nv, err := Normalize(v)
	if err != nil {
		return fmt.Errorf("%s: %w", JoinPath(segs...), err)
	}
	if t.root == nil {
		t.root = map[string]any{}
	}
	parent := t.root
	for _, s := range segs[:len(segs)-1] {
		child, ok := parent[s].(map[string]any)
		if !ok {
			child = map[string]any{}
			parent[s] = child
		}
		parent = child
	}
	parent[segs[len(segs)-1]] = nv
	return nil
}

// Merge lays o over t: where both have an object at the same path the
// objects are merged key by key, anywhere else o's value wins (HOCON's
// rule for a key given twice).
func (t *Tree) Merge(o *Tree) {
	if o == nil {
		return
	}
	if t.root == nil {
		t.root = map[string]any{}
	}
	mergeInto(t.root, clone(o.root).(map[string]any))
}

// mergeInto merges src over dst; src's values are taken, not copied.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// MarshalJSON renders the tree as one JSON object, keys sorted, secrets
// as they are: print Masked() instead wherever an operator may see it.
func (t *Tree) MarshalJSON() ([]byte, error) {
	if t == nil {
		return []byte("{}"), nil
	}
	return marshal(t.root)
}

// marshal is json.Marshal without HTML escaping and without the trailing
// newline.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Paths lists the path of every leaf (a value that is not an object, or
// an empty object), sorted.
func (t *Tree) Paths() []string {
	var out []string
	var walk func(prefix []string, m map[string]any)
	walk = func(prefix []string, m map[string]any) {
		for k, v := range m {
			p := append(prefix[:len(prefix):len(prefix)], k)
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(p, sub)
				continue
			}
			out = append(out, JoinPath(p...))
		}
	}
	if t != nil {
		walk(nil, t.root)
	}
	sort.Strings(out)
	return out
}

// Normalize converts a Go value to the tree's value types: strings,
// booleans and nil stay, numbers become json.Number, maps with string
// keys become map[string]any and slices []any (recursively); anything
// else goes through encoding/json.
func Normalize(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, bool, json.Number:
		return v, nil
	case int:
		return json.Number(strconv.Itoa(v)), nil
	case int64:
		return json.Number(strconv.FormatInt(v, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(v, 10)), nil
	case float64:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return json.Number(b), nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			n, err := Normalize(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			n, err := Normalize(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case []string:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = e
		}
		return out, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// clone deep-copies a tree value.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

// ParsePath splits a HOCON path expression into its keys: unquoted parts
// split at each '.', a quoted part ("org.eclipse.ditto.*") is one key or
// part of one. Whitespace around the expression is ignored.
func ParsePath(expr string) ([]string, error) {
	s := strings.TrimSpace(expr)
	if s == "" {
		return nil, fmt.Errorf("path %q: empty", expr)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("path %q: not UTF-8 text", expr)
	}
	var segs []string
	var cur strings.Builder
	started := false // cur is a key, possibly "" from a quoted part
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == '.':
			if !started {
				return nil, fmt.Errorf("path %q: empty key (a leading, trailing or doubled '.'; quote an empty key as \"\")", expr)
			}
			segs = append(segs, cur.String())
			cur.Reset()
			started = false
			i++
		case c == '"':
			str, n, err := readQuoted(s[i:])
			if err != nil {
				return nil, fmt.Errorf("path %q: %v", expr, err)
			}
			cur.WriteString(str)
			started = true
			i += n
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if forbiddenUnquoted(r) && r != ' ' && r != '\t' {
				return nil, fmt.Errorf("path %q: %q must be in a quoted key", expr, r)
			}
			cur.WriteRune(r)
			started = true
			i += size
		}
	}
	if !started {
		return nil, fmt.Errorf("path %q: empty key (a leading, trailing or doubled '.'; quote an empty key as \"\")", expr)
	}
	return append(segs, cur.String()), nil
}

// readQuoted reads the JSON string at the start of s and returns its
// value and length.
func readQuoted(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			r, n, err := readEscape(s[i:])
			if err != nil {
				return "", 0, err
			}
			b.WriteRune(r)
			i += n
		case '\n':
			return "", 0, errors.New("newline in quoted string")
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, errors.New("unterminated quoted string")
}

// readEscape reads the escape sequence at the start of s (s[0] is '\').
func readEscape(s string) (rune, int, error) {
	if len(s) < 2 {
		return 0, 0, errors.New("unterminated escape sequence")
	}
	switch s[1] {
	case '"', '\\', '/':
		return rune(s[1]), 2, nil
	case 'b':
		return '\b', 2, nil
	case 'f':
		return '\f', 2, nil
	case 'n':
		return '\n', 2, nil
	case 'r':
		return '\r', 2, nil
	case 't':
		return '\t', 2, nil
	case 'u':
		if len(s) < 6 {
			return 0, 0, errors.New(`\u needs four hex digits`)
		}
		n, err := strconv.ParseUint(s[2:6], 16, 32)
		if err != nil {
			return 0, 0, fmt.Errorf(`\u%s: not four hex digits`, s[2:6])
		}
		return rune(n), 6, nil
	}
	r, _ := utf8.DecodeRuneInString(s[1:])
	return 0, 0, fmt.Errorf(`invalid escape \%c in quoted string`, r)
}

// JoinPath renders keys as a path expression, quoting a key that is
// empty or has a character an unquoted key cannot have ('.', whitespace,
// HOCON's reserved characters).
func JoinPath(segs ...string) string {
	var b strings.Builder
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('.')
		}
		if needsQuotes(s) {
			q, _ := marshal(s)
			b.Write(q)
		} else {
			b.WriteString(s)
		}
	}
	return b.String()
}

func needsQuotes(s string) bool {
	if s == "" || strings.HasPrefix(s, "//") || strings.Contains(s, "//") {
		return true
	}
	for _, r := range s {
		if r == '.' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || forbiddenUnquoted(r) || isSpace(r) {
			return true
		}
	}
	return false
}
