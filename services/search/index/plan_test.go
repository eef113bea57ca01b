package index

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// withID is d as the thing with id thingID.
func withID(d Doc, thingID string) Doc {
	d.ThingID = thingID
	d.Thing = d.Thing.Set(jsonv.Pointer{"thingId"}, jsonv.String(thingID))
	return d
}

// A filtered query's namespaces choose the things to test only when they
// hold few: a big namespace is searched through the filter's rows. Both
// plans give the same answers.
func TestNamespacesDrivePlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	enf := benchEnforcers(t)
	ix, err := Open(filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	var batch Batch
	for i := range smallNamespaces + 200 { // namespace "bench"
		batch.Put = append(batch.Put, benchDoc(enf, i, 1))
	}
	for i := range 50 { // namespace "small"
		d := benchDoc(enf, i, 1)
		batch.Put = append(batch.Put, withID(d, strings.Replace(d.ThingID, "bench:", "small:", 1)))
	}
	if err := ix.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	filter, err := rql.Parse(`eq(attributes/color,"red")`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ns    string
		drive bool
		want  int
	}{
		{"bench", false, (smallNamespaces + 200) / 8},
		{"small", true, 7}, // 0, 8, ..., 48
	} {
		q := Query{Filter: filter, Namespaces: []string{tt.ns}, Subjects: []string{"nginx:owner"}, Limit: 1000, Now: fixedNow}
		v, err := ix.callerView(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		b, err := v.builder(ctx, q)
		if err == nil {
			var drive bool
			if drive, err = v.namespacesDrive(ctx, b, q); err == nil && drive != tt.drive {
				t.Errorf("%s: namespaces drive %t, want %t", tt.ns, drive, tt.drive)
			}
		}
		v.close()
		if err != nil {
			t.Fatal(err)
		}
		hits, err := ix.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		n, err := ix.Count(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range hits {
			if !strings.HasPrefix(h.ThingID, tt.ns+":") {
				t.Errorf("%s: hit %s from another namespace", tt.ns, h.ThingID)
			}
			ids = append(ids, h.ThingID)
		}
		if len(hits) != tt.want || n != int64(tt.want) || !slices.IsSorted(ids) {
			t.Errorf("%s: %d hits, count %d, sorted %t; want %d", tt.ns, len(hits), n, slices.IsSorted(ids), tt.want)
		}
	}
}

// The checkpointer copies what writes put in the WAL into the file,
// without any write running a checkpoint itself.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	enf, err := enforcer.Compile(jsonv.MustParse(benchPolicies[1]))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := Open(filepath.Join(t.TempDir(), "ckpt.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	var batch Batch
	for i := range 200 {
		d := benchDoc([]*enforcer.Enforcer{enf, enf}, i, 1)
		batch.Put = append(batch.Put, d)
	}
	if err := ix.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// A PASSIVE checkpoint of nothing new reports the WAL's frames and
	// how many are in the file: all of them, once the checkpointer ran.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var busy, frames, copied int64
		if err := ix.write.QueryRow("PRAGMA wal_checkpoint(NOOP)").Scan(&busy, &frames, &copied); err != nil {
			t.Skipf("wal_checkpoint(NOOP) not supported: %v", err)
		}
		if frames > 0 && copied == frames {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %d of %d WAL frames copied (runs %d errs %d)", copied, frames, ix.ckptr.Runs(), ix.ckptr.Errors())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The sorted walk reads only the sets with rows at the sort path, and a
// thing written in a set that had none there shows in the next page.
func TestSortedWalkSetsFollowWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	enf := benchEnforcers(t)
	ix, err := Open(filepath.Join(t.TempDir(), "sets.db"), Options{askSets: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	var odd Batch
	for i := 1; i < 40; i += 2 { // policy 1: the owner alone
		odd.Put = append(odd.Put, benchDoc(enf, i, 1))
	}
	// Policy 0 (another set) without a serial: the caller reads the set,
	// which has no rows at the sort path yet.
	zero := benchDoc(enf, 0, 1)
	zero.Thing, _ = zero.Thing.Delete(jsonv.Pointer{"attributes", "serial"})
	odd.Put = append(odd.Put, zero)
	if err := ix.Write(ctx, odd); err != nil {
		t.Fatal(err)
	}
	q := Query{Sort: []rql.SortKey{{Property: "attributes/serial"}}, Subjects: []string{"nginx:owner", "nginx:half"}, Limit: 3, Now: fixedNow}
	first := func() []string {
		t.Helper()
		hits, err := ix.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range hits {
			ids = append(ids, h.ThingID)
		}
		return ids
	}
	if got := first(); !slices.Equal(got, []string{"bench:t000000", "bench:t000001", "bench:t000003", "bench:t000005"}) {
		t.Fatalf("before: %v", got)
	}
	// Twice: the second query answers from what the first remembered.
	if got := first(); got[0] != "bench:t000000" {
		t.Fatalf("before, again: %v", got)
	}
	// The thing without a serial sorts first (missing values first); with
	// one (0) it still does, now through its set's rows at the path,
	// which the walk must read although they were not there before.
	if err := ix.Write(ctx, Batch{Put: []Doc{benchDoc(enf, 0, 2)}}); err != nil {
		t.Fatal(err)
	}
	if got := first(); !slices.Equal(got, []string{"bench:t000000", "bench:t000001", "bench:t000003", "bench:t000005"}) {
		t.Errorf("after the serial was written to a set that had none: %v", got)
	}
}

// eq and in on thingId read the things' own index on thing_id while every
// indexed id is whole, and the thingId rows once an id may have been cut;
// either way they answer as the general statement does.
func TestThingIDCondition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	enf := benchEnforcers(t)
	path := filepath.Join(t.TempDir(), "ids.db")
	ix, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	var batch Batch
	for i := range 20 {
		batch.Put = append(batch.Put, benchDoc(enf, i, 1))
	}
	for i := range 2 { // in another namespace: "bench" holds not every thing
		d := benchDoc(enf, i, 1)
		batch.Put = append(batch.Put, withID(d, strings.Replace(d.ThingID, "bench:", "other:", 1)))
	}
	if err := ix.Write(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// A thing whose id is longer than what its thingId row keeps.
	long := withID(benchDoc(enf, 20, 1), "bench:"+strings.Repeat("é", 300))
	cut := truncate(long.ThingID, budget("thingId", thingOverhead(long.ThingID)))
	if cut == long.ThingID {
		t.Fatal("the long id is not cut")
	}
	filters := []string{
		`eq(thingId,"bench:t000003")`, `eq(thingId,"bench:t000004")`, `eq(thingId,"nope:x")`, `eq(thingId,3)`,
		`in(thingId,"bench:t000001","bench:t000004","nope:x",7)`, `in(thingId,true)`,
		`and(eq(thingId,"bench:t000002"),eq(attributes/serial,2))`, `or(eq(thingId,"bench:t000005"),eq(attributes/serial,7))`,
		`not(eq(thingId,"bench:t000006"))`, `in(thingId,"other:t000001","bench:t000001")`, `eq(thingId,"` + long.ThingID + `")`, `eq(thingId,"` + cut + `")`,
	}
	callers := [][]string{{"nginx:owner"}, {"nginx:half"}, {"nginx:nobody"}}
	check := func(stage string, wantColumn bool) {
		t.Helper()
		general, err := Open(path, Options{NoFastPaths: true, sharesFile: true})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = general.Close() }()
		for _, fs := range filters {
			for _, caller := range callers {
				for _, ns := range [][]string{nil, {"bench"}, {"bench", "other"}} {
					q := Query{Filter: mustParse(fs), Namespaces: ns, Subjects: caller, Limit: 100, Now: fixedNow}
					got, err := ix.Query(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					want, err := general.Query(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(hitIDs(got), hitIDs(want)) {
						t.Errorf("%s: %s in %v for %v: %v, want %v", stage, fs, ns, caller, hitIDs(got), hitIDs(want))
					}
					// Without documents: the same hits.
					q.NoDocuments = true
					bare, err := ix.Query(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					q.NoDocuments = false
					if len(bare) != len(got) {
						t.Fatalf("%s: %s in %v for %v without documents: %v, want %v", stage, fs, ns, caller, hitIDs(bare), hitIDs(got))
					}
					for i, h := range bare {
						if h.ThingID != got[i].ThingID || h.Revision != got[i].Revision || h.PolicyID != got[i].PolicyID ||
							!sortValuesEqual(h.SortValues, got[i].SortValues) {
							t.Errorf("%s: %s without documents: %+v, want %+v", stage, fs, h.Entry, got[i].Entry)
						}
					}
					n, err := ix.Count(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if n != int64(len(want)) {
						t.Errorf("%s: count %s in %v for %v: %d, want %d", stage, fs, ns, caller, n, len(want))
					}
					q.Sort = []rql.SortKey{{Property: "attributes/serial", Descending: true}}
					if got, err = ix.Query(ctx, q); err != nil {
						t.Fatal(err)
					}
					if want, err = general.Query(ctx, q); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(hitIDs(got), hitIDs(want)) {
						t.Errorf("%s: %s in %v sorted for %v: %v, want %v", stage, fs, ns, caller, hitIDs(got), hitIDs(want))
					}
				}
			}
		}
		q := Query{Filter: mustParse(`eq(thingId,"bench:t000003")`), Subjects: []string{"nginx:owner"}, Now: fixedNow}
		v, err := ix.callerView(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer v.close()
		b, err := v.builder(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if b.idColumn != wantColumn {
			t.Fatalf("%s: thing_id condition %t, want %t", stage, b.idColumn, wantColumn)
		}
		b.sb.WriteString("EXPLAIN QUERY PLAN SELECT t.id FROM things t WHERE ")
		if err := b.where(q); err != nil {
			t.Fatal(err)
		}
		rows, err := v.query(ctx, b.sb.String(), b.args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if uses := strings.Contains(strings.Join(plan, "\n"), "sqlite_autoindex_things_1 (thing_id=?)"); uses != wantColumn {
			t.Errorf("%s: plan %q seeks thing_id: %t, want %t", stage, plan, uses, wantColumn)
		}
	}
	check("short ids", true)
	if err := ix.Write(ctx, Batch{Put: []Doc{long}}); err != nil {
		t.Fatal(err)
	}
	check("a long id", false)
	if got, err := ix.Query(ctx, Query{Filter: mustParse(`eq(thingId,"` + long.ThingID + `")`), Subjects: []string{"nginx:owner"}, Limit: 10, Now: fixedNow}); err != nil || len(got) != 1 {
		t.Errorf("the long id finds %v (%v), want it", hitIDs(got), err)
	}
}

// Only statements that name their things by id run without watching the
// query's context (see bounded): a statement that searches must stay
// interruptible by the query's timeout.
func TestByIDs(t *testing.T) {
	t.Parallel()
	many := make([]string, inChunk+1)
	for i := range many {
		many[i] = fmt.Sprintf(`"a:t%d"`, i)
	}
	for _, tt := range []struct {
		filter   string
		ns       []string
		idColumn bool
		want     bool
	}{
		{`eq(thingId,"a:t1")`, nil, true, true},
		{`in(thingId,"a:t1","a:t2")`, nil, true, true},
		{`in(thingId,` + strings.Join(many[:inChunk], ",") + `)`, nil, true, true},
		{`in(thingId,` + strings.Join(many, ",") + `)`, nil, true, false},
		{`eq(thingId,"a:t1")`, []string{"a"}, true, false},
		{`eq(thingId,"a:t1")`, nil, false, false},
		{`ne(thingId,"a:t1")`, nil, true, false},
		{`like(thingId,"a:*")`, nil, true, false},
		{`eq(attributes/thingId,"a:t1")`, nil, true, false},
		{`and(eq(thingId,"a:t1"),eq(attributes/x,1))`, nil, true, false},
		{`or(eq(thingId,"a:t1"),eq(attributes/x,1))`, nil, true, false},
	} {
		b := &builder{idColumn: tt.idColumn}
		q := Query{Filter: mustParse(tt.filter), Namespaces: tt.ns}
		if got := b.byIDs(q); got != tt.want {
			t.Errorf("%.60s in %v (thing_id column %t): by ids %t, want %t", tt.filter, tt.ns, tt.idColumn, got, tt.want)
		}
	}
	if (&builder{idColumn: true}).byIDs(Query{}) {
		t.Error("no filter: by ids")
	}
}
