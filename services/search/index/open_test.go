package index

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

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
