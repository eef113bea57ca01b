package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var errPartialHeaderInvalid = &Error{Code: CodeHeaderInvalid}

func TestParsePartialAccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   PartialAccess
	}{
		{name: "absent", header: "", want: PartialAccess{}},
		{name: "empty", header: `{"subjects":[],"paths":{}}`, want: PartialAccess{Subjects: []string{}}},
		{
			name:   "indexed",
			header: `{"subjects":["a","b"],"paths":{"attributes/foo":[0,1],"features/A":[0]}}`,
			want: PartialAccess{Subjects: []string{"a", "b"}, Paths: []PartialAccessPath{
				{Path: []string{"attributes", "foo"}, Readers: []int{0, 1}},
				{Path: []string{"features", "A"}, Readers: []int{0}},
			}},
		},
		{
			name:   "paths before subjects, white space",
			header: " { \"paths\" : { \"attributes\" : [ 1 ] } ,\n\"subjects\" : [ \"a\" , \"b\" ] } ",
			want: PartialAccess{Subjects: []string{"a", "b"}, Paths: []PartialAccessPath{
				{Path: []string{"attributes"}, Readers: []int{1}},
			}},
		},
		{
			name:   "subject without paths",
			header: `{"subjects":["a","none"],"paths":{"attributes":[0]}}`,
			want: PartialAccess{Subjects: []string{"a", "none"}, Paths: []PartialAccessPath{
				{Path: []string{"attributes"}, Readers: []int{0}},
			}},
		},
		{
			name:   "the whole thing",
			header: `{"subjects":["a"],"paths":{"":[0]}}`,
			want:   PartialAccess{Subjects: []string{"a"}, Paths: []PartialAccessPath{{Path: []string{}, Readers: []int{0}}}},
		},
		{
			name:   "tilde and escapes",
			header: `{"subjects":["a"],"paths":{"attributes/a~0b~00/\u0063":[0]}}`,
			want: PartialAccess{Subjects: []string{"a"}, Paths: []PartialAccessPath{
				{Path: []string{"attributes", "a~b~0", "c"}, Readers: []int{0}},
			}},
		},
		{
			name:   "readers in header order",
			header: `{"subjects":["a","b","c"],"paths":{"x":[2,0]}}`,
			want: PartialAccess{Subjects: []string{"a", "b", "c"}, Paths: []PartialAccessPath{
				{Path: []string{"x"}, Readers: []int{2, 0}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePartialAccess(tt.header)
			if err != nil {
				t.Fatalf("ParsePartialAccess(%q) error %v", tt.header, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePartialAccess(%q)\n got %#v\nwant %#v", tt.header, got, tt.want)
			}
		})
	}
}

func TestParsePartialAccessInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, header string }{
		{"not JSON", `subjects`},
		{"truncated", `{"subjects":["a"],"paths":{"x":[0]}`},
		{"array", `[]`},
		{"null", `null`},
		{"string", `"{}"`},
		{"trailing value", `{"subjects":[],"paths":{}} {}`},
		{"trailing garbage", `{"subjects":[],"paths":{}}x`},
		{"trailing comma", `{"subjects":[],"paths":{},}`},
		{"missing subjects", `{"paths":{}}`},
		{"missing paths", `{"subjects":[]}`},
		{"unknown member", `{"subjects":[],"paths":{},"x":1}`},
		{"subjects twice", `{"subjects":[],"subjects":[],"paths":{}}`},
		{"paths twice", `{"subjects":[],"paths":{},"paths":{}}`},
		{"subjects not array", `{"subjects":"a","paths":{}}`},
		{"subjects null", `{"subjects":null,"paths":{}}`},
		{"subject not string", `{"subjects":[1],"paths":{}}`},
		{"subject nested", `{"subjects":[["a"]],"paths":{}}`},
		{"subject empty", `{"subjects":[""],"paths":{}}`},
		{"subject twice", `{"subjects":["a","a"],"paths":{}}`},
		{"paths not object", `{"subjects":["a"],"paths":["x"]}`},
		{"paths nested object", `{"subjects":["a"],"paths":{"attributes":{"foo":[0]}}}`},
		{"path listed twice", `{"subjects":["a"],"paths":{"x":[0],"x":[0]}}`},
		{"leading slash", `{"subjects":["a"],"paths":{"/attributes":[0]}}`},
		{"trailing slash", `{"subjects":["a"],"paths":{"attributes/":[0]}}`},
		{"double slash", `{"subjects":["a"],"paths":{"attributes//x":[0]}}`},
		{"only slash", `{"subjects":["a"],"paths":{"/":[0]}}`},
		{"bare tilde", `{"subjects":["a"],"paths":{"a~b":[0]}}`},
		{"tilde one", `{"subjects":["a"],"paths":{"a~1b":[0]}}`},
		{"trailing tilde", `{"subjects":["a"],"paths":{"a~":[0]}}`},
		{"indexes not array", `{"subjects":["a"],"paths":{"x":0}}`},
		{"no index", `{"subjects":["a"],"paths":{"x":[]}}`},
		{"index out of range", `{"subjects":["a"],"paths":{"x":[1]}}`},
		{"index with no subjects", `{"subjects":[],"paths":{"x":[0]}}`},
		{"negative index", `{"subjects":["a"],"paths":{"x":[-1]}}`},
		{"fractional index", `{"subjects":["a","b"],"paths":{"x":[1.0]}}`},
		{"exponent index", `{"subjects":["a","b"],"paths":{"x":[1e0]}}`},
		{"leading zero index", `{"subjects":["a","b"],"paths":{"x":[01]}}`},
		{"huge index", `{"subjects":["a"],"paths":{"x":[99999999999999999999]}}`},
		{"string index", `{"subjects":["a"],"paths":{"x":["0"]}}`},
		{"index twice", `{"subjects":["a"],"paths":{"x":[0,0]}}`},
		{"invalid UTF-8", "{\"subjects\":[\"a\xff\"],\"paths\":{}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePartialAccess(tt.header)
			if !errors.Is(err, errPartialHeaderInvalid) {
				t.Fatalf("ParsePartialAccess(%q) = %#v, %v; want header.invalid", tt.header, got, err)
			}
			if _, err := ParseEventAccess(`[]`, tt.header); !errors.Is(err, errPartialHeaderInvalid) {
				t.Errorf("ParseEventAccess([], %q) error %v, want header.invalid", tt.header, err)
			}
		})
	}
}

func TestPartialAccessInvalidReadSubjects(t *testing.T) {
	t.Parallel()
	for _, h := range []string{`x`, `{}`, `null`, `"a"`, `["a"`, `[1]`, `["a",null]`, `[["a"]]`, `["a"] x`} {
		if _, err := ParseEventAccess(h, ""); !errors.Is(err, errPartialHeaderInvalid) {
			t.Errorf("ParseEventAccess(%q, \"\") error %v, want header.invalid", h, err)
		}
	}
}

// Headers and thing shared by the For cases: p:a and p:b may read parts of
// the thing, p:none nothing, p:x is restricted but no read subject, and
// full (not listed as restricted) reads everything.
const (
	partialRead    = `["full","p:a","p:b","p:none"]`
	partialHeader  = `{"subjects":["p:a","p:b","p:none","p:x"],"paths":{"attributes/public":[0,1],"attributes/complex/some":[0],"features/temp/properties/value":[0],"features/B":[1],"attributes/x":[3],"attributes/a~0b":[0]}}`
	partialThing   = `{"thingId":"ns:t","policyId":"ns:p","attributes":{"public":"pub","private":"priv","complex":{"some":42,"secret":"s"},"x":"for x"},"features":{"temp":{"properties":{"value":25.5,"unit":"C"}},"B":{"properties":{"x":[1,2]}}},"_revision":3}`
	partialThingA  = `{"thingId":"ns:t","attributes":{"public":"pub","complex":{"some":42}},"features":{"temp":{"properties":{"value":25.5}}},"_revision":3}`
	partialThingB  = `{"thingId":"ns:t","attributes":{"public":"pub"},"features":{"B":{"properties":{"x":[1,2]}}},"_revision":3}`
	partialThingAB = `{"thingId":"ns:t","attributes":{"public":"pub","complex":{"some":42}},"features":{"temp":{"properties":{"value":25.5}},"B":{"properties":{"x":[1,2]}}},"_revision":3}`
)

// paAbsent stands for an absent value (nil) in the For cases.
const paAbsent = "<absent>"

func TestPartialAccessFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		read     string // "" uses partialRead
		partial  string // "" uses partialHeader; "-" is no header
		receiver []string
		path     string
		value    string // paAbsent for nil
		want     string // paAbsent for nil
		ok       bool
	}{
		// Who gets the event at all.
		{name: "no read subject", receiver: []string{"stranger"}, path: "/", value: partialThing, want: paAbsent},
		{name: "no receiver subjects", receiver: nil, path: "/", value: partialThing, want: paAbsent},
		{name: "restricted but no read subject", receiver: []string{"p:x"}, path: "/", value: partialThing, want: paAbsent},
		{name: "no read subjects header", read: "-", receiver: []string{"full"}, path: "/", value: partialThing, want: paAbsent},
		{name: "read subjects with white space", read: " [ \"x\" ,\n\"full\" ] ", receiver: []string{"full"}, path: "/", value: `{}`, want: `{}`, ok: true},
		{name: "empty read subjects", read: "[]", receiver: []string{"full"}, path: "/", value: partialThing, want: paAbsent},

		// Unrestricted receivers get the event as it is.
		{name: "unrestricted", receiver: []string{"full"}, path: "/", value: partialThing, want: partialThing, ok: true},
		{name: "unrestricted and restricted", receiver: []string{"p:a", "full"}, path: "/", value: partialThing, want: partialThing, ok: true},
		{name: "no partial header", partial: "-", receiver: []string{"p:a"}, path: "/", value: partialThing, want: partialThing, ok: true},
		{name: "empty partial header", partial: `{"subjects":[],"paths":{}}`, receiver: []string{"p:none"}, path: "/attributes/private", value: `1`, want: `1`, ok: true},
		{name: "unrestricted deletion", receiver: []string{"full"}, path: "/attributes/private", value: paAbsent, want: paAbsent, ok: true},
		{name: "unrestricted double slash", receiver: []string{"full"}, path: "//", value: `1`, want: `1`, ok: true},

		// Restricted receivers at the root.
		{name: "restricted thing", receiver: []string{"p:a"}, path: "/", value: partialThing, want: partialThingA, ok: true},
		{name: "restricted thing other subject", receiver: []string{"p:b"}, path: "/", value: partialThing, want: partialThingB, ok: true},
		{name: "union of restricted subjects", receiver: []string{"p:b", "p:a"}, path: "/", value: partialThing, want: partialThingAB, ok: true},
		{name: "duplicate receiver subjects", receiver: []string{"p:b", "p:b"}, path: "/", value: partialThing, want: partialThingB, ok: true},
		{name: "restricted subject that is no read subject adds nothing", receiver: []string{"p:x", "p:b"}, path: "/", value: partialThing, want: partialThingB, ok: true},
		{name: "restricted without paths", receiver: []string{"p:none"}, path: "/", value: partialThing, want: paAbsent},
		{name: "restricted without paths, empty object", receiver: []string{"p:none"}, path: "/attributes", value: `{}`, want: paAbsent},
		{name: "restricted without paths, scalar", receiver: []string{"p:none"}, path: "/attributes/public", value: `1`, want: paAbsent},
		{name: "root path empty string", receiver: []string{"p:a"}, path: "", value: partialThing, want: partialThingA, ok: true},
		{
			name: "merge patch with null", receiver: []string{"p:a"}, path: "/",
			value: `{"attributes":{"private":null,"public":null}}`, want: `{"attributes":{"public":null}}`, ok: true,
		},
		{name: "merge patch of nothing readable", receiver: []string{"p:a"}, path: "/", value: `{"attributes":{"private":"new"}}`, want: paAbsent},
		{name: "empty merge patch", receiver: []string{"p:a"}, path: "/", value: `{}`, want: paAbsent},
		{
			name: "identity fields stay at the root", receiver: []string{"p:a"}, path: "/",
			value: `{"thingId":"ns:t","_namespace":"ns","policyId":"ns:p","_created":"c","_modified":"m","_revision":1,"attributes":{"private":1}}`,
			want:  `{"thingId":"ns:t","_namespace":"ns","_created":"c","_modified":"m","_revision":1}`, ok: true,
		},
		{name: "root deleted", receiver: []string{"p:a"}, path: "/", value: paAbsent, want: paAbsent},
		{name: "root null", receiver: []string{"p:a"}, path: "/", value: `null`, want: paAbsent},

		// Restricted receivers below the root: paths relative to the event.
		{name: "object below readable paths", receiver: []string{"p:a"}, path: "/attributes", value: `{"public":1,"private":2,"complex":{"some":3,"secret":4}}`, want: `{"public":1,"complex":{"some":3}}`, ok: true},
		{name: "object below readable paths other subject", receiver: []string{"p:b"}, path: "/attributes", value: `{"public":1,"private":2,"complex":{"some":3,"secret":4}}`, want: `{"public":1}`, ok: true},
		{name: "identity fields only at the root", receiver: []string{"p:a"}, path: "/attributes", value: `{"thingId":"x","_revision":1,"public":1}`, want: `{"public":1}`, ok: true},
		{name: "nothing readable below", receiver: []string{"p:b"}, path: "/attributes/complex", value: `{"some":1,"secret":2}`, want: paAbsent},
		{name: "deep object", receiver: []string{"p:a"}, path: "/attributes/complex", value: `{"some":1,"secret":2}`, want: `{"some":1}`, ok: true},
		{name: "object beside readable paths", receiver: []string{"p:a"}, path: "/features/other", value: `{"properties":{"value":1}}`, want: paAbsent},
		{name: "exactly readable scalar", receiver: []string{"p:a"}, path: "/attributes/public", value: `"v"`, want: `"v"`, ok: true},
		{name: "unreadable scalar", receiver: []string{"p:a"}, path: "/attributes/private", value: `"v"`, want: paAbsent},
		{name: "scalar beside readable path", receiver: []string{"p:a"}, path: "/features/temp/properties/unit", value: `"K"`, want: paAbsent},
		{name: "scalar with only a readable descendant", receiver: []string{"p:a"}, path: "/attributes/complex", value: `5`, want: paAbsent},
		{name: "array below readable ancestor", receiver: []string{"p:b"}, path: "/features/B/properties/x", value: `[3,4]`, want: `[3,4]`, ok: true},
		{name: "object below readable ancestor", receiver: []string{"p:b"}, path: "/features/B/properties", value: `{"x":1,"y":{"z":2}}`, want: `{"x":1,"y":{"z":2}}`, ok: true},
		{name: "object at readable path", receiver: []string{"p:b"}, path: "/features/B", value: `{"properties":{}}`, want: `{"properties":{}}`, ok: true},
		{name: "readable deletion", receiver: []string{"p:a"}, path: "/attributes/public", value: paAbsent, want: paAbsent, ok: true},
		{name: "deletion below readable ancestor", receiver: []string{"p:b"}, path: "/features/B/properties/x", value: paAbsent, want: paAbsent, ok: true},
		{name: "unreadable deletion", receiver: []string{"p:a"}, path: "/attributes/private", value: paAbsent, want: paAbsent},
		{name: "deletion above readable path", receiver: []string{"p:a"}, path: "/attributes/complex", value: paAbsent, want: paAbsent},
		{name: "readable null", receiver: []string{"p:a"}, path: "/attributes/public", value: `null`, want: `null`, ok: true},
		{name: "null above readable path", receiver: []string{"p:a"}, path: "/attributes/complex", value: `null`, want: paAbsent},

		// Revoked subtrees, empty objects, arrays.
		{name: "emptied objects are dropped", receiver: []string{"p:a"}, path: "/", value: `{"attributes":{"public":1,"complex":{"secret":1}},"features":{"temp":{"properties":{"unit":"C"}}}}`, want: `{"attributes":{"public":1}}`, ok: true},
		{name: "empty object at readable path stays", receiver: []string{"p:a"}, path: "/", value: `{"attributes":{"public":{},"private":{}}}`, want: `{"attributes":{"public":{}}}`, ok: true},
		{name: "empty object above readable path goes", receiver: []string{"p:a"}, path: "/", value: `{"attributes":{"complex":{}}}`, want: paAbsent},
		{name: "empty object at event path", receiver: []string{"p:a"}, path: "/attributes", value: `{}`, want: paAbsent},
		{name: "array above readable path goes", receiver: []string{"p:a"}, path: "/attributes", value: `{"complex":[{"some":1}],"public":2}`, want: `{"public":2}`, ok: true},
		{name: "scalar above readable path goes", receiver: []string{"p:a"}, path: "/", value: `{"attributes":{"complex":5,"public":2}}`, want: `{"attributes":{"public":2}}`, ok: true},

		// Member order, spelling and path syntax.
		{name: "member order kept", receiver: []string{"p:a"}, path: "/attributes", value: `{"zeta":1,"public":2,"alpha":3,"complex":{"secret":0,"some":1}}`, want: `{"public":2,"complex":{"some":1}}`, ok: true},
		{name: "nothing cut returns the value", receiver: []string{"p:a"}, path: "/attributes/complex", value: ` { "some" : [1, 2] } `, want: ` { "some" : [1, 2] } `, ok: true},
		{name: "kept values verbatim", receiver: []string{"p:a"}, path: "/", value: `{"attributes": {"public" : { "a" : 1.50 }, "private": 2}}`, want: `{"attributes":{"public":{ "a" : 1.50 }}}`, ok: true},
		{name: "escaped keys", receiver: []string{"p:a"}, path: "/attributes", value: `{"p\u0075blic":1,"private":2}`, want: `{"p\u0075blic":1}`, ok: true},
		{name: "duplicate keys", receiver: []string{"p:a"}, path: "/attributes", value: `{"public":1,"private":2,"public":3}`, want: `{"public":1,"public":3}`, ok: true},
		{name: "tilde in path", receiver: []string{"p:a"}, path: "/attributes/a~0b", value: `1`, want: `1`, ok: true},
		{name: "tilde in key", receiver: []string{"p:a"}, path: "/attributes", value: `{"a~b":1,"a~0b":2}`, want: `{"a~b":1}`, ok: true},
		{name: "path without leading slash", receiver: []string{"p:a"}, path: "attributes/public", value: `1`, want: `1`, ok: true},
		{name: "path with trailing slash", receiver: []string{"p:a"}, path: "/attributes/public/", value: `1`, want: `1`, ok: true},
		{name: "path with double slash", receiver: []string{"p:a"}, path: "/attributes//public", value: `1`, want: paAbsent},
		{name: "invalid value", receiver: []string{"p:a"}, path: "/", value: `{"attributes":`, want: paAbsent},

		// A subject that may read the whole thing by path.
		{name: "root path listed", read: `["r"]`, partial: `{"subjects":["r"],"paths":{"":[0]}}`, receiver: []string{"r"}, path: "/attributes/x", value: `1`, want: `1`, ok: true},
		{name: "root path listed, root", read: `["r"]`, partial: `{"subjects":["r"],"paths":{"":[0]}}`, receiver: []string{"r"}, path: "/", value: partialThing, want: partialThing, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			read, partial := tt.read, tt.partial
			switch read {
			case "":
				read = partialRead
			case "-":
				read = ""
			}
			switch partial {
			case "":
				partial = partialHeader
			case "-":
				partial = ""
			}
			a, err := ParseEventAccess(read, partial)
			if err != nil {
				t.Fatalf("ParseEventAccess error %v", err)
			}
			got, ok := a.For(tt.receiver, tt.path, partialRaw(tt.value))
			if gotS := partialString(got); gotS != tt.want || ok != tt.ok {
				t.Errorf("For(%q, %q, %s)\n got %s, %t\nwant %s, %t", tt.receiver, tt.path, tt.value, gotS, ok, tt.want, tt.ok)
			}
			if ok && !a.Readable(tt.receiver) {
				t.Errorf("Readable(%q) = false for a delivered event", tt.receiver)
			}
			fgot, fok, err := FilterEvent(read, partial, tt.receiver, tt.path, partialRaw(tt.value))
			if err != nil || !bytes.Equal(fgot, got) || fok != ok {
				t.Errorf("FilterEvent = %s, %t, %v; For = %s, %t", fgot, fok, err, got, ok)
			}
		})
	}
}

func TestPartialAccessReadable(t *testing.T) {
	t.Parallel()
	a, err := ParseEventAccess(partialRead, partialHeader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		receiver []string
		want     bool
	}{
		{nil, false},
		{[]string{"stranger"}, false},
		{[]string{"p:x"}, false},
		{[]string{"full"}, true},
		{[]string{"stranger", "p:none"}, true},
		{[]string{"p:a"}, true},
	}
	for _, tt := range tests {
		if got := a.Readable(tt.receiver); got != tt.want {
			t.Errorf("Readable(%q) = %t, want %t", tt.receiver, got, tt.want)
		}
	}
}

func TestPartialAccessManySubjects(t *testing.T) {
	t.Parallel()
	// More than 64 restricted subjects: the sets span several words.
	var subjects []string
	for i := range 130 {
		subjects = append(subjects, fmt.Sprintf("s%03d", i))
	}
	quoted, _ := json.Marshal(subjects)
	partial := fmt.Sprintf(`{"subjects":%s,"paths":{"attributes/a":[0],"attributes/b":[64,129],"attributes/c":[127]}}`, quoted)
	a, err := ParseEventAccess(string(quoted), partial)
	if err != nil {
		t.Fatal(err)
	}
	value := json.RawMessage(`{"a":1,"b":2,"c":3,"d":4}`)
	tests := []struct {
		receiver []string
		want     string
	}{
		{[]string{"s000"}, `{"a":1}`},
		{[]string{"s064"}, `{"b":2}`},
		{[]string{"s129"}, `{"b":2}`},
		{[]string{"s127", "s000"}, `{"a":1,"c":3}`},
		{[]string{"s063"}, paAbsent},
	}
	for _, tt := range tests {
		got, _ := a.For(tt.receiver, "/attributes", value)
		if gotS := partialString(got); gotS != tt.want {
			t.Errorf("For(%q) = %s, want %s", tt.receiver, gotS, tt.want)
		}
	}
}

func TestFilterEventPartialAccessError(t *testing.T) {
	t.Parallel()
	out, ok, err := FilterEvent(`["a"]`, `{"subjects":["a"],"paths":{"x":[1]}}`, []string{"a"}, "/", json.RawMessage(`{}`))
	if !errors.Is(err, errPartialHeaderInvalid) || ok || out != nil {
		t.Errorf("FilterEvent with a bad header = %s, %t, %v; want nil, false, header.invalid", out, ok, err)
	}
}

// An unrestricted receiver costs no allocation (not parallel: it counts
// the process's allocations).
func TestPartialAccessForUnrestrictedDoesNotAllocate(t *testing.T) {
	a, err := ParseEventAccess(partialRead, partialHeader)
	if err != nil {
		t.Fatal(err)
	}
	receiver := []string{"stranger", "full"}
	value := json.RawMessage(partialThing)
	if n := testing.AllocsPerRun(100, func() { a.For(receiver, "/", value) }); n != 0 {
		t.Errorf("For(unrestricted) allocates %v times, want 0", n)
	}
}

func BenchmarkPartialAccessFor(b *testing.B) {
	a, err := ParseEventAccess(partialRead, partialHeader)
	if err != nil {
		b.Fatal(err)
	}
	value := json.RawMessage(partialThing)
	b.Run("unrestricted", func(b *testing.B) {
		for b.Loop() {
			a.For([]string{"full"}, "/", value)
		}
	})
	b.Run("restricted", func(b *testing.B) {
		for b.Loop() {
			a.For([]string{"p:a"}, "/", value)
		}
	})
}

func FuzzParsePartialAccess(f *testing.F) {
	for _, s := range []string{
		"",
		`{"subjects":[],"paths":{}}`,
		partialHeader,
		`{"subjects":["a"],"paths":{"":[0]}}`,
		`{"paths":{"a~0b/c":[1,0]},"subjects":["a","b"]}`,
		`{"subjects":["a"],"paths":{"x":[1]}}`,
		`{"subjects":["a"],"paths":{"x":{"y":[0]}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		pa, err := ParsePartialAccess(header)
		if _, eerr := ParseEventAccess(`["a"]`, header); (eerr == nil) != (err == nil) {
			t.Fatalf("ParseEventAccess error %v, ParsePartialAccess error %v", eerr, err)
		}
		if err != nil {
			if !errors.Is(err, errPartialHeaderInvalid) {
				t.Fatalf("error %v, want header.invalid", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, s := range pa.Subjects {
			if s == "" || seen[s] {
				t.Fatalf("subjects %q: empty or repeated", pa.Subjects)
			}
			seen[s] = true
		}
		for _, p := range pa.Paths {
			if slices.Contains(p.Path, "") {
				t.Fatalf("path %q has an empty key", p.Path)
			}
			if len(p.Readers) == 0 {
				t.Fatalf("path %q has no readers", p.Path)
			}
			for k, i := range p.Readers {
				if i < 0 || i >= len(pa.Subjects) || slices.Contains(p.Readers[:k], i) {
					t.Fatalf("path %q readers %v out of range or repeated", p.Path, p.Readers)
				}
			}
		}
		// What parses is written back the same way and reads the same.
		again, err := ParsePartialAccess(encodePartialAccess(pa))
		if err != nil || !reflect.DeepEqual(normalizePartialAccess(again), normalizePartialAccess(pa)) {
			t.Fatalf("round trip of %q: %#v, %v; want %#v", header, again, err, pa)
		}
	})
}

func FuzzPartialAccessFor(f *testing.F) {
	f.Add(partialRead, partialHeader, "p:a", "/", partialThing)
	f.Add(partialRead, partialHeader, "p:b,p:a", "/attributes", `{"public":1,"complex":{"some":2,"x":3}}`)
	f.Add(partialRead, partialHeader, "full", "/attributes/x", `1`)
	f.Add(partialRead, partialHeader, "p:none", "/attributes", `{}`)
	f.Add(partialRead, partialHeader, "p:a", "/attributes/public", "")
	f.Add(`["r"]`, `{"subjects":["r"],"paths":{"":[0]}}`, "r", "/a", `[1,{"b":2}]`)
	f.Add(`["a","b"]`, `{"subjects":["a"],"paths":{"a/b~0":[0]}}`, "a", "a", `{"b~":{"c":[]},"b":1,"b~":null}`)
	f.Fuzz(func(t *testing.T, read, partial, receivers, path, value string) {
		a, err := ParseEventAccess(read, partial)
		if err != nil {
			return
		}
		in := partialRaw(value)
		if value == "" {
			in = nil
		} else if !json.Valid(in) {
			return
		}
		receiver := strings.Split(receivers, ",")
		out, ok := a.For(receiver, path, in)
		if ok && !a.Readable(receiver) {
			t.Fatalf("delivered to %q, who may not read it", receiver)
		}
		if !ok {
			if out != nil {
				t.Fatalf("not delivered but value %s", out)
			}
			return
		}
		if in == nil {
			if out != nil {
				t.Fatalf("absent value delivered as %s", out)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("output %q is not valid JSON", out)
		}
		// Every leaf of the output is a leaf of the input, at the same
		// path with the same value.
		inLeaves, outLeaves := partialLeaves(t, in), partialLeaves(t, out)
		for _, l := range outLeaves {
			if !slices.ContainsFunc(inLeaves, func(m partialLeaf) bool { return m.equal(l) }) {
				t.Fatalf("output leaf %q = %s not in input %s", l.path, l.value, in)
			}
		}

		// What the receiver may read, by the model: nil when it reads
		// everything.
		granted, unrestricted := partialGranted(t, read, partial, receiver)
		if unrestricted {
			if !bytes.Equal(out, in) {
				t.Fatalf("unrestricted receiver got %s of %s", out, in)
			}
			return
		}
		base := partialModelPath(path)
		readable := func(rel []string) bool {
			full := append(slices.Clone(base), rel...)
			return slices.ContainsFunc(granted, func(g []string) bool {
				return len(g) <= len(full) && slices.Equal(full[:len(g)], g)
			})
		}
		if isObjectValue(in) && isEmptyObject(in) && !readable(nil) {
			t.Fatalf("receiver %q got an empty object at %q it may not read (paths %q)", receiver, path, granted)
		}
		for _, l := range outLeaves {
			if !readable(l.path) && !(len(base) == 0 && len(l.path) > 0 && alwaysReadable(l.path[0])) {
				t.Fatalf("receiver %q got unreadable leaf %q = %s (event %q, paths %q)", receiver, l.path, l.value, path, granted)
			}
		}
		for _, l := range inLeaves {
			if readable(l.path) && !slices.ContainsFunc(outLeaves, func(m partialLeaf) bool { return m.equal(l) }) {
				t.Fatalf("receiver %q lost readable leaf %q = %s: got %s", receiver, l.path, l.value, out)
			}
		}
	})
}

// partialGranted is the model of what receiver may read: the thing-relative
// paths of its restricted read subjects, or unrestricted.
func partialGranted(t *testing.T, read, partial string, receiver []string) (granted [][]string, unrestricted bool) {
	t.Helper()
	var readers []string
	if read != "" {
		if err := json.Unmarshal([]byte(read), &readers); err != nil {
			t.Fatal(err)
		}
	}
	pa, err := ParsePartialAccess(partial)
	if err != nil {
		t.Fatal(err)
	}
	var mine []int
	for _, s := range receiver {
		if !slices.Contains(readers, s) {
			continue
		}
		i := slices.Index(pa.Subjects, s)
		if i < 0 {
			return nil, true
		}
		mine = append(mine, i)
	}
	for _, p := range pa.Paths {
		if slices.ContainsFunc(p.Readers, func(i int) bool { return slices.Contains(mine, i) }) {
			granted = append(granted, p.Path)
		}
	}
	return granted, false
}

// partialModelPath splits an event path the simple way (the fuzz test only
// reaches here for paths For accepted).
func partialModelPath(path string) []string {
	path = strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	if path == "" {
		return nil
	}
	keys := strings.Split(path, "/")
	for k := range keys {
		keys[k] = strings.ReplaceAll(keys[k], "~0", "~")
	}
	return keys
}

// partialLeaf is a value that is not a non-empty object, at its path.
type partialLeaf struct {
	path  []string
	value string // compact
}

func (l partialLeaf) equal(m partialLeaf) bool {
	return l.value == m.value && slices.Equal(l.path, m.path)
}

// partialLeaves lists the leaves of a valid JSON value in document order,
// duplicate keys included.
func partialLeaves(t *testing.T, v []byte) []partialLeaf {
	t.Helper()
	var out []partialLeaf
	var walk func(path []string, v []byte)
	walk = func(path []string, v []byte) {
		dec := json.NewDecoder(bytes.NewReader(v))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') || !dec.More() {
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				t.Fatalf("compact %s: %v", v, err)
			}
			out = append(out, partialLeaf{path: path, value: c.String()})
			return
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("leaves of %s: %v", v, err)
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatalf("leaves of %s: %v", v, err)
			}
			walk(append(slices.Clone(path), tok.(string)), raw)
		}
	}
	walk([]string{}, v)
	return out
}

// encodePartialAccess writes pa as the things service does.
func encodePartialAccess(pa PartialAccess) string {
	subjects, _ := json.Marshal(pa.Subjects)
	if pa.Subjects == nil {
		subjects = []byte("[]")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"subjects":%s,"paths":{`, subjects)
	for k, p := range pa.Paths {
		if k > 0 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(accessPathKey(p.Path))
		readers, _ := json.Marshal(p.Readers)
		fmt.Fprintf(&b, "%s:%s", key, readers)
	}
	b.WriteString("}}")
	return b.String()
}

// normalizePartialAccess makes an empty subject list nil, since the zero
// PartialAccess (no header) and an empty one mean the same.
func normalizePartialAccess(pa PartialAccess) PartialAccess {
	if len(pa.Subjects) == 0 {
		pa.Subjects = nil
	}
	return pa
}

func partialRaw(s string) json.RawMessage {
	if s == paAbsent || s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func partialString(b []byte) string {
	if b == nil {
		return paAbsent
	}
	return string(b)
}
