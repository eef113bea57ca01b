package rql

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the comparison rules of Ditto's in-memory evaluation
// (ThingPredicatePredicateVisitor): numbers compare exactly as decimals, a
// string meets a number numerically when it spells one, same kinds compare
// naturally, and any other pair compares by the Java string form of both.

// operandKind is the Java type an operand has in Ditto's evaluation.
type operandKind uint8

const (
	opNull operandKind = iota // null: equal only to null, never ordered
	opString
	opNumber
	opBool
)

// operand is one side of a comparison: a value from the thing or the literal
// from the filter.
type operand struct {
	kind operandKind
	s    string  // opString
	num  decimal // opNumber
	b    bool    // opBool
	java string  // opNumber: Java's string form, used when kinds differ
}

func stringOperand(s string) operand { return operand{kind: opString, s: s} }

func boolOperand(b bool) operand { return operand{kind: opBool, b: b} }

func intOperand(i int64) operand {
	s := strconv.FormatInt(i, 10)
	d, _ := parseDecimal(s)
	return operand{kind: opNumber, num: d, java: s}
}

// floatOperand is a Java double: it compares as the shortest decimal that
// reads back as f, which is what Ditto's new BigDecimal(Double.toString(f))
// gives.
func floatOperand(f float64) operand {
	d, _ := parseDecimal(strconv.FormatFloat(f, 'e', -1, 64))
	return operand{kind: opNumber, num: d, java: javaDouble(f)}
}

// text is String.valueOf of the operand, what like patterns match against.
func (o operand) text() string {
	switch o.kind {
	case opString:
		return o.s
	case opNumber:
		return o.java
	case opBool:
		return strconv.FormatBool(o.b)
	}
	return ""
}

// compare orders the thing's value obj against the filter's value val. ok
// is false when either is null, which Ditto does not order.
func compare(obj, val operand) (c int, ok bool) {
	if obj.kind == opNull || val.kind == opNull {
		return 0, false
	}
	// Best effort: a string that spells a number meets a number numerically.
	switch {
	case val.kind == opString && obj.kind == opNumber:
		if d, ok := parseDecimal(val.s); ok {
			return cmpDecimal(obj.num, d), true
		}
	case val.kind == opNumber && obj.kind == opString:
		if d, ok := parseDecimal(obj.s); ok {
			return cmpDecimal(d, val.num), true
		}
	}
	if obj.kind == val.kind {
		switch obj.kind {
		case opNumber:
			return cmpDecimal(obj.num, val.num), true
		case opString:
			return compareUTF16(obj.s, val.s), true
		case opBool:
			switch {
			case obj.b == val.b:
				return 0, true
			case val.b:
				return -1, true
			default:
				return 1, true
			}
		}
	}
	return compareUTF16(obj.text(), val.text()), true
}

// equal is eq's test for one value: null equals null, everything else
// compares.
func equal(obj, val operand) bool {
	if obj.kind == opNull && val.kind == opNull {
		return true
	}
	c, ok := compare(obj, val)
	return ok && c == 0
}

// compareUTF16 orders strings like Java's String.compareTo, by UTF-16 code
// units; that differs from Go's byte order only between supplementary
// characters and U+E000..U+FFFF.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua, ub := firstUnit(ra), firstUnit(rb)
			if ua != ub {
				return cmpInt(int(ua), int(ub))
			}
			// Same high surrogate: the low surrogates order like the runes.
			return cmpInt(int(ra), int(rb))
		}
		a, b = a[na:], b[nb:]
	}
	return cmpInt(len(a), len(b))
}

func firstUnit(r rune) rune {
	if r < 0x10000 {
		return r
	}
	return 0xd800 + (r-0x10000)>>10
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// decimal is an exact decimal number, -1^neg * 0.digits * 10^exp, with no
// leading or trailing zeros in digits; zero has no digits. It stands in for
// Java's BigDecimal, and never allocates big powers of ten, so a literal
// like 1e999999999 costs nothing.
type decimal struct {
	neg    bool
	digits string
	exp    int64
}

func (d decimal) sign() int {
	switch {
	case d.digits == "":
		return 0
	case d.neg:
		return -1
	}
	return 1
}

func cmpDecimal(a, b decimal) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb || sa == 0 {
		return cmpInt(sa, sb)
	}
	var c int
	switch {
	case a.exp != b.exp:
		c = 1
		if a.exp < b.exp {
			c = -1
		}
	default:
		c = strings.Compare(a.digits, b.digits)
	}
	if a.neg {
		c = -c
	}
	return c
}

// parseDecimal reads what Java's new BigDecimal(String) accepts (with ASCII
// digits): an optional sign, digits with an optional point (at least one
// digit on some side) and an optional exponent.
func parseDecimal(s string) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		d.neg = s[i] == '-'
		i++
	}
	intStart := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[intStart:i]
	var fracPart string
	if i < len(s) && s[i] == '.' {
		i++
		fracStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		fracPart = s[fracStart:i]
	}
	if intPart == "" && fracPart == "" {
		return decimal{}, false
	}
	var exp int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expStart := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		digitsStart := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if digitsStart == i {
			return decimal{}, false
		}
		// Java rejects exponents beyond int; so do we.
		e, err := strconv.ParseInt(s[expStart:i], 10, 32)
		if err != nil {
			return decimal{}, false
		}
		exp = e
	}
	if i != len(s) {
		return decimal{}, false
	}
	mant := strings.TrimLeft(intPart+fracPart, "0")
	// Value is mant * 10^(exp - len(frac)); in 0.digits form the exponent
	// grows by the number of digits.
	d.exp = exp - int64(len(fracPart)) + int64(len(mant))
	d.digits = strings.TrimRight(mant, "0")
	if d.digits == "" {
		return decimal{}, true
	}
	return d, true
}

// javaDouble formats f like Java's Double.toString: plain notation with at
// least one fractional digit for 1e-3 <= |f| < 1e7, else d.dddE<n>.
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsRune(s, '.') {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // e.g. 1.5e+20, 1e-05
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.ContainsRune(mant, '.') {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}
