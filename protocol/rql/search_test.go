package rql

import (
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

func TestSearchMatches(t *testing.T) {
	t.Parallel()
	car := jsonv.MustParse(carJSON)
	tests := []struct {
		name, filter string
		// want is the search result; header is MatchesAt's, given where
		// the two differ.
		want   bool
		header *bool
	}{
		{"int equals float", `eq(attributes/whole,7)`, true, nil},
		{"float equals int", `eq(attributes/count,42.0)`, true, nil},
		{"string does not equal number", `eq(attributes/count,"42")`, false, ptr(true)},
		{"number does not equal numeric string", `eq(attributes/numstr,42)`, false, ptr(true)},
		{"string equals string", `eq(attributes/numstr,"42")`, true, nil},
		{"bool does not equal its string", `eq(attributes/flag,"true")`, false, ptr(true)},
		{"bool equals bool", `eq(attributes/flag,true)`, true, nil},
		{"false below true", `lt(attributes/off,true)`, true, nil},
		{"bool not ordered against number", `gt(attributes/flag,0)`, false, ptr(true)},
		{"number range", `gt(attributes/ratio,22)`, true, nil},
		{"number range misses string", `gt(attributes/numstr,1)`, false, ptr(true)},
		{"string range", `ge(attributes/manufacturer,"AC")`, true, nil},
		{"string range misses number", `ge(attributes/count,"4")`, false, ptr(true)},
		{"strings by utf-8 bytes", `gt(attributes/emoji,"\uffff")`, true, ptr(false)},
		{"eq null matches present null", `eq(attributes/nothing,null)`, true, nil},
		{"eq null misses missing", `eq(attributes/missing,null)`, false, nil},
		{"in with null", `in(attributes/nothing,1,null)`, true, nil},
		{"in number", `in(attributes/count,1,42)`, true, nil},
		{"in string does not meet number", `in(attributes/count,"42")`, false, ptr(true)},
		{"gt null never", `gt(attributes/nothing,null)`, false, nil},
		{"le null never", `le(attributes/nothing,null)`, false, nil},
		{"ne missing does not match", `ne(attributes/missing,1)`, false, ptr(true)},
		{"ne present other", `ne(attributes/count,1)`, true, nil},
		{"ne present equal", `ne(attributes/count,42)`, false, nil},
		{"ne string vs number is not equal", `ne(attributes/count,"42")`, true, ptr(false)},
		{"ne array with element equal", `ne(attributes/tags,"red")`, false, nil},
		{"ne array without element equal", `ne(attributes/tags,"blue")`, true, nil},
		{"ne null on null", `ne(attributes/nothing,null)`, false, nil},
		{"like string", `like(attributes/manufacturer,"AC*")`, true, nil},
		{"like question mark", `like(attributes/manufacturer,"AC?E")`, true, nil},
		{"like whole string", `like(attributes/manufacturer,"AC")`, false, nil},
		{"like never a number", `like(attributes/count,"4*")`, false, ptr(true)},
		{"like never a bool", `like(attributes/flag,"tr*")`, false, ptr(true)},
		{"ilike folds", `ilike(attributes/manufacturer,"acme")`, true, nil},
		{"like array element", `like(attributes/tags,"fa*")`, true, nil},
		{"exists null", `exists(attributes/nothing)`, true, nil},
		{"empty across array", `empty(attributes/owners/name)`, false, nil},
		{"object in array", `eq(attributes/owners/name,"bob")`, true, nil},
		{"mixed array number", `eq(attributes/mixed,2)`, false, ptr(true)},
		{"mixed array string", `eq(attributes/mixed,"2")`, true, nil},
		{"features wildcard", `eq(features/*/properties/unit,"C")`, true, nil},
		{"thingId", `eq(thingId,"org.eclipse.ditto:car-1")`, true, nil},
		{"time now string order", `lt(_modified,time:now)`, true, nil},
		{"epoch millis is a string", `lt(attributes/ts,time:now_epoch_millis)`, false, ptr(true)},
		{"not of ne", `not(ne(attributes/missing,1))`, true, ptr(false)},
		{"and or", `and(eq(attributes/count,42),or(eq(attributes/flag,false),exists(features/lamp)))`, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := Parse(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := SearchMatchesAt(n, car, now); got != tt.want {
				t.Errorf("SearchMatchesAt(%s) = %v, want %v", tt.filter, got, tt.want)
			}
			header := tt.want
			if tt.header != nil {
				header = *tt.header
			}
			if got := MatchesAt(n, car, now); got != header {
				t.Errorf("MatchesAt(%s) = %v, want %v", tt.filter, got, header)
			}
		})
	}
}

func ptr(b bool) *bool { return &b }
