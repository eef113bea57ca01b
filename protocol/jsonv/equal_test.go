package jsonv

import (
	"strings"
	"testing"
)

func TestEqual(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"nulls", "null", "null", true},
		{"bools", "true", "true", true},
		{"different bools", "true", "false", false},
		{"kinds differ", "1", `"1"`, false},
		{"null vs false", "null", "false", false},
		{"strings", `"a"`, `"a"`, true},
		{"escaped string", `"\u0041"`, `"A"`, true},
		{"different strings", `"a"`, `"b"`, false},
		{"int vs float", "1", "1.0", true},
		{"int vs exponent", "100", "1e2", true},
		{"fraction vs exponent", "0.5", "5e-1", true},
		{"negative zero", "0", "-0", true},
		{"negative zero float", "0", "-0.0", true},
		{"different numbers", "1", "1.5", false},
		{"float vs float", "2.50", "2.5", true},
		{"int64 exact", "9007199254740993", "9007199254740992", false},
		{"int vs rounded float", "9007199254740993", "9007199254740992.0", false},
		{"huge floats", "1e400", "2e400", true}, // both +Inf, as in Ditto's double comparison
		{"big non-integral", "1e300", "1e300", true},
		{"objects any order", `{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1.0}`, true},
		{"objects different value", `{"a":1}`, `{"a":2}`, false},
		{"objects different key", `{"a":1}`, `{"b":1}`, false},
		{"objects subset", `{"a":1}`, `{"a":1,"b":2}`, false},
		{"empty objects", `{}`, `{ }`, true},
		{"arrays order matters", `[1,2]`, `[2,1]`, false},
		{"arrays", `[1,{"a":null}]`, `[1.0,{"a":null}]`, true},
		{"arrays length", `[1]`, `[1,1]`, false},
		{"object vs array", `{}`, `[]`, false},
		{"nested any order", `{"x":{"a":1,"b":2}}`, `{"x":{"b":2,"a":1}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := MustParse(tt.a), MustParse(tt.b)
			if got := a.Equal(b); got != tt.want {
				t.Errorf("%s.Equal(%s): got %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got := b.Equal(a); got != tt.want {
				t.Errorf("%s.Equal(%s): got %v, want %v", tt.b, tt.a, got, tt.want)
			}
			if tt.want && a.Hash() != b.Hash() {
				t.Errorf("Hash of equal values: got %x and %x, want the same", a.Hash(), b.Hash())
			}
		})
	}
}

func TestEqualLargeObjects(t *testing.T) {
	t.Parallel()
	// Past linearLimit members a reordered comparison goes through a map.
	var fwd, rev []string
	for i := range 3 * linearLimit {
		fwd = append(fwd, `"k`+itoa(i)+`":`+itoa(i))
	}
	for i := len(fwd) - 1; i >= 0; i-- {
		rev = append(rev, fwd[i])
	}
	a := MustParse("{" + strings.Join(fwd, ",") + "}")
	b := MustParse("{" + strings.Join(rev, ",") + "}")
	if !a.Equal(b) {
		t.Error("reordered large objects: got not equal, want equal")
	}
	if a.Hash() != b.Hash() {
		t.Errorf("Hash: got %x and %x, want equal", a.Hash(), b.Hash())
	}
	rev[0] = `"k` + itoa(3*linearLimit-1) + `":-1`
	c := MustParse("{" + strings.Join(rev, ",") + "}")
	if a.Equal(c) {
		t.Error("large objects with one value changed: got equal, want not equal")
	}
	rev[0] = `"other":` + itoa(3*linearLimit-1)
	d := MustParse("{" + strings.Join(rev, ",") + "}")
	if a.Equal(d) {
		t.Error("large objects with one key changed: got equal, want not equal")
	}
}

func TestHashDistinguishes(t *testing.T) {
	t.Parallel()
	values := []string{
		"null", "true", "false", "0", "1", "1.5", `""`, `"0"`, `"1"`, "[]", "{}",
		"[null]", `[1,2]`, `[2,1]`, `{"a":1}`, `{"a":2}`, `{"b":1}`, `{"a":{"a":1}}`,
		`{"a":1,"b":2}`, `{"a":2,"b":1}`, `[[]]`, `[{}]`, "1e400", "-1e400",
	}
	seen := map[uint64]string{}
	for _, s := range values {
		h := MustParse(s).Hash()
		if prev, ok := seen[h]; ok {
			t.Errorf("Hash(%s) == Hash(%s) = %x, want distinct", s, prev, h)
		}
		seen[h] = s
	}
}

// ETags are built from Hash, so it must not change by accident.
func TestHashStable(t *testing.T) {
	t.Parallel()
	v := MustParse(`{"thingId":"ns:t","attributes":{"n":1.5,"ok":true,"tags":["a",null]}}`)
	const want uint64 = 0x938d3c131480a84b
	if got := v.Hash(); got != want {
		t.Errorf("Hash: got %#x, want %#x", got, want)
	}
}

func TestIdentical(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"nulls", "null", "null", true},
		{"bools", "false", "false", true},
		{"different bools", "true", "false", false},
		{"strings", `"a"`, `"a"`, true},
		{"escaped string", `"\u0041"`, `"A"`, true}, // the same bytes once decoded
		{"int vs float", "1", "1.0", false},
		{"same literal", "2.50", "2.50", true},
		{"kinds differ", "1", `"1"`, false},
		{"objects same order", `{"a":1,"b":[1,2]}`, `{"a":1,"b":[1,2]}`, true},
		{"objects any order", `{"a":1,"b":2}`, `{"b":2,"a":1}`, false},
		{"objects different value", `{"a":{"x":1}}`, `{"a":{"x":2}}`, false},
		{"objects subset", `{"a":1}`, `{"a":1,"b":2}`, false},
		{"empty containers", `{"a":{},"b":[]}`, `{"a":{ },"b":[ ]}`, true},
		{"arrays", `[1,{"a":null}]`, `[1,{"a":null}]`, true},
		{"arrays order", `[1,2]`, `[2,1]`, false},
		{"object vs array", `{}`, `[]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := MustParse(tt.a), MustParse(tt.b)
			if got := a.Identical(b); got != tt.want {
				t.Errorf("%s.Identical(%s): got %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got := b.Identical(a); got != tt.want {
				t.Errorf("%s.Identical(%s): got %v, want %v", tt.b, tt.a, got, tt.want)
			}
			if got := a.Identical(a); !got {
				t.Errorf("%s.Identical(itself): got false", tt.a)
			}
		})
	}
	// A value derived with Set shares the members it did not change.
	v := MustParse(`{"big":{"x":[1,2,3],"y":"z"},"n":1}`)
	w := v.Set(Pointer{"n"}, Int(2))
	bv, _ := v.Get("big")
	bw, _ := w.Get("big")
	if !bv.Identical(bw) || v.Identical(w) {
		t.Errorf("after Set: big identical %v (want true), whole identical %v (want false)", bv.Identical(bw), v.Identical(w))
	}
}
