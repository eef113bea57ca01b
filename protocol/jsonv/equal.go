package jsonv

import (
	"math"
	"strconv"
	"strings"
)

// Equal reports whether v and w are the same JSON value: objects compare
// regardless of member order, numbers by numeric value (1, 1.0 and 1e0 are
// equal, as are 0 and -0), strings byte by byte.
//
// Numbers follow Ditto: two integers (integer literals, or other literals
// whose value is an integer within int64) compare exactly as int64; any
// other pair compares as float64.
func (v Value) Equal(w Value) bool {
	if v.k != w.k {
		return false
	}
	switch v.k {
	case KindNull:
		return true
	case KindBool:
		return v.n == w.n
	case KindString:
		return v.text() == w.text()
	case KindNumber:
		a, b := v.text(), w.text()
		return a == b || numberOf(a).equal(numberOf(b))
	case KindArray:
		if v.n != w.n {
			return false
		}
		we := w.Elements()
		for i, e := range v.Elements() {
			if !e.Equal(we[i]) {
				return false
			}
		}
		return true
	case KindObject:
		return equalObjects(v, w)
	}
	return false
}

func equalObjects(v, w Value) bool {
	if v.n != w.n {
		return false
	}
	if v.p == w.p {
		return true // same members: shared by Set, or both empty
	}
	vm, wm := v.Members(), w.Members()
	// Parsed twins usually keep their order: try position first.
	same := true
	for i := range vm {
		if vm[i].Key != wm[i].Key {
			same = false
			break
		}
	}
	if same {
		for i := range vm {
			if !vm[i].Value.Equal(wm[i].Value) {
				return false
			}
		}
		return true
	}
	if len(vm) <= linearLimit {
		for _, m := range vm {
			x, ok := w.Get(m.Key)
			if !ok || !m.Value.Equal(x) {
				return false
			}
		}
		return true
	}
	idx := make(map[string]int, len(wm))
	for i, m := range wm {
		idx[m.Key] = i
	}
	for _, m := range vm {
		i, ok := idx[m.Key]
		if !ok || !m.Value.Equal(wm[i].Value) {
			return false
		}
	}
	return true
}

// number is the numeric value of a literal, in the form Equal and Hash use.
type number struct {
	isInt bool // value is an integer within int64; then i holds it
	i     int64
	f     float64
}

func numberOf(lit string) number {
	if !strings.ContainsAny(lit, ".eE") {
		if i, err := strconv.ParseInt(lit, 10, 64); err == nil {
			return number{isInt: true, i: i, f: float64(i)}
		}
	}
	f, _ := strconv.ParseFloat(lit, 64) // valid literal; a range error yields ±Inf
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return number{isInt: true, i: int64(f), f: f}
	}
	return number{f: f}
}

func (a number) equal(b number) bool {
	if a.isInt && b.isInt {
		return a.i == b.i
	}
	if a.isInt != b.isInt {
		return false // an integer never equals a non-integral or out-of-range value
	}
	return a.f == b.f
}

// Hash returns a 64-bit hash of v consistent with Equal: equal values hash
// equally. It has no random seed, so every process computes the same
// hash for the same value and it can back "hash:..." ETags; it is not Java's
// hashCode, so the ETags differ from Ditto's. Changing the function changes
// every such ETag.
func (v Value) Hash() uint64 {
	switch v.k {
	case KindNull:
		return mix(0x6e756c6c)
	case KindBool:
		return mix(0x626f6f6c ^ uint64(v.n)<<32)
	case KindString:
		return mix(fnv(fnvOffset^uint64(KindString), v.text()))
	case KindNumber:
		n := numberOf(v.text())
		if n.isInt {
			return mix(uint64(n.i) ^ 0x696e74<<40)
		}
		return mix(math.Float64bits(n.f) ^ 0x666c74)
	case KindArray:
		h := uint64(fnvOffset) ^ uint64(KindArray)
		for _, e := range v.Elements() {
			h = mix(h*fnvPrime ^ e.Hash())
		}
		return mix(h ^ uint64(v.n))
	case KindObject:
		// Sum member hashes so that member order does not matter.
		var sum uint64
		for _, m := range v.Members() {
			k := fnv(fnvOffset, m.Key)
			sum += mix(k ^ m.Value.Hash()*fnvPrime)
		}
		return mix(sum ^ uint64(KindObject)<<56 ^ uint64(v.n))
	}
	return 0
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix is the splitmix64 finaliser: it spreads FNV's weak high bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Identical reports whether v and w are written alike: the same kinds, the
// same string bytes and number literals, arrays element by element and
// objects member by member in the same order. Unlike Equal it never equates
// two spellings of a number or two member orders, so whatever is computed
// from a value's text is the same for both. Values that share their
// elements or members (one derived from the other with Set) compare in
// constant time.
func (v Value) Identical(w Value) bool {
	if v.k != w.k || v.n != w.n {
		return false
	}
	switch v.k {
	case KindString, KindNumber:
		return v.p == w.p || v.text() == w.text()
	case KindArray:
		if v.p == w.p {
			return true
		}
		we := w.Elements()
		for i, e := range v.Elements() {
			if !e.Identical(we[i]) {
				return false
			}
		}
		return true
	case KindObject:
		if v.p == w.p {
			return true
		}
		wm := w.Members()
		for i, m := range v.Members() {
			if m.Key != wm[i].Key || !m.Value.Identical(wm[i].Value) {
				return false
			}
		}
		return true
	}
	return true // null, or booleans with the same n
}
