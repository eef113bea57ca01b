package dittoconf

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Property is one Java system property, -Dkey=value.
type Property struct {
	Key, Value string
}

// SplitOptions splits a JVM options string (JAVA_TOOL_OPTIONS) into its
// options as the JVM does: whitespace separates them, and a part in
// single or double quotes keeps its whitespace (the quotes are removed,
// there are no escapes).
func SplitOptions(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inToken := false
	var quote rune
	quoteAt := 0
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, quoteAt, inToken = r, i, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v':
			if inToken {
				out = append(out, cur.String())
				cur.Reset()
				inToken = false
			}
		default:
			cur.WriteRune(r)
			inToken = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote at offset %d", quote, quoteAt)
	}
	if inToken {
		out = append(out, cur.String())
	}
	return out, nil
}

// ParseProperties returns the -D system properties of a JVM options
// string such as JAVA_TOOL_OPTIONS, in order; other options (-Xmx512m,
// -XX:..., -javaagent:...) are ignored. -Dkey alone sets key to "".
func ParseProperties(s string) ([]Property, error) {
	opts, err := SplitOptions(s)
	if err != nil {
		return nil, err
	}
	var props []Property
	for _, o := range opts {
		rest, ok := strings.CutPrefix(o, "-D")
		if !ok {
			continue
		}
		key, value, _ := strings.Cut(rest, "=")
		if err := checkPropertyKey(key); err != nil {
			return nil, fmt.Errorf("%s: %w", o, err)
		}
		props = append(props, Property{Key: key, Value: value})
	}
	return props, nil
}

func checkPropertyKey(key string) error {
	if key == "" {
		return errors.New("no property name after -D")
	}
	for _, seg := range strings.Split(key, ".") {
		if seg == "" {
			return fmt.Errorf("property name %q has an empty key (a leading, trailing or doubled '.')", key)
		}
	}
	return nil
}

// PropertiesTree builds the configuration system properties make, as
// Typesafe Config does: keys split at every '.', values strings, and
// where a key is both a value and an object (-Da=1 -Da.b=2) the object
// wins. An object whose keys are all indexes (-Dx.grant.0.auth-subjects.0=...)
// becomes an array in index order, which replaces an array of a file
// below it, as in Ditto.
func PropertiesTree(props []Property) (*Tree, error) {
	root := map[string]any{}
	for _, p := range props {
		if err := checkPropertyKey(p.Key); err != nil {
			return nil, err
		}
		segs := strings.Split(p.Key, ".")
		cur := root
		for _, s := range segs[:len(segs)-1] {
			child, ok := cur[s].(map[string]any)
			if !ok {
				child = map[string]any{}
				cur[s] = child
			}
			cur = child
		}
		last := segs[len(segs)-1]
		if _, isObject := cur[last].(map[string]any); isObject {
			continue
		}
		cur[last] = p.Value
	}
	return &Tree{root: indexedToArrays(root).(map[string]any)}, nil
}

// indexedToArrays turns every object below the root whose keys are all
// non-negative integers into an array ordered by them.
func indexedToArrays(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k, e := range m {
		e = indexedToArrays(e)
		if sub, ok := e.(map[string]any); ok {
			if arr, ok := arrayOf(sub); ok {
				e = arr
			}
		}
		m[k] = e
	}
	return m
}

// arrayOf reports whether m's keys are all indexes and returns its values
// in index order.
func arrayOf(m map[string]any) ([]any, bool) {
	if len(m) == 0 {
		return nil, false
	}
	idx := make([]int, 0, len(m))
	for k := range m {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 || strconv.Itoa(n) != k {
			return nil, false
		}
		idx = append(idx, n)
	}
	sort.Ints(idx)
	out := make([]any, len(idx))
	for i, n := range idx {
		out[i] = m[strconv.Itoa(n)]
	}
	return out, true
}
