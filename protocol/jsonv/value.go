package jsonv

import (
	"math"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/dittonats/dittonats/protocol/internal/jsonsyntax"
)

// Kind is the JSON type of a Value.
type Kind uint8

// The JSON kinds. KindNull is the zero Kind, so the zero Value is JSON null.
const (
	KindNull Kind = iota
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

// String returns the JSON name of the kind, e.g. "object".
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindBool:
		return "boolean"
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindArray:
		return "array"
	case KindObject:
		return "object"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is an immutable JSON value. The zero Value is JSON null.
//
// A Value is 16 bytes: a pointer to its payload, a length and the kind. The
// payload is the string bytes (strings), the literal text (numbers), the
// elements (arrays) or the members (objects). Twins are held in memory by the
// hundred thousand, so halving the node size against a string+slice layout is
// worth the unsafe conversions, which are confined to this file.
//
// Nothing ever writes through p after construction, so Values may be shared
// between goroutines without synchronisation.
type Value struct {
	p unsafe.Pointer // *byte, *Value or *Member; nil when n == 0
	n uint32         // bytes, elements or members; 1 for true
	k Kind
	f flags
}

type flags uint8

// flagPlain marks a string that AppendJSON may copy verbatim: valid UTF-8
// without '"', '\\' or control characters. Computed once at construction so
// that serialising a twin does not rescan its strings.
const flagPlain flags = 1

// Member is one name/value pair of a JSON object.
type Member struct {
	Key   string
	Value Value
}

// maxLen bounds every length a Value can hold.
const maxLen = math.MaxUint32

func checkLen(n int) uint32 {
	if uint64(n) > maxLen {
		panic("jsonv: value longer than 4 GiB")
	}
	return uint32(n)
}

// stringValue builds a string Value without scanning it; plain says whether
// s is known to need no escaping.
func stringValue(s string, plain bool) Value {
	v := Value{k: KindString, n: checkLen(len(s))}
	if len(s) > 0 {
		v.p = unsafe.Pointer(unsafe.StringData(s))
	}
	if plain {
		v.f = flagPlain
	}
	return v
}

// numberValue builds a number from a literal already known to be valid.
func numberValue(lit string) Value {
	return Value{k: KindNumber, n: checkLen(len(lit)), p: unsafe.Pointer(unsafe.StringData(lit))}
}

// arrayValue takes ownership of elems: the caller must not keep it.
func arrayValue(elems []Value) Value {
	v := Value{k: KindArray, n: checkLen(len(elems))}
	if len(elems) > 0 {
		v.p = unsafe.Pointer(unsafe.SliceData(elems))
	}
	return v
}

// objectValue takes ownership of members, which must have unique keys.
func objectValue(members []Member) Value {
	v := Value{k: KindObject, n: checkLen(len(members))}
	if len(members) > 0 {
		v.p = unsafe.Pointer(unsafe.SliceData(members))
	}
	return v
}

// text returns the payload of a string or number.
func (v Value) text() string {
	if v.n == 0 {
		return ""
	}
	return unsafe.String((*byte)(v.p), int(v.n))
}

// String returns a string Value. Invalid UTF-8 in s is kept in the Value and
// written as U+FFFD by AppendJSON; Equal compares bytes, so such a Value
// differs from what parsing its output gives.
func String(s string) Value {
	return stringValue(s, isPlain(s))
}

// isPlain reports whether s can be written between quotes unchanged.
func isPlain(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		i += size
	}
	return true
}

// Bool returns true or false.
func Bool(b bool) Value {
	v := Value{k: KindBool}
	if b {
		v.n = 1
	}
	return v
}

// Null returns JSON null, the same as the zero Value.
func Null() Value { return Value{} }

// Int returns a number Value holding i.
func Int(i int64) Value {
	return numberValue(strconv.FormatInt(i, 10))
}

// Float returns a number Value holding f, written in the shortest form that
// reads back as f (like encoding/json). JSON has no NaN or infinities, so for
// those Float returns null, as JavaScript's JSON.stringify does.
func Float(f float64) Value {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Null()
	}
	return numberValue(string(appendFloat(nil, f)))
}

// appendFloat formats f as ECMAScript does: plain decimals between 1e-6 and
// 1e21, exponent form outside.
func appendFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Turn "1e-07" into "1e-7".
		n := len(dst) - start
		if n >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}

// Number returns a number Value with the given literal text, which must be a
// JSON number (RFC 8259 section 6). Like Ditto, an integer literal (no
// fraction, no exponent) must fit in a signed 64-bit integer. The error is a
// *protocol.Error with code "json.invalid".
func Number(literal string) (Value, error) {
	if n, ok := jsonsyntax.ScanNumber(literal, 0); !ok || n != len(literal) {
		return Value{}, parseError("invalid number literal <" + clip(literal) + ">")
	}
	if !intInRange(literal) {
		return Value{}, parseError("integer <" + clip(literal) + "> out of 64-bit range")
	}
	return numberValue(literal), nil
}

// Array returns an array of elems. It copies elems, so the caller may reuse
// the slice.
func Array(elems ...Value) Value {
	if len(elems) == 0 {
		return Value{k: KindArray}
	}
	return arrayValue(append([]Value(nil), elems...))
}

// Object returns an object of members in the given order. It copies members.
// When a key repeats, the last value wins at the position of the first
// occurrence, as parsing does. Keys are not validated: an empty key is
// accepted here although Parse rejects it.
func Object(members ...Member) Value {
	if len(members) == 0 {
		return Value{k: KindObject}
	}
	out := make([]Member, 0, len(members))
	var idx keyIndex
	for _, m := range members {
		out = idx.put(out, 0, m.Key, m.Value)
	}
	return objectValue(out[:len(out):len(out)])
}

// keyIndex finds duplicate keys while an object is being built. Small objects
// are scanned; from linearLimit members on, a map takes over so that hostile
// input with thousands of keys stays linear.
type keyIndex struct {
	m map[string]int
}

const linearLimit = 32

// put sets key among ms[start:] (appending when absent) and returns ms. It
// writes ms in place, so it is only used on slices no Value shares yet.
func (x *keyIndex) put(ms []Member, start int, key string, val Value) []Member {
	obj := ms[start:]
	if x.m == nil {
		for i := range obj {
			if obj[i].Key == key {
				obj[i].Value = val
				return ms
			}
		}
		if len(obj) < linearLimit {
			return append(ms, Member{Key: key, Value: val})
		}
		x.m = make(map[string]int, 2*len(obj))
		for i := range obj {
			x.m[obj[i].Key] = i
		}
	} else if i, ok := x.m[key]; ok {
		obj[i].Value = val
		return ms
	}
	x.m[key] = len(obj)
	return append(ms, Member{Key: key, Value: val})
}

// Kind returns the JSON type of v.
func (v Value) Kind() Kind { return v.k }

// Str returns the contents of a string Value.
func (v Value) Str() (string, bool) {
	if v.k != KindString {
		return "", false
	}
	return v.text(), true
}

// Bool returns the value of a boolean.
func (v Value) Bool() (bool, bool) {
	if v.k != KindBool {
		return false, false
	}
	return v.n == 1, true
}

// Float returns a number as float64, rounding when the literal has more
// precision; literals beyond float64's range give ±Inf.
func (v Value) Float() (float64, bool) {
	if v.k != KindNumber {
		return 0, false
	}
	f, _ := strconv.ParseFloat(v.text(), 64) // the literal is valid; a range error still yields ±Inf
	return f, true
}

// Int64 returns a number as int64 when its value is an integer in range,
// whatever its literal form ("3", "3.0" and "3e0" all give 3).
func (v Value) Int64() (int64, bool) {
	if v.k != KindNumber {
		return 0, false
	}
	n := numberOf(v.text())
	return n.i, n.isInt
}

// Literal returns the text of a number exactly as parsed or constructed, or
// "" when v is not a number.
func (v Value) Literal() string {
	if v.k != KindNumber {
		return ""
	}
	return v.text()
}

// Members returns the members of an object in order, or nil for other kinds.
// The slice is shared with v and must not be modified; its capacity equals
// its length, so appending to it copies.
func (v Value) Members() []Member {
	if v.k != KindObject || v.n == 0 {
		return nil
	}
	return unsafe.Slice((*Member)(v.p), int(v.n))
}

// Elements returns the elements of an array, or nil for other kinds. The
// slice is shared with v and must not be modified.
func (v Value) Elements() []Value {
	if v.k != KindArray || v.n == 0 {
		return nil
	}
	return unsafe.Slice((*Value)(v.p), int(v.n))
}

// Get returns the value of an object's member. It scans the members, which is
// faster than hashing for the small objects twins are made of.
func (v Value) Get(key string) (Value, bool) {
	i := v.index(key)
	if i < 0 {
		return Value{}, false
	}
	return v.Members()[i].Value, true
}

// index returns the position of key among v's members, or -1.
func (v Value) index(key string) int {
	for i, m := range v.Members() {
		if m.Key == key {
			return i
		}
	}
	return -1
}

// Len returns the number of members of an object or elements of an array,
// and 0 for every other kind.
func (v Value) Len() int {
	if v.k == KindObject || v.k == KindArray {
		return int(v.n)
	}
	return 0
}

// Depth returns how deeply v nests arrays and objects, counted as Parse
// counts against MaxDepth: 0 for a scalar, 1 for {} or [1], 2 for {"a":[]}.
// Writers check the document a write would leave with it, so that nothing is
// stored that Parse then refuses to read back.
func (v Value) Depth() int {
	d := 0
	switch v.k {
	case KindObject:
		for _, m := range v.Members() {
			d = max(d, m.Value.Depth())
		}
	case KindArray:
		for _, e := range v.Elements() {
			d = max(d, e.Depth())
		}
	default:
		return 0
	}
	return d + 1
}

// String returns v as compact JSON. It renders into a pooled buffer, so
// that the string is the only allocation (a document of a few hundred
// bytes rendered into a growing slice allocated four times its size).
func (v Value) String() string {
	bp := stringBufs.Get().(*[]byte)
	b := v.AppendJSON((*bp)[:0])
	s := string(b)
	if cap(b) <= maxPooledBuf {
		*bp = b
		stringBufs.Put(bp)
	}
	return s
}

// stringBufs holds String's buffers; one grown beyond maxPooledBuf is
// left to the collector.
var stringBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

const maxPooledBuf = 64 << 10
