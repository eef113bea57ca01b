package index

import (
	"context"
	"path/filepath"
	"testing"
)

// Erasing a namespace removes its things and every row of them, and the
// index then answers every conformance query as one that never held them.
func TestDeleteNamespaces(t *testing.T) {
	t.Parallel()
	fx := conformanceFixture(t)
	ctx := context.Background()
	const erased = "com.acme"
	var kept []Doc
	n := 0
	for _, d := range fx.docs {
		if namespaceOf(d.ThingID) == erased {
			n++
		} else {
			kept = append(kept, d)
		}
	}
	if n == 0 || len(kept) == 0 {
		t.Fatalf("the fixture has %d things in %s and %d elsewhere; the test needs both", n, erased, len(kept))
	}
	// Twice: erasing an erased namespace succeeds and changes nothing.
	for range 2 {
		if err := fx.ix.Write(ctx, Batch{DeleteNamespaces: []string{erased}, Meta: map[string]string{"k": "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	var things, leaves int
	if err := fx.ix.write.QueryRow(`SELECT count(*) FROM things WHERE namespace = ?`, erased).Scan(&things); err != nil {
		t.Fatal(err)
	}
	if err := fx.ix.write.QueryRow(`SELECT count(*) FROM leaves WHERE thing NOT IN (SELECT id FROM things)`).Scan(&leaves); err != nil {
		t.Fatal(err)
	}
	if things != 0 || leaves != 0 {
		t.Errorf("after erasing %s: %d of its things and %d rows of erased things left", erased, things, leaves)
	}
	if got, err := fx.ix.Len(ctx); err != nil || got != int64(len(kept)) {
		t.Errorf("got %d things (%v), want the %d of other namespaces", got, err, len(kept))
	}
	if v, ok, err := fx.ix.Meta(ctx, "k"); err != nil || !ok || v != "v" {
		t.Errorf("meta written with the erasure: got %q, %t, %v", v, ok, err)
	}
	fresh, err := Open(filepath.Join(t.TempDir(), "fresh.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fresh.Close() })
	if err := fresh.Write(ctx, Batch{Put: kept}); err != nil {
		t.Fatal(err)
	}
	sameAnswers(t, "erased", fx.ix, fresh)

	// The namespace is indexed again afterwards.
	var again []Doc
	for _, d := range fx.docs {
		if namespaceOf(d.ThingID) == erased {
			d.Prev = Entry{}
			again = append(again, d)
		}
	}
	if err := fx.ix.Write(ctx, Batch{Put: again}); err != nil {
		t.Fatal(err)
	}
	if got, err := fx.ix.Len(ctx); err != nil || got != int64(len(fx.docs)) {
		t.Errorf("after indexing %s again: got %d things (%v), want %d", erased, got, err, len(fx.docs))
	}
}
