package index

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
)

// An index brought to a state by updates (rows computed from the stored
// thing, or read back when the access changed) answers every conformance
// query exactly as an index written with that state at once.
func TestUpdatesMatchFreshIndex(t *testing.T) {
	t.Parallel()
	fx := conformanceFixture(t)
	ctx := context.Background()
	policies := []string{}
	for id := range fx.enf {
		policies = append(policies, id)
	}
	slices.Sort(policies)
	var changed []Doc
	for i, d := range fx.docs {
		doc := d.Thing
		switch i % 4 {
		case 0:
			doc = doc.Set(jsonv.Pointer{"attributes", "added"}, jsonv.Int(int64(i)))
		case 1:
			doc, _ = doc.Delete(jsonv.Pointer{"features"})
		case 2:
			doc = doc.Set(jsonv.Pointer{"attributes", "list"}, jsonv.MustParse(`[1,{"name":"x"},[2,3]]`))
		case 3:
			// Another policy: other readers, rows read back.
			pol := policies[i%len(policies)]
			doc = doc.Set(jsonv.Pointer{"policyId"}, jsonv.String(pol))
			d.PolicyID = pol
			d.Access = fx.enf[pol].Readers(namespaceOf(d.ThingID), fixedNow)
		}
		d.Thing, d.Revision = doc, d.Revision+100
		changed = append(changed, d)
	}
	// Twice: the second write of an unchanged state changes nothing. Half
	// the puts name the entry they replace, as the projector does; the
	// others make the index read it.
	for round := range 2 {
		var tids []string
		for _, d := range changed {
			tids = append(tids, d.ThingID)
		}
		prev, err := fx.ix.GetMany(ctx, tids)
		if err != nil {
			t.Fatal(err)
		}
		for i := range changed {
			changed[i].Prev = Entry{}
			if (i+round)%2 == 0 {
				changed[i].Prev = prev[changed[i].ThingID]
			}
		}
		if err := fx.ix.Write(ctx, Batch{Put: changed}); err != nil {
			t.Fatal(err)
		}
	}
	// An entry read before a later write is not trusted: the put reads
	// the stored thing instead of diffing against a stale one.
	stale, err := fx.ix.GetMany(ctx, []string{changed[0].ThingID})
	if err != nil {
		t.Fatal(err)
	}
	back := fx.docs[0]
	if err := fx.ix.Write(ctx, Batch{Put: []Doc{back}}); err != nil {
		t.Fatal(err)
	}
	again := changed[0]
	again.Prev = stale[again.ThingID]
	if err := fx.ix.Write(ctx, Batch{Put: []Doc{again}}); err != nil {
		t.Fatal(err)
	}
	fresh, err := Open(filepath.Join(t.TempDir(), "fresh.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fresh.Close() })
	if err := fresh.Write(ctx, Batch{Put: changed}); err != nil {
		t.Fatal(err)
	}
	filters := append(slices.Clone(conformanceFilters), `eq(attributes/added,4)`, `eq(attributes/list/name,"x")`, `eq(attributes/list,3)`, `exists(features/f1)`)
	for _, fs := range filters {
		var filter rql.Node
		if fs != "" {
			n, err := rql.Parse(fs)
			if err != nil {
				t.Fatal(err)
			}
			filter = n
		}
		for _, caller := range conformanceCallers {
			q := Query{Filter: filter, Subjects: caller, Limit: 1000, Now: fixedNow}
			a, errA := fx.ix.Query(ctx, q)
			b, errB := fresh.Query(ctx, q)
			if errA != nil || errB != nil {
				t.Fatalf("%s: %v / %v", fs, errA, errB)
			}
			if got, want := ids(a), ids(b); !slices.Equal(got, want) {
				t.Errorf("%s as %v: updated index %v, fresh index %v", fs, caller, got, want)
			}
		}
	}
}

func ids(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = fmt.Sprint(h.ThingID)
	}
	return out
}
