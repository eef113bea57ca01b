package jsonv

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
)

func addSeeds(f *testing.F) {
	f.Helper()
	thing, err := os.ReadFile("testdata/thing.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(thing)
	for _, s := range []string{
		"null", "true", "-0", "1.5e-3", "9223372036854775808", `""`, `"\ud83d\ude00"`, "\"\xff\"",
		`{"a":1,"a":2}`, `{"":1}`, "[1,]", `{"a":[{"b":null}]}`, "[[[[]]]]", `"\u0000"`, "1e400",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse checks Parse against encoding/json: they accept the same texts
// except where Ditto is stricter (empty keys, out-of-range integers, deep
// nesting), they read the same values, and AppendJSON round-trips.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		want := json.Valid(data) && dittoAccepts(data)
		if (err == nil) != want {
			t.Fatalf("Parse(%q): got error %v, want accepted=%v", data, err, want)
		}
		// ParseStored reads the same, only deeper.
		stored, serr := ParseStored(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) {
				t.Fatalf("Parse(%q): got %v, want ErrInvalidJSON", data, err)
			}
			if serr == nil && stored.Depth() <= MaxDepth {
				t.Fatalf("ParseStored(%q) accepted what Parse refused (%v) at depth %d", data, err, stored.Depth())
			}
			return
		}
		if serr != nil || !stored.Equal(v) {
			t.Fatalf("ParseStored(%q) = %s, %v; Parse read %s", data, stored, serr, v)
		}
		if fromString, err := ParseStoredString(string(data)); err != nil || !fromString.Equal(v) {
			t.Fatalf("ParseStoredString(%q) = %s, %v; Parse read %s", data, fromString, err, v)
		}
		if d := v.Depth(); d > MaxDepth {
			t.Fatalf("Parse(%q) accepted depth %d", data, d)
		}
		out := v.AppendJSON(nil)
		if !json.Valid(out) {
			t.Fatalf("AppendJSON(Parse(%q)) = %q: not valid JSON", data, out)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(AppendJSON) of %q: got error %v", out, err)
		}
		if !back.Equal(v) {
			t.Fatalf("round trip: got %s, want %s", back, v)
		}
		if back.Hash() != v.Hash() {
			t.Fatalf("round trip Hash: got %x, want %x", back.Hash(), v.Hash())
		}
		if again := back.AppendJSON(nil); !bytes.Equal(again, out) {
			t.Fatalf("second AppendJSON: got %s, want %s", again, out)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var std any
		if err := dec.Decode(&std); err != nil {
			t.Fatalf("encoding/json Decode(%q): %v", data, err)
		}
		if sv := fromAny(t, std); !sv.Equal(v) {
			t.Fatalf("Parse(%q): got %s, encoding/json read %s", data, v, sv)
		}
	})
}

// dittoAccepts reports whether valid JSON also passes the checks Parse adds.
func dittoAccepts(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct{ object, wantKey bool }
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) == MaxDepth {
					return false
				}
				if top >= 0 && stack[top].object {
					stack[top].wantKey = true // after this value comes a key
				}
				stack = append(stack, frame{object: d == '{', wantKey: d == '{'})
			default:
				stack = stack[:top]
			}
			continue
		}
		if top >= 0 && stack[top].object && stack[top].wantKey {
			if tok == "" {
				return false
			}
			stack[top].wantKey = false
			continue
		}
		if n, ok := tok.(json.Number); ok && !intInRange(string(n)) {
			return false
		}
		if top >= 0 && stack[top].object {
			stack[top].wantKey = true
		}
	}
}

// fromAny converts what encoding/json decoded (with UseNumber) to a Value.
func fromAny(t *testing.T, x any) Value {
	t.Helper()
	switch x := x.(type) {
	case nil:
		return Null()
	case bool:
		return Bool(x)
	case string:
		return String(x)
	case json.Number:
		v, err := Number(string(x))
		if err != nil {
			t.Fatalf("Number(%q): %v", x, err)
		}
		return v
	case []any:
		es := make([]Value, len(x))
		for i, e := range x {
			es[i] = fromAny(t, e)
		}
		return Array(es...)
	case map[string]any:
		ms := make([]Member, 0, len(x))
		for k, e := range x {
			ms = append(ms, Member{Key: k, Value: fromAny(t, e)})
		}
		return Object(ms...)
	}
	t.Fatalf("unexpected %T", x)
	return Value{}
}

func FuzzParsePointer(f *testing.F) {
	for _, s := range []string{"", "/", "a", "/a/b/", "//", "/a~0b", "~01", "/*/x", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePointer(s)
		if strings.Contains(s, "//") {
			if !errors.Is(err, ErrInvalidPointer) {
				t.Fatalf("ParsePointer(%q): got %q, %v, want ErrInvalidPointer", s, p, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParsePointer(%q): got error %v, want nil", s, err)
		}
		for _, seg := range p {
			if seg == "" || strings.Contains(seg, "/") {
				t.Fatalf("ParsePointer(%q): segment %q is empty or has a slash", s, seg)
			}
		}
		back, err := ParsePointer(p.String())
		if err != nil || !back.Equal(p) {
			t.Fatalf("ParsePointer(%q.String() = %q): got %q, %v, want %q", s, p.String(), back, err, p)
		}
		if len(p) > 0 && !p.HasPrefix(p.Parent()) {
			t.Fatalf("%q does not have its parent %q as prefix", p, p.Parent())
		}
	})
}

func FuzzParseFieldSelector(f *testing.F) {
	for _, s := range []string{
		"thingId", "a(b,c)", "a(b(c,d),e)", "features/*/properties/x", ",", "a(", "a)", "a()", "a(b)c",
		"a//b", "(a,b)", "*/*",
	} {
		f.Add(s)
	}
	doc := MustParse(`{"thingId":"x","a":{"b":1,"c":[{"d":2},3]},"features":{"f":{"properties":{"x":1}}},"*":{"*":0}}`)
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := ParseFieldSelector(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidFieldSelector) && !errors.Is(err, ErrInvalidPointer) {
				t.Fatalf("ParseFieldSelector(%q): got %v, want a selector or pointer error", s, err)
			}
			return
		}
		if len(fs) == 0 {
			t.Fatalf("ParseFieldSelector(%q): got no pointers and no error", s)
		}
		for i, p := range fs {
			if p.IsRoot() {
				t.Fatalf("ParseFieldSelector(%q): root pointer at %d", s, i)
			}
			if slices.ContainsFunc(fs[:i], p.Equal) {
				t.Fatalf("ParseFieldSelector(%q): duplicate %q", s, p)
			}
		}
		back, err := ParseFieldSelector(fs.String())
		if err != nil || back.String() != fs.String() {
			t.Fatalf("reparse of %q: got %v, %v, want %v", fs.String(), back, err, fs)
		}
		sel := doc.Select(fs)
		if sel.Kind() != KindObject {
			t.Fatalf("Select: got %v, want an object", sel.Kind())
		}
		for _, m := range sel.Members() {
			if _, ok := doc.Get(m.Key); !ok {
				t.Fatalf("Select(%q): key %q is not in the document", s, m.Key)
			}
		}
	})
}

// FuzzMergePatch checks MergePatch against a literal transcription of the
// RFC 7396 pseudo-code and the RFC's properties.
func FuzzMergePatch(f *testing.F) {
	seeds := [][2]string{
		{`{"a":"b"}`, `{"a":"c"}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`},
		{`[1,2]`, `{"a":"b","c":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`},
		{`{"f1":1,"g":2}`, `{"{{ ~f.*~ }}":null,"f2":3}`},
		{`{"a":1}`, `null`},
	}
	for _, s := range seeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, targetJSON, patchJSON []byte) {
		target, err := Parse(targetJSON)
		if err != nil {
			return
		}
		patch, err := Parse(patchJSON)
		if err != nil {
			return
		}
		targetText, patchText := target.String(), patch.String()
		got := MergePatch(target, patch)
		if target.String() != targetText || patch.String() != patchText {
			t.Fatalf("inputs changed: got %s and %s, want %s and %s", target, patch, targetText, patchText)
		}
		if again := MergePatch(got, patch); !again.Equal(got) {
			t.Fatalf("not idempotent: once %s, twice %s", got, again)
		}
		for _, m := range patch.Members() {
			if m.Value.Kind() != KindNull {
				continue
			}
			if _, ok := got.Get(m.Key); ok {
				t.Fatalf("key %q patched with null is still present in %s", m.Key, got)
			}
		}
		if _, isRegex := regexKeysIn(patch); isRegex {
			return // Ditto's extension is outside the RFC
		}
		if want := rfcMergePatch(target, patch); !got.Equal(want) {
			t.Fatalf("MergePatch(%s, %s): got %s, RFC pseudo-code gives %s", target, patch, got, want)
		}
	})
}

// regexKeysIn reports whether any object in v has a "{{ ~re~ }}" key.
func regexKeysIn(v Value) (string, bool) {
	for _, m := range v.Members() {
		if _, ok := regexKey(m.Key); ok {
			return m.Key, true
		}
		if k, ok := regexKeysIn(m.Value); ok {
			return k, true
		}
	}
	return "", false
}

// rfcMergePatch is RFC 7396 section 2 transcribed with Set and Delete.
func rfcMergePatch(target, patch Value) Value {
	if patch.Kind() != KindObject {
		return patch
	}
	if target.Kind() != KindObject {
		target = Object()
	}
	for _, m := range patch.Members() {
		if m.Value.Kind() == KindNull {
			target, _ = target.Delete(Pointer{m.Key})
			continue
		}
		old, _ := target.Get(m.Key)
		target = target.Set(Pointer{m.Key}, rfcMergePatch(old, m.Value))
	}
	return target
}
