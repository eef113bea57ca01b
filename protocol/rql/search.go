package rql

import (
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// SearchMatchesAt reports whether thing satisfies the filter n under the
// rules of Ditto's search (CreateBsonPredicateVisitor and
// GetEmptyBsonVisitor translated to MongoDB queries), with time
// placeholders resolved against now. The things-search index answers with
// these rules; this is its in-memory reference.
//
// Property lookup, arrays, exists, empty, features/* and placeholders are
// as in MatchesAt. The differences:
//   - Comparisons are type-bracketed as in MongoDB: numbers meet only
//     numbers (exactly, so 1 equals 1.0), strings only strings (by UTF-8
//     bytes, Go's string order, not UTF-16 units), booleans only booleans
//     (false < true). Nothing is coerced: "42" is not 42, "true" is not
//     true. A placeholder resolves to a string, so time:now_epoch_millis
//     meets only strings.
//   - eq(p,null) and in(p,...,null,...) match a present null; gt, ge, lt
//     and le never match null.
//   - ne(p,v) needs p to exist (Ditto adds an exists clause) and matches
//     when no value found equals v; so ne never matches a missing property.
//   - like and ilike match strings only, never the string form of numbers
//     or booleans.
func SearchMatchesAt(n Node, thing jsonv.Value, now time.Time) bool {
	return (&evaluator{thing: thing, now: now, search: true}).match(n)
}

// searchCompare orders obj against val within one type bracket; ok is false
// when the brackets differ or either is null.
func searchCompare(obj, val operand) (int, bool) {
	if obj.kind != val.kind || obj.kind == opNull {
		return 0, false
	}
	switch obj.kind {
	case opNumber:
		return cmpDecimal(obj.num, val.num), true
	case opString:
		return strings.Compare(obj.s, val.s), true
	case opBool:
		switch {
		case obj.b == val.b:
			return 0, true
		case val.b:
			return -1, true
		}
		return 1, true
	}
	return 0, false
}

// searchEqual is eq's test in search: null equals null, other values
// equal only within their type bracket.
func searchEqual(obj, val operand) bool {
	if obj.kind == opNull || val.kind == opNull {
		return obj.kind == val.kind
	}
	c, ok := searchCompare(obj, val)
	return ok && c == 0
}

// PropertyKeys splits a filter or sort property into the keys of the JSON
// pointer it names, as the evaluators read it: a leading slash is optional,
// empty keys are skipped and ~0 stands for ~.
func PropertyKeys(property string) []string { return pointerKeys(property) }

// LikeMatcher returns the test like (fold false) or ilike (fold true)
// applies to a string: the whole string must match the pattern, where * is
// any run of characters and ? exactly one.
func LikeMatcher(pattern string, fold bool) func(string) bool {
	return LikeRegexp(pattern, fold).MatchString
}

// LikePrefix returns the literal text a like pattern starts with: every
// string it matches begins with it.
func LikePrefix(pattern string) string {
	if i := strings.IndexAny(pattern, "*?"); i >= 0 {
		return pattern[:i]
	}
	return pattern
}

// ResolvePlaceholder returns the value of a time placeholder ("time:now",
// "time:now_epoch_millis-1h", ...) at now; ok is false when it does not
// resolve (the operand is then null).
func ResolvePlaceholder(placeholder string, now time.Time) (string, bool) {
	return resolvePlaceholder(placeholder, now)
}
