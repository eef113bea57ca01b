package index

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// The counts read from the count tables are the counts of the general
// statement, for callers of other visibility, after every kind of write
// (values changed, things moved to another policy, deleted, a namespace
// erased and filled again) and after a file without count tables is
// opened: enough things share values that some have count rows and some
// do not.
func TestCountTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	enf := benchEnforcers(t)
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

	doc := func(i, pol int, color string) Doc {
		ns := "a"
		if i >= 200 {
			ns = "b"
		}
		id := fmt.Sprintf("%s:t%03d", ns, i)
		thing := jsonv.MustParse(fmt.Sprintf(`{"thingId":%q,"policyId":"bench:p%d","attributes":{"color":%q,"n":%d,"on":%t,"maybe":%s,"secret":{"pin":%d}}}`,
			id, pol, color, i%3, i%4 < 2, map[bool]string{true: "1", false: "null"}[i%5 == 0], i%2))
		return Doc{ThingID: id, PolicyID: fmt.Sprintf("bench:p%d", pol), Revision: 1, Thing: thing, Access: enf[pol].Readers("bench", time.Now())}
	}
	color := map[int]string{}
	pol := map[int]int{}
	var put []Doc
	for i := range 300 {
		color[i], pol[i] = "blue", i%2
		if i%3 == 0 {
			color[i] = "red"
		}
		put = append(put, doc(i, pol[i], color[i]))
	}
	write := func(b Batch) {
		t.Helper()
		if err := ix.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string) {
		t.Helper()
		for _, subjects := range [][]string{{"nginx:owner"}, {"nginx:half"}, {"nginx:half", "nginx:owner"}, {"nobody"}} {
			for _, filter := range []string{"", `eq(attributes/color,"red")`, `in(attributes/color,"red","blue","green")`,
				`eq(attributes/n,1)`, `in(attributes/n,0,2.0)`, `eq(attributes/on,true)`, `eq(attributes/secret/pin,0)`, `eq(attributes/maybe,null)`} {
				for _, ns := range [][]string{nil, {"a"}, {"b", "c"}} {
					q := Query{Subjects: subjects, Namespaces: ns}
					if filter != "" {
						q.Filter = mustParse(filter)
					}
					got, err := ix.Count(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					want, err := general.Count(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if got != want {
						t.Errorf("%s: count %q of %v in %v: got %d, want %d", step, filter, subjects, ns, got, want)
					}
				}
			}
		}
	}
	// Each step is checked as the counts find the index, and again with
	// the count rows they asked for.
	checkBoth := func(step string) {
		t.Helper()
		check(step)
		ix.countJob.Wait()
		check(step + ", counted")
	}
	counted := func() int {
		var n int
		if err := ix.write.QueryRow(`SELECT count(*) FROM leaf_counts`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	write(Batch{Put: put})
	checkBoth("filled")
	if counted() == 0 {
		t.Fatal("no count rows: the test checks nothing it means to")
	}

	// Values changed, by the diffing put (Prev) and by the one that reads
	// the stored thing.
	var ids []string
	for i := 0; i < 300; i += 7 {
		ids = append(ids, doc(i, 0, "").ThingID)
	}
	prev, err := ix.GetMany(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	put = nil
	for i := 0; i < 300; i += 7 {
		color[i] = map[string]string{"red": "blue", "blue": "red"}[color[i]]
		d := doc(i, pol[i], color[i])
		if i%2 == 0 {
			d.Prev = prev[d.ThingID]
		}
		put = append(put, d)
	}
	write(Batch{Put: put})
	checkBoth("recolored")

	// Things moved to the other policy: other visibility.
	put = nil
	for i := 1; i < 300; i += 11 {
		pol[i] = 1 - pol[i]
		put = append(put, doc(i, pol[i], color[i]))
	}
	write(Batch{Put: put})
	checkBoth("moved")

	var gone []string
	for i := 2; i < 300; i += 13 {
		gone = append(gone, doc(i, 0, "").ThingID)
	}
	write(Batch{Delete: gone})
	checkBoth("deleted")

	write(Batch{DeleteNamespaces: []string{"b"}})
	checkBoth("namespace erased")
	put = nil
	for i := 200; i < 300; i++ {
		put = append(put, doc(i, pol[i], color[i]))
	}
	write(Batch{Put: put})
	checkBoth("namespace filled again")

	// Reopened: the writer knows the count rows again, and keeps them.
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if ix, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	if counted() == 0 {
		t.Fatal("no count rows after reopening")
	}
	put = nil
	for i := 0; i < 300; i += 5 {
		color[i] = map[string]string{"red": "blue", "blue": "red"}[color[i]]
		put = append(put, doc(i, pol[i], color[i]))
	}
	write(Batch{Put: put, Delete: []string{doc(3, 0, "").ThingID}})
	checkBoth("reopened")
}
