package index

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// Value encoding in the untyped value column. SQLite orders NULL < numbers <
// TEXT < BLOB; values of one JSON type stay in one of those brackets, so a
// range condition bounded by the bracket's ends never meets another type:
//   - numbers: INTEGER when integral within int64, else REAL;
//   - strings: TEXT;
//   - null, booleans and structure markers: BLOBs of at most one byte, in
//     the order null < false < true < markers.
//
// null is a BLOB rather than SQL NULL because every column of a WITHOUT
// ROWID primary key must be NOT NULL.
var (
	blobNull     = []byte{}
	blobFalse    = []byte{0}
	blobTrue     = []byte{1}
	blobEmptyArr = []byte{2} // [] at the path
	blobEmptyObj = []byte{3} // {} at the path
	blobArray    = []byte{4} // a non-empty array at the path (its elements are rows too)
)

// Row flags.
const (
	// flagCrossed marks a row reached across an array above its path: the
	// evaluator never finds such a property empty.
	flagCrossed = 1
)

// Ditto's index key limit (IndexLengthRestrictionEnforcer): a value's key
// takes the bytes of its JSON pointer, the thing id and namespace (in UTF-16
// units) and 128 bytes reserved for subjects; a string value is cut to the
// UTF-8 bytes left of 950 (never inside a character), and a value whose key
// overhead leaves fewer than 4 bytes is not indexed at all.
const (
	maxIndexContent  = 950
	subjectsOverhead = 128
	minValueLength   = 4
)

// thingOverhead is the part of the key overhead a thing's id contributes.
func thingOverhead(thingID string) int {
	ns, _, ok := strings.Cut(thingID, ":")
	nsLen := 0
	if ok {
		nsLen = utf16Len(ns)
	}
	return utf16Len(thingID) + nsLen + subjectsOverhead
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// pathBytes is the length of the path as Ditto's JSON pointer: a slash per
// key, the keys in UTF-8 with ~ escaped as ~0.
func pathBytes(path string) int {
	return 1 + len(path) + strings.Count(path, "~")
}

// budget is how many bytes of a string Ditto indexes at path of a thing
// with overhead ovh; negative when nothing at the path is indexed.
func budget(path string, ovh int) int {
	over := pathBytes(path) + ovh
	if over > maxIndexContent-minValueLength {
		return -1
	}
	return maxIndexContent - over
}

// truncate cuts s to at most n bytes at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// row is one leaves row before its visibility key is interned.
type row struct {
	path  string
	vis   string // visibility key; see setKey
	value any    // int64, float64, string or []byte
	flags int64
	key   string // path, vis, value and flags: equal for equal rows
}

// rowKey identifies a row of one thing, for diffing old and new rows.
func rowKey(path string, vis int64, value any, flags int64) string {
	var b strings.Builder
	b.WriteString(path)
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(vis, 10))
	b.WriteByte(0)
	writeTyped(&b, value)
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(flags, 10))
	return b.String()
}

// writeTyped writes a column value after a letter naming its type, so that
// values of different types never write alike (the number 42 is "i42", the
// string "42" is "s42"). A row's value is one of the four; any other value
// (a statement's argument) is written in Go's syntax after its type.
func writeTyped(b *strings.Builder, value any) {
	switch v := value.(type) {
	case int64:
		b.WriteByte('i')
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		b.WriteByte('f')
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	case string:
		b.WriteByte('s')
		b.WriteString(v)
	case []byte:
		b.WriteByte('b')
		b.Write(v)
	default:
		fmt.Fprintf(b, "?%T:%#v", v, v)
	}
}

// Visibility keys. A thing-level key lists who sees the thing; a leaf key is
// enforcer.Readers.LeafKey. The prefix keeps the two kinds apart.
const (
	thingKeyPrefix = "T"
	leafKeyPrefix  = "L"
	nobodyLeafKey  = leafKeyPrefix + "[]"
)

func thingSetKey(subjects []string) string {
	elems := make([]jsonv.Value, len(subjects))
	for i, s := range subjects {
		elems[i] = jsonv.String(s)
	}
	return thingKeyPrefix + jsonv.Array(elems...).String()
}

// flattener turns one thing into rows.
type flattener struct {
	access   *enforcer.Readers
	ovh      int
	prefixes []string // indexed subtrees; nil: all
	thingVis string
	rows     []row
	seen     map[string]bool
}

// jsonValue converts a scalar to its column value; ok is false for arrays
// and objects.
func jsonValue(v jsonv.Value) (any, bool) {
	switch v.Kind() {
	case jsonv.KindNull:
		return blobNull, true
	case jsonv.KindBool:
		b, _ := v.Bool()
		if b {
			return blobTrue, true
		}
		return blobFalse, true
	case jsonv.KindString:
		s, _ := v.Str()
		return s, true
	case jsonv.KindNumber:
		if i, ok := v.Int64(); ok {
			return i, true
		}
		f, _ := v.Float()
		return numberValue(f), true
	}
	return nil, false
}

// numberValue stores integral floats within int64 as integers, so that 7.0
// and 7 are one key.
func numberValue(f float64) any {
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return int64(f)
	}
	return f
}

func (f *flattener) indexed(path string) bool {
	if f.prefixes == nil {
		return true
	}
	for _, p := range f.prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func (f *flattener) emit(path, vis string, value any, flags int64, always bool) {
	if !always && !f.indexed(path) {
		return
	}
	if s, ok := value.(string); ok {
		n := budget(path, f.ovh)
		if n < 0 {
			return
		}
		value = truncate(s, n)
	} else if budget(path, f.ovh) < 0 {
		return
	}
	k := path + "\x00" + vis + "\x00" + rowKey("", 0, value, flags)
	if f.seen[k] {
		return
	}
	f.seen[k] = true
	f.rows = append(f.rows, row{path: path, vis: vis, value: value, flags: flags, key: k})
}

// leafVis is the visibility key of the value at ptr.
func (f *flattener) leafVis(ptr jsonv.Pointer) string {
	if f.access == nil {
		return nobodyLeafKey
	}
	return leafKeyPrefix + f.access.LeafKey(enforcer.TypeThing, ptr)
}

// walk emits the rows of v at ptr. vis is fixed below an array (a policy
// view never looks inside arrays) and empty otherwise, when each leaf takes
// its own path's key; always marks the fields every reader of the thing sees.
func (f *flattener) walk(ptr jsonv.Pointer, path string, v jsonv.Value, vis string, flags int64, always bool) {
	at := func() string {
		if vis != "" {
			return vis
		}
		return f.leafVis(ptr)
	}
	switch v.Kind() {
	case jsonv.KindObject:
		if v.Len() == 0 {
			f.emit(path, at(), blobEmptyObj, flags, always)
			return
		}
		for _, m := range v.Members() {
			f.walk(ptr.Append(m.Key), path+"/"+m.Key, m.Value, vis, flags, always)
		}
	case jsonv.KindArray:
		if v.Len() == 0 {
			f.emit(path, at(), blobEmptyArr, flags, always)
			return
		}
		av := at()
		f.emit(path, av, blobArray, flags, always)
		for _, el := range v.Elements() {
			switch el.Kind() {
			case jsonv.KindObject:
				for _, m := range el.Members() {
					f.walk(ptr.Append(m.Key), path+"/"+m.Key, m.Value, av, flags|flagCrossed, always)
				}
			case jsonv.KindArray:
				f.nested(path, el, av, flags, always)
			default:
				val, _ := jsonValue(el)
				f.emit(path, av, val, flags, always)
			}
		}
	default:
		val, _ := jsonValue(v)
		f.emit(path, at(), val, flags, always)
	}
}

// nested emits the scalars of an array inside an array: comparisons see
// them, lookups do not cross into its objects.
func (f *flattener) nested(path string, v jsonv.Value, vis string, flags int64, always bool) {
	for _, el := range v.Elements() {
		switch el.Kind() {
		case jsonv.KindObject:
		case jsonv.KindArray:
			f.nested(path, el, vis, flags, always)
		default:
			val, _ := jsonValue(el)
			f.emit(path, vis, val, flags, always)
		}
	}
}

// thingColumns are the fields kept in the things table instead of leaves,
// as expressions without affinity (so "5" never equals the revision 5).
var thingColumns = map[string]string{"_revision": "+t.revision", "_modified": "+t.modified"}

// policyFields are the top-level fields whose reading the policy decides;
// thingFields are seen by whoever sees the thing.
var (
	policyFields = []string{"policyId", "definition", "attributes", "features", "_metadata"}
	thingFields  = []string{"_created"}
)

// thingVisKey is the thing-level visibility key of a thing read with
// access.
func thingVisKey(access *enforcer.Readers) string {
	if access == nil {
		return thingSetKey(nil)
	}
	return thingSetKey(access.PartialReaders(enforcer.TypeThing))
}

// flatten returns the rows of d and its thing-level visibility key.
func flatten(d Doc, prefixes []string) ([]row, string) {
	f := &flattener{access: d.Access, ovh: thingOverhead(d.ThingID), prefixes: prefixes, seen: map[string]bool{}}
	f.thingVis = thingVisKey(d.Access)
	f.emit("thingId", f.thingVis, d.ThingID, 0, true)
	f.emit("_namespace", f.thingVis, namespaceOf(d.ThingID), 0, true)
	// _revision and _modified change with every event: they are columns
	// of the thing's row (see thingColumns), not rows of their own.
	for _, k := range thingFields {
		if v, ok := d.Thing.Get(k); ok {
			f.walk(jsonv.Pointer{k}, k, v, f.thingVis, 0, true)
		}
	}
	for _, k := range policyFields {
		if v, ok := d.Thing.Get(k); ok {
			f.walk(jsonv.Pointer{k}, k, v, "", 0, k == "policyId")
		}
	}
	return f.rows, f.thingVis
}

// diffRows returns the rows of prev that next does not have (gone) and the
// rows of next that prev does not have (added), for two states of one
// thing under one access. Parts written alike in both are skipped without
// being flattened, so changing one property costs that property's rows,
// not the thing's. The result is what comparing flatten(prev) with
// flatten(next) gives.
func diffRows(prev, next Doc, prefixes []string) (gone, added []row) {
	ovh := thingOverhead(next.ThingID)
	df := &differ{
		a: &flattener{access: next.Access, ovh: ovh, prefixes: prefixes},
		b: &flattener{access: next.Access, ovh: ovh, prefixes: prefixes},
	}
	thingVis := thingVisKey(next.Access)
	top := func(k, vis string, always bool) {
		a, aok := prev.Thing.Get(k)
		b, bok := next.Thing.Get(k)
		if aok && bok && a.Identical(b) {
			return
		}
		df.diff(jsonv.Pointer{k}, k, a, aok, b, bok, vis, always)
	}
	for _, k := range thingFields {
		top(k, thingVis, true)
	}
	for _, k := range policyFields {
		top(k, "", k == "policyId")
	}
	return df.gone, df.added
}

// differ collects the rows diffRows returns; a and b flatten the parts of
// the two states that differ.
type differ struct {
	a, b        *flattener
	gone, added []row
}

// diff compares a part present in prev (aok) and/or next (bok) that is not
// written alike in both. Objects outside arrays are compared member by
// member (each member's rows are its own: its path is unique); anything
// else is flattened on both sides and compared row by row.
func (df *differ) diff(ptr jsonv.Pointer, path string, a jsonv.Value, aok bool, b jsonv.Value, bok bool, vis string, always bool) {
	if aok && bok && vis == "" && a.Kind() == jsonv.KindObject && b.Kind() == jsonv.KindObject && a.Len() > 0 && b.Len() > 0 {
		am, bm := a.Members(), b.Members()
		var inB map[string]int // member positions of b, when its order differs
		find := func(i int, key string) (jsonv.Value, bool) {
			if i < len(bm) && bm[i].Key == key {
				return bm[i].Value, true
			}
			if inB == nil {
				inB = make(map[string]int, len(bm))
				for j, m := range bm {
					inB[m.Key] = j
				}
			}
			j, ok := inB[key]
			if !ok {
				return jsonv.Value{}, false
			}
			return bm[j].Value, true
		}
		var inA map[string]bool // keys of a, when the orders differ
		for i, m := range am {
			x, ok := find(i, m.Key)
			if ok && m.Value.Identical(x) {
				continue
			}
			df.diff(ptr.Append(m.Key), path+"/"+m.Key, m.Value, true, x, ok, vis, always)
		}
		for i, m := range bm {
			if i < len(am) && am[i].Key == m.Key {
				continue
			}
			if inA == nil {
				inA = make(map[string]bool, len(am))
				for _, x := range am {
					inA[x.Key] = true
				}
			}
			if !inA[m.Key] {
				df.diff(ptr.Append(m.Key), path+"/"+m.Key, jsonv.Value{}, false, m.Value, true, vis, always)
			}
		}
		return
	}
	df.a.rows, df.a.seen = df.a.rows[:0], map[string]bool{}
	df.b.rows, df.b.seen = df.b.rows[:0], map[string]bool{}
	if aok {
		df.a.walk(ptr, path, a, vis, 0, always)
	}
	if bok {
		df.b.walk(ptr, path, b, vis, 0, always)
	}
	for _, r := range df.a.rows {
		if !df.b.seen[r.key] {
			df.gone = append(df.gone, r)
		}
	}
	for _, r := range df.b.rows {
		if !df.a.seen[r.key] {
			df.added = append(df.added, r)
		}
	}
}

func namespaceOf(thingID string) string {
	ns, _, _ := strings.Cut(thingID, ":")
	return ns
}
