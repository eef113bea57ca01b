package search

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Tag templates: the tag values of an aggregation metric, in Ditto's
// placeholder syntax. A value that starts with "{{" and ends with "}}" is
// resolved, every "{{ ... }}" in it replaced by its expression's value; any
// other value is a constant (Ditto's OperatorAggregateMetricsProviderActor
// draws the same line). An expression is a pipeline, as in Ditto's
// function expressions:
//
//	{{ group-by:location | fn:default('missing location') | fn:upper() }}
//
// Its first stage is a placeholder, inline:<name> (a value of the filter's
// inline-placeholder-values) or group-by:<label> (the group's value of that
// group-by field), or a function, which then starts from nothing. The
// functions are Ditto's string functions: fn:default, fn:substring-before,
// fn:substring-after, fn:lower, fn:upper, fn:trim, fn:replace, fn:delete,
// fn:url-encode, fn:url-decode, fn:base64-encode and fn:base64-decode; an
// argument is a quoted string or a placeholder. A template whose
// expression resolves to nothing (a group without a value at the field and
// no fn:default, or fn:delete) gives the tag its configured text, as
// Ditto's does.

// Placeholder prefixes of tag templates.
const (
	prefixInline  = "inline"
	prefixGroupBy = "group-by"
)

// tagTemplate is a parsed tag value.
type tagTemplate struct {
	raw   string
	parts []tagPart // nil: raw is a constant
}

// tagPart is literal text or an expression.
type tagPart struct {
	lit  string
	expr *pipeline
}

type pipeline struct {
	first *placeholder // nil when the pipeline starts with a function
	fns   []function
}

type placeholder struct{ prefix, name string }

func (p placeholder) String() string { return p.prefix + ":" + p.name }

type function struct {
	name string
	args []argument
}

// argument is a quoted string or, when ph is set, a placeholder.
type argument struct {
	lit string
	ph  *placeholder
}

// arities are the functions and how many arguments each takes.
var arities = map[string]int{
	"default": 1, "substring-before": 1, "substring-after": 1, "lower": 0, "upper": 0, "trim": 0,
	"replace": 2, "delete": 0, "url-encode": 0, "url-decode": 0, "base64-encode": 0, "base64-decode": 0,
}

// parseTagTemplate parses a tag value.
func parseTagTemplate(s string) (*tagTemplate, error) {
	t := &tagTemplate{raw: s}
	if !strings.HasPrefix(s, "{{") || !strings.HasSuffix(s, "}}") {
		return t, nil
	}
	rest := s
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			t.parts = append(t.parts, tagPart{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tagPart{lit: rest[:i]})
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("%q: {{ without }}", s)
		}
		p, err := parsePipeline(rest[i+2 : i+2+j])
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		t.parts = append(t.parts, tagPart{expr: p})
		rest = rest[i+2+j+2:]
	}
	return t, nil
}

// placeholders returns every placeholder the template refers to.
func (t *tagTemplate) placeholders() []placeholder {
	var out []placeholder
	for _, p := range t.parts {
		if p.expr == nil {
			continue
		}
		if p.expr.first != nil {
			out = append(out, *p.expr.first)
		}
		for _, f := range p.expr.fns {
			for _, a := range f.args {
				if a.ph != nil {
					out = append(out, *a.ph)
				}
			}
		}
	}
	return out
}

// resolve returns the tag's value, lookup giving each placeholder's value
// (false: none).
func (t *tagTemplate) resolve(lookup func(placeholder) (string, bool)) string {
	if t.parts == nil {
		return t.raw
	}
	var sb strings.Builder
	for _, p := range t.parts {
		if p.expr == nil {
			sb.WriteString(p.lit)
			continue
		}
		v, ok := p.expr.eval(lookup)
		if !ok {
			return t.raw
		}
		sb.WriteString(v)
	}
	return sb.String()
}

// Pipeline states: a value, nothing (unresolved), or deleted, which no
// later function brings back.
type stage int

const (
	stageValue stage = iota
	stageUnresolved
	stageDeleted
)

func (p *pipeline) eval(lookup func(placeholder) (string, bool)) (string, bool) {
	v, st := "", stageUnresolved
	if p.first != nil {
		if x, ok := lookup(*p.first); ok {
			v, st = x, stageValue
		}
	}
	for _, f := range p.fns {
		if st == stageDeleted {
			break
		}
		arg := func(i int) (string, bool) {
			a := f.args[i]
			if a.ph == nil {
				return a.lit, true
			}
			return lookup(*a.ph)
		}
		if f.name == "delete" {
			st = stageDeleted
			continue
		}
		if f.name == "default" {
			if st == stageUnresolved {
				if d, ok := arg(0); ok {
					v, st = d, stageValue
				}
			}
			continue
		}
		if st != stageValue {
			continue
		}
		switch f.name {
		case "lower":
			v = strings.ToLower(v)
		case "upper":
			v = strings.ToUpper(v)
		case "trim":
			v = strings.TrimSpace(v)
		case "substring-before", "substring-after":
			sep, ok := arg(0)
			i := strings.Index(v, sep)
			switch {
			case !ok || i < 0:
				st = stageUnresolved
			case f.name == "substring-before":
				v = v[:i]
			default:
				v = v[i+len(sep):]
			}
		case "replace":
			from, ok1 := arg(0)
			to, ok2 := arg(1)
			if !ok1 || !ok2 {
				st = stageUnresolved
			} else {
				v = strings.ReplaceAll(v, from, to)
			}
		case "url-encode":
			v = url.QueryEscape(v)
		case "url-decode":
			d, err := url.QueryUnescape(v)
			if err != nil {
				st = stageUnresolved
			}
			v = d
		case "base64-encode":
			v = base64.StdEncoding.EncodeToString([]byte(v))
		case "base64-decode":
			d, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				st = stageUnresolved
			}
			v = string(d)
		}
	}
	return v, st == stageValue
}

// parsePipeline parses the text between {{ and }}.
func parsePipeline(s string) (*pipeline, error) {
	stages, err := splitOutside(s, '|')
	if err != nil {
		return nil, err
	}
	p := &pipeline{}
	for i, st := range stages {
		st = strings.TrimSpace(st)
		if st == "" {
			return nil, errors.New("empty pipeline stage")
		}
		if strings.HasPrefix(st, "fn:") {
			f, err := parseFunction(st)
			if err != nil {
				return nil, err
			}
			p.fns = append(p.fns, f)
			continue
		}
		if i > 0 {
			return nil, fmt.Errorf("pipeline stage %q: only the first stage may be a placeholder, the others are functions (fn:...)", st)
		}
		ph, err := parsePlaceholder(st)
		if err != nil {
			return nil, err
		}
		p.first = &ph
	}
	return p, nil
}

// parsePlaceholder parses prefix:name, of a prefix tags support.
func parsePlaceholder(s string) (placeholder, error) {
	prefix, name, ok := strings.Cut(s, ":")
	prefix, name = strings.TrimSpace(prefix), strings.TrimSpace(name)
	if !ok || name == "" {
		return placeholder{}, fmt.Errorf("placeholder %q: want <prefix>:<name>", s)
	}
	if prefix != prefixInline && prefix != prefixGroupBy {
		return placeholder{}, fmt.Errorf("placeholder %q is not supported: the supported placeholder types are 'inline' and 'group-by'", s)
	}
	return placeholder{prefix: prefix, name: name}, nil
}

// parseFunction parses fn:name(args).
func parseFunction(s string) (function, error) {
	body := strings.TrimPrefix(s, "fn:")
	open := strings.IndexByte(body, '(')
	if open < 0 || !strings.HasSuffix(body, ")") {
		return function{}, fmt.Errorf("function %q: want fn:<name>(<arguments>)", s)
	}
	f := function{name: strings.TrimSpace(body[:open])}
	n, known := arities[f.name]
	if !known {
		return function{}, fmt.Errorf("function %q: unknown or not supported in tags (fn:default, fn:substring-before, fn:substring-after, fn:lower, fn:upper, fn:trim, fn:replace, fn:delete, fn:url-encode, fn:url-decode, fn:base64-encode and fn:base64-decode are)", s)
	}
	inner := strings.TrimSpace(body[open+1 : len(body)-1])
	if inner != "" {
		args, err := splitOutside(inner, ',')
		if err != nil {
			return function{}, fmt.Errorf("function %q: %w", s, err)
		}
		for _, a := range args {
			a = strings.TrimSpace(a)
			switch {
			case len(a) >= 2 && (a[0] == '\'' || a[0] == '"') && a[len(a)-1] == a[0]:
				f.args = append(f.args, argument{lit: a[1 : len(a)-1]})
			default:
				ph, err := parsePlaceholder(a)
				if err != nil {
					return function{}, fmt.Errorf("function %q: argument %q is neither a quoted string nor a placeholder: %w", s, a, err)
				}
				f.args = append(f.args, argument{ph: &ph})
			}
		}
	}
	if len(f.args) != n {
		return function{}, fmt.Errorf("function %q: takes %d argument(s), got %d", s, n, len(f.args))
	}
	return f, nil
}

// splitOutside splits s at sep where it is outside quotes and parentheses.
func splitOutside(s string, sep byte) ([]string, error) {
	var out []string
	var quote byte
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("%q: unbalanced parentheses", s)
			}
		case c == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%q: unterminated quote", s)
	}
	if depth != 0 {
		return nil, fmt.Errorf("%q: unbalanced parentheses", s)
	}
	return append(out, s[start:]), nil
}
