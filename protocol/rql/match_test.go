package rql

import (
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

const carJSON = `{
  "thingId": "org.eclipse.ditto:car-1",
  "policyId": "org.eclipse.ditto:car-policy",
  "definition": "org.eclipse.ditto:car:1.0.0",
  "_namespace": "org.eclipse.ditto",
  "_revision": 42,
  "_created": "2024-01-01T10:00:00Z",
  "_modified": "2024-05-06T07:08:09.123Z",
  "attributes": {
    "manufacturer": "ACME",
    "count": 42,
    "zero": 0,
    "ratio": 22.26,
    "big": 42456489489489,
    "whole": 7.0,
    "flag": true,
    "off": false,
    "nothing": null,
    "emptyStr": "",
    "emptyArr": [],
    "emptyObj": {},
    "tags": ["red", "fast", 3],
    "location": {"city": "Berlin", "zip": "10115"},
    "owners": [
      {"name": "alice", "age": 30},
      {"name": "bob", "age": 40, "pets": [{"kind": "cat"}]},
      "loose",
      [{"name": "nested"}]
    ],
    "multiline": "line1\nline2",
    "unicode": "Straße ÄÖÜ",
    "emoji": "😀",
    "numstr": "42",
    "mixed": [1, "2", null],
    "huge": 1e400,
    "ts": 1714979289000
  },
  "features": {
    "lamp": {
      "definition": ["org.eclipse.ditto:lamp:1.0.0"],
      "properties": {"on": true, "brightness": 80, "color": {"r": 255}},
      "desiredProperties": {"brightness": 100}
    },
    "sensor": {"properties": {"temperature": -12.5, "unit": "C"}},
    "empty": {}
  },
  "_metadata": {"attributes": {"count": {"issuedBy": "sensor-1"}}}
}`

// now is the evaluation time: one second after the car's _modified.
var now = time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)

func TestMatches(t *testing.T) {
	t.Parallel()
	car := jsonv.MustParse(carJSON)
	tests := []struct {
		name   string
		filter string
		want   bool
	}{
		// Simple fields.
		{"thingId eq", `eq(thingId,"org.eclipse.ditto:car-1")`, true},
		{"thingId eq other", `eq(thingId,"org.eclipse.ditto:car-2")`, false},
		{"thingId leading slash", `eq(/thingId,"org.eclipse.ditto:car-1")`, true},
		{"policyId like", `like(policyId,"*:car-policy")`, true},
		{"definition", `eq(definition,"org.eclipse.ditto:car:1.0.0")`, true},
		{"namespace", `eq(_namespace,"org.eclipse.ditto")`, true},
		{"revision eq", `eq(_revision,42)`, true},
		{"revision gt", `gt(_revision,41)`, true},
		{"revision ge decimal", `ge(_revision,42.0)`, true},
		{"revision gt equal", `gt(_revision,42)`, false},
		{"revision exists", `exists(_revision)`, true},
		{"created lt", `lt(_created,"2024-01-02")`, true},
		{"metadata", `eq(_metadata/attributes/count/issuedBy,"sensor-1")`, true},

		// Numbers.
		{"int eq decimal", `eq(attributes/count,42.0)`, true},
		{"int eq numeric string", `eq(attributes/count,"42")`, true},
		{"int eq numeric string with exponent", `eq(attributes/count,"4.2E1")`, true},
		{"int gt numeric string", `gt(attributes/count,"41.5")`, true},
		{"int eq other string", `eq(attributes/count,"abc")`, false},
		{"int ne other string", `ne(attributes/count,"abc")`, true},
		{"int vs other string orders by text", `lt(attributes/count,"abc")`, true},
		{"numeric string eq int", `eq(attributes/numstr,42)`, true},
		{"numeric string eq decimal", `eq(attributes/numstr,42.0)`, true},
		{"numeric string vs numeric string is textual", `eq(attributes/numstr,"42.0")`, false},
		{"decimal eq", `eq(attributes/ratio,22.26)`, true},
		{"decimal gt int", `gt(attributes/ratio,22)`, true},
		{"decimal lt decimal", `lt(attributes/ratio,22.27)`, true},
		{"decimal le equal", `le(attributes/ratio,22.26)`, true},
		{"decimal lt equal", `lt(attributes/ratio,22.26)`, false},
		{"long ge", `ge(attributes/big,42456489489489)`, true},
		{"long gt", `gt(attributes/big,42456489489489)`, false},
		{"whole decimal eq int", `eq(attributes/whole,7)`, true},
		{"negative", `lt(features/sensor/properties/temperature,-12)`, true},
		{"beyond float64 compares exactly", `gt(attributes/huge,9223372036854775807)`, true},
		{"millis placeholder meets number", `lt(attributes/ts,time:now_epoch_millis)`, true},

		// Booleans and mixed kinds.
		{"bool eq", `eq(attributes/flag,true)`, true},
		{"bool eq string form", `eq(attributes/flag,"true")`, true},
		{"bool eq number", `eq(attributes/flag,1)`, false},
		{"bool gt false", `gt(attributes/flag,false)`, true},
		{"bool ne", `ne(attributes/off,true)`, true},
		{"string gt", `gt(attributes/manufacturer,"AB")`, true},
		{"string le", `le(attributes/manufacturer,"ACME")`, true},
		{"string orders by UTF-16", `lt(attributes/emoji,"\uffff")`, true},

		// null.
		{"null eq null", `eq(attributes/nothing,null)`, true},
		{"null ne null", `ne(attributes/nothing,null)`, false},
		{"null gt null", `gt(attributes/nothing,null)`, false},
		{"null eq string", `eq(attributes/nothing,"null")`, false},
		{"value eq null", `eq(attributes/count,null)`, false},
		{"value ne null", `ne(attributes/count,null)`, true},
		{"null exists", `exists(attributes/nothing)`, true},
		{"null is empty", `empty(attributes/nothing)`, true},
		{"null in null", `in(attributes/nothing,1,null)`, true},
		{"unresolvable placeholder is null", `eq(attributes/nothing,time:whenever)`, true},

		// Missing properties.
		{"missing eq", `eq(attributes/missing,1)`, false},
		{"missing ne", `ne(attributes/missing,1)`, true},
		{"missing gt", `gt(attributes/missing,1)`, false},
		{"missing in", `in(attributes/missing,1,2)`, false},
		{"missing like", `like(attributes/missing,"*")`, false},
		{"missing exists", `exists(attributes/missing)`, false},
		{"missing empty", `empty(attributes/missing)`, true},
		{"missing below a value", `exists(attributes/count/deeper)`, false},

		// Objects.
		{"object eq", `eq(attributes/location,"Berlin")`, false},
		{"object ne", `ne(attributes/location,"Berlin")`, true},
		{"object exists", `exists(attributes/location)`, true},
		{"object not empty", `empty(attributes/location)`, false},
		{"nested object", `eq(attributes/location/city,"Berlin")`, true},

		// Empty.
		{"empty string", `empty(attributes/emptyStr)`, true},
		{"empty array", `empty(attributes/emptyArr)`, true},
		{"empty object", `empty(attributes/emptyObj)`, true},
		{"zero not empty", `empty(attributes/zero)`, false},
		{"false not empty", `empty(attributes/off)`, false},
		{"not empty", `not(empty(attributes/tags))`, true},

		// Arrays at the end are flattened: any element matches.
		{"array eq element", `eq(attributes/tags,"fast")`, true},
		{"array eq number element", `eq(attributes/tags,3)`, true},
		{"array ne present element", `ne(attributes/tags,"red")`, false},
		{"array ne absent element", `ne(attributes/tags,"blue")`, true},
		{"array like", `like(attributes/tags,"f*")`, true},
		{"array in", `in(attributes/tags,"x","red")`, true},
		{"array gt", `gt(attributes/tags,2)`, true},
		{"array mixed numeric string", `eq(attributes/mixed,2)`, true},
		{"array mixed null", `eq(attributes/mixed,null)`, true},

		// Arrays on the way are crossed: each object element is searched.
		{"crossed eq", `eq(attributes/owners/name,"bob")`, true},
		{"crossed eq absent", `eq(attributes/owners/name,"carol")`, false},
		{"crossed gt", `gt(attributes/owners/age,35)`, true},
		{"crossed lt", `lt(attributes/owners/age,30)`, false},
		{"crossed twice", `eq(attributes/owners/pets/kind,"cat")`, true},
		{"nested arrays are skipped", `eq(attributes/owners/name,"nested")`, false},
		{"crossed exists", `exists(attributes/owners/name)`, true},
		{"crossed not empty", `empty(attributes/owners/name)`, false},
		{"crossed nothing found is empty", `empty(attributes/owners/unknown)`, true},
		{"crossed nothing found does not exist", `exists(attributes/owners/unknown)`, false},

		// like and ilike.
		{"like prefix", `like(thingId,"org.eclipse.ditto:*")`, true},
		{"like suffix and single", `like(thingId,"*car-?")`, true},
		{"like middle", `like(thingId,"org.eclipse.ditto*1")`, true},
		{"like is anchored", `like(thingId,"car")`, false},
		{"like repeated stars", `like(thingId,"**car-1")`, true},
		{"like is case sensitive", `like(thingId,"*CAR*")`, false},
		{"ilike ignores case", `ilike(thingId,"*CAR*")`, true},
		{"ilike folds unicode", `ilike(attributes/unicode,"straße äöü")`, true},
		{"like dot is literal", `like(attributes/location/zip,"101.5")`, false},
		{"like question mark", `like(attributes/location/zip,"1011?")`, true},
		{"like question mark needs a character", `like(attributes/location/zip,"10115?")`, false},
		{"like regex metacharacters are literal", `like(attributes/manufacturer,"A[C]ME")`, false},
		{"like star stops at line break", `like(attributes/multiline,"line1*")`, false},
		{"like question mark skips no line break", `like(attributes/multiline,"line1?line2")`, false},
		{"like literal line break", `like(attributes/multiline,"line1\nline2")`, true},
		{"like on number", `like(attributes/count,"4*")`, true},
		{"like on decimal", `like(attributes/ratio,"22.2?")`, true},
		{"like on whole decimal", `like(attributes/whole,"7")`, true},
		{"like on bool", `like(attributes/flag,"tr*")`, true},
		{"like on null", `like(attributes/nothing,"*")`, false},
		{"like star matches empty", `like(attributes/emptyStr,"*")`, true},

		// in.
		{"in number", `in(attributes/count,1,2,42)`, true},
		{"in none", `in(attributes/count,"a","b")`, false},
		{"in thingId", `in(thingId,"a:b","org.eclipse.ditto:car-1")`, true},

		// Features.
		{"feature exists", `exists(features/lamp)`, true},
		{"feature missing", `exists(features/missing)`, false},
		{"feature properties exist", `exists(features/lamp/properties)`, true},
		{"feature desired properties missing", `exists(features/sensor/desiredProperties)`, false},
		{"feature definition exists", `exists(features/lamp/definition)`, true},
		{"feature definition like", `like(features/lamp/definition,"*:lamp:*")`, true},
		{"empty feature", `empty(features/empty)`, true},
		{"feature with content not empty", `empty(features/lamp)`, false},
		{"missing feature empty", `empty(features/missing)`, true},
		{"missing feature properties empty", `empty(features/empty/properties)`, true},
		{"feature property", `eq(features/lamp/properties/brightness,80)`, true},
		{"feature property nested", `eq(features/lamp/properties/color/r,255)`, true},
		{"feature desired property", `eq(features/lamp/desiredProperties/brightness,100)`, true},
		{"wildcard feature eq", `eq(features/*/properties/unit,"C")`, true},
		{"wildcard feature lt", `lt(features/*/properties/temperature,0)`, true},
		{"wildcard feature definition", `like(features/*/definition,"org.eclipse.ditto:lamp:*")`, true},
		{"wildcard feature exists", `exists(features/*/properties/nonexistent)`, false},
		{"wildcard feature not empty", `empty(features/*/properties/unit)`, false},
		{"wildcard feature ne", `ne(features/*/properties/unit,"C")`, false},

		// Time placeholders.
		{"modified before now", `lt(_modified,time:now)`, true},
		{"modified after an hour ago", `gt(_modified,time:now-1h)`, true},
		{"modified before a day ago", `lt(_modified,time:now-1d)`, false},
		{"modified since start of day", `ge(_modified,time:now[d])`, true},

		// Logic.
		{"and", `and(eq(attributes/count,42),eq(attributes/flag,true))`, true},
		{"and one false", `and(eq(attributes/count,42),eq(attributes/flag,false))`, false},
		{"or", `or(eq(attributes/count,1),eq(attributes/flag,true))`, true},
		{"or none", `or(eq(attributes/count,1),eq(attributes/flag,false))`, false},
		{"not", `not(eq(attributes/count,1))`, true},
		{"nested", `and(or(eq(attributes/count,1),exists(features/lamp)),not(like(thingId,"*car-2")))`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := Parse(tt.filter)
			if err != nil {
				t.Fatalf("Parse(%q): got error %v, want none", tt.filter, err)
			}
			if got := MatchesAt(n, car, now); got != tt.want {
				t.Errorf("MatchesAt(%s): got %t, want %t", tt.filter, got, tt.want)
			}
		})
	}
}

func TestMatchesNamespaceFromThingID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		thing string
		want  bool
	}{
		{"derived", `{"thingId":"org.eclipse.ditto:car-1"}`, true},
		{"explicit wins", `{"thingId":"org.eclipse.ditto:car-1","_namespace":"other"}`, false},
		{"no thingId", `{"policyId":"org.eclipse.ditto:p"}`, false},
	}
	n, err := Parse(`eq(_namespace,"org.eclipse.ditto")`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Matches(n, jsonv.MustParse(tt.thing)); got != tt.want {
				t.Errorf("Matches on %s: got %t, want %t", tt.thing, got, tt.want)
			}
		})
	}
}

func TestMatchesHandBuilt(t *testing.T) {
	t.Parallel()
	thing := jsonv.MustParse(`{"attributes":{"a":1}}`)
	tests := []struct {
		name string
		node Node
		want bool
	}{
		{"empty and", lg(And), true},
		{"empty or", lg(Or), false},
		{"like without value", cmp(Like, "attributes/a"), false},
		{"gt without value", cmp(Gt, "attributes/a"), false},
		{"root property exists", cmp(Exists, "/"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Matches(tt.node, thing); got != tt.want {
				t.Errorf("Matches(%s): got %t, want %t", tt.node, got, tt.want)
			}
		})
	}
}

func FuzzMatches(f *testing.F) {
	f.Add(`eq(attributes/count,42)`, carJSON)
	f.Add(`like(attributes/tags,"f*\u00e4?")`, `{"attributes":{"tags":["fxä","\xff"]}}`)
	f.Add(`ilike(features/*/properties/a,"*")`, `{"features":{"f":{"properties":{"a":[1,"x",null,{}]}}}}`)
	f.Add(`and(empty(attributes/a/b),exists(_namespace))`, `{"thingId":"a:b","attributes":{"a":[{"b":""},3]}}`)
	f.Add(`lt(_modified,time:now-1d[w])`, `{"_modified":"2024-01-01T00:00:00Z"}`)
	f.Fuzz(func(t *testing.T, filter, thing string) {
		n, err := Parse(filter)
		if err != nil {
			return
		}
		v, err := jsonv.ParseString(thing)
		if err != nil {
			return
		}
		got := MatchesAt(n, v, now)
		if neg := MatchesAt(lg(Not, n), v, now); neg == got {
			t.Fatalf("%s and its negation both gave %t on %s", n, got, thing)
		}
		n2, err := Parse(n.String())
		if err != nil {
			t.Fatalf("Parse(%q): got error %v, want none", n.String(), err)
		}
		if again := MatchesAt(n2, v, now); again != got {
			t.Fatalf("%s gave %t, its canonical form %t, on %s", filter, got, again, thing)
		}
	})
}
