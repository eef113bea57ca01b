package index

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/enforcer"
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
	sameAnswers(t, "updated", fx.ix, fresh, `eq(attributes/added,4)`, `eq(attributes/list/name,"x")`, `eq(attributes/list,3)`, `exists(features/f1)`)
}

func ids(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = fmt.Sprint(h.ThingID)
	}
	return out
}

// After a restart, a put with the same access (a Readers compiled anew)
// computes the stored rows instead of reading them; with other indexed
// fields it reads them, and the index answers as one written at once.
func TestUpdatesAfterReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fx := conformanceFixture(t)
	path := filepath.Join(t.TempDir(), "index.db")
	write := func(opt Options, docs []Doc) *Index {
		t.Helper()
		ix, err := Open(path, opt)
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Write(ctx, Batch{Put: docs}); err != nil {
			t.Fatal(err)
		}
		return ix
	}
	// Readers compiled anew, as a restarted process has them.
	fresh := func(docs []Doc, rev int64) []Doc {
		out := make([]Doc, len(docs))
		for i, d := range docs {
			d.Thing = d.Thing.Set(jsonv.Pointer{"attributes", "restarted"}, jsonv.Int(rev))
			d.Revision += rev
			if d.Access != nil {
				e, err := enforcer.Compile(jsonv.MustParse(conformancePolicies[d.PolicyID]))
				if err != nil {
					t.Fatal(err)
				}
				d.Access = e.Readers(namespaceOf(d.ThingID), fixedNow)
			}
			out[i] = d
		}
		return out
	}
	ix := write(Options{}, fx.docs)
	_ = ix.Close()
	ix = write(Options{}, fresh(fx.docs, 100))
	if n := ix.rowReads.Load(); n != 0 {
		t.Errorf("puts that read stored rows after a restart with the same access: %d, want 0", n)
	}
	_ = ix.Close()
	only := Options{IndexedFields: func(string) []string { return []string{"attributes/count", "features"} }}
	last := fresh(fx.docs, 200)
	ix = write(only, last)
	defer ix.Close()
	if n := ix.rowReads.Load(); n == 0 {
		t.Error("no put read stored rows after the indexed fields changed")
	}
	ref, err := Open(filepath.Join(t.TempDir(), "ref.db"), only)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if err := ref.Write(ctx, Batch{Put: last}); err != nil {
		t.Fatal(err)
	}
	sameAnswers(t, "reopened", ix, ref, `eq(attributes/restarted,200)`, `exists(attributes/restarted)`)
}

// sameAnswers checks that index ix (described by what) answers every
// conformance filter and the extra ones for every conformance caller with
// the things a fresh index answers with.
func sameAnswers(t *testing.T, what string, ix, fresh *Index, extra ...string) {
	t.Helper()
	ctx := context.Background()
	for _, fs := range append(slices.Clone(conformanceFilters), extra...) {
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
			a, errA := ix.Query(ctx, q)
			b, errB := fresh.Query(ctx, q)
			if errA != nil || errB != nil {
				t.Fatalf("%s: %v / %v", fs, errA, errB)
			}
			if got, want := ids(a), ids(b); !slices.Equal(got, want) {
				t.Errorf("%s as %v: %s index %v, fresh index %v", fs, caller, what, got, want)
			}
		}
	}
}
