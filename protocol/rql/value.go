package rql

import (
	"strconv"
	"strings"
)

// ValueKind says which kind of literal a Value holds.
type ValueKind uint8

// Value kinds. Ditto keeps integers (Java long) and decimals (Java double)
// apart in the grammar; both compare as numbers.
const (
	KindNull        ValueKind = iota // null; the zero Value
	KindString                       // "..." or '...'
	KindInt                          // integer literal, fits in int64
	KindFloat                        // decimal literal with a fraction, e.g. 1.5
	KindBool                         // true or false
	KindPlaceholder                  // time:now and friends, resolved at evaluation
)

// String returns a name for the kind.
func (k ValueKind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindString:
		return "string"
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindBool:
		return "bool"
	case KindPlaceholder:
		return "placeholder"
	}
	return "ValueKind(" + strconv.Itoa(int(k)) + ")"
}

// Value is an RQL literal. The zero Value is null.
type Value struct {
	kind ValueKind
	s    string // string value, or placeholder "prefix:name"
	i    int64
	f    float64
	b    bool
}

// NullValue returns the null literal.
func NullValue() Value { return Value{} }

// StringValue returns a string literal.
func StringValue(s string) Value { return Value{kind: KindString, s: s} }

// IntValue returns an integer literal.
func IntValue(i int64) Value { return Value{kind: KindInt, i: i} }

// FloatValue returns a decimal literal. f must be finite: RQL has no
// spelling for NaN or infinities.
func FloatValue(f float64) Value { return Value{kind: KindFloat, f: f} }

// BoolValue returns true or false.
func BoolValue(b bool) Value { return Value{kind: KindBool, b: b} }

// Kind returns which kind of literal v is.
func (v Value) Kind() ValueKind { return v.kind }

// IsNull reports whether v is the null literal.
func (v Value) IsNull() bool { return v.kind == KindNull }

// Str returns a string literal's text, or a placeholder's "prefix:name";
// "" for other kinds.
func (v Value) Str() string { return v.s }

// Int returns an integer literal's value; a decimal is truncated toward
// zero; 0 for other kinds.
func (v Value) Int() int64 {
	switch v.kind {
	case KindInt:
		return v.i
	case KindFloat:
		return int64(v.f)
	}
	return 0
}

// Float returns a number literal's value as float64; 0 for other kinds.
func (v Value) Float() float64 {
	switch v.kind {
	case KindInt:
		return float64(v.i)
	case KindFloat:
		return v.f
	}
	return 0
}

// Bool returns a boolean literal's value; false for other kinds.
func (v Value) Bool() bool { return v.b }

// String renders v as an RQL literal that parses back to v.
func (v Value) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v Value) write(b *strings.Builder) {
	switch v.kind {
	case KindNull:
		b.WriteString("null")
	case KindString:
		writeQuoted(b, v.s)
	case KindInt:
		b.WriteString(strconv.FormatInt(v.i, 10))
	case KindFloat:
		b.WriteString(formatDecimalLiteral(v.f))
	case KindBool:
		b.WriteString(strconv.FormatBool(v.b))
	case KindPlaceholder:
		b.WriteString(v.s)
	}
}

// formatDecimalLiteral spells f the way the grammar's DoubleLiteral wants
// it: digits, a point, digits; never an exponent.
func formatDecimalLiteral(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}
