package things

import (
	"errors"
	"testing"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

func TestNormalizeThing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"order and unknown fields",
			`{"features":{},"extra":1,"attributes":{"a":1},"policyId":"ns:p","thingId":"ns:t","definition":"a:b:1"}`,
			`{"thingId":"ns:t","policyId":"ns:p","definition":"a:b:1","attributes":{"a":1},"features":{}}`},
		{"feature fields ordered, unknown dropped",
			`{"features":{"f":{"desiredProperties":{"x":1},"junk":true,"properties":{"y":2},"definition":["a:b:1"]}}}`,
			`{"features":{"f":{"definition":["a:b:1"],"properties":{"y":2},"desiredProperties":{"x":1}}}}`},
		{"null definition", `{"definition":null}`, `{"definition":null}`},
		{"url definition", `{"definition":"https://models.example/t.tm.jsonld"}`, `{"definition":"https://models.example/t.tm.jsonld"}`},
		{"empty", `{}`, `{}`},
	}
	for _, tc := range tests {
		got, err := normalizeThing(jsonv.MustParse(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.String() != jsonv.MustParse(tc.want).String() {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestNormalizeThingRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, code string
	}{
		{"not an object", `[1]`, protocol.CodeJSONInvalid},
		{"thingId not a string", `{"thingId":1}`, protocol.CodeJSONInvalid},
		{"invalid policy id", `{"policyId":"no-colon"}`, protocol.CodePolicyIDInvalid},
		{"attributes not an object", `{"attributes":"x"}`, protocol.CodeJSONInvalid},
		{"attribute key with slash", `{"attributes":{"a/b":1}}`, protocol.CodeJSONKeyInvalid},
		{"nested key with control char", `{"attributes":{"a":{"b\u0001":1}}}`, protocol.CodeJSONKeyInvalid},
		{"feature id with slash", `{"features":{"a/b":{}}}`, protocol.CodeJSONKeyInvalid},
		{"feature not an object", `{"features":{"f":1}}`, protocol.CodeJSONInvalid},
		{"empty feature definition", `{"features":{"f":{"definition":[]}}}`, protocol.CodeFeatureDefinitionEmpty},
		{"bad feature definition", `{"features":{"f":{"definition":["nope"]}}}`, protocol.CodeDefinitionIdentifierInvalid},
		{"bad thing definition", `{"definition":"a:b"}`, protocol.CodeDefinitionIdentifierInvalid},
		{"properties not an object", `{"features":{"f":{"properties":[1]}}}`, protocol.CodeJSONInvalid},
	}
	for _, tc := range tests {
		_, err := normalizeThing(jsonv.MustParse(tc.in))
		var perr *protocol.Error
		if !errors.As(err, &perr) || perr.Code != tc.code {
			t.Errorf("%s: err %v, want code %s", tc.name, err, tc.code)
		}
	}
}

func TestValidDefinition(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"org.eclipse.ditto:thing:1.0.0": true,
		"a-b_c:d.e:1":                   true,
		"https://example.com/model":     true,
		"http://example.com":            true,
		"a:b":                           false,
		"a:b:c:d":                       false,
		":b:c":                          false,
		"a:b:":                          false,
		"a b:c:d":                       false,
		"ftp://example.com/x":           false,
		"":                              false,
	}
	for in, want := range tests {
		if got := validDefinition(in); got != want {
			t.Errorf("validDefinition(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestCheckValue(t *testing.T) {
	t.Parallel()
	res := func(p string) resource {
		r, err := parseResource(p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		path, value string
		ok          bool
	}{
		{"/policyId", `"ns:p"`, true},
		{"/policyId", `"nope"`, false},
		{"/policyId", `1`, false},
		{"/definition", `"a:b:1"`, true},
		{"/attributes", `{"a":1}`, true},
		{"/attributes", `1`, false},
		{"/attributes/a", `1`, true},
		{"/attributes/a", `{"b/c":1}`, false},
		{"/features/f", `{"properties":{}}`, true},
		{"/features/f/definition", `["a:b:1"]`, true},
		{"/features/f/definition", `[]`, false},
		{"/features/f/properties", `{"x":1}`, true},
		{"/features/f/properties", `"x"`, false},
		{"/features/f/desiredProperties/x", `null`, true},
	}
	for _, tc := range tests {
		_, err := checkValue(res(tc.path), jsonv.MustParse(tc.value))
		if (err == nil) != tc.ok {
			t.Errorf("checkValue(%s, %s) = %v, want ok=%v", tc.path, tc.value, err, tc.ok)
		}
	}
}

func TestEtag(t *testing.T) {
	t.Parallel()
	root, _ := parseResource("/")
	attr, _ := parseResource("/attributes/a")
	if got := tagOf(root, 42, jsonv.Value{}); got != `"rev:42"` {
		t.Errorf("thing etag %s", got)
	}
	a, b := tagOf(attr, 1, jsonv.MustParse(`{"x":1,"y":2}`)), tagOf(attr, 9, jsonv.MustParse(`{"y":2,"x":1}`))
	if a != b || len(a) < len(`"hash:0"`) || a[:6] != `"hash:` {
		t.Errorf("sub-resource etags %s and %s: want equal hash tags independent of revision and order", a, b)
	}
	if c := tagOf(attr, 1, jsonv.MustParse(`{"x":2}`)); c == a {
		t.Errorf("different values share etag %s", c)
	}
}
