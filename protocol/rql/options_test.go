package rql

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol"
)

func TestParseOptionsValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Options
	}{
		{"sort ascending", `sort(+thingId)`, Options{Sort: []SortKey{{Property: "thingId"}}}},
		{"sort descending", `sort(-attributes/username)`, Options{Sort: []SortKey{{Property: "attributes/username", Descending: true}}}},
		{"sort several", `sort(-attributes/location,+thingId,+features/f/properties/t,-/_modified)`, Options{Sort: []SortKey{
			{Property: "attributes/location", Descending: true}, {Property: "thingId"},
			{Property: "features/f/properties/t"}, {Property: "/_modified", Descending: true},
		}}},
		{"limit", `limit(0,1)`, Options{Limit: &Limit{Offset: 0, Count: 1}}},
		{"limit with whitespace after numbers", `limit(10 ,200 )`, Options{Limit: &Limit{Offset: 10, Count: 200}}},
		{"limit plus sign", `limit(+5,+6)`, Options{Limit: &Limit{Offset: 5, Count: 6}}},
		{"cursor", `cursor(AbC-_09)`, Options{Cursor: "AbC-_09"}},
		{"size", `size(463)`, Options{Size: 463}},
		{"size leading zeros", `size(007)`, Options{Size: 7}},
		{"combination", `limit(0,1),sort(-attributes/username),size(463)`, Options{
			Sort: []SortKey{{Property: "attributes/username", Descending: true}}, Size: 463}},
		{"cursor and size", `cursor(abc),size(5),sort(+thingId)`, Options{
			Cursor: "abc", Size: 5, Sort: []SortKey{{Property: "thingId"}}}},
		{"leading whitespace", "  \tsize(1)", Options{Size: 1}},
		{"last sort wins", `sort(+thingId),sort(-policyId)`, Options{Sort: []SortKey{{Property: "policyId", Descending: true}}}},
		{"last limit wins", `limit(1,2),limit(3,4)`, Options{Limit: &Limit{Offset: 3, Count: 4}}},
		{"size after limit wins", `limit(5,10),size(3)`, Options{Size: 3}},
		{"limit after size wins", `size(3),limit(5,10)`, Options{Limit: &Limit{Offset: 5, Count: 10}}},
		{"max int32", `limit(2147483647,2147483647)`, Options{Limit: &Limit{Offset: 2147483647, Count: 2147483647}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseOptions(tt.in)
			if err != nil {
				t.Fatalf("ParseOptions(%q): got error %v, want none", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseOptions(%q):\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseOptionsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		col  int
	}{
		{"empty", ``, 1},
		{"unknown option", `skip(1)`, 1},
		{"missing paren", `size 1`, 5},
		{"sort missing order", `sort(thingId)`, 6},
		{"sort missing order at second", `sort(-thingId,policyId)`, 15},
		{"sort empty", `sort()`, 6},
		{"sort unknown property", `sort(+username)`, 7},
		{"sort feature definition", `sort(+features/f/definition)`, 7},
		{"sort whole feature", `sort(+features/f)`, 7},
		{"sort empty property", `sort(+)`, 7},
		{"limit missing count", `limit(0)`, 8},
		{"limit too many", `limit(0,1,2)`, 10},
		{"limit space before number", `limit( 0,1)`, 7},
		{"limit decimal", `limit(0.5,1)`, 7},
		{"limit exceeds long", `limit(100000000000000000000,10)`, 7},
		{"limit exceeds int", `limit(0,2147483648)`, 9},
		{"limit negative offset", `limit(-1,10)`, 7},
		{"limit negative count", `limit(0,-10)`, 9},
		{"limit minus zero", `limit(-0,1)`, 7},
		{"cursor unterminated", `cursor(`, 8},
		{"cursor without closing", `cursor(0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz`, 72},
		{"cursor empty", `cursor()`, 1},
		{"two cursors", `cursor(a),cursor(b)`, 11},
		{"cursor with limit", `limit(0,5),cursor(a)`, 12},
		{"size zero", `size(0)`, 1},
		{"size negative", `size(-1)`, 6},
		{"size overflow", `size(2147483648)`, 6},
		{"two sizes", `size(1),size(2)`, 9},
		{"space after comma", `size(1), sort(+thingId)`, 9},
		{"trailing comma", `size(1),`, 9},
		{"trailing whitespace", `size(1) `, 8},
		{"semicolon", `size(1);sort(+thingId)`, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := ParseOptions(tt.in)
			if err == nil {
				t.Fatalf("ParseOptions(%q): got %+v, want error", tt.in, o)
			}
			if !errors.Is(err, ErrInvalidOption) {
				t.Errorf("ParseOptions(%q): got %v, want an error matching ErrInvalidOption", tt.in, err)
			}
			if errors.Is(err, ErrInvalidExpression) {
				t.Errorf("ParseOptions(%q): got %v, want it not to match ErrInvalidExpression", tt.in, err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseOptions(%q): got %T, want *SyntaxError", tt.in, err)
			}
			if se.Column != tt.col {
				t.Errorf("ParseOptions(%q): got position %d (%s), want %d", tt.in, se.Column, se.Reason, tt.col)
			}
			if wire := protocol.AsError(err); wire == nil || wire.Status != 400 || wire.Code != "thing-search:search.option.invalid" {
				t.Errorf("ParseOptions(%q): got wire error %+v, want 400 thing-search:search.option.invalid", tt.in, wire)
			}
		})
	}
}

func TestOptionsString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"zero", Options{}, ""},
		{"all", Options{
			Sort:   []SortKey{{Property: "attributes/a,b", Descending: true}, {Property: "thingId"}},
			Limit:  &Limit{Offset: 2, Count: 3},
			Cursor: "c)d",
			Size:   4,
		}, `sort(-attributes/a\u002cb,+thingId),limit(2,3),cursor(c\u0029d),size(4)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.opts.String(); got != tt.want {
				t.Errorf("String: got %s, want %s", got, tt.want)
			}
		})
	}
}

func checkOptionsRoundTrip(t *testing.T, in string, o Options) {
	t.Helper()
	s := o.String()
	o2, err := ParseOptions(s)
	if err != nil {
		t.Fatalf("ParseOptions(String(ParseOptions(%q))) = ParseOptions(%q): got error %v, want none", in, s, err)
	}
	if !reflect.DeepEqual(o, o2) {
		t.Fatalf("round trip of %q via %q: got %+v, want %+v", in, s, o2, o)
	}
	if s2 := o2.String(); s2 != s {
		t.Fatalf("String not stable for %q: got %q, want %q", in, s2, s)
	}
}

func TestOptionsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`sort(-attributes/location,+thingId),limit(0,25)`,
		`cursor(x\"y),size(10),sort(+features/f/desiredProperties/a\/b)`,
		`size(1),limit(7 ,8 )`,
	} {
		o, err := ParseOptions(in)
		if err != nil {
			t.Fatalf("ParseOptions(%q): got error %v, want none", in, err)
		}
		checkOptionsRoundTrip(t, in, o)
	}
}

func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{
		`sort(+thingId)`, `sort(-attributes/a,+features/f/properties/b)`,
		`limit(0,25)`, `limit(-1,5)`, `cursor(abc)`, `size(10)`,
		`limit(0,1),sort(-attributes/username),size(463)`,
		`cursor(a\u002cb),size(3)`, `size(0)`, `cursor(a),limit(0,1)`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		o, err := ParseOptions(in)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("ParseOptions(%q): got %v, want a *SyntaxError matching ErrInvalidOption", in, err)
			}
			if se.Column < 1 || se.Column > utf8.RuneCountInString(in)+1 {
				t.Fatalf("ParseOptions(%q): got position %d, want within the input", in, se.Column)
			}
			return
		}
		if strings.TrimSpace(o.String()) == "" {
			t.Fatalf("ParseOptions(%q): got empty options without error", in)
		}
		checkOptionsRoundTrip(t, in, o)
	})
}
