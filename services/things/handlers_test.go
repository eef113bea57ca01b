package things

import (
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

func TestMinimizePatch(t *testing.T) {
	t.Parallel()
	tests := []struct{ current, patch, want string }{
		{`{"a":1,"b":2}`, `{"a":1,"b":3}`, `{"b":3}`},
		{`{"a":{"x":1,"y":2}}`, `{"a":{"x":1,"y":5}}`, `{"a":{"y":5}}`},
		{`{"a":{"x":1}}`, `{"a":{"x":1}}`, `{}`},
		{`{"a":1}`, `{"b":null}`, `{}`},
		{`{"a":1}`, `{"a":null}`, `{"a":null}`},
		{`{"a":1}`, `{"c":{"d":1}}`, `{"c":{"d":1}}`},
		{`{"a":[1,2]}`, `{"a":[1,2]}`, `{}`},
		{`{"a":1}`, `{"{{ /a.*/ }}":null}`, `{"{{ /a.*/ }}":null}`},
		{`1`, `{"a":1}`, `{"a":1}`},
	}
	for _, tc := range tests {
		got := minimizePatch(jsonv.MustParse(tc.current), jsonv.MustParse(tc.patch))
		if !got.Equal(jsonv.MustParse(tc.want)) {
			t.Errorf("minimizePatch(%s, %s) = %s, want %s", tc.current, tc.patch, got, tc.want)
		}
		// Applying the minimized patch gives the same result as the full one.
		full := jsonv.MergePatch(jsonv.MustParse(tc.current), jsonv.MustParse(tc.patch))
		min := jsonv.MergePatch(jsonv.MustParse(tc.current), got)
		if !full.Equal(min) {
			t.Errorf("minimized patch of %s changes the outcome: %s vs %s", tc.patch, min, full)
		}
	}
}

func TestIsRegexKey(t *testing.T) {
	t.Parallel()
	for k, want := range map[string]bool{
		"{{ /a.*/ }}": true, "{{/x/}}": true, "{{ ~a~ }}": false, "{{ / }}": false, "a": false, "{{ /a/": false,
	} {
		if got := isRegexKey(k); got != want {
			t.Errorf("isRegexKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	got := defaultPolicy("ns:t", "nginx:ditto")
	want := jsonv.MustParse(`{"policyId":"ns:t","entries":{"DEFAULT":{"subjects":{"nginx:ditto":{"type":"generated"}},
		"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]},
		"message:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`)
	if !got.Equal(want) {
		t.Errorf("default policy %s", got)
	}
}

func TestWithPolicyID(t *testing.T) {
	t.Parallel()
	got := withPolicyID(jsonv.MustParse(`{"entries":{},"policyId":"old:id","_revision":3,"imports":{}}`), "new:id")
	if got.String() != `{"policyId":"new:id","entries":{},"imports":{}}` {
		t.Errorf("got %s", got)
	}
}
