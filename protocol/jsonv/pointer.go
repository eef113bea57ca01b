package jsonv

import "strings"

// Pointer addresses a value inside nested objects: one key per level. The
// root (the value itself) is the empty Pointer; nil is the root.
//
// Pointers follow Ditto's JsonPointer rather than RFC 6901: segments are
// object keys only (Ditto does not index arrays), "~0" decodes to '~' but
// "~1" is not decoded (a key cannot contain '/'), and the leading slash is
// optional.
type Pointer []string

// ParsePointer parses a slash-separated pointer the way Ditto does:
//   - "" and "/" are the root;
//   - the leading slash is optional and a trailing slash is ignored
//     ("a/b" and "/a/b/" equal "/a/b");
//   - consecutive slashes are rejected (json.pointer.invalid);
//   - "~0" in a segment decodes to '~'.
func ParsePointer(s string) (Pointer, error) {
	if strings.Contains(s, "//") {
		return nil, pointerError(s, descConsecutiveSlashes)
	}
	s = strings.TrimPrefix(s, "/")
	s = strings.TrimSuffix(s, "/")
	if s == "" {
		return nil, nil
	}
	p := make(Pointer, 0, strings.Count(s, "/")+1)
	for seg := range strings.SplitSeq(s, "/") {
		p = append(p, decodeTilde(seg))
	}
	return p, nil
}

// MustParsePointer parses s and panics on error; for tests and constants.
func MustParsePointer(s string) Pointer {
	p, err := ParsePointer(s)
	if err != nil {
		panic(err)
	}
	return p
}

func decodeTilde(seg string) string {
	if !strings.Contains(seg, "~0") {
		return seg
	}
	return strings.ReplaceAll(seg, "~0", "~")
}

// String returns "/" for the root and "/a/b" otherwise, with '~' in keys
// written as "~0" so that ParsePointer reads it back. A key containing '/'
// cannot be written unambiguously (Ditto has the same limit).
func (p Pointer) String() string {
	if len(p) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, seg := range p {
		b.WriteByte('/')
		if strings.IndexByte(seg, '~') < 0 {
			b.WriteString(seg)
		} else {
			b.WriteString(strings.ReplaceAll(seg, "~", "~0"))
		}
	}
	return b.String()
}

// IsRoot reports whether p addresses the value itself.
func (p Pointer) IsRoot() bool { return len(p) == 0 }

// Append returns p extended by segs in a new slice: it never shares p's
// backing array, so pointers built from a common prefix stay independent.
func (p Pointer) Append(segs ...string) Pointer {
	q := make(Pointer, len(p), len(p)+len(segs))
	copy(q, p)
	return append(q, segs...)
}

// HasPrefix reports whether q is p or an ancestor of p. Every pointer has
// the root as a prefix.
func (p Pointer) HasPrefix(q Pointer) bool {
	if len(q) > len(p) {
		return false
	}
	for i := range q {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// Equal reports whether p and q have the same segments.
func (p Pointer) Equal(q Pointer) bool {
	return len(p) == len(q) && p.HasPrefix(q)
}

// Parent returns p without its last segment; the root's parent is the root.
// The result shares p's array but has no spare capacity, so appending to it
// copies.
func (p Pointer) Parent() Pointer {
	if len(p) == 0 {
		return nil
	}
	return p[: len(p)-1 : len(p)-1]
}

// Last returns the last segment, or "" for the root.
func (p Pointer) Last() string {
	if len(p) == 0 {
		return ""
	}
	return p[len(p)-1]
}

// At returns the value p addresses inside v; the root gives v itself. Only
// objects are descended, as in Ditto: a segment never indexes an array.
func (v Value) At(p Pointer) (Value, bool) {
	for _, key := range p {
		var ok bool
		if v, ok = v.Get(key); !ok {
			return Value{}, false
		}
	}
	return v, true
}

// Set returns a copy of v with x at p; v is unchanged. Only the objects along
// p are copied, everything else is shared. Like Ditto's
// JsonObject.setValue, missing objects along p are created and a value
// along p that is not an object (v itself included) is replaced by a new
// object. An existing key keeps its position, a new key goes last. Set at
// the root returns x.
func (v Value) Set(p Pointer, x Value) Value {
	if len(p) == 0 {
		return x
	}
	ms := v.Members()
	i := v.index(p[0])
	var child Value
	if i >= 0 {
		child = ms[i].Value
	}
	nv := child.Set(p[1:], x)
	if i >= 0 {
		out := make([]Member, len(ms))
		copy(out, ms)
		out[i].Value = nv
		return objectValue(out)
	}
	out := make([]Member, len(ms)+1)
	copy(out, ms)
	out[len(ms)] = Member{Key: p[0], Value: nv}
	return objectValue(out)
}

// Delete returns a copy of v without the member p addresses, sharing all
// but the objects along p, and whether there was such a member. The root
// cannot be deleted: Delete(nil) returns v, false.
func (v Value) Delete(p Pointer) (Value, bool) {
	if len(p) == 0 {
		return v, false
	}
	i := v.index(p[0])
	if i < 0 {
		return v, false
	}
	ms := v.Members()
	if len(p) == 1 {
		out := make([]Member, 0, len(ms)-1)
		out = append(out, ms[:i]...)
		out = append(out, ms[i+1:]...)
		return objectValue(out), true
	}
	nc, ok := ms[i].Value.Delete(p[1:])
	if !ok {
		return v, false
	}
	out := make([]Member, len(ms))
	copy(out, ms)
	out[i].Value = nc
	return objectValue(out), true
}
