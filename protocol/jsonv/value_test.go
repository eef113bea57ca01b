package jsonv

import (
	"errors"
	"math"
	"testing"
	"unsafe"
)

func TestValueSize(t *testing.T) {
	t.Parallel()
	// The memory budget for in-memory twins relies on these sizes.
	if got := unsafe.Sizeof(Value{}); got != 16 {
		t.Errorf("Sizeof(Value): got %d, want 16", got)
	}
	if got := unsafe.Sizeof(Member{}); got != 32 {
		t.Errorf("Sizeof(Member): got %d, want 32", got)
	}
}

func TestZeroValueIsNull(t *testing.T) {
	t.Parallel()
	var v Value
	if got := v.Kind(); got != KindNull {
		t.Errorf("Kind: got %v, want %v", got, KindNull)
	}
	if got := v.String(); got != "null" {
		t.Errorf("String: got %s, want null", got)
	}
	if !v.Equal(Null()) {
		t.Error("Value{}.Equal(Null()): got false, want true")
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		k    Kind
		want string
	}{
		{KindNull, "null"}, {KindBool, "boolean"}, {KindNumber, "number"},
		{KindString, "string"}, {KindArray, "array"}, {KindObject, "object"},
		{Kind(42), "Kind(42)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.k.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConstructors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    Value
		kind Kind
		json string
	}{
		{"String", String("a\"b"), KindString, `"a\"b"`},
		{"String empty", String(""), KindString, `""`},
		{"Bool true", Bool(true), KindBool, "true"},
		{"Bool false", Bool(false), KindBool, "false"},
		{"Null", Null(), KindNull, "null"},
		{"Int", Int(-42), KindNumber, "-42"},
		{"Int min", Int(math.MinInt64), KindNumber, "-9223372036854775808"},
		{"Float integral", Float(3), KindNumber, "3"},
		{"Float fraction", Float(21.5), KindNumber, "21.5"},
		{"Float negative zero", Float(math.Copysign(0, -1)), KindNumber, "-0"},
		{"Float large uses exponent", Float(1e21), KindNumber, "1e+21"},
		{"Float below 1e21 is plain", Float(1e20), KindNumber, "100000000000000000000"},
		{"Float tiny uses exponent", Float(1e-7), KindNumber, "1e-7"},
		{"Float small is plain", Float(1e-6), KindNumber, "0.000001"},
		{"Float exponent with two digits", Float(1.5e-10), KindNumber, "1.5e-10"},
		{"Float NaN is null", Float(math.NaN()), KindNull, "null"},
		{"Float +Inf is null", Float(math.Inf(1)), KindNull, "null"},
		{"Float -Inf is null", Float(math.Inf(-1)), KindNull, "null"},
		{"Array", Array(Int(1), String("x")), KindArray, `[1,"x"]`},
		{"Array empty", Array(), KindArray, "[]"},
		{"Object", Object(Member{"b", Int(1)}, Member{"a", Int(2)}), KindObject, `{"b":1,"a":2}`},
		{"Object empty", Object(), KindObject, "{}"},
		{"Object duplicate keys", Object(Member{"a", Int(1)}, Member{"b", Int(2)}, Member{"a", Int(3)}), KindObject, `{"a":3,"b":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.v.Kind(); got != tt.kind {
				t.Errorf("Kind: got %v, want %v", got, tt.kind)
			}
			if got := tt.v.String(); got != tt.json {
				t.Errorf("JSON: got %s, want %s", got, tt.json)
			}
		})
	}
}

func TestNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lit  string
		want bool // accepted
	}{
		{"0", true}, {"-0", true}, {"1.5e3", true}, {"9223372036854775807", true},
		{"1e999", true}, {"", false}, {"01", false}, {"1.", false}, {" 1", false},
		{"1 ", false}, {"+1", false}, {"NaN", false}, {"9223372036854775808", false},
	}
	for _, tt := range tests {
		t.Run(tt.lit, func(t *testing.T) {
			t.Parallel()
			v, err := Number(tt.lit)
			if !tt.want {
				if !errors.Is(err, ErrInvalidJSON) {
					t.Errorf("Number(%q): got %v, %v, want ErrInvalidJSON", tt.lit, v, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Number(%q): got error %v, want nil", tt.lit, err)
			}
			if got := v.Literal(); got != tt.lit {
				t.Errorf("Literal: got %q, want %q", got, tt.lit)
			}
		})
	}
}

func TestAccessors(t *testing.T) {
	t.Parallel()
	obj := MustParse(`{"s":"text","b":true,"n":2.5,"i":"x","a":[1,2],"o":{"k":null}}`)
	t.Run("Str", func(t *testing.T) {
		t.Parallel()
		if s, ok := String("x").Str(); !ok || s != "x" {
			t.Errorf("String(x).Str(): got %q, %v, want x, true", s, ok)
		}
		if s, ok := Int(1).Str(); ok || s != "" {
			t.Errorf("Int(1).Str(): got %q, %v, want \"\", false", s, ok)
		}
	})
	t.Run("Bool", func(t *testing.T) {
		t.Parallel()
		if b, ok := Bool(true).Bool(); !ok || !b {
			t.Errorf("Bool(true).Bool(): got %v, %v, want true, true", b, ok)
		}
		if b, ok := Bool(false).Bool(); !ok || b {
			t.Errorf("Bool(false).Bool(): got %v, %v, want false, true", b, ok)
		}
		if _, ok := Null().Bool(); ok {
			t.Error("Null().Bool(): got ok, want not ok")
		}
	})
	t.Run("Float", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			v    Value
			want float64
			ok   bool
		}{
			{MustParse("2.5"), 2.5, true},
			{MustParse("-0"), 0, true},
			{MustParse("1e400"), math.Inf(1), true},
			{MustParse("-1e400"), math.Inf(-1), true},
			{String("2"), 0, false},
		}
		for _, tt := range tests {
			got, ok := tt.v.Float()
			if got != tt.want || ok != tt.ok {
				t.Errorf("%s.Float(): got %v, %v, want %v, %v", tt.v, got, ok, tt.want, tt.ok)
			}
		}
	})
	t.Run("Int64", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			lit  string
			want int64
			ok   bool
		}{
			{"3", 3, true}, {"3.0", 3, true}, {"3e0", 3, true}, {"-0.0", 0, true},
			{"3.5", 0, false}, {"1e19", 0, false}, {"-9223372036854775808", math.MinInt64, true},
		}
		for _, tt := range tests {
			got, ok := MustParse(tt.lit).Int64()
			if got != tt.want || ok != tt.ok {
				t.Errorf("%s.Int64(): got %v, %v, want %v, %v", tt.lit, got, ok, tt.want, tt.ok)
			}
		}
		if _, ok := String("3").Int64(); ok {
			t.Error(`String("3").Int64(): got ok, want not ok`)
		}
	})
	t.Run("Literal", func(t *testing.T) {
		t.Parallel()
		if got := MustParse("1.50").Literal(); got != "1.50" {
			t.Errorf("Literal: got %q, want 1.50", got)
		}
		if got := String("1").Literal(); got != "" {
			t.Errorf("String.Literal: got %q, want empty", got)
		}
	})
	t.Run("Get", func(t *testing.T) {
		t.Parallel()
		if v, ok := obj.Get("n"); !ok || v.Literal() != "2.5" {
			t.Errorf("Get(n): got %s, %v, want 2.5, true", v, ok)
		}
		if _, ok := obj.Get("missing"); ok {
			t.Error("Get(missing): got ok, want not ok")
		}
		if _, ok := Array(Int(1)).Get("0"); ok {
			t.Error("array Get: got ok, want not ok")
		}
	})
	t.Run("Len", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			v    Value
			want int
		}{
			{obj, 6}, {MustParse("[1,2,3]"), 3}, {String("abc"), 0}, {Null(), 0}, {Object(), 0},
		}
		for _, tt := range tests {
			if got := tt.v.Len(); got != tt.want {
				t.Errorf("%s.Len(): got %d, want %d", tt.v, got, tt.want)
			}
		}
	})
	t.Run("Members and Elements", func(t *testing.T) {
		t.Parallel()
		keys := ""
		for _, m := range obj.Members() {
			keys += m.Key
		}
		if keys != "sbniao" {
			t.Errorf("member order: got %q, want %q", keys, "sbniao")
		}
		if got := String("x").Members(); got != nil {
			t.Errorf("String.Members: got %v, want nil", got)
		}
		if got := obj.Elements(); got != nil {
			t.Errorf("object Elements: got %v, want nil", got)
		}
		if got := Object().Members(); got != nil {
			t.Errorf("empty object Members: got %v, want nil", got)
		}
	})
}

// Appending to a returned slice must copy rather than write into the
// Value's backing array.
func TestSlicesDoNotAlias(t *testing.T) {
	t.Parallel()
	o := MustParse(`{"a":1,"b":2,"c":3}`)
	sub, _ := o.Delete(Pointer{"c"})
	ms := sub.Members()
	if cap(ms) != len(ms) {
		t.Errorf("Members: got cap %d, want len %d", cap(ms), len(ms))
	}
	grown := append(ms, Member{Key: "x", Value: Int(9)})
	grown[0].Value = Int(7)
	if got, want := sub.String(), `{"a":1,"b":2}`; got != want {
		t.Errorf("object after append to Members(): got %s, want %s", got, want)
	}
	a := MustParse(`[1,2,3]`)
	es := append(a.Elements(), Int(9))
	es[0] = Int(7)
	if got, want := a.String(), `[1,2,3]`; got != want {
		t.Errorf("array after append to Elements(): got %s, want %s", got, want)
	}
}

// Constructors copy their arguments, so the caller's slices stay theirs.
func TestConstructorsCopy(t *testing.T) {
	t.Parallel()
	ms := []Member{{"a", Int(1)}}
	o := Object(ms...)
	ms[0].Value = Int(2)
	if got := o.String(); got != `{"a":1}` {
		t.Errorf("Object after caller mutation: got %s, want {\"a\":1}", got)
	}
	es := []Value{Int(1)}
	a := Array(es...)
	es[0] = Int(2)
	if got := a.String(); got != `[1]` {
		t.Errorf("Array after caller mutation: got %s, want [1]", got)
	}
}

func TestObjectManyDuplicates(t *testing.T) {
	t.Parallel()
	var ms []Member
	for i := range 3 * linearLimit {
		ms = append(ms, Member{Key: "k" + itoa(i%(2*linearLimit)), Value: Int(int64(i))})
	}
	o := Object(ms...)
	if got, want := o.Len(), 2*linearLimit; got != want {
		t.Fatalf("Len: got %d, want %d", got, want)
	}
	if v, _ := o.Get("k0"); v.Literal() != itoa(2*linearLimit) {
		t.Errorf("k0: got %s, want %d", v, 2*linearLimit)
	}
	if got := o.Members()[0].Key; got != "k0" {
		t.Errorf("first key: got %q, want k0", got)
	}
}

func TestDepth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{`1`, 0},
		{`"s"`, 0},
		{`{}`, 1},
		{`[]`, 1},
		{`[1,2]`, 1},
		{`{"a":[]}`, 2},
		{`{"a":1,"b":{"c":[{"d":null}]},"e":{}}`, 4},
		{`[[1],[[2]],3]`, 3},
	}
	for _, tt := range tests {
		if got := MustParse(tt.in).Depth(); got != tt.want {
			t.Errorf("Depth(%s): got %d, want %d", tt.in, got, tt.want)
		}
	}
	// A write through a path nests the value below it.
	p := make(Pointer, 600)
	for i := range p {
		p[i] = "d"
	}
	if got := Object().Set(p, Int(1)).Depth(); got != 600 {
		t.Errorf("Depth after Set at a 600 segment path: got %d, want 600", got)
	}
}
