package things

import (
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

func TestPolicyCacheSharesEnforcersOfEqualEntries(t *testing.T) {
	t.Parallel()
	c := newPolicyCache(nil, 10)
	a, err := c.compile(defaultPolicy("ns:a", "nginx:ditto"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.compile(defaultPolicy("ns:b", "nginx:ditto"))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("two policies with the same entries got different enforcers")
	}
	other, err := c.compile(defaultPolicy("ns:c", "nginx:ditto2"))
	if err != nil {
		t.Fatal(err)
	}
	if other == a {
		t.Error("policies with different entries share an enforcer")
	}
	if !other.For("ns", []string{"nginx:ditto2"}).Has("thing", nil, "READ") || other.For("ns", []string{"nginx:ditto"}).Has("thing", nil, "READ") {
		t.Error("shared enforcer grants the wrong subject")
	}
	// The bound holds.
	for i := range 50 {
		if _, err := c.compile(defaultPolicy("ns:x", "s:"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.shared); n > 10 {
		t.Errorf("%d shared enforcers, bound is 10", n)
	}
	if _, err := c.compile(jsonv.MustParse(`[1]`)); err == nil {
		t.Error("compiled a policy that is not an object")
	}
}
