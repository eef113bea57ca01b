package jsonv

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONEscaping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "abc", `"abc"`},
		{"quote", `a"b`, `"a\"b"`},
		{"backslash", `a\b`, `"a\\b"`},
		{"slash not escaped", "a/b", `"a/b"`},
		{"shorthand controls", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"other controls upper hex", "\x00\x01\x1f", `"\u0000\u0001\u001F"`},
		{"DEL kept", "\x7f", "\"\x7f\""},
		{"html kept", "<a>&", `"<a>&"`},
		{"line separator kept", "\u2028\u2029", "\"\u2028\u2029\""},
		{"non-ascii kept", "°C 日本 😀", `"°C 日本 😀"`},
		{"invalid utf-8 replaced", "a\xffb", "\"a\uFFFDb\""},
		{"truncated rune replaced per byte", "\xe2\x82", "\"\uFFFD\uFFFD\""},
		{"escape after invalid", "\xff\"", "\"\uFFFD\\\"\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(String(tt.in).AppendJSON(nil)); got != tt.want {
				t.Errorf("String(%q): got %s, want %s", tt.in, got, tt.want)
			}
			obj := Object(Member{Key: tt.in, Value: Null()})
			if got, want := string(obj.AppendJSON(nil)), "{"+tt.want+":null}"; got != want {
				t.Errorf("key %q: got %s, want %s", tt.in, got, want)
			}
			if !json.Valid(String(tt.in).AppendJSON(nil)) {
				t.Errorf("output for %q is not valid JSON", tt.in)
			}
		})
	}
}

func TestAppendJSONAppends(t *testing.T) {
	t.Parallel()
	v := MustParse(`{"a":[1,"x",true,null,{}]}`)
	got := string(v.AppendJSON([]byte("prefix:")))
	if want := `prefix:{"a":[1,"x",true,null,{}]}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestMarshalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    Value
		want string
	}{
		{"zero value", Value{}, "null"},
		{"object", Object(Member{"n", Float(0.5)}), `{"n":0.5}`},
		{"parsed literal kept", MustParse(`[1.0,2E3]`), `[1.0,2E3]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
