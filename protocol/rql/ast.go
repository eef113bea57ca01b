package rql

import (
	"strconv"
	"strings"
)

// Node is a parsed RQL filter: a *Logical or a *Comparison. The set is
// closed; a type switch over those two is exhaustive.
type Node interface {
	// String renders the node in canonical RQL, which Parse reads back to an
	// equal node.
	String() string
	node()
}

// LogicalOp is the operator of a Logical node.
type LogicalOp uint8

// Logical operators.
const (
	And LogicalOp = iota + 1 // all children match
	Or                       // at least one child matches
	Not                      // the single child does not match
)

// String returns the operator's RQL name.
func (o LogicalOp) String() string {
	switch o {
	case And:
		return "and"
	case Or:
		return "or"
	case Not:
		return "not"
	}
	return "LogicalOp(" + strconv.Itoa(int(o)) + ")"
}

// CompareOp is the operator of a Comparison node.
type CompareOp uint8

// Comparison operators. Exists and Empty take no value, In takes one or
// more, the others exactly one; Like and ILike take a string.
const (
	Eq CompareOp = iota + 1
	Ne
	Gt
	Ge
	Lt
	Le
	Like
	ILike
	In
	Exists
	Empty
)

var compareOpNames = [...]string{
	Eq: "eq", Ne: "ne", Gt: "gt", Ge: "ge", Lt: "lt", Le: "le",
	Like: "like", ILike: "ilike", In: "in", Exists: "exists", Empty: "empty",
}

// String returns the operator's RQL name.
func (o CompareOp) String() string {
	if int(o) < len(compareOpNames) && compareOpNames[o] != "" {
		return compareOpNames[o]
	}
	return "CompareOp(" + strconv.Itoa(int(o)) + ")"
}

// Logical combines child filters. And and Or have at least one child, Not
// exactly one; String of a node that breaks this does not parse back.
type Logical struct {
	Op       LogicalOp
	Children []Node
}

func (*Logical) node() {}

// String implements Node.
func (l *Logical) String() string {
	var b strings.Builder
	writeNode(&b, l)
	return b.String()
}

// Comparison tests one property of a thing.
type Comparison struct {
	Op CompareOp
	// Property is the field as written (unescaped), e.g. "attributes/location"
	// or "/thingId"; a leading slash is optional.
	Property string
	// Values holds the operands: none for Exists and Empty, one or more for
	// In, exactly one otherwise.
	Values []Value
}

func (*Comparison) node() {}

// String implements Node.
func (c *Comparison) String() string {
	var b strings.Builder
	writeNode(&b, c)
	return b.String()
}

func writeNode(b *strings.Builder, n Node) {
	switch n := n.(type) {
	case *Logical:
		b.WriteString(n.Op.String())
		b.WriteByte('(')
		for i, c := range n.Children {
			if i > 0 {
				b.WriteByte(',')
			}
			writeNode(b, c)
		}
		b.WriteByte(')')
	case *Comparison:
		b.WriteString(n.Op.String())
		b.WriteByte('(')
		writeProperty(b, n.Property)
		for _, v := range n.Values {
			b.WriteByte(',')
			v.write(b)
		}
		b.WriteByte(')')
	}
}

// writeProperty escapes the characters that end a property in the grammar.
// ',' and ')' have no short escape, so they go out as \u escapes.
func writeProperty(b *strings.Builder, p string) {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case ',':
			b.WriteString(`\u002c`)
		case ')':
			b.WriteString(`\u0029`)
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			writeControlOr(b, c)
		}
	}
}

// writeQuoted writes s as a double-quoted RQL string literal.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			writeControlOr(b, c)
		}
	}
	b.WriteByte('"')
}

// writeControlOr writes c, escaping control characters so the canonical
// form stays on one line and survives an HTTP header.
func writeControlOr(b *strings.Builder, c byte) {
	const hex = "0123456789abcdef"
	switch c {
	case '\b':
		b.WriteString(`\b`)
	case '\f':
		b.WriteString(`\f`)
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	default:
		if c < 0x20 || c == 0x7f {
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
			return
		}
		b.WriteByte(c)
	}
}

// Properties returns the properties n refers to, each once, in order of
// first appearance: what a caller must be allowed to read before a
// condition may be evaluated against a thing.
func Properties(n Node) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(Node)
	walk = func(n Node) {
		switch n := n.(type) {
		case *Logical:
			for _, c := range n.Children {
				walk(c)
			}
		case *Comparison:
			if !seen[n.Property] {
				seen[n.Property] = true
				out = append(out, n.Property)
			}
		}
	}
	walk(n)
	return out
}
