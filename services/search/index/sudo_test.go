package index

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
)

// refSudoView is the whole thing as the index holds it for a sudo query:
// every part, whoever may read it, strings cut as the index cuts them.
func refSudoView(d Doc) jsonv.Value {
	ns := namespaceOf(d.ThingID)
	var members []jsonv.Member
	for _, k := range policyFields {
		if v, ok := d.Thing.Get(k); ok {
			members = append(members, jsonv.Member{Key: k, Value: cutStrings(v, k, thingOverhead(d.ThingID))})
		}
	}
	members = append(members,
		jsonv.Member{Key: "thingId", Value: jsonv.String(d.ThingID)},
		jsonv.Member{Key: "_namespace", Value: jsonv.String(ns)},
		jsonv.Member{Key: "_revision", Value: jsonv.Int(d.Revision)})
	for _, k := range []string{"_created", "_modified"} {
		if v, ok := d.Thing.Get(k); ok {
			members = append(members, jsonv.Member{Key: k, Value: v})
		}
	}
	return jsonv.Object(members...)
}

// refSudo returns the things matching q whoever may read them.
func (fx *fixture) refSudo(q Sudo) []Doc {
	var out []Doc
	for _, d := range fx.docs {
		if len(q.Namespaces) > 0 && !slices.Contains(q.Namespaces, namespaceOf(d.ThingID)) {
			continue
		}
		if q.Filter != nil && !rql.SearchMatchesAt(cutOperands(q.Filter, thingOverhead(d.ThingID)), refSudoView(d), q.Now) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// SudoCount counts every thing a filter matches, also those nobody may
// read (com.acme:ghost's policy is missing) and parts only some may read,
// as the in-memory reference does with the whole thing.
func TestSudoCount(t *testing.T) {
	t.Parallel()
	fx := conformanceFixture(t)
	ctx := context.Background()
	for _, ns := range [][]string{nil, {"com.acme"}, {"org.eclipse.ditto", "net.none"}} {
		for _, fs := range conformanceFilters {
			var filter rql.Node
			if fs != "" {
				n, err := rql.Parse(fs)
				if err != nil {
					t.Fatalf("parse %s: %v", fs, err)
				}
				filter = n
			}
			q := Sudo{Filter: filter, Namespaces: ns, Now: fixedNow}
			want := len(fx.refSudo(q))
			got, err := fx.ix.SudoCount(ctx, q)
			if err != nil {
				t.Fatalf("%s %v: %v", clip(fs), ns, err)
			}
			if got != int64(want) {
				t.Errorf("sudo count of %s in %v: got %d, want %d", clip(fs), ns, got, want)
			}
		}
	}
	// Nobody reads the ghost, yet it is counted.
	n, _ := rql.Parse(`eq(thingId,"com.acme:ghost")`)
	if got, err := fx.ix.SudoCount(ctx, Sudo{Filter: n}); err != nil || got != 1 {
		t.Errorf("sudo count of the unreadable ghost: %d, %v; want 1", got, err)
	}
}

// SudoGroupCount gives one group per distinct combination of values, with
// the things that have it, compared with grouping the reference's matches
// in Go.
func TestSudoGroupCount(t *testing.T) {
	t.Parallel()
	fx := conformanceFixture(t)
	ctx := context.Background()
	// The value of a field as a group key: its JSON, "-" when missing.
	keyOf := func(thing jsonv.Value, field string) string {
		v, ok := thing.At(jsonv.Pointer(strings.Split(field, "/")))
		if !ok {
			return "-"
		}
		return v.String()
	}
	groupings := [][]string{
		{"attributes/location/city"},
		{"attributes/location/city", "attributes/flag"},
		{"/attributes/count"},   // numbers, strings, null, arrays
		{"attributes/location"}, // objects
		{"features/lamp/properties/on", "policyId"},
	}
	for _, by := range groupings {
		for _, fs := range []string{``, `exists(attributes/count)`, `eq(_namespace,"com.acme")`, `eq(attributes/nope,1)`} {
			var filter rql.Node
			if fs != "" {
				filter, _ = rql.Parse(fs)
			}
			q := Sudo{Filter: filter, Now: fixedNow}
			want := map[string]int64{}
			for _, d := range fx.refSudo(q) {
				var key []string
				for _, f := range by {
					key = append(key, keyOf(d.Thing, strings.TrimPrefix(f, "/")))
				}
				want[strings.Join(key, " | ")]++
			}
			groups, err := fx.ix.SudoGroupCount(ctx, q, by)
			if err != nil {
				t.Fatalf("group %v by %s: %v", by, fs, err)
			}
			got := map[string]int64{}
			for _, g := range groups {
				var key []string
				for _, v := range g.Values {
					if v == nil {
						key = append(key, "-")
						continue
					}
					// SQLite writes JSON its own way: compare as jsonv does.
					key = append(key, jsonv.MustParse(string(v)).String())
				}
				k := strings.Join(key, " | ")
				if _, dup := got[k]; dup {
					t.Errorf("group by %v of %q: group %s twice", by, fs, k)
				}
				got[k] = g.Count
			}
			if !maps.Equal(got, want) {
				t.Errorf("group by %v of %q:\n got %v\nwant %v", by, fs, got, want)
			}
		}
	}
}

func TestSudoGroupFields(t *testing.T) {
	t.Parallel()
	for field, ok := range map[string]bool{
		"attributes/Info/location": true, "/attributes/x": true, "features/a.b/properties/c d": true,
		"": false, "attributes//x": false, `attributes/a"b`: false,
	} {
		if err := ValidGroupField(field); (err == nil) != ok {
			t.Errorf("ValidGroupField(%q) = %v, want ok %t", field, err, ok)
		}
	}
	// A key with a dot is one key, not two.
	fx := newFixture(t, []Doc{
		{ThingID: "a:1", PolicyID: "a:p", Revision: 1, Thing: jsonv.MustParse(`{"attributes":{"a.b":"dotted","a":{"b":"nested"}}}`)},
	}, nil)
	groups, err := fx.ix.SudoGroupCount(context.Background(), Sudo{}, []string{"attributes/a.b", "attributes/a/b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || fmt.Sprint(groups[0].Count) != "1" {
		t.Fatalf("groups: %+v", groups)
	}
	var got []string
	for _, v := range groups[0].Values {
		var s string
		_ = json.Unmarshal(v, &s)
		got = append(got, s)
	}
	if !slices.Equal(got, []string{"dotted", "nested"}) {
		t.Errorf("values %v, want [dotted nested]", got)
	}
}
