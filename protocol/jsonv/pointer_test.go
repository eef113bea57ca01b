package jsonv

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

func TestParsePointer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Pointer
	}{
		{"empty is root", "", nil},
		{"slash is root", "/", nil},
		{"one level", "/a", Pointer{"a"}},
		{"leading slash optional", "a/b", Pointer{"a", "b"}},
		{"trailing slash ignored", "/a/b/", Pointer{"a", "b"}},
		{"both slashes missing", "a", Pointer{"a"}},
		{"tilde zero decoded", "/a~0b", Pointer{"a~b"}},
		{"tilde one not decoded", "/a~1b", Pointer{"a~1b"}},
		{"tilde zero then one", "/~01", Pointer{"~1"}},
		{"lone tilde kept", "/a~", Pointer{"a~"}},
		{"spaces are key text", "/ a /b ", Pointer{" a ", "b "}},
		{"wildcard is a plain segment", "/features/*/properties", Pointer{"features", "*", "properties"}},
		{"unicode", "/température/°C", Pointer{"température", "°C"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePointer(tt.in)
			if err != nil {
				t.Fatalf("ParsePointer(%q): got error %v, want nil", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParsePointer(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsePointerInvalid(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"//", "/a//b", "a//", "//a", "///"} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePointer(in)
			if !errors.Is(err, ErrInvalidPointer) {
				t.Fatalf("ParsePointer(%q): got %q, %v, want ErrInvalidPointer", in, p, err)
			}
			perr := protocol.AsError(err)
			if perr.Status != 400 {
				t.Errorf("Status: got %d, want 400", perr.Status)
			}
			if want := "The JSON pointer <" + in + "> is invalid!"; perr.Message != want {
				t.Errorf("Message: got %q, want %q", perr.Message, want)
			}
			if perr.Description != descConsecutiveSlashes {
				t.Errorf("Description: got %q, want %q", perr.Description, descConsecutiveSlashes)
			}
		})
	}
}

func TestPointerString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    Pointer
		want string
	}{
		{"nil root", nil, "/"},
		{"empty root", Pointer{}, "/"},
		{"path", Pointer{"a", "b"}, "/a/b"},
		{"tilde escaped", Pointer{"a~b", "~1"}, "/a~0b/~01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.p.String()
			if got != tt.want {
				t.Errorf("String: got %q, want %q", got, tt.want)
			}
			back, err := ParsePointer(got)
			if err != nil || !back.Equal(tt.p) {
				t.Errorf("ParsePointer(%q): got %q, %v, want %q", got, back, err, tt.p)
			}
		})
	}
}

func TestPointerMethods(t *testing.T) {
	t.Parallel()
	p := Pointer{"a", "b", "c"}
	t.Run("IsRoot", func(t *testing.T) {
		t.Parallel()
		if !Pointer(nil).IsRoot() || p.IsRoot() {
			t.Errorf("IsRoot: got nil=%v p=%v, want true, false", Pointer(nil).IsRoot(), p.IsRoot())
		}
	})
	t.Run("Append does not alias", func(t *testing.T) {
		t.Parallel()
		base := make(Pointer, 1, 10)
		base[0] = "x"
		a := base.Append("y")
		b := base.Append("z")
		if !a.Equal(Pointer{"x", "y"}) || !b.Equal(Pointer{"x", "z"}) {
			t.Errorf("Append: got %q and %q, want [x y] and [x z]", a, b)
		}
		if got := Pointer(nil).Append(); got == nil || len(got) != 0 {
			t.Errorf("nil.Append(): got %#v, want empty non-nil", got)
		}
	})
	t.Run("HasPrefix", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			q    Pointer
			want bool
		}{
			{nil, true}, {Pointer{"a"}, true}, {Pointer{"a", "b", "c"}, true},
			{Pointer{"a", "c"}, false}, {Pointer{"a", "b", "c", "d"}, false}, {Pointer{"b"}, false},
		}
		for _, tt := range tests {
			if got := p.HasPrefix(tt.q); got != tt.want {
				t.Errorf("%v.HasPrefix(%v): got %v, want %v", p, tt.q, got, tt.want)
			}
		}
	})
	t.Run("Parent and Last", func(t *testing.T) {
		t.Parallel()
		if got := p.Parent(); !got.Equal(Pointer{"a", "b"}) {
			t.Errorf("Parent: got %q, want [a b]", got)
		}
		if got := Pointer(nil).Parent(); !got.IsRoot() {
			t.Errorf("root Parent: got %q, want root", got)
		}
		if got := p.Last(); got != "c" {
			t.Errorf("Last: got %q, want c", got)
		}
		if got := Pointer(nil).Last(); got != "" {
			t.Errorf("root Last: got %q, want empty", got)
		}
		parent := p.Parent()
		_ = append(parent, "x")
		if p[2] != "c" {
			t.Errorf("append to Parent() overwrote the child: got %q, want c", p[2])
		}
	})
}

const sample = `{"thingId":"ns:t","attributes":{"loc":{"lat":1,"lon":2},"tags":["a"],"n":5},"features":{}}`

func TestAt(t *testing.T) {
	t.Parallel()
	v := MustParse(sample)
	tests := []struct {
		name string
		p    string
		want string // "" = absent
	}{
		{"root", "/", sample},
		{"top level", "/thingId", `"ns:t"`},
		{"nested", "/attributes/loc/lat", "1"},
		{"object", "/attributes/loc", `{"lat":1,"lon":2}`},
		{"empty object", "/features", "{}"},
		{"missing", "/policyId", ""},
		{"missing nested", "/attributes/loc/alt", ""},
		{"through a number", "/attributes/n/x", ""},
		{"arrays are not indexed", "/attributes/tags/0", ""},
		{"through a string", "/thingId/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := v.At(MustParsePointer(tt.p))
			if tt.want == "" {
				if ok {
					t.Errorf("At(%s): got %s, want absent", tt.p, got)
				}
				return
			}
			if !ok || got.String() != tt.want {
				t.Errorf("At(%s): got %s, %v, want %s", tt.p, got, ok, tt.want)
			}
		})
	}
}

func TestSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		p      string
		x      string
		want   string
	}{
		{"replace keeps position", `{"a":1,"b":2,"c":3}`, "/b", "9", `{"a":1,"b":9,"c":3}`},
		{"new key goes last", `{"b":1,"a":2}`, "/c", "3", `{"b":1,"a":2,"c":3}`},
		{"nested replace", `{"a":{"x":1,"y":2},"b":0}`, "/a/x", `"v"`, `{"a":{"x":"v","y":2},"b":0}`},
		{"missing intermediates created", `{"a":1}`, "/b/c/d", "true", `{"a":1,"b":{"c":{"d":true}}}`},
		{"non-object intermediate replaced", `{"a":5}`, "/a/b", "1", `{"a":{"b":1}}`},
		{"array intermediate replaced", `{"a":[1,2]}`, "/a/b", "1", `{"a":{"b":1}}`},
		{"null intermediate replaced", `{"a":null}`, "/a/b", "1", `{"a":{"b":1}}`},
		{"root replaced", `{"a":1}`, "/", `[1]`, `[1]`},
		{"non-object target becomes object", `"text"`, "/a", "1", `{"a":1}`},
		{"set object value", `{}`, "/a", `{"b":[]}`, `{"a":{"b":[]}}`},
		{"set null", `{"a":1}`, "/a", "null", `{"a":null}`},
		{"tilde key", `{}`, "/a~0b", "1", `{"a~b":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := MustParse(tt.target)
			got := target.Set(MustParsePointer(tt.p), MustParse(tt.x))
			if got.String() != tt.want {
				t.Errorf("Set(%s, %s): got %s, want %s", tt.p, tt.x, got, tt.want)
			}
			if target.String() != tt.target {
				t.Errorf("target changed: got %s, want %s", target, tt.target)
			}
		})
	}
}

// Set copies the objects along the path and shares everything else.
func TestSetSharesUnchangedSubtrees(t *testing.T) {
	t.Parallel()
	v := MustParse(`{"attributes":{"big":{"x":[1,2,3]}},"features":{"f":{"properties":{"v":1}}}}`)
	w := v.Set(MustParsePointer("/features/f/properties/v"), Int(2))
	va, _ := v.Get("attributes")
	wa, _ := w.Get("attributes")
	if va.p != wa.p {
		t.Error("attributes: got a copy, want the same members shared")
	}
	vf, _ := v.Get("features")
	wf, _ := w.Get("features")
	if vf.p == wf.p {
		t.Error("features: got shared members, want a copy along the path")
	}
	if got, _ := v.At(MustParsePointer("/features/f/properties/v")); got.Literal() != "1" {
		t.Errorf("original after Set: got %s, want 1", got)
	}
}

func TestSetDeepPath(t *testing.T) {
	t.Parallel()
	p := make(Pointer, 300)
	for i := range p {
		p[i] = "k" + itoa(i)
	}
	v := Object().Set(p, String("leaf"))
	got, ok := v.At(p)
	if s, _ := got.Str(); !ok || s != "leaf" {
		t.Fatalf("At(deep): got %s, %v, want \"leaf\", true", got, ok)
	}
	back, err := Parse(v.AppendJSON(nil))
	if err != nil || !back.Equal(v) {
		t.Errorf("round trip of deep value: got %v, want equal value", err)
	}
	w, ok := v.Delete(p)
	if !ok {
		t.Fatal("Delete(deep): got false, want true")
	}
	if parent, _ := w.At(p.Parent()); parent.String() != "{}" {
		t.Errorf("parent after Delete: got %s, want {}", parent)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		p      string
		want   string
		ok     bool
	}{
		{"top level keeps order", `{"a":1,"b":2,"c":3}`, "/b", `{"a":1,"c":3}`, true},
		{"first", `{"a":1,"b":2}`, "/a", `{"b":2}`, true},
		{"last member leaves empty object", `{"a":1}`, "/a", `{}`, true},
		{"nested", `{"a":{"x":1,"y":2}}`, "/a/x", `{"a":{"y":2}}`, true},
		{"nested leaves empty object", `{"a":{"x":1}}`, "/a/x", `{"a":{}}`, true},
		{"missing", `{"a":1}`, "/b", `{"a":1}`, false},
		{"missing nested", `{"a":{"x":1}}`, "/a/y", `{"a":{"x":1}}`, false},
		{"through non-object", `{"a":1}`, "/a/x", `{"a":1}`, false},
		{"root is never deleted", `{"a":1}`, "/", `{"a":1}`, false},
		{"on non-object", `[1]`, "/a", `[1]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := MustParse(tt.target)
			got, ok := target.Delete(MustParsePointer(tt.p))
			if got.String() != tt.want || ok != tt.ok {
				t.Errorf("Delete(%s): got %s, %v, want %s, %v", tt.p, got, ok, tt.want, tt.ok)
			}
			if target.String() != tt.target {
				t.Errorf("target changed: got %s, want %s", target, tt.target)
			}
		})
	}
}

func TestSetManyMembers(t *testing.T) {
	t.Parallel()
	v := Object()
	for i := range 100 {
		v = v.Set(Pointer{"k" + itoa(i)}, Int(int64(i)))
	}
	v = v.Set(Pointer{"k50"}, String("x"))
	if got := v.Members()[50]; got.Key != "k50" || got.Value.String() != `"x"` {
		t.Errorf("member 50: got %s=%s, want k50=\"x\"", got.Key, got.Value)
	}
	if !strings.HasPrefix(v.String(), `{"k0":0,"k1":1,`) {
		t.Errorf("order: got %s, want k0, k1, ... first", v)
	}
}
