package index

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// Policies of the conformance things.
var conformancePolicies = map[string]string{
	"org.eclipse.ditto:full": `{"entries":{"OWNER":{"subjects":{"nginx:owner":{"type":"t"}},"resources":{
	  "thing:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`,
	// attrs reads attributes but not attributes/secret; feat reads one
	// feature and one attribute.
	"org.eclipse.ditto:partial": `{"entries":{
	  "OWNER":{"subjects":{"nginx:owner":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}},
	  "ATTRS":{"subjects":{"nginx:attrs":{"type":"t"}},"resources":{
	    "thing:/attributes":{"grant":["READ"],"revoke":[]},
	    "thing:/attributes/secret":{"grant":[],"revoke":["READ"]}}},
	  "FEAT":{"subjects":{"nginx:feat":{"type":"t"}},"resources":{
	    "thing:/features/lamp":{"grant":["READ"],"revoke":[]},
	    "thing:/attributes/location":{"grant":["READ"],"revoke":[]}}}}}`,
	// Revokes at several depths, with a grant below a revoke.
	"com.acme:revokes": `{"entries":{
	  "OWNER":{"subjects":{"nginx:owner":{"type":"t"}},"resources":{
	    "thing:/":{"grant":["READ"],"revoke":[]},
	    "thing:/attributes/location":{"grant":[],"revoke":["READ"]},
	    "thing:/attributes/location/city":{"grant":["READ"],"revoke":[]},
	    "thing:/features/sensor/properties":{"grant":[],"revoke":["READ"]}}},
	  "OTHER":{"subjects":{"nginx:other":{"type":"t"}},"resources":{
	    "thing:/features":{"grant":["READ"],"revoke":[]},
	    "thing:/features/lamp/properties":{"grant":[],"revoke":["READ"]}}}}}`,
	// a reads all; b revokes attributes (so a+b do not read them) and
	// reads the sensor feature.
	"com.acme:interplay": `{"entries":{
	  "A":{"subjects":{"nginx:a":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}},
	  "B":{"subjects":{"nginx:b":{"type":"t"}},"resources":{
	    "thing:/attributes":{"grant":[],"revoke":["READ"]},
	    "thing:/features/sensor":{"grant":["READ"],"revoke":[]}}}}}`,
}

var conformanceCallers = [][]string{
	{"nginx:owner"}, {"nginx:attrs"}, {"nginx:feat"}, {"nginx:other"}, {"nginx:a"}, {"nginx:b"},
	{"nginx:a", "nginx:b"}, {"nginx:owner", "nginx:feat"}, {"nginx:attrs", "nginx:feat"}, {"nginx:nobody"},
}

var longString = strings.Repeat("long-ä-", 200) // 1,600 bytes: beyond the index limit

// conformanceThings builds the things: a few written by hand and more
// generated with varied values.
func conformanceThings() []string {
	things := []string{
		`{"thingId":"org.eclipse.ditto:car-1","policyId":"org.eclipse.ditto:full","definition":"org.eclipse.ditto:car:1.0.0",
		  "_created":"2024-01-01T10:00:00Z","_modified":"2024-05-06T07:08:09.123Z",
		  "attributes":{"manufacturer":"ACME","count":42,"ratio":22.26,"whole":7.0,"flag":true,"off":false,"nothing":null,
		    "emptyStr":"","emptyArr":[],"emptyObj":{},"tags":["red","fast",3],"location":{"city":"Berlin","zip":"10115"},
		    "owners":[{"name":"alice","age":30},{"name":"bob","age":40,"pets":[{"kind":"cat"}]},"loose",[{"name":"nested"}],[5,[6]]],
		    "unicode":"Straße ÄÖÜ","emoji":"😀","numstr":"42","mixed":[1,"2",null],"secret":{"pin":1234},"long":"` + longString + `"},
		  "features":{"lamp":{"definition":["org.eclipse.ditto:lamp:1.0.0"],"properties":{"on":true,"brightness":80,"color":{"r":255}},
		    "desiredProperties":{"brightness":100}},"sensor":{"properties":{"temperature":-12.5,"unit":"C"}},"empty":{}}}`,
		`{"thingId":"org.eclipse.ditto:car-2","policyId":"org.eclipse.ditto:partial","_created":"2024-02-01T10:00:00Z","_modified":"2099-01-01T00:00:00Z",
		  "attributes":{"manufacturer":"acme","count":42.0,"location":{"city":"Paris"},"secret":{"pin":"1234"},"tags":[],"long":"` + longString + `x"},
		  "features":{"lamp":{"properties":{"on":false,"brightness":80.5}},"sensor":{"properties":{"temperature":20,"unit":"F"},"desiredProperties":{"temperature":21}}}}`,
		`{"thingId":"com.acme:bike-1","policyId":"com.acme:revokes","_created":"2023-12-31T23:59:59Z","_modified":"2024-01-01T00:00:00Z",
		  "attributes":{"location":{"city":"Rome","zip":"00100"},"count":"42","flag":"true","tags":["blue"],"owners":[]},
		  "features":{"lamp":{"properties":{"on":true}},"sensor":{"properties":{"temperature":30},"desiredProperties":{"unit":"K"}}}}`,
		`{"thingId":"com.acme:bike-2","policyId":"com.acme:interplay","definition":"com.acme:bike:2",
		  "attributes":{"count":-1,"big":9007199254740993,"tiny":1e-7,"tags":["red",["deep"]],"emptyObj":{}},
		  "features":{"sensor":{"properties":{"temperature":-12.5,"unit":"C"}},"other":{"properties":{"unit":"C"}}}}`,
		`{"thingId":"com.acme:ghost","policyId":"com.acme:missing","attributes":{"count":42}}`,
		`{"thingId":"org.eclipse.ditto:bare","policyId":"org.eclipse.ditto:full"}`,
	}
	cities := []string{"Berlin", "berlin", "Bern", "Zürich", "", "Paris"}
	for i := range 26 {
		ns, pol := "org.eclipse.ditto", "org.eclipse.ditto:full"
		switch i % 4 {
		case 1:
			pol = "org.eclipse.ditto:partial"
		case 2:
			ns, pol = "com.acme", "com.acme:revokes"
		case 3:
			ns, pol = "com.acme", "com.acme:interplay"
		}
		var count string
		switch i % 5 {
		case 0:
			count = fmt.Sprint(i)
		case 1:
			count = fmt.Sprintf("%d.5", i)
		case 2:
			count = fmt.Sprintf(`"%d"`, i)
		case 3:
			count = "null"
		case 4:
			count = fmt.Sprintf("[%d,%d]", i, i*2)
		}
		flag := []string{"true", "false", `"x"`}[i%3]
		feature := fmt.Sprintf(`"f%d":{"properties":{"level":%d,"nested":{"deep":{"v":%d}}},"desiredProperties":{"level":%d}}`, i%3, i%7, i%4, i%5)
		if i%6 == 0 {
			feature += `,"lamp":{"properties":{"on":` + flag + `,"brightness":` + fmt.Sprint(i*10) + `}}`
		}
		things = append(things, fmt.Sprintf(`{"thingId":"%s:gen-%02d","policyId":"%s","definition":"%s:def:%d",
		  "_created":"2024-0%d-01T00:00:00Z","_modified":"2024-06-0%dT00:00:00Z",
		  "attributes":{"count":%s,"flag":%s,"location":{"city":"%s"},"list":[{"k":%d},{"k":"%d"}],"secret":{"pin":%d}},
		  "features":{%s}}`, ns, i, pol, ns, i%3, 1+i%9, 1+i%3, count, flag, cities[i%len(cities)], i%4, i%3, i, feature))
	}
	return things
}

func conformanceFixture(t testing.TB, opts ...Options) *fixture {
	t.Helper()
	enf := map[string]*enforcer.Enforcer{}
	for id, p := range conformancePolicies {
		e, err := enforcer.Compile(jsonv.MustParse(p))
		if err != nil {
			t.Fatal(err)
		}
		enf[id] = e
	}
	var docs []Doc
	for i, s := range conformanceThings() {
		thing := jsonv.MustParse(s)
		idv, _ := thing.Get("thingId")
		id, _ := idv.Str()
		pv, _ := thing.Get("policyId")
		pol, _ := pv.Str()
		d := Doc{ThingID: id, PolicyID: pol, Revision: int64(i + 1), Thing: thing}
		if e, ok := enf[pol]; ok {
			d.Access = e.Readers(namespaceOf(id), fixedNow)
		}
		docs = append(docs, d)
	}
	return newFixture(t, docs, enf, opts...)
}

var conformanceFilters = []string{
	``,
	`eq(thingId,"org.eclipse.ditto:car-1")`,
	`ne(thingId,"org.eclipse.ditto:car-1")`,
	`in(thingId,"org.eclipse.ditto:car-1","com.acme:bike-1","nope")`,
	`like(thingId,"*gen-1?")`,
	`gt(thingId,"com.acme:gen-10")`,
	`eq(policyId,"org.eclipse.ditto:partial")`,
	`like(policyId,"com.acme:*")`,
	`eq(_namespace,"com.acme")`,
	`in(_namespace,"com.acme","x")`,
	`gt(_revision,10)`, `le(_revision,3)`, `eq(_revision,5.0)`,
	`lt(_created,"2024-01-01T00:00:00Z")`, `ge(_modified,"2024-06-02")`,
	`lt(_modified,time:now)`, `gt(_modified,time:now)`, `gt(_modified,time:now-30d)`,
	`lt(_modified,time:now_epoch_millis)`,
	`exists(_created)`, `empty(_created)`,
	`eq(definition,"org.eclipse.ditto:car:1.0.0")`, `like(definition,"*:def:1")`, `exists(definition)`,
	`eq(attributes/count,42)`, `eq(attributes/count,"42")`, `eq(attributes/count,42.0)`,
	`ne(attributes/count,42)`, `gt(attributes/count,10)`, `ge(attributes/count,10.5)`, `lt(attributes/count,5)`, `le(attributes/count,"2")`,
	`gt(attributes/count,"1")`, `in(attributes/count,1,2,3,"7",null)`, `eq(attributes/count,null)`, `ne(attributes/count,null)`,
	`gt(attributes/count,null)`, `exists(attributes/count)`, `empty(attributes/count)`,
	`eq(attributes/flag,true)`, `eq(attributes/flag,"true")`, `lt(attributes/flag,true)`, `ge(attributes/flag,false)`, `gt(attributes/flag,false)`,
	`le(attributes/flag,true)`, `lt(attributes/flag,false)`,
	`eq(attributes/whole,7)`, `gt(attributes/ratio,22.25)`, `lt(attributes/tiny,0.000001)`, `eq(attributes/big,9007199254740993)`,
	`eq(attributes/nothing,null)`, `exists(attributes/nothing)`, `empty(attributes/nothing)`,
	`empty(attributes/emptyStr)`, `empty(attributes/emptyArr)`, `empty(attributes/emptyObj)`, `exists(attributes/emptyObj)`,
	`exists(attributes/emptyArr)`, `empty(attributes/tags)`, `empty(attributes/owners)`, `exists(attributes/owners)`,
	`eq(attributes/tags,"red")`, `ne(attributes/tags,"red")`, `eq(attributes/tags,3)`, `eq(attributes/tags,"deep")`, `like(attributes/tags,"r*")`,
	`eq(attributes/owners/name,"bob")`, `eq(attributes/owners/name,"nested")`, `gt(attributes/owners/age,35)`,
	`eq(attributes/owners/pets/kind,"cat")`, `eq(attributes/owners,"loose")`, `eq(attributes/owners,5)`, `eq(attributes/owners,6)`,
	`empty(attributes/owners/name)`, `exists(attributes/owners/name)`, `empty(attributes/owners/missing)`,
	`eq(attributes/mixed,"2")`, `eq(attributes/mixed,2)`, `eq(attributes/mixed,null)`,
	`eq(attributes/location/city,"Berlin")`, `ilike(attributes/location/city,"BER*")`, `like(attributes/location/city,"Be?n")`,
	`like(attributes/location/city,"*")`, `eq(attributes/location/city,"")`, `empty(attributes/location/city)`,
	`exists(attributes/location)`, `empty(attributes/location)`, `exists(attributes/location/zip)`, `gt(attributes/location/city,"Z")`,
	`like(attributes/location/city,"Z*")`, `ilike(attributes/unicode,"strasse*")`, `ilike(attributes/unicode,"STRAßE äöü")`,
	`gt(attributes/emoji,"\uffff")`, `like(attributes/emoji,"?")`,
	`eq(attributes/secret/pin,1234)`, `eq(attributes/secret/pin,"1234")`, `exists(attributes/secret)`, `gt(attributes/secret/pin,10)`,
	`eq(attributes/list/k,1)`, `eq(attributes/list/k,"1")`, `gt(attributes/list/k,1)`, `empty(attributes/list/k)`,
	`eq(attributes/long,"` + longString + `")`, `eq(attributes/long,"` + longString + `x")`, `ne(attributes/long,"` + longString + `")`,
	`like(attributes/long,"long-ä-*")`, `like(attributes/long,"*x")`, `in(attributes/long,"a","` + longString + `")`,
	`eq(features/lamp/properties/on,true)`, `eq(features/lamp/properties/brightness,80)`, `gt(features/lamp/properties/brightness,80)`,
	`exists(features/lamp)`, `exists(features/lamp/properties)`, `empty(features/empty)`, `exists(features/empty)`,
	`eq(features/lamp/definition,"org.eclipse.ditto:lamp:1.0.0")`, `exists(features/lamp/definition)`,
	`eq(features/lamp/desiredProperties/brightness,100)`, `eq(features/sensor/desiredProperties/temperature,21)`,
	`eq(features/sensor/properties/unit,"C")`, `lt(features/sensor/properties/temperature,0)`,
	`eq(features/*/properties/unit,"C")`, `eq(features/*/properties/level,3)`, `gt(features/*/desiredProperties/level,2)`,
	`exists(features/*/desiredProperties)`, `empty(features/*/properties/on)`, `exists(features/*)`, `exists(features/*/properties/nested/deep)`,
	`eq(features/*/properties/nested/deep/v,2)`, `eq(features/f1/properties/nested/deep/v,1)`, `like(features/*/properties/unit,"?")`,
	`ne(features/*/properties/unit,"C")`, `empty(features/*/properties/nested)`,
	`and(eq(attributes/count,42),eq(features/lamp/properties/on,true))`,
	`or(eq(attributes/flag,true),lt(_revision,3))`,
	`not(eq(attributes/flag,true))`, `not(exists(attributes/count))`, `not(ne(attributes/count,42))`,
	`and(or(eq(_namespace,"com.acme"),eq(attributes/flag,false)),not(gt(_revision,20)))`,
}

var conformanceSorts = [][]rql.SortKey{
	nil,
	{{Property: "thingId", Descending: true}},
	{{Property: "attributes/count"}},
	{{Property: "attributes/count", Descending: true}},
	{{Property: "attributes/flag"}, {Property: "_revision", Descending: true}},
	{{Property: "attributes/location/city"}, {Property: "_modified"}},
	{{Property: "features/lamp/properties/brightness", Descending: true}},
	{{Property: "attributes/tags", Descending: true}},
	{{Property: "attributes/owners/name"}},
	{{Property: "policyId"}, {Property: "thingId", Descending: true}, {Property: "_revision"}},
	{{Property: "attributes/long"}},
}

func hitIDs(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ThingID
	}
	return out
}

func refIDs(hits []refHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.id
	}
	return out
}

// TestConformance runs every filter for every caller, and every sort for a
// few filters with page-by-page cursor walks and limit(offset,count),
// against the index and the in-memory reference.
// TestConformance runs the cases on the index as it answers them (fast
// paths included) and with the general statement only.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  Options
	}{{"fast", Options{}}, {"general", Options{NoFastPaths: true}},
		// thingId order walked three things at a time, giving up after 9
		// (so both the walk and its fallback answer).
		{"small walks", Options{walkBatch: 3, walkBudget: 9}},
		// Every statement reads only the sets with rows at its paths.
		{"sets asked", Options{askSets: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conformance(t, conformanceFixture(t, tc.opt))
		})
	}
}

func conformance(t *testing.T, fx *fixture) {
	ctx := context.Background()
	for _, fs := range conformanceFilters {
		var filter rql.Node
		if fs != "" {
			n, err := rql.Parse(fs)
			if err != nil {
				t.Fatalf("parse %s: %v", fs, err)
			}
			filter = n
		}
		for _, caller := range conformanceCallers {
			q := Query{Filter: filter, Subjects: caller, Limit: 1000, Now: fixedNow}
			fx.check(t, ctx, fs, q)
		}
	}
	for _, sort := range conformanceSorts {
		for _, fs := range []string{``, `exists(attributes)`, `or(eq(_namespace,"com.acme"),exists(attributes/count))`,
			// Things named by id, some of which a caller may not read.
			`in(thingId,"org.eclipse.ditto:car-1","org.eclipse.ditto:car-2","com.acme:bike-1","com.acme:bike-2","com.acme:ghost",` +
				`"org.eclipse.ditto:bare","org.eclipse.ditto:gen-00","org.eclipse.ditto:gen-01","com.acme:gen-02","com.acme:gen-03","com.acme:gen-06","nope")`} {
			var filter rql.Node
			if fs != "" {
				filter, _ = rql.Parse(fs)
			}
			for _, caller := range conformanceCallers {
				q := Query{Filter: filter, Sort: sort, Subjects: caller, Limit: 1000, Now: fixedNow}
				want := fx.check(t, ctx, fmt.Sprintf("%s sort %v", fs, sort), q)
				fx.walk(t, ctx, q, want, 3)
				fx.walk(t, ctx, q, want, 7)
				for _, lim := range [][2]int{{0, 5}, {4, 5}, {20, 100}} {
					q2 := q
					q2.Offset, q2.Limit = lim[0], lim[1]
					got, err := fx.ix.Query(ctx, q2)
					if err != nil {
						t.Fatal(err)
					}
					end := min(len(want), lim[0]+lim[1]+1)
					var exp []string
					if lim[0] < len(want) {
						exp = refIDs(want[lim[0]:end])
					}
					if !slices.Equal(hitIDs(got), exp) {
						t.Errorf("%s sort %v caller %v limit %v:\n got %v\nwant %v", fs, sort, caller, lim, hitIDs(got), exp)
					}
				}
			}
		}
	}
	// Namespaces, with the count and sort fast paths: one namespace, both,
	// one with nothing in it.
	for _, ns := range [][]string{{"com.acme"}, {"org.eclipse.ditto"}, {"com.acme", "org.eclipse.ditto"}, {"net.none"}} {
		for _, caller := range conformanceCallers {
			for _, fs := range []string{``, `exists(attributes/count)`, `gt(attributes/count,3)`} {
				var filter rql.Node
				if fs != "" {
					filter, _ = rql.Parse(fs)
				}
				for _, sort := range [][]rql.SortKey{nil, {{Property: "attributes/count"}}, {{Property: "attributes/count", Descending: true}}} {
					q := Query{Filter: filter, Sort: sort, Subjects: caller, Namespaces: ns, Limit: 100, Now: fixedNow}
					fx.check(t, ctx, fmt.Sprintf("namespaces %v %s sort %v", ns, fs, sort), q)
				}
			}
		}
	}
}

// check compares one query's hits and count with the reference and returns
// the reference hits.
func (fx *fixture) check(t *testing.T, ctx context.Context, name string, q Query) []refHit {
	t.Helper()
	want := fx.refQuery(q)
	got, err := fx.ix.Query(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !slices.Equal(hitIDs(got), refIDs(want)) {
		t.Errorf("%s caller %v:\n got %v\nwant %v", clip(name), q.Subjects, hitIDs(got), refIDs(want))
		return want
	}
	for i := range got {
		if !sortValuesEqual(got[i].SortValues, want[i].sort) {
			t.Errorf("%s caller %v: sort values of %s: got %v, want %v", clip(name), q.Subjects, got[i].ThingID, got[i].SortValues, want[i].sort)
		}
	}
	n, err := fx.ix.Count(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(want)) {
		t.Errorf("%s caller %v: count %d, want %d", clip(name), q.Subjects, n, len(want))
	}
	return want
}

// walk pages through q with cursors of size page and compares the pages
// with want.
func (fx *fixture) walk(t *testing.T, ctx context.Context, q Query, want []refHit, page int) {
	t.Helper()
	q.Limit = page
	var all []string
	for range len(want) + 2 {
		hits, err := fx.ix.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		more := len(hits) > page
		if more {
			hits = hits[:page]
		}
		all = append(all, hitIDs(hits)...)
		if !more {
			break
		}
		q.After = hits[len(hits)-1].SortValues
	}
	if !slices.Equal(all, refIDs(want)) {
		t.Errorf("cursor walk sort %v caller %v page %d:\n got %v\nwant %v", q.Sort, q.Subjects, page, all, refIDs(want))
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// TestConformanceAnchors pins a few answers by hand, so that the index and
// the reference cannot agree on something wrong.
func TestConformanceAnchors(t *testing.T) {
	t.Parallel()
	fx := conformanceFixture(t)
	ctx := context.Background()
	tests := []struct {
		filter string
		caller []string
		want   []string
	}{
		{`eq(attributes/count,42)`, []string{"nginx:owner"}, []string{"org.eclipse.ditto:car-1", "org.eclipse.ditto:car-2"}},
		// bike-1's count is the string "42"; ghost has no policy.
		{`eq(attributes/count,"42")`, []string{"nginx:owner"}, []string{"com.acme:bike-1"}},
		// attrs may not read attributes/secret.
		{`exists(attributes/secret)`, []string{"nginx:attrs"}, nil},
		{`eq(attributes/location/city,"Paris")`, []string{"nginx:feat"}, []string{"org.eclipse.ditto:car-2", "org.eclipse.ditto:gen-05", "org.eclipse.ditto:gen-17"}},
		// owner of bike-1 reads location/city (granted below the revoke) but not zip.
		{`exists(attributes/location/zip)`, []string{"nginx:owner"}, []string{"org.eclipse.ditto:car-1"}},
		{`eq(attributes/location/city,"Rome")`, []string{"nginx:owner"}, []string{"com.acme:bike-1"}},
		// a alone reads bike-2's attributes; a with b does not.
		{`eq(attributes/count,-1)`, []string{"nginx:a"}, []string{"com.acme:bike-2"}},
		{`eq(attributes/count,-1)`, []string{"nginx:a", "nginx:b"}, nil},
		// Both long strings are cut to the same indexed prefix, as in Ditto.
		{`eq(attributes/long,"` + longString + `")`, []string{"nginx:owner"}, []string{"org.eclipse.ditto:car-1", "org.eclipse.ditto:car-2"}},
		{`like(attributes/long,"*x")`, []string{"nginx:owner"}, nil},
		{`eq(thingId,"com.acme:ghost")`, []string{"nginx:owner"}, nil},
	}
	for _, tt := range tests {
		n, err := rql.Parse(tt.filter)
		if err != nil {
			t.Fatal(err)
		}
		q := Query{Filter: n, Subjects: tt.caller, Limit: 100, Now: fixedNow}
		got, err := fx.ix.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(hitIDs(got), tt.want) {
			t.Errorf("%s caller %v: got %v, want %v", clip(tt.filter), tt.caller, hitIDs(got), tt.want)
		}
		if ref := refIDs(fx.refQuery(q)); !slices.Equal(ref, tt.want) {
			t.Errorf("%s caller %v: reference %v, want %v", clip(tt.filter), tt.caller, ref, tt.want)
		}
	}
}

var _ = time.Now

// TestRememberedAnswersTellValueTypesApart runs, on one index state, a
// sorted page filtered by the string "42" and then by the number 42: the
// first remembers that none of its things lacks the sort value, which must
// not answer the second (car-2 counts 42 and has no tags), as it did when
// the remembered answer's key wrote both values alike.
func TestRememberedAnswersTellValueTypesApart(t *testing.T) {
	t.Parallel()
	fx := conformanceFixture(t)
	ctx := context.Background()
	sort := []rql.SortKey{{Property: "attributes/tags", Descending: true}, {Property: "thingId"}}
	for _, tt := range []struct {
		filter string
		want   []string
	}{
		{`eq(attributes/count,"42")`, []string{"com.acme:bike-1"}},
		{`eq(attributes/count,42)`, []string{"org.eclipse.ditto:car-1", "org.eclipse.ditto:car-2"}},
	} {
		q := Query{Filter: mustParse(tt.filter), Subjects: []string{"nginx:owner"}, Sort: sort, Limit: 100, Now: fixedNow}
		got, err := fx.ix.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(hitIDs(got), tt.want) {
			t.Errorf("%s sorted by -attributes/tags: got %v, want %v", tt.filter, hitIDs(got), tt.want)
		}
		if ref := refIDs(fx.refQuery(q)); !slices.Equal(ref, tt.want) {
			t.Errorf("%s: reference %v, want %v", tt.filter, ref, tt.want)
		}
	}
}

func TestArgsKeyTellsArgumentsApart(t *testing.T) {
	t.Parallel()
	distinct := [][]any{
		{"42"}, {int64(42)}, {float64(42.5)}, {[]byte("42")},
		{"a", "b"}, {"ab"}, {"a\x00b"}, {"a", "\x00b"}, {}, {nil},
	}
	seen := map[string]int{}
	for i, args := range distinct {
		k := argsKey(args)
		if j, ok := seen[k]; ok {
			t.Errorf("argsKey(%#v) = argsKey(%#v) = %q", args, distinct[j], k)
		}
		seen[k] = i
	}
}
