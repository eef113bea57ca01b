package index

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// Things of several kinds in one index: those of namespace "a" have the
// filtered and the sorted field, those of "b" neither, those of "c" only
// the filtered one. Counts and sorted pages, with and without namespaces,
// are those of the general statements: the fast paths drop namespaces
// that hold every match, and skip looking for things without the sort
// value only when none can match (once those in "c" are gone).
func TestThingsOfOtherKinds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	enf, err := enforcer.Compile(jsonv.MustParse(benchPolicies[1]))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "index.db")
	ix, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ix.Close() }()
	general, err := Open(path, Options{NoFastPaths: true, sharesFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = general.Close() }()
	doc := func(id, attrs string) Doc {
		return Doc{ThingID: id, PolicyID: "bench:p", Revision: 1, Access: enf.Readers("bench", time.Now()),
			Thing: jsonv.MustParse(fmt.Sprintf(`{"thingId":%q,"policyId":"bench:p","attributes":%s}`, id, attrs))}
	}
	var b Batch
	for i := range 120 {
		b.Put = append(b.Put, doc(fmt.Sprintf("a:t%03d", i), fmt.Sprintf(`{"p":"x","s":%d}`, (i*37)%120)))
	}
	for i := range 80 {
		b.Put = append(b.Put, doc(fmt.Sprintf("b:u%03d", i), fmt.Sprintf(`{"n":%d}`, i)))
	}
	for i := range 7 {
		b.Put = append(b.Put, doc(fmt.Sprintf("c:v%03d", i), `{"p":"x"}`))
	}
	if err := ix.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	owner := []string{"nginx:owner"}
	check := func(step string) {
		t.Helper()
		for _, filter := range []string{`eq(attributes/p,"x")`, `exists(attributes/n)`, `exists(attributes/s)`} {
			for _, ns := range [][]string{nil, {"a"}, {"a", "c"}, {"b"}, {"c"}} {
				q := Query{Subjects: owner, Namespaces: ns, Filter: mustParse(filter)}
				got, err := ix.Count(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				want, err := general.Count(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s: count %s in %v: %d, want %d", step, filter, ns, got, want)
				}
				for _, desc := range []bool{false, true} {
					q.Sort = []rql.SortKey{{Property: "attributes/s", Descending: desc}}
					q.Limit = 10
					var gotIDs, wantIDs []string
					for page := 0; page < 30; page++ {
						g, err := ix.Query(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						w, err := general.Query(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						for _, h := range g[:min(len(g), q.Limit)] {
							gotIDs = append(gotIDs, h.ThingID)
						}
						for _, h := range w[:min(len(w), q.Limit)] {
							wantIDs = append(wantIDs, h.ThingID)
						}
						if len(w) <= q.Limit {
							break
						}
						q.After = w[q.Limit-1].SortValues
					}
					if !slices.Equal(gotIDs, wantIDs) {
						t.Errorf("%s: %s sorted by s (desc %t) in %v:\n got %v\nwant %v", step, filter, desc, ns, gotIDs, wantIDs)
					}
					q.After = nil
				}
			}
		}
	}
	check("three kinds")
	var del Batch
	for i := range 7 {
		del.Delete = append(del.Delete, fmt.Sprintf("c:v%03d", i))
	}
	if err := ix.Write(ctx, del); err != nil {
		t.Fatal(err)
	}
	check("without c")
}
