package index

import (
	"cmp"
	"context"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// fixture is a set of things with their policies, indexed and kept in
// memory for the reference evaluation.
type fixture struct {
	ix   *Index
	docs []Doc
	enf  map[string]*enforcer.Enforcer // policy id -> enforcer
}

func newFixture(t testing.TB, docs []Doc, enf map[string]*enforcer.Enforcer, opts ...Options) *fixture {
	t.Helper()
	var opt Options
	if len(opts) > 0 {
		opt = opts[0]
	}
	ix, err := Open(filepath.Join(t.TempDir(), "index.db"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	if err := ix.Write(context.Background(), Batch{Put: docs}); err != nil {
		t.Fatal(err)
	}
	return &fixture{ix: ix, docs: docs, enf: enf}
}

// refVisible is Ditto's global read: a subject of the caller reads some part
// of the thing.
func refVisible(d Doc, subjects []string) bool {
	if d.Access == nil {
		return false
	}
	for _, s := range d.Access.PartialReaders(enforcer.TypeThing) {
		if slices.Contains(subjects, s) {
			return true
		}
	}
	return false
}

// refView is what the caller reads of the thing, with the fields every
// reader of the thing sees, and strings cut as the index cuts them.
func (fx *fixture) refView(d Doc, subjects []string) jsonv.Value {
	ns := namespaceOf(d.ThingID)
	e := fx.enf[d.PolicyID]
	view, ok := e.For(ns, subjects).View(enforcer.TypeThing, nil, d.Thing, enforcer.Read)
	if !ok {
		view = jsonv.Object()
	}
	var members []jsonv.Member
	for _, m := range view.Members() {
		switch m.Key {
		case "policyId", "definition", "attributes", "features":
			members = append(members, jsonv.Member{Key: m.Key, Value: cutStrings(m.Value, m.Key, thingOverhead(d.ThingID))})
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

// cutStrings applies Ditto's index length limit to the strings of v at path
// (array elements sit at the array's path).
func cutStrings(v jsonv.Value, path string, ovh int) jsonv.Value {
	switch v.Kind() {
	case jsonv.KindString:
		s, _ := v.Str()
		return jsonv.String(truncate(s, budget(path, ovh)))
	case jsonv.KindObject:
		ms := v.Members()
		out := make([]jsonv.Member, len(ms))
		for i, m := range ms {
			out[i] = jsonv.Member{Key: m.Key, Value: cutStrings(m.Value, path+"/"+m.Key, ovh)}
		}
		return jsonv.Object(out...)
	case jsonv.KindArray:
		els := v.Elements()
		out := make([]jsonv.Value, len(els))
		for i, el := range els {
			out[i] = cutStrings(el, path, ovh)
		}
		return jsonv.Array(out...)
	}
	return v
}

// cutOperands cuts the string operands of eq, ne and in the way the index
// compares them with a thing of overhead ovh.
func cutOperands(n rql.Node, ovh int) rql.Node {
	switch n := n.(type) {
	case *rql.Logical:
		out := &rql.Logical{Op: n.Op}
		for _, c := range n.Children {
			out.Children = append(out.Children, cutOperands(c, ovh))
		}
		return out
	case *rql.Comparison:
		if n.Op != rql.Eq && n.Op != rql.Ne && n.Op != rql.In {
			return n
		}
		f := fieldOf(n.Property)
		if f.wildcard {
			return n
		}
		out := &rql.Comparison{Op: n.Op, Property: n.Property}
		for _, v := range n.Values {
			if v.Kind() == rql.KindString {
				v = rql.StringValue(truncate(v.Str(), budget(f.path, ovh)))
			}
			out.Values = append(out.Values, v)
		}
		return out
	}
	return n
}

type refHit struct {
	id   string
	sort []jsonv.Value
}

// refQuery answers q in memory: every visible thing whose caller's view
// SearchMatchesAt accepts, sorted in Go.
func (fx *fixture) refQuery(q Query) []refHit {
	keys := EffectiveSort(q.Sort)
	var hits []refHit
	for _, d := range fx.docs {
		if !refVisible(d, q.Subjects) {
			continue
		}
		if len(q.Namespaces) > 0 && !slices.Contains(q.Namespaces, namespaceOf(d.ThingID)) {
			continue
		}
		view := fx.refView(d, q.Subjects)
		if q.Filter != nil && !rql.SearchMatchesAt(cutOperands(q.Filter, thingOverhead(d.ThingID)), view, q.Now) {
			continue
		}
		h := refHit{id: d.ThingID}
		for _, k := range keys {
			h.sort = append(h.sort, refSortValue(view, k))
		}
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b refHit) int {
		for i, k := range keys {
			c := compareSort(a.sort[i], b.sort[i])
			if k.Descending {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	return hits
}

// refSortValue is the least (ascending) or greatest (descending) scalar at
// the key's path, null when none.
func refSortValue(view jsonv.Value, k rql.SortKey) jsonv.Value {
	var vals []jsonv.Value
	var collect func(v jsonv.Value, keys []string)
	var scalars func(v jsonv.Value)
	scalars = func(v jsonv.Value) {
		switch v.Kind() {
		case jsonv.KindObject:
		case jsonv.KindArray:
			for _, el := range v.Elements() {
				scalars(el)
			}
		default:
			vals = append(vals, v)
		}
	}
	collect = func(v jsonv.Value, keys []string) {
		if len(keys) == 0 {
			scalars(v)
			return
		}
		switch v.Kind() {
		case jsonv.KindObject:
			if c, ok := v.Get(keys[0]); ok {
				collect(c, keys[1:])
			}
		case jsonv.KindArray:
			for _, el := range v.Elements() {
				if el.Kind() == jsonv.KindObject {
					collect(el, keys)
				}
			}
		}
	}
	keys := rql.PropertyKeys(k.Property)
	// The array crossing starts below the top level, as in the index.
	if c, ok := view.Get(keys[0]); ok {
		if len(keys) == 1 {
			scalars(c)
		} else if c.Kind() == jsonv.KindObject {
			collect(c, keys[1:])
		} else if c.Kind() == jsonv.KindArray {
			collect(c, keys[1:])
		}
	}
	if len(vals) == 0 {
		return jsonv.Null()
	}
	best := vals[0]
	for _, v := range vals[1:] {
		c := compareSort(v, best)
		if (!k.Descending && c < 0) || (k.Descending && c > 0) {
			best = v
		}
	}
	return best
}

// sortBracket orders types as MongoDB (and the index) sort them.
func sortBracket(v jsonv.Value) int {
	switch v.Kind() {
	case jsonv.KindNull:
		return 0
	case jsonv.KindNumber:
		return 1
	case jsonv.KindString:
		return 2
	case jsonv.KindBool:
		return 3
	}
	return 4
}

func compareSort(a, b jsonv.Value) int {
	if c := cmp.Compare(sortBracket(a), sortBracket(b)); c != 0 {
		return c
	}
	switch a.Kind() {
	case jsonv.KindNumber:
		fa, _ := a.Float()
		fb, _ := b.Float()
		if ia, ok := a.Int64(); ok {
			if ib, ok := b.Int64(); ok {
				return cmp.Compare(ia, ib)
			}
		}
		return cmp.Compare(fa, fb)
	case jsonv.KindString:
		sa, _ := a.Str()
		sb, _ := b.Str()
		return strings.Compare(sa, sb)
	case jsonv.KindBool:
		ba, _ := a.Bool()
		bb, _ := b.Bool()
		return cmp.Compare(boolInt(ba), boolInt(bb))
	}
	return 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sortValuesEqual compares sort values, numbers numerically.
func sortValuesEqual(a, b []jsonv.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Kind() != b[i].Kind() || compareSort(a[i], b[i]) != 0 {
			return false
		}
		if a[i].Kind() == jsonv.KindNumber {
			fa, _ := a[i].Float()
			fb, _ := b[i].Float()
			if fa != fb && !(math.IsNaN(fa) && math.IsNaN(fb)) {
				return false
			}
		}
	}
	return true
}

var fixedNow = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
