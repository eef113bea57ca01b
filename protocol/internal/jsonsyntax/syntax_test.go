package jsonsyntax

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var validCases = []string{
	`{}`, `[]`, ` { } `, `0`, `-0`, `1.5e+10`, `-12.0E-3`, `"a"`, `"\u00e9\n\"\\\/"`, `true`, `false`, `null`,
	`{"a":[1,{"b":null},"c"],"d":{"e":{}}}`, "\t[ 1 , 2 ]\r\n", `"` + "\xff\xfe" + `"`,
	`01`, `1.`, `.5`, `1e`, `-`, `+1`, `"a`, `"\x"`, `"\u12g4"`, "\"\x01\"", `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`,
	`[1 2]`, `{"a":1 "b":2}`, `{1:2}`, `tru`, `nul`, `truex`, `[`, `]`, `{`, `}`, `[}`, `{]`, ``, ` `, `1 2`, `{}{}`,
	`{"a":1}}`, `[[]]]`, `"\u00"`, `NaN`, `[-]`, `{"a":-}`, `{"a" : [ true , false ] }`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40),
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range validCases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%.40q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range validCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", s, got, want)
		}
	})
}

func BenchmarkValid(b *testing.B) {
	data := []byte(`{"topic":"my.ns/t1/things/twin/commands/modify","headers":{"correlation-id":"f1184078-c5f5-4d3e-b26f-f56fa7303e41","timeout":"60s"},"path":"/features/temperature/properties/value","value":{"value":21.5,"unit":"C","ok":true,"n":null,"list":[1,2,3]}}`)
	b.Run("jsonv", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if !json.Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
}

// AppendString writes valid JSON that reads back as s, each invalid UTF-8
// byte as U+FFFD, and escapes only what Ditto's JsonCharEscaper escapes.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c", "\b\f\n\r\t\x00\x1f\x7f", "<&>/\u2028é", "a\xffb\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, out, err)
		}
		var want strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			want.WriteRune(r) // RuneError for an invalid byte
			i += size
		}
		if back != want.String() {
			t.Fatalf("AppendString(%q) = %s reads back as %q", s, out, back)
		}
		for _, r := range "<&>/\u2028\x7f" {
			if strings.ContainsRune(s, r) && !strings.ContainsRune(string(out), r) {
				t.Fatalf("AppendString(%q) = %s escapes %q, which Ditto does not", s, out, r)
			}
		}
	})
}
