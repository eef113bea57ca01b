package jsonv

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

func TestParseValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // AppendJSON of the result
		kind Kind
	}{
		{"null", "null", "null", KindNull},
		{"true", "true", "true", KindBool},
		{"false", "false", "false", KindBool},
		{"surrounding whitespace", " \t\r\n 1 \n", "1", KindNumber},
		{"zero", "0", "0", KindNumber},
		{"negative zero kept", "-0", "-0", KindNumber},
		{"negative zero float", "-0.0", "-0.0", KindNumber},
		{"fraction", "3.14", "3.14", KindNumber},
		{"exponent", "1e10", "1e10", KindNumber},
		{"upper exponent with sign", "1E+2", "1E+2", KindNumber},
		{"negative exponent", "2.5e-3", "2.5e-3", KindNumber},
		{"trailing zeros kept", "1.500", "1.500", KindNumber},
		{"max int64", "9223372036854775807", "9223372036854775807", KindNumber},
		{"min int64", "-9223372036854775808", "-9223372036854775808", KindNumber},
		{"big fraction kept verbatim", "12345678901234567890.5", "12345678901234567890.5", KindNumber},
		{"beyond float64 range kept", "1e400", "1e400", KindNumber},
		{"empty string", `""`, `""`, KindString},
		{"plain string", `"hello"`, `"hello"`, KindString},
		{"escaped quote and backslash", `"a\"b\\c"`, `"a\"b\\c"`, KindString},
		{"escaped slash is decoded", `"a\/b"`, `"a/b"`, KindString},
		{"short escapes", `"\b\f\n\r\t"`, `"\b\f\n\r\t"`, KindString},
		{"unicode escape", `"\u00e9"`, `"é"`, KindString},
		{"upper hex escape", `"\u00C9"`, `"É"`, KindString},
		{"control char escape", `"\u0001"`, `"\u0001"`, KindString},
		{"surrogate pair", `"\ud83d\ude00"`, `"😀"`, KindString},
		{"lone high surrogate", `"\ud83dx"`, "\"\uFFFDx\"", KindString},
		{"lone low surrogate", `"\ude00"`, "\"\uFFFD\"", KindString},
		{"high surrogate then non-surrogate escape", `"\ud83d\u0041"`, "\"\uFFFDA\"", KindString},
		{"two high surrogates", `"\ud83d\ud83d\ude00"`, "\"\uFFFD😀\"", KindString},
		{"raw non-ascii", `"°C ü 日本"`, `"°C ü 日本"`, KindString},
		{"raw U+2028 kept", "\"\u2028\"", "\"\u2028\"", KindString},
		{"raw DEL kept", "\"\x7f\"", "\"\x7f\"", KindString},
		{"invalid utf-8 replaced", "\"a\xffb\"", "\"a\uFFFDb\"", KindString},
		{"truncated utf-8 replaced", "\"a\xe2\x82\"", "\"a\uFFFD\uFFFD\"", KindString},
		{"invalid utf-8 after escape", "\"\\n\xff\"", "\"\\n\uFFFD\"", KindString},
		{"multibyte after escape", `"\n é😀"`, `"\n é😀"`, KindString},
		{"escaped quote needs escaping on output", `"\u0022"`, `"\""`, KindString},
		{"empty array", "[]", "[]", KindArray},
		{"empty array with space", "[ \n ]", "[]", KindArray},
		{"array", `[1, "a", null, true, [], {}]`, `[1,"a",null,true,[],{}]`, KindArray},
		{"empty object", "{}", "{}", KindObject},
		{"empty object with space", "{ }", "{}", KindObject},
		{"object keeps order", `{"b":1,"a":2,"c":3}`, `{"b":1,"a":2,"c":3}`, KindObject},
		{"duplicate key: last value, first position", `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`, KindObject},
		{"escaped key", `{"a\"b":1}`, `{"a\"b":1}`, KindObject},
		{"keys differing only by escape", `{"\u0061":1,"a":2}`, `{"a":2}`, KindObject},
		{"nested", `{"a":{"b":[{"c":null}]}}`, `{"a":{"b":[{"c":null}]}}`, KindObject},
		{"whitespace everywhere", "{ \"a\" : [ 1 , 2 ] , \"b\" : { } }", `{"a":[1,2],"b":{}}`, KindObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse(%q): got error %v, want nil", tt.in, err)
			}
			if got := v.Kind(); got != tt.kind {
				t.Errorf("Kind: got %v, want %v", got, tt.kind)
			}
			if got := string(v.AppendJSON(nil)); got != tt.want {
				t.Errorf("AppendJSON: got %s, want %s", got, tt.want)
			}
			if !json.Valid(v.AppendJSON(nil)) {
				t.Errorf("AppendJSON output %q is not valid JSON", v.AppendJSON(nil))
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"only whitespace", " \n"},
		{"leading zero", "01"},
		{"negative leading zero", "-01"},
		{"dot without digits", "1."},
		{"dot first", ".5"},
		{"plus sign", "+1"},
		{"exponent without digits", "1e"},
		{"exponent sign only", "1e+"},
		{"lone minus", "-"},
		{"hex number", "0x10"},
		{"NaN", "NaN"},
		{"Infinity", "Infinity"},
		{"integer above int64", "9223372036854775808"},
		{"integer below int64", "-9223372036854775809"},
		{"huge integer", "123456789012345678901234567890"},
		{"huge integer in object", `{"a":123456789012345678901234567890}`},
		{"truncated true", "tru"},
		{"misspelled null", "nul"},
		{"capitalised literal", "True"},
		{"single quotes", "'a'"},
		{"unterminated string", `"abc`},
		{"unterminated after escape", `"abc\`},
		{"raw tab in string", "\"a\tb\""},
		{"raw newline in string", "\"a\nb\""},
		{"raw NUL in string", "\"a\x00b\""},
		{"invalid escape", `"\x41"`},
		{"control char after escape", "\"\\n\x01\""},
		{"unterminated after shorthand escape", `"\n`},
		{"invalid escape after escape", `"\n\x"`},
		{"short unicode escape", `"\u12"`},
		{"non-hex unicode escape", `"\u12g4"`},
		{"trailing comma in array", "[1,]"},
		{"leading comma in array", "[,1]"},
		{"missing comma in array", "[1 2]"},
		{"unclosed array", "[1"},
		{"unclosed object", `{"a":1`},
		{"trailing comma in object", `{"a":1,}`},
		{"unquoted key", "{a:1}"},
		{"number key", "{1:1}"},
		{"missing colon", `{"a" 1}`},
		{"missing value", `{"a":}`},
		{"empty key", `{"":1}`},
		{"nested empty key", `{"a":{"":1}}`},
		{"two values", "1 2"},
		{"trailing garbage", "{} x"},
		{"comment", "// c\n1"},
		{"block comment", "/* c */ 1"},
		{"byte order mark", "\xef\xbb\xbf{}"},
		{"closing bracket only", "]"},
		{"mismatched brackets", "[}"},
		{"too deep arrays", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)},
		{"too deep objects", strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%q): got %s, want error", tt.in, v)
			}
			if !errors.Is(err, ErrInvalidJSON) {
				t.Errorf("errors.Is(%v, ErrInvalidJSON): got false, want true", err)
			}
			var perr *protocol.Error
			if !errors.As(err, &perr) {
				t.Fatalf("errors.As(%T, *protocol.Error): got false, want true", err)
			}
			if perr.Status != 400 {
				t.Errorf("Status: got %d, want 400", perr.Status)
			}
			if perr.Description != descInvalidJSON {
				t.Errorf("Description: got %q, want %q", perr.Description, descInvalidJSON)
			}
		})
	}
}

func TestParseDepthLimit(t *testing.T) {
	t.Parallel()
	deepest := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	v, err := Parse([]byte(deepest))
	if err != nil {
		t.Fatalf("Parse(%d nested arrays): got error %v, want nil", MaxDepth, err)
	}
	depth := 0
	for v.Kind() == KindArray && v.Len() > 0 {
		v = v.Elements()[0]
		depth++
	}
	if depth != MaxDepth-1 {
		t.Errorf("depth below the root: got %d, want %d", depth, MaxDepth-1)
	}
}

// ParseStored reads what Parse reads, and deeper documents up to
// MaxStoredDepth, which Parse refuses.
func TestParseStoredDepthLimit(t *testing.T) {
	t.Parallel()
	nested := func(n int) []byte {
		return []byte(strings.Repeat(`{"d":`, n) + "1" + strings.Repeat("}", n))
	}
	tests := []struct {
		name        string
		depth       int
		parse, stor bool // accepted by Parse, by ParseStored
	}{
		{"at MaxDepth", MaxDepth, true, true},
		{"beyond MaxDepth", MaxDepth + 1, false, true},
		{"a 600 segment path", 600, false, true},
		{"at MaxStoredDepth", MaxStoredDepth, false, true},
		{"beyond MaxStoredDepth", MaxStoredDepth + 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := nested(tt.depth)
			if _, err := Parse(data); (err == nil) != tt.parse {
				t.Errorf("Parse: got error %v, want accepted=%v", err, tt.parse)
			}
			if _, err := ParseStoredString(string(data)); (err == nil) != tt.stor {
				t.Errorf("ParseStoredString: got error %v, want accepted=%v", err, tt.stor)
			}
			v, err := ParseStored(data)
			if (err == nil) != tt.stor {
				t.Fatalf("ParseStored: got error %v, want accepted=%v", err, tt.stor)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidJSON) {
					t.Errorf("ParseStored: got %v, want ErrInvalidJSON", err)
				}
				return
			}
			if got := v.Depth(); got != tt.depth {
				t.Errorf("Depth: got %d, want %d", got, tt.depth)
			}
			if out := v.AppendJSON(nil); string(out) != string(data) {
				t.Errorf("AppendJSON does not give the input back")
			}
		})
	}
}

// The message is part of the wire error, so its wording is pinned here.
func TestParseErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"position on second line", "{\n  \"a\": x}", "Failed to parse JSON: unexpected character 'x' where a value was expected at line 2, column 8!"},
		{"end of input", `{"a":`, "Failed to parse JSON: unexpected end of input where a value was expected at line 1, column 6!"},
		{"empty key", `{"":1}`, "Failed to parse JSON: empty object key at line 1, column 2!"},
		{"integer range", `[99999999999999999999]`, "Failed to parse JSON: integer 99999999999999999999 out of 64-bit range at line 1, column 2!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.in))
			perr := protocol.AsError(err)
			if perr == nil {
				t.Fatalf("Parse(%q): got error %v, want *protocol.Error", tt.in, err)
			}
			if perr.Message != tt.want {
				t.Errorf("Message: got %q, want %q", perr.Message, tt.want)
			}
		})
	}
}

func TestParseDuplicateKeysManyMembers(t *testing.T) {
	t.Parallel()
	// Past linearLimit members duplicates are found through a map.
	var b strings.Builder
	b.WriteString("{")
	for i := range 2 * linearLimit {
		b.WriteString(`"k` + itoa(i) + `":` + itoa(i) + ",")
	}
	b.WriteString(`"k0":"last","k40":"last"}`)
	v := MustParse(b.String())
	if got, want := v.Len(), 2*linearLimit; got != want {
		t.Fatalf("Len: got %d, want %d", got, want)
	}
	for _, i := range []int{0, 40} {
		m := v.Members()[i]
		if m.Key != "k"+itoa(i) {
			t.Errorf("member %d key: got %q, want %q", i, m.Key, "k"+itoa(i))
		}
		if s, _ := m.Value.Str(); s != "last" {
			t.Errorf("member %d value: got %s, want \"last\"", i, m.Value)
		}
	}
}

func itoa(i int) string { return Int(int64(i)).Literal() }

func TestParseCopiesInput(t *testing.T) {
	t.Parallel()
	data := []byte(`{"key":"value","n":12}`)
	v, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'x'
	}
	if got, want := v.String(), `{"key":"value","n":12}`; got != want {
		t.Errorf("after overwriting the input: got %s, want %s", got, want)
	}
}

func TestJSONInterfaces(t *testing.T) {
	t.Parallel()
	type envelope struct {
		Path  string `json:"path"`
		Value Value  `json:"value"`
		Extra Value  `json:"extra"`
	}
	in := `{"path":"/","value":{"b":[1,2.50],"a":"x"},"extra":null}`
	var e envelope
	if err := json.Unmarshal([]byte(in), &e); err != nil {
		t.Fatalf("Unmarshal: got error %v, want nil", err)
	}
	if got, want := e.Value.String(), `{"b":[1,2.50],"a":"x"}`; got != want {
		t.Errorf("Value: got %s, want %s", got, want)
	}
	if got := e.Extra.Kind(); got != KindNull {
		t.Errorf("Extra kind: got %v, want null", got)
	}
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("Marshal: got error %v, want nil", err)
	}
	if string(out) != in {
		t.Errorf("Marshal: got %s, want %s", out, in)
	}
	var v Value
	err = json.Unmarshal([]byte(`{"x":1e}`), &v)
	if !errors.Is(err, ErrInvalidJSON) {
		// encoding/json validates before calling UnmarshalJSON, so its own
		// syntax error comes first; UnmarshalJSON itself is checked below.
		var se *json.SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Unmarshal invalid: got %v, want a syntax error", err)
		}
	}
	if err := v.UnmarshalJSON([]byte(`{"":1}`)); !errors.Is(err, ErrInvalidJSON) {
		t.Errorf("UnmarshalJSON(empty key): got %v, want ErrInvalidJSON", err)
	}
}

func TestParseErrorMessageClipsInput(t *testing.T) {
	t.Parallel()
	digits := strings.Repeat("9", 1000)
	_, err := Parse([]byte(digits))
	perr := protocol.AsError(err)
	if perr == nil {
		t.Fatalf("got %v, want *protocol.Error", err)
	}
	want := "Failed to parse JSON: integer " + digits[:40] + "... out of 64-bit range at line 1, column 1!"
	if perr.Message != want {
		t.Errorf("Message: got %q, want %q", perr.Message, want)
	}
}

// Scratch stacks that grew past maxPooledScratch are dropped, not pooled;
// parsing must work the same before and after.
func TestParseLargeContainers(t *testing.T) {
	t.Parallel()
	n := 3 * maxPooledScratch
	var arr, obj strings.Builder
	arr.WriteString("[")
	obj.WriteString("{")
	for i := range n {
		if i > 0 {
			arr.WriteString(",")
			obj.WriteString(",")
		}
		arr.WriteString(itoa(i))
		obj.WriteString(`"k` + itoa(i) + `":` + itoa(i))
	}
	arr.WriteString("]")
	obj.WriteString("}")
	for range 2 {
		a := MustParse(arr.String())
		if a.Len() != n || a.Elements()[n-1].Literal() != itoa(n-1) {
			t.Fatalf("array: got len %d, want %d", a.Len(), n)
		}
		o := MustParse(obj.String())
		if v, _ := o.Get("k" + itoa(n-1)); o.Len() != n || v.Literal() != itoa(n-1) {
			t.Fatalf("object: got len %d, want %d", o.Len(), n)
		}
		if got := MustParse(`[1,{"a":[2]}]`).String(); got != `[1,{"a":[2]}]` {
			t.Fatalf("small document after a large one: got %s", got)
		}
	}
}

func TestMustPanics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func()
		want error
	}{
		{"MustParse", func() { MustParse("{") }, ErrInvalidJSON},
		{"MustParsePointer", func() { MustParsePointer("a//b") }, ErrInvalidPointer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				err, _ := recover().(error)
				if !errors.Is(err, tt.want) {
					t.Errorf("panic value: got %v, want %v", err, tt.want)
				}
			}()
			tt.call()
		})
	}
}
