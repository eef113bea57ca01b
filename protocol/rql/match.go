package rql

import (
	"math"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// Matches reports whether thing satisfies the filter n, evaluated in memory
// the way Ditto evaluates the condition header (ThingPredicateVisitor).
// Placeholders resolve against the current time.
//
// thing is the thing's full JSON, special fields included: thingId,
// policyId, definition, attributes, features, _namespace, _revision,
// _created, _modified, _metadata. When _namespace is missing it is taken
// from thingId.
//
// The rules follow Ditto:
//   - A property is a JSON pointer into the thing. Arrays on the way are
//     crossed: each object element is searched and all hits count. Arrays at
//     the end are flattened. Objects never compare.
//   - eq, gt, ge, lt, le, in, like and ilike match when any value found
//     matches; ne is the negation of eq, so it matches a missing property.
//   - Numbers compare exactly as decimals (1 equals 1.0). A string compares
//     numerically with a number when it spells one ("42" equals 42). Values
//     of the same kind compare naturally (false < true; strings by UTF-16
//     units). Any other pair compares by string form, so "true" equals true.
//   - null equals only null and has no order.
//   - like and ilike match the whole string form of strings, numbers and
//     booleans; * is any run of characters, ? exactly one, neither crosses a
//     line break, and there is no escape.
//   - exists matches when the property is present (null counts); empty when
//     it is missing, null, "", [] or {}.
//
// Where Ditto's in-memory evaluator is accidental, this one is deliberate:
//   - features/*/... looks into every feature, as Ditto's search does
//     (Ditto's evaluator looks for a feature named "*");
//   - ilike folds case over all of Unicode (Java's CASE_INSENSITIVE without
//     UNICODE_CASE folds ASCII only);
//   - in(p,null) matches a null value, like eq (Ditto never matches it, and
//     fails with a NullPointerException on a non-null value);
//   - like never matches null (Ditto matches "*" against a Java object's
//     identity string);
//   - exists and empty see _namespace, _revision, _created, _modified and
//     _metadata (Ditto's evaluator hides them there, but not from eq).
func Matches(n Node, thing jsonv.Value) bool {
	return MatchesAt(n, thing, time.Now())
}

// MatchesAt is Matches with time placeholders resolved against now.
func MatchesAt(n Node, thing jsonv.Value, now time.Time) bool {
	return (&evaluator{thing: thing, now: now}).match(n)
}

type evaluator struct {
	thing jsonv.Value
	now   time.Time
	// search selects the search index's comparison rules (see
	// SearchMatchesAt) over the condition header's.
	search bool
}

func (e *evaluator) match(n Node) bool {
	switch n := n.(type) {
	case *Logical:
		switch n.Op {
		case And:
			for _, c := range n.Children {
				if !e.match(c) {
					return false
				}
			}
			return true
		case Or:
			for _, c := range n.Children {
				if e.match(c) {
					return true
				}
			}
			return false
		case Not:
			// Ditto turns not into nor over its (single) child.
			for _, c := range n.Children {
				if e.match(c) {
					return false
				}
			}
			return true
		}
	case *Comparison:
		return e.compare(n)
	}
	return false
}

func (e *evaluator) compare(c *Comparison) bool {
	found := e.lookup(c.Property)
	switch c.Op {
	case Exists:
		return len(found.values) > 0
	case Empty:
		return found.empty()
	case Ne:
		if e.search {
			return len(found.values) > 0 && !e.anyEqual(found, c.Values)
		}
		return !e.anyEqual(found, c.Values)
	case Eq, In:
		return e.anyEqual(found, c.Values)
	case Gt, Ge, Lt, Le:
		if len(c.Values) == 0 {
			return false
		}
		val := e.operand(c.Values[0])
		cmp := compare
		if e.search {
			cmp = searchCompare
		}
		return found.any(func(obj operand) bool {
			r, ok := cmp(obj, val)
			if !ok {
				return false
			}
			switch c.Op {
			case Gt:
				return r > 0
			case Ge:
				return r >= 0
			case Lt:
				return r < 0
			default:
				return r <= 0
			}
		})
	case Like, ILike:
		if len(c.Values) == 0 || c.Values[0].Kind() != KindString {
			return false
		}
		re := LikeRegexp(c.Values[0].Str(), c.Op == ILike)
		return found.any(func(obj operand) bool {
			if e.search {
				return obj.kind == opString && re.MatchString(obj.s)
			}
			return obj.kind != opNull && re.MatchString(obj.text())
		})
	}
	return false
}

func (e *evaluator) anyEqual(found hits, values []Value) bool {
	vals := make([]operand, len(values))
	for i, v := range values {
		vals[i] = e.operand(v)
	}
	eq := equal
	if e.search {
		eq = searchEqual
	}
	return found.any(func(obj operand) bool {
		for _, val := range vals {
			if eq(obj, val) {
				return true
			}
		}
		return false
	})
}

// operand converts a filter literal; an unresolvable placeholder is null,
// as in Ditto.
func (e *evaluator) operand(v Value) operand {
	switch v.Kind() {
	case KindString:
		return stringOperand(v.Str())
	case KindInt:
		return intOperand(v.Int())
	case KindFloat:
		return floatOperand(v.Float())
	case KindBool:
		return boolOperand(v.Bool())
	case KindPlaceholder:
		if s, ok := resolvePlaceholder(v.Str(), e.now); ok {
			return stringOperand(s)
		}
	}
	return operand{}
}

// hits are the values a property addresses in a thing.
type hits struct {
	values []jsonv.Value
	// crossedArray is set when an array lay on the way: Ditto then sees one
	// array of all hits, which is never empty.
	crossedArray bool
}

func (h hits) empty() bool {
	if len(h.values) == 0 {
		return true
	}
	if h.crossedArray {
		return false
	}
	for _, v := range h.values {
		if !isEmptyJSON(v) {
			return false
		}
	}
	return true
}

func isEmptyJSON(v jsonv.Value) bool {
	switch v.Kind() {
	case jsonv.KindNull:
		return true
	case jsonv.KindString:
		s, _ := v.Str()
		return s == ""
	case jsonv.KindArray, jsonv.KindObject:
		return v.Len() == 0
	}
	return false
}

// any reports whether f holds for a value found, arrays flattened.
func (h hits) any(f func(operand) bool) bool {
	for _, v := range h.values {
		if anyLeaf(v, f) {
			return true
		}
	}
	return false
}

func anyLeaf(v jsonv.Value, f func(operand) bool) bool {
	switch v.Kind() {
	case jsonv.KindArray:
		for _, el := range v.Elements() {
			if anyLeaf(el, f) {
				return true
			}
		}
		return false
	case jsonv.KindObject:
		return false // objects do not compare
	}
	return f(jsonOperand(v))
}

func jsonOperand(v jsonv.Value) operand {
	switch v.Kind() {
	case jsonv.KindString:
		s, _ := v.Str()
		return stringOperand(s)
	case jsonv.KindBool:
		b, _ := v.Bool()
		return boolOperand(b)
	case jsonv.KindNumber:
		// Ditto reads an integral number as a Java long, whatever its
		// spelling, and anything else as a double.
		if i, ok := v.Int64(); ok {
			return intOperand(i)
		}
		f, _ := v.Float()
		if math.IsInf(f, 0) { // beyond float64: keep the exact literal
			d, _ := parseDecimal(v.Literal())
			return operand{kind: opNumber, num: d, java: javaDouble(f)}
		}
		return floatOperand(f)
	}
	return operand{}
}

// lookup finds the values property addresses in the thing.
func (e *evaluator) lookup(property string) hits {
	keys := pointerKeys(property)
	if len(keys) == 0 {
		return hits{values: []jsonv.Value{e.thing}}
	}
	if len(keys) == 1 && keys[0] == "_namespace" {
		if _, ok := e.thing.Get("_namespace"); !ok {
			return namespaceOf(e.thing)
		}
	}
	// Walk level by level; frontier holds the objects the next key is
	// looked up in. Iterative, so a long pointer cannot deepen the stack.
	frontier := []jsonv.Value{e.thing}
	var h hits
	for i, key := range keys {
		last := i == len(keys)-1
		wildcard := i == 1 && key == "*" && keys[0] == "features"
		var next []jsonv.Value
		for _, obj := range frontier {
			if obj.Kind() != jsonv.KindObject {
				continue
			}
			var children []jsonv.Value
			if wildcard {
				for _, m := range obj.Members() {
					children = append(children, m.Value)
				}
			} else if child, ok := obj.Get(key); ok {
				children = []jsonv.Value{child}
			}
			for _, child := range children {
				switch {
				case last:
					h.values = append(h.values, child)
				case child.Kind() == jsonv.KindObject:
					next = append(next, child)
				case child.Kind() == jsonv.KindArray:
					h.crossedArray = true
					for _, el := range child.Elements() {
						if el.Kind() == jsonv.KindObject {
							next = append(next, el)
						}
					}
				}
			}
		}
		frontier = next
	}
	return h
}

// namespaceOf derives _namespace from thingId ("ns:name").
func namespaceOf(thing jsonv.Value) hits {
	idv, ok := thing.Get("thingId")
	if !ok {
		return hits{}
	}
	id, _ := idv.Str()
	ns, _, ok := strings.Cut(id, ":")
	if !ok {
		return hits{}
	}
	return hits{values: []jsonv.Value{jsonv.String(ns)}}
}

// anyChar is Java's '.' without DOTALL: any character but a line break.
const anyChar = `[^\n\r\x{85}\x{2028}\x{2029}]`

// LikeRegexp translates a wildcard pattern (* any run of characters, ?
// one) into a regular expression matching whole strings, as Ditto's
// LikeHelper does for like, ilike and the other wildcard settings
// (entity-creation restrictions); fold ignores case over all of Unicode.
func LikeRegexp(pattern string, fold bool) *regexp.Regexp {
	var b strings.Builder
	if fold {
		b.WriteString("(?i)")
	}
	b.WriteString(`\A(?:`)
	lit := 0
	flush := func(end int) {
		for seg := pattern[lit:end]; seg != ""; {
			r, n := utf8.DecodeRuneInString(seg)
			if r == utf8.RuneError && n == 1 {
				// A regexp must be valid UTF-8; the matcher reads a stray
				// byte in the input as U+FFFD, so match that.
				b.WriteString(`\x{fffd}`)
			} else {
				b.WriteString(regexp.QuoteMeta(seg[:n]))
			}
			seg = seg[n:]
		}
	}
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '*':
			flush(i)
			if i == 0 || pattern[i-1] != '*' {
				b.WriteString(anyChar + "*")
			}
			lit = i + 1
		case '?':
			flush(i)
			b.WriteString(anyChar)
			lit = i + 1
		}
	}
	flush(len(pattern))
	b.WriteString(`)\z`)
	// Only quoted text and fixed classes go in, so this always compiles.
	return regexp.MustCompile(b.String())
}
