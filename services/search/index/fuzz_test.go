package index

import (
	"context"
	"slices"
	"testing"

	"github.com/dittonats/dittonats/protocol/rql"
)

var (
	fuzzPaths = []string{
		"thingId", "policyId", "_namespace", "_revision", "_created", "_modified", "definition",
		"attributes", "attributes/count", "attributes/flag", "attributes/tags", "attributes/owners", "attributes/owners/name",
		"attributes/owners/age", "attributes/location", "attributes/location/city", "attributes/nothing", "attributes/emptyObj",
		"attributes/emptyArr", "attributes/mixed", "attributes/secret/pin", "attributes/list/k", "attributes/long",
		"features", "features/lamp", "features/lamp/properties/on", "features/lamp/properties/brightness",
		"features/*/properties/unit", "features/*/properties/level", "features/*/desiredProperties", "features/*",
		"features/sensor/properties/temperature", "features/*/properties/nested/deep/v",
	}
	fuzzValues = []rql.Value{
		rql.NullValue(), rql.IntValue(0), rql.IntValue(42), rql.IntValue(3), rql.IntValue(-1), rql.FloatValue(42.0),
		rql.FloatValue(22.26), rql.FloatValue(-12.5), rql.BoolValue(true), rql.BoolValue(false),
		rql.StringValue("42"), rql.StringValue("red"), rql.StringValue("Berlin"), rql.StringValue(""),
		rql.StringValue("C"), rql.StringValue("com.acme"), rql.StringValue("2024-06-02"), rql.StringValue("bob"),
		rql.StringValue(longString), rql.StringValue("org.eclipse.ditto:car-1"),
	}
	fuzzPatterns = []string{"*", "?", "B*", "*e*", "r?d", "*:car-?", "2024-0?-*", "long-ä-*", "Z*"}
	fuzzCallers  = conformanceCallers
	fuzzSorts    = conformanceSorts
)

// filterFrom builds a filter from fuzz bytes; it consumes bytes from *in.
func filterFrom(in *[]byte, depth int) rql.Node {
	next := func() int {
		if len(*in) == 0 {
			return 0
		}
		b := (*in)[0]
		*in = (*in)[1:]
		return int(b)
	}
	op := next() % 16
	if depth > 3 && op >= 11 {
		op %= 11
	}
	path := fuzzPaths[next()%len(fuzzPaths)]
	val := func() rql.Value { return fuzzValues[next()%len(fuzzValues)] }
	cmp := func(o rql.CompareOp, vs ...rql.Value) rql.Node {
		return &rql.Comparison{Op: o, Property: path, Values: vs}
	}
	switch op {
	case 0:
		return cmp(rql.Eq, val())
	case 1:
		return cmp(rql.Ne, val())
	case 2:
		return cmp(rql.Gt, val())
	case 3:
		return cmp(rql.Ge, val())
	case 4:
		return cmp(rql.Lt, val())
	case 5:
		return cmp(rql.Le, val())
	case 6:
		return cmp(rql.In, val(), val(), val())
	case 7:
		return cmp(rql.Like, rql.StringValue(fuzzPatterns[next()%len(fuzzPatterns)]))
	case 8:
		return cmp(rql.ILike, rql.StringValue(fuzzPatterns[next()%len(fuzzPatterns)]))
	case 9:
		return cmp(rql.Exists)
	case 10:
		return cmp(rql.Empty)
	case 11, 12:
		return &rql.Logical{Op: rql.And, Children: []rql.Node{filterFrom(in, depth+1), filterFrom(in, depth+1)}}
	case 13, 14:
		return &rql.Logical{Op: rql.Or, Children: []rql.Node{filterFrom(in, depth+1), filterFrom(in, depth+1)}}
	default:
		return &rql.Logical{Op: rql.Not, Children: []rql.Node{filterFrom(in, depth+1)}}
	}
}

// FuzzDifferential runs random filters, sorts and callers against the
// index and the in-memory reference.
func FuzzDifferential(f *testing.F) {
	fx := conformanceFixture(f)
	for _, seed := range [][]byte{
		{0, 8, 1}, {1, 9, 10}, {11, 0, 8, 1, 10, 20}, {15, 9, 2}, {6, 12, 3, 4, 5}, {7, 27, 3}, {10, 30}, {13, 2, 4, 7, 9, 6, 5},
	} {
		f.Add(seed, uint8(0), uint8(0))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte, caller, sort uint8) {
		in := data
		n := filterFrom(&in, 0)
		q := Query{
			Filter:   n,
			Subjects: fuzzCallers[int(caller)%len(fuzzCallers)],
			Sort:     fuzzSorts[int(sort)%len(fuzzSorts)],
			Limit:    1000,
			Now:      fixedNow,
		}
		want := refIDs(fx.refQuery(q))
		hits, err := fx.ix.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", clip(n.String()), err)
		}
		if got := hitIDs(hits); !slices.Equal(got, want) {
			t.Fatalf("%s caller %v sort %v:\n got %v\nwant %v", clip(n.String()), q.Subjects, q.Sort, got, want)
		}
		cnt, err := fx.ix.Count(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if cnt != int64(len(want)) {
			t.Fatalf("%s: count %d, want %d", clip(n.String()), cnt, len(want))
		}
	})
}
