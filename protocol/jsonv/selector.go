package jsonv

import (
	"slices"
	"strings"
)

// Wildcard is the pointer segment that Select expands to every member of
// the object at that level, e.g. "features/*/properties/temperature".
const Wildcard = "*"

// FieldSelector is a parsed `fields` selector: the pointers to keep, in the
// order they were first given, without duplicates.
type FieldSelector []Pointer

// ParseFieldSelector parses Ditto's field selector syntax, e.g.
//
//	thingId,attributes(location,model),features/*/properties/temperature
//
// Commas separate selectors; "p(a,b)" is short for "p/a,p/b" and groups
// nest. Each selector is a pointer as ParsePointer reads it (no trimming:
// spaces belong to keys). URL-decoding is the caller's job.
//
// Errors are *protocol.Error: json.fieldselector.invalid for an empty
// selector, unbalanced parentheses, text after ')' or a selector that names
// no field at all (like ","), and json.pointer.invalid, as in Ditto, for a
// pointer with consecutive slashes.
//
// Ditto's quirks with a clear meaning are kept: an empty item selects
// nothing at the top level ("thingId," is "thingId") and the group's own
// pointer inside a group ("a()" and "a(b,)" select all of a).
func ParseFieldSelector(s string) (FieldSelector, error) {
	if s == "" {
		return nil, fieldSelectorError(s)
	}
	p := selectorParser{src: s}
	if err := p.list(nil, 0); err != nil {
		return nil, err
	}
	if p.i < len(s) || len(p.out) == 0 { // a stray ')' stopped the list
		return nil, fieldSelectorError(s)
	}
	return p.out, nil
}

type selectorParser struct {
	src  string
	i    int
	out  FieldSelector
	seen map[string]struct{} // used once out grows past linearLimit
}

// list parses comma-separated items under prefix until the end of input or
// a ')' it leaves for the caller.
func (p *selectorParser) list(prefix Pointer, depth int) error {
	for {
		start := p.i
		for p.i < len(p.src) && !isSelectorDelim(p.src[p.i]) {
			p.i++
		}
		ptr, err := ParsePointer(p.src[start:p.i])
		if err != nil {
			return err
		}
		full := prefix.Append(ptr...)
		if p.i < len(p.src) && p.src[p.i] == '(' {
			if depth >= MaxDepth {
				return fieldSelectorError(p.src)
			}
			p.i++
			if err := p.list(full, depth+1); err != nil {
				return err
			}
			if p.i >= len(p.src) || p.src[p.i] != ')' {
				return fieldSelectorError(p.src)
			}
			p.i++
		} else {
			p.add(full)
		}
		if p.i >= len(p.src) {
			return nil
		}
		switch p.src[p.i] {
		case ',':
			p.i++
		case ')':
			return nil
		default: // '(' or text right after a ')'
			return fieldSelectorError(p.src)
		}
	}
}

func isSelectorDelim(c byte) bool {
	return c == ',' || c == '(' || c == ')'
}

// add appends ptr unless it is the root (which selects nothing in Ditto) or
// already present.
func (p *selectorParser) add(ptr Pointer) {
	if len(ptr) == 0 {
		return
	}
	if p.seen == nil {
		for _, q := range p.out {
			if q.Equal(ptr) {
				return
			}
		}
		p.out = append(p.out, ptr)
		if len(p.out) > linearLimit {
			p.seen = make(map[string]struct{}, 2*len(p.out))
			for _, q := range p.out {
				p.seen[q.String()] = struct{}{}
			}
		}
		return
	}
	// Parsed segments never contain '/', so String is injective here.
	k := ptr.String()
	if _, ok := p.seen[k]; ok {
		return
	}
	p.seen[k] = struct{}{}
	p.out = append(p.out, ptr)
}

// String returns the selector as comma-separated pointers, e.g.
// "/thingId,/attributes/location"; ParseFieldSelector reads it back.
func (fs FieldSelector) String() string {
	var b strings.Builder
	for i, p := range fs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Select returns the projection of object v onto fs, as Ditto's
// JsonObject.get(JsonFieldSelector) computes it:
//
//   - Wildcard segments are first expanded against v (Ditto does this for
//     features/* only; here any level works, through objects only).
//   - Pointers that do not exist in v are dropped; arrays on the way are
//     looked into, so "a/b" exists when some object element of array a has b.
//   - The result has the selected keys in selector order (not v's order),
//     a pointer also selected by a shorter one adds nothing, and in a
//     selected array the object elements are projected while the other
//     elements are kept.
//   - When nothing is selected the result is {}; an empty fs selects
//     nothing. A v that is not an object is returned unchanged.
func (v Value) Select(fs FieldSelector) Value {
	if v.k != KindObject || v.n == 0 {
		return v
	}
	var root trie
	for _, p := range fs {
		expandWildcards(v, p, 0, func(q Pointer) {
			if existsFlat(v, q) {
				root.add(q)
			}
		})
	}
	if root.leaf() {
		return Value{k: KindObject}
	}
	return root.filter(v)
}

// expandWildcards calls emit with every pointer p stands for in v, looking
// for wildcards from segment from on (earlier ones are already expanded and
// may be a literal "*" key).
func expandWildcards(v Value, p Pointer, from int, emit func(Pointer)) {
	i := slices.Index(p[from:], Wildcard)
	if i < 0 {
		emit(p)
		return
	}
	i += from
	parent, ok := v.At(p[:i])
	if !ok {
		return
	}
	for _, m := range parent.Members() {
		q := slices.Clone(p)
		q[i] = m.Key
		expandWildcards(v, q, i+1, emit)
	}
}

// existsFlat is Ditto's containsFlatteningArrays: whether p leads to a value,
// looking into the object elements of arrays on the way. The root does not
// count as existing.
func existsFlat(v Value, p Pointer) bool {
	if len(p) == 0 {
		return false
	}
	child, ok := v.Get(p[0])
	if !ok {
		return false
	}
	if len(p) == 1 {
		return true
	}
	switch child.k {
	case KindObject:
		return existsFlat(child, p[1:])
	case KindArray:
		for _, e := range child.Elements() {
			if existsFlat(e, p[1:]) {
				return true
			}
		}
	}
	return false
}

// trie merges the selected pointers. A node without children selects the
// whole value; keys keep the order in which they were first added.
type trie struct {
	keys []string
	kids []*trie
}

func (t *trie) leaf() bool { return len(t.keys) == 0 }

func (t *trie) add(p Pointer) {
	i := slices.Index(t.keys, p[0])
	if i < 0 {
		child := &trie{}
		t.keys = append(t.keys, p[0])
		t.kids = append(t.kids, child)
		if len(p) > 1 {
			child.add(p[1:])
		}
		return
	}
	switch {
	case len(p) == 1:
		t.kids[i] = &trie{} // the shorter pointer selects everything below
	case t.kids[i].leaf():
		// already selected as a whole
	default:
		t.kids[i].add(p[1:])
	}
}

// filter projects the object v onto t.
func (t *trie) filter(v Value) Value {
	if t.leaf() {
		return v
	}
	out := make([]Member, 0, len(t.keys))
	for i, key := range t.keys {
		val, ok := v.Get(key)
		if !ok {
			continue
		}
		out = append(out, Member{Key: key, Value: t.kids[i].project(val)})
	}
	return objectValue(out[:len(out):len(out)])
}

// project applies t to a selected value of any kind.
func (t *trie) project(v Value) Value {
	switch {
	case t.leaf():
		return v
	case v.k == KindObject:
		return t.filter(v)
	case v.k == KindArray:
		elems := v.Elements()
		out := make([]Value, len(elems))
		for i, e := range elems {
			if e.k == KindObject {
				e = t.filter(e)
			}
			out[i] = e
		}
		return arrayValue(out)
	}
	return v
}
