package rql

import (
	"fmt"
	"strconv"
)

// MaxDepth bounds how deeply logical operators may nest, so a hostile
// filter cannot make the parser or the evaluator recurse without limit.
// Ditto has no explicit bound (its parser fails on stack exhaustion).
const MaxDepth = 100

const expectedOperator = "an operator (eq, ne, gt, ge, lt, le, like, ilike, in, exists, empty, and, or, not)"

var logicalOps = map[string]LogicalOp{"and": And, "or": Or, "not": Not}

var compareOps = map[string]CompareOp{
	"eq": Eq, "ne": Ne, "gt": Gt, "ge": Ge, "lt": Lt, "le": Le,
	"like": Like, "ilike": ILike, "in": In, "exists": Exists, "empty": Empty,
}

// Parse parses an RQL filter, as used by the condition header and by the
// search filter, in Ditto's normalized grammar:
//
//	query      = compare | in | logical | not | exists | empty
//	compare    = ("eq"|"ne"|"gt"|"ge"|"lt"|"le"|"like"|"ilike") "(" property "," literal ")"
//	in         = "in" "(" property "," literal { "," literal } ")"
//	logical    = ("and"|"or") "(" query { "," ws query } ")"
//	not        = "not" "(" query ")"
//	exists     = "exists" "(" property ")"
//	empty      = "empty" "(" property ")"
//	literal    = (number | string | placeholder | "true" | "false" | "null") ws
//
// Whitespace is allowed only before the expression, after a literal and
// after the comma between logical operands; a property runs up to the next
// ',', ')' or '"' and keeps any whitespace in it. Properties must name a
// field of a thing (thingId, policyId, _namespace, _revision, _created,
// _modified, definition, _metadata[/...], attributes/..., features/<id>/...).
//
// Every error is a *SyntaxError matching ErrInvalidExpression.
func Parse(s string) (Node, error) {
	return ParseWith(s, nil)
}

// ParseWith is Parse that also accepts the properties for which extra
// reports true, as they are written (Ditto's filters of change
// notifications name placeholders such as topic:action this way). The
// evaluators look such a property up as a top-level member of the thing.
func ParseWith(s string, extra func(property string) bool) (Node, error) {
	p := &parser{scanner: scanner{src: s, sentinel: ErrInvalidExpression}, extra: extra}
	p.skipWhiteSpace()
	n, err := p.query(1)
	if err != nil {
		return nil, err
	}
	if !p.eof() {
		return nil, p.failInput(p.pos, "end of input")
	}
	// Like Ditto, report a wrong field or operand only for an expression that
	// is syntactically valid.
	if p.semanticErr != nil {
		return nil, p.semanticErr
	}
	return n, nil
}

type parser struct {
	scanner
	semanticErr error // first unknown property or non-string like pattern
	extra       func(string) bool
}

func (p *parser) semantic(off int, reason string) {
	if p.semanticErr == nil {
		p.semanticErr = p.fail(off, reason)
	}
}

func (p *parser) query(depth int) (Node, error) {
	start := p.pos
	if depth > MaxDepth {
		return nil, p.fail(start, "RQL expression is nested deeper than "+strconv.Itoa(MaxDepth)+" levels")
	}
	name := p.ident()
	if name == "" {
		return nil, p.failInput(start, expectedOperator)
	}
	lop, isLogical := logicalOps[name]
	cop, isCompare := compareOps[name]
	if !isLogical && !isCompare {
		return nil, p.fail(start, fmt.Sprintf("Unknown operator %q, expected %s", name, expectedOperator))
	}
	if err := p.expect('('); err != nil {
		return nil, err
	}
	if isLogical {
		return p.logical(lop, depth)
	}
	return p.comparison(cop)
}

func (p *parser) logical(op LogicalOp, depth int) (Node, error) {
	n := &Logical{Op: op}
	for {
		child, err := p.query(depth + 1)
		if err != nil {
			return nil, err
		}
		n.Children = append(n.Children, child)
		if op == Not {
			return p.closing(n)
		}
		switch {
		case p.eof():
			return nil, p.failInput(p.pos, "',' or ')'")
		case p.src[p.pos] == ',':
			// Ditto's grammar separates queries with ws(','): white
			// space may follow the comma here, but not between the
			// values of in() (see comparison).
			p.pos++
			p.skipWhiteSpace()
		case p.src[p.pos] == ')':
			p.pos++
			return n, nil
		default:
			return nil, p.failInput(p.pos, "',' or ')'")
		}
	}
}

func (p *parser) comparison(op CompareOp) (Node, error) {
	propStart := p.pos
	prop, err := p.property()
	if err != nil {
		return nil, err
	}
	n := &Comparison{Op: op, Property: prop}
	use := useFilter
	if op == Exists || op == Empty {
		use = useExists
	}
	if reason := checkField(prop, use); reason != "" && (p.extra == nil || !p.extra(prop)) {
		p.semantic(propStart, reason)
	}
	if use == useExists {
		return p.closing(n)
	}
	if err := p.expect(','); err != nil {
		return nil, err
	}
	for {
		valStart := p.pos
		v, err := p.literal()
		if err != nil {
			return nil, err
		}
		if (op == Like || op == ILike) && v.Kind() != KindString {
			p.semantic(valStart, fmt.Sprintf("In the %s predicate only string values are allowed.", op))
		}
		n.Values = append(n.Values, v)
		if op != In {
			return p.closing(n)
		}
		switch {
		case p.eof():
			return nil, p.failInput(p.pos, "',' or ')'")
		case p.src[p.pos] == ',':
			p.pos++ // oneOrMore(',' ~ Literal) in Ditto: no white space
		case p.src[p.pos] == ')':
			p.pos++
			return n, nil
		default:
			return nil, p.failInput(p.pos, "',' or ')'")
		}
	}
}

// closing consumes the ')' that ends n.
func (p *parser) closing(n Node) (Node, error) {
	if err := p.expect(')'); err != nil {
		return nil, err
	}
	return n, nil
}
