package etag

import (
	"errors"
	"testing"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

func TestMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header, current string
		want            bool
	}{
		{`*`, `"rev:1"`, true},
		{`*`, ``, false},
		{`"rev:1"`, `"rev:1"`, true},
		{`"rev:2"`, `"rev:1"`, false},
		{`"rev:2", "rev:1"`, `"rev:1"`, true},
		{`"rev:2","rev:1"`, `"rev:1"`, true},
		{`W/"rev:1"`, `"rev:1"`, false}, // weak never matches a strong tag, as in Ditto
		{`W/"rev:1", "rev:1"`, `"rev:1"`, true},
		{`"rev:1"`, ``, false},
	}
	for _, tc := range tests {
		if got := Matches(tc.header, tc.current); got != tc.want {
			t.Errorf("Matches(%s, %s) = %v, want %v", tc.header, tc.current, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	errs := Errors{Failed: protocol.ErrThingPreconditionFailed, NotModified: protocol.ErrThingPreconditionNotModified}
	tests := []struct {
		name    string
		h       protocol.Headers
		current string
		reading bool
		status  int // 0: passes
		value   string
	}{
		{"no headers", protocol.Headers{}, `"rev:1"`, false, 0, ""},
		{"if-match holds", protocol.Headers{"if-match": `"rev:1"`}, `"rev:1"`, false, 0, ""},
		{"if-match fails, matchers joined as Ditto joins them", protocol.Headers{"if-match": `"rev:2" , "rev:3"`}, `"rev:1"`, false, 412, `"rev:2","rev:3"`},
		{"if-match * on a missing resource", protocol.Headers{"if-match": "*"}, "", false, 412, "*"},
		{"if-none-match * on a missing resource", protocol.Headers{"if-none-match": "*"}, "", false, 0, ""},
		{"if-none-match on a read", protocol.Headers{"if-none-match": `"rev:1"`}, `"rev:1"`, true, 304, `"rev:1"`},
		{"if-none-match on a write", protocol.Headers{"if-none-match": "*"}, `"rev:1"`, false, 412, "*"},
	}
	for _, tc := range tests {
		err := Check(tc.h, tc.current, tc.reading, errs)
		var perr *protocol.Error
		switch {
		case tc.status == 0 && err != nil:
			t.Errorf("%s: %v, want none", tc.name, err)
		case tc.status != 0 && (!errors.As(err, &perr) || perr.Status != tc.status):
			t.Errorf("%s: %v, want status %d", tc.name, err, tc.status)
		}
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	if got := Revision(42); got != `"rev:42"` {
		t.Errorf("Revision(42) = %s", got)
	}
	a, b := Value(jsonv.MustParse(`{"a":1,"b":2}`)), Value(jsonv.MustParse(`{"b":2,"a":1}`))
	if a != b || len(a) < len(`"hash:0"`) || a[:6] != `"hash:` {
		t.Errorf("Value: %s and %s; want one hash tag for equal JSON", a, b)
	}
	if a == Value(jsonv.MustParse(`{"a":1,"b":3}`)) {
		t.Error("Value: a changed value keeps its tag")
	}
}
