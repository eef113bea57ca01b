package index

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/rql"

	_ "modernc.org/sqlite"
)

// TestOpenReplacesOutdatedFile checks that an index file of another layout
// is replaced by a new one (with this layout's page size) and that a file
// of this layout is kept as it is.
func TestOpenReplacesOutdatedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	fx := conformanceFixture(t)
	ix, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Write(ctx, Batch{Put: fx.docs[:3]}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		t.Helper()
		ix, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ix.Close()
		n, err := ix.Len(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("things after reopening: got %d, want 3", n)
	}
	// An older layout: 4 KiB pages and another version.
	old := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", old+"?_pragma=page_size(4096)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`CREATE TABLE things(id INTEGER PRIMARY KEY, thing_id TEXT)`, `INSERT INTO things(thing_id) VALUES('a:b')`,
		`CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)`, `INSERT INTO meta VALUES('index.schema', '4')`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()
	ix, err = Open(old, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if n, err := ix.Len(ctx); err != nil || n != 0 {
		t.Fatalf("things in a replaced index: got %d (%v), want 0", n, err)
	}
	var size int
	if err := ix.write.QueryRow(`PRAGMA page_size`).Scan(&size); err != nil || size != pageSize {
		t.Fatalf("page size of the replaced index: got %d (%v), want %d", size, err, pageSize)
	}
	if err := ix.Write(ctx, Batch{Put: fx.docs[:1]}); err != nil {
		t.Fatal(err)
	}
}

// A query needs no more than the one reader connection its read
// transaction holds: with a pool of one, queries of texts never prepared
// before (whose statements are prepared for the cache meanwhile) answer
// at once instead of waiting for a second connection that never comes.
func TestQueriesNeedOneConnection(t *testing.T) {
	t.Parallel()
	fx := conformanceFixture(t)
	ix, err := Open(filepath.Join(t.TempDir(), "index.db"), Options{ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ix.Write(ctx, Batch{Put: fx.docs}); err != nil {
		t.Fatal(err)
	}
	for _, filter := range []string{`exists(attributes/count)`, `ne(thingId,"org.eclipse.ditto:car-1")`, `gt(_revision,0)`} {
		n, err := rql.Parse(filter)
		if err != nil {
			t.Fatal(err)
		}
		for _, sort := range [][]rql.SortKey{nil, {{Property: "attributes/count", Descending: true}}} {
			if _, err := ix.Query(ctx, Query{Filter: n, Sort: sort, Subjects: conformanceCallers[0], Limit: 5, Now: fixedNow}); err != nil {
				t.Fatalf("query %s: %v", filter, err)
			}
		}
		if _, err := ix.Count(ctx, Query{Filter: n, Subjects: conformanceCallers[0], Now: fixedNow}); err != nil {
			t.Fatalf("count %s: %v", filter, err)
		}
	}
}

// TestViewsHoldEveryEndedCommit checks the commit number a view reads: it
// is the number of the last write, also after reopening the file, and a
// view whose state is older than a commit that ended before it began
// (here: a number the file does not have yet) begins again and, as long as
// the state stays older, fails rather than answer from it.
func TestViewsHoldEveryEndedCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	fx := conformanceFixture(t)
	ix, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	gen := func(ix *Index) uint64 {
		t.Helper()
		v, err := ix.view(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer v.close()
		return v.gen
	}
	if g := gen(ix); g != 0 {
		t.Fatalf("new index: view of commit %d, want 0", g)
	}
	for i := range 3 {
		if err := ix.Write(ctx, Batch{Put: fx.docs[i : i+1]}); err != nil {
			t.Fatal(err)
		}
	}
	if g := gen(ix); g != 3 {
		t.Fatalf("after 3 writes: view of commit %d, want 3", g)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if ix, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if err := ix.Write(ctx, Batch{Put: fx.docs[3:4]}); err != nil {
		t.Fatal(err)
	}
	if g := gen(ix); g != 4 {
		t.Fatalf("after reopening and a write: view of commit %d, want 4", g)
	}
	if n := ix.StaleViews(); n != 0 {
		t.Fatalf("stale views: %d, want 0", n)
	}
	// A commit the state does not hold: every try is stale.
	ix.commits.Add(1)
	if _, err := ix.Query(ctx, Query{Subjects: []string{"x"}}); err == nil {
		t.Fatal("query on a state older than the last commit: no error")
	}
	if n := ix.StaleViews(); n != maxViewTries {
		t.Fatalf("stale views: %d, want %d", n, maxViewTries)
	}
	if _, err := ix.Len(ctx); err == nil {
		t.Fatal("Len on a state older than the last commit: no error")
	}
	// The next write stores the number the index counts; views hold it.
	if err := ix.Write(ctx, Batch{Put: fx.docs[4:5]}); err != nil {
		t.Fatal(err)
	}
	if g := gen(ix); g != 6 {
		t.Fatalf("after the next write: view of commit %d, want 6", g)
	}
}
