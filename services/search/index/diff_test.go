package index

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// wantDiff is what diffRows must return: flatten both states and compare.
func wantDiff(prev, next Doc, prefixes []string) (gone, added []string) {
	a, _ := flatten(prev, prefixes)
	b, _ := flatten(next, prefixes)
	inA, inB := map[string]bool{}, map[string]bool{}
	for _, r := range a {
		inA[r.key] = true
	}
	for _, r := range b {
		inB[r.key] = true
	}
	for _, r := range a {
		if !inB[r.key] {
			gone = append(gone, r.key)
		}
	}
	for _, r := range b {
		if !inA[r.key] {
			added = append(added, r.key)
		}
	}
	slices.Sort(gone)
	slices.Sort(added)
	return gone, added
}

func rowKeys(rows []row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.key
	}
	slices.Sort(out)
	return out
}

// mutationValues are what mutate writes: scalars of every kind, spellings
// that flatten alike (1 and 1.0) and containers that flatten specially.
var mutationValues = []string{
	`1`, `1.0`, `2.5`, `"1"`, `"x"`, `""`, `null`, `true`, `false`, `{}`, `[]`,
	`[1,1,"1"]`, `[{"k":1},{"k":1},[2,[3]]]`, `{"k":1}`, `{"deep":{"v":2,"w":[true]}}`,
	`"` + strings.Repeat("long-", 300) + `"`,
}

// mutate changes one random part of v: sets a member (new or existing),
// deletes one, or rewrites an object with its members in another order.
func mutate(r *rand.Rand, v jsonv.Value) jsonv.Value {
	var ptr jsonv.Pointer
	cur := v
	for cur.Kind() == jsonv.KindObject && cur.Len() > 0 && r.IntN(3) > 0 {
		ms := cur.Members()
		m := ms[r.IntN(len(ms))]
		ptr = ptr.Append(m.Key)
		cur = m.Value
	}
	switch op := r.IntN(5); {
	case op == 0 && len(ptr) > 0:
		out, _ := v.Delete(ptr)
		return out
	case op == 1 && cur.Kind() == jsonv.KindObject && cur.Len() > 1:
		ms := slices.Clone(cur.Members())
		slices.Reverse(ms)
		var b strings.Builder
		b.WriteByte('{')
		for i, m := range ms {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonv.String(m.Key).String() + ":" + m.Value.String())
		}
		b.WriteByte('}')
		return v.Set(ptr, jsonv.MustParse(b.String()))
	case op == 2 && cur.Kind() == jsonv.KindObject:
		return v.Set(ptr.Append([]string{"a", "b", "k", "new"}[r.IntN(4)]), jsonv.MustParse(mutationValues[r.IntN(len(mutationValues))]))
	case len(ptr) == 0:
		return v.Set(jsonv.Pointer{"attributes"}, jsonv.MustParse(mutationValues[r.IntN(len(mutationValues))]))
	default:
		return v.Set(ptr, jsonv.MustParse(mutationValues[r.IntN(len(mutationValues))]))
	}
}

// TestDiffRows checks that the rows diffRows finds changed are exactly
// those that flattening both states finds changed, over random changes of
// the conformance things, with and without namespace-indexed fields.
func TestDiffRows(t *testing.T) {
	t.Parallel()
	fx := conformanceFixture(t)
	r := rand.New(rand.NewPCG(7, 11))
	for _, prefixes := range [][]string{nil, {"attributes/count", "features", "attributes/list"}} {
		for i, d := range fx.docs {
			prev := d
			for step := range 60 {
				next := prev
				next.Thing = mutate(r, prev.Thing)
				if step%10 == 9 {
					next.Thing = prev.Thing // nothing changed
				}
				gone, added := diffRows(prev, next, prefixes)
				wantGone, wantAdded := wantDiff(prev, next, prefixes)
				if got := rowKeys(gone); !slices.Equal(got, wantGone) {
					t.Fatalf("doc %d step %d: gone rows\n got %q\nwant %q\nfrom %s\n  to %s", i, step, got, wantGone, prev.Thing, next.Thing)
				}
				if got := rowKeys(added); !slices.Equal(got, wantAdded) {
					t.Fatalf("doc %d step %d: added rows\n got %q\nwant %q\nfrom %s\n  to %s", i, step, got, wantAdded, prev.Thing, next.Thing)
				}
				prev = next
			}
		}
	}
}

// FuzzDiffRows compares diffRows with flattening both states for any two
// states of a thing.
func FuzzDiffRows(f *testing.F) {
	f.Add(`{"attributes":{"a":1,"b":{"c":[1,2]}}}`, `{"attributes":{"b":{"c":[2,1]},"a":1.0}}`)
	f.Add(`{"features":{"f":{"properties":{"x":{}}}}}`, `{"features":{"f":{"properties":{"x":{"y":null}}}}}`)
	f.Add(`{"attributes":[{"a":1}]}`, `{"attributes":{"a":1}}`)
	fx := conformanceFixture(f)
	d := fx.docs[0]
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := jsonv.ParseString(a)
		vb, errB := jsonv.ParseString(b)
		if errA != nil || errB != nil || va.Kind() != jsonv.KindObject || vb.Kind() != jsonv.KindObject {
			return
		}
		prev, next := d, d
		prev.Thing, next.Thing = va, vb
		gone, added := diffRows(prev, next, nil)
		wantGone, wantAdded := wantDiff(prev, next, nil)
		if got := rowKeys(gone); !slices.Equal(got, wantGone) {
			t.Fatalf("gone rows: got %q, want %q", got, wantGone)
		}
		if got := rowKeys(added); !slices.Equal(got, wantAdded) {
			t.Fatalf("added rows: got %q, want %q", got, wantAdded)
		}
	})
}
