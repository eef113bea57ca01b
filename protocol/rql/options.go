package rql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SortKey is one entry of sort(...).
type SortKey struct {
	// Property is the field as written (unescaped), e.g. "thingId" or
	// "attributes/location".
	Property   string
	Descending bool
}

// Limit is limit(offset,count).
type Limit struct {
	Offset int
	Count  int
}

// Options are the search options of Ditto's "option" parameter.
//
// The zero value means none were given. Limit and Size are never both set:
// like Ditto, the later of limit(...) and size(...) wins.
type Options struct {
	// Sort holds the entries of the last sort(...) option, nil when none.
	Sort []SortKey
	// Limit is the last limit(...) option, nil when none.
	Limit *Limit
	// Cursor is the cursor(...) option, "" when none.
	Cursor string
	// Size is the size(...) option, 0 when none.
	Size int
}

// ParseOptions parses a comma separated list of search options:
//
//	options = ws option { "," option }
//	option  = "sort" "(" ("+"|"-") property { "," ("+"|"-") property } ")"
//	        | "limit" "(" integer ws "," integer ws ")"
//	        | "cursor" "(" property ")"
//	        | "size" "(" digits ")"
//
// It also applies the checks Ditto makes before running a query: sort
// properties must name a sortable thing field, offset and count are
// non-negative 32-bit integers, size is positive, and neither cursor nor
// size may appear twice, nor cursor together with limit. The page size
// ceiling is configuration and left to the caller.
//
// Every error is a *SyntaxError matching ErrInvalidOption.
func ParseOptions(s string) (Options, error) {
	p := &optionParser{parser: parser{scanner: scanner{src: s, sentinel: ErrInvalidOption}}}
	p.skipWhiteSpace()
	for {
		if err := p.option(); err != nil {
			return Options{}, err
		}
		if p.eof() {
			break
		}
		if p.src[p.pos] != ',' {
			return Options{}, p.failInput(p.pos, "',' or end of input")
		}
		p.pos++
	}
	if p.semanticErr != nil {
		return Options{}, p.semanticErr
	}
	switch {
	case p.cursors > 1:
		return Options{}, p.fail(p.cursorAt, "There may not be more than 1 'cursor' option.")
	case p.sizes > 1:
		return Options{}, p.fail(p.sizeAt, "There may not be more than 1 'size' option.")
	case p.cursors > 0 && p.limits > 0:
		return Options{}, p.fail(p.cursorAt, "The options 'cursor' and 'limit' must not be used together.")
	}
	return p.opts, nil
}

type optionParser struct {
	parser
	opts                   Options
	cursors, sizes, limits int
	cursorAt, sizeAt       int // offsets of the second cursor/size, or the first
}

func (p *optionParser) option() error {
	start := p.pos
	name := p.ident()
	switch name {
	case "sort", "limit", "cursor", "size":
	case "":
		return p.failInput(start, "an option (sort, limit, cursor, size)")
	default:
		return p.fail(start, fmt.Sprintf("Unknown option %q, expected sort, limit, cursor or size", name))
	}
	if err := p.expect('('); err != nil {
		return err
	}
	switch name {
	case "sort":
		return p.sort()
	case "limit":
		return p.limit()
	case "cursor":
		return p.cursor(start)
	default:
		return p.size(start)
	}
}

func (p *optionParser) sort() error {
	var keys []SortKey
	for {
		var desc bool
		switch {
		case !p.eof() && p.src[p.pos] == '+':
		case !p.eof() && p.src[p.pos] == '-':
			desc = true
		default:
			return p.failInput(p.pos, "'+' or '-'")
		}
		p.pos++
		propStart := p.pos
		prop, err := p.property()
		if err != nil {
			return err
		}
		if reason := checkField(prop, useSort); reason != "" {
			p.semantic(propStart, reason)
		}
		keys = append(keys, SortKey{Property: prop, Descending: desc})
		switch {
		case p.eof():
			return p.failInput(p.pos, "',' or ')'")
		case p.src[p.pos] == ',':
			p.pos++
		case p.src[p.pos] == ')':
			p.pos++
			p.opts.Sort = keys
			return nil
		default:
			return p.failInput(p.pos, "',' or ')'")
		}
	}
}

func (p *optionParser) limit() error {
	offset, err := p.integer("skip")
	if err != nil {
		return err
	}
	if err := p.expect(','); err != nil {
		return err
	}
	count, err := p.integer("limit")
	if err != nil {
		return err
	}
	if err := p.expect(')'); err != nil {
		return err
	}
	p.limits++
	p.opts.Limit = &Limit{Offset: offset, Count: count}
	p.opts.Size = 0
	return nil
}

// integer reads a limit operand. param is Ditto's name for it in range
// errors ("skip" for the offset, "limit" for the count).
func (p *optionParser) integer(param string) (int, error) {
	start := p.pos
	if p.eof() || !(isDigit(p.src[p.pos]) || p.src[p.pos] == '+' || p.src[p.pos] == '-') {
		return 0, p.failInput(p.pos, "an integer")
	}
	v, err := p.number()
	if err != nil {
		return 0, err
	}
	if v.Kind() != KindInt {
		return 0, p.fail(start, "Invalid input "+v.String()+", expected an integer")
	}
	p.skipWhiteSpace()
	n := v.Int()
	switch {
	case n < 0:
		return 0, p.fail(start, fmt.Sprintf("Parameter <%s> must be greater than or equal to <0> but it was <%d>!", param, n))
	case n > math.MaxInt32:
		return 0, p.fail(start, fmt.Sprintf("Parameter <%s> must be less than or equal to <%d> but it was <%d>!", param, math.MaxInt32, n))
	}
	return int(n), nil
}

func (p *optionParser) cursor(start int) error {
	cursor, err := p.property()
	if err != nil {
		return err
	}
	if err := p.expect(')'); err != nil {
		return err
	}
	if p.cursors++; p.cursors <= 2 {
		p.cursorAt = start
	}
	if cursor == "" {
		p.semantic(start, "The option 'cursor' is not valid for the search request.")
	}
	p.opts.Cursor = cursor
	return nil
}

func (p *optionParser) size(start int) error {
	digits := p.pos
	for !p.eof() && isDigit(p.src[p.pos]) {
		p.pos++
	}
	if digits == p.pos {
		return p.failInput(p.pos, "a digit")
	}
	n, err := strconv.ParseInt(p.src[digits:p.pos], 10, 32)
	if err != nil {
		return p.fail(digits, fmt.Sprintf("Size %s is out of range (32 bit)", p.src[digits:p.pos]))
	}
	if err := p.expect(')'); err != nil {
		return err
	}
	if p.sizes++; p.sizes <= 2 {
		p.sizeAt = start
	}
	if n <= 0 {
		p.semantic(start, "The option 'size' must be a positive integer.")
	}
	p.opts.Size = int(n)
	p.opts.Limit = nil
	return nil
}

// String renders o as an option list ParseOptions reads back to o, in the
// order sort, limit, cursor, size.
func (o Options) String() string {
	var parts []string
	if len(o.Sort) > 0 {
		var b strings.Builder
		b.WriteString("sort(")
		for i, k := range o.Sort {
			if i > 0 {
				b.WriteByte(',')
			}
			if k.Descending {
				b.WriteByte('-')
			} else {
				b.WriteByte('+')
			}
			writeProperty(&b, k.Property)
		}
		b.WriteByte(')')
		parts = append(parts, b.String())
	}
	if o.Limit != nil {
		parts = append(parts, fmt.Sprintf("limit(%d,%d)", o.Limit.Offset, o.Limit.Count))
	}
	if o.Cursor != "" {
		var b strings.Builder
		b.WriteString("cursor(")
		writeProperty(&b, o.Cursor)
		b.WriteByte(')')
		parts = append(parts, b.String())
	}
	if o.Size != 0 {
		parts = append(parts, "size("+strconv.Itoa(o.Size)+")")
	}
	return strings.Join(parts, ",")
}
