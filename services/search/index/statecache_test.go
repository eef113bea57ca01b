package index

import (
	"context"
	"fmt"
	"testing"

	"github.com/dittonats/dittonats/protocol/rql"
)

// A stateCache answers only for the generation an answer was stored for,
// and keys callers choose do not grow it past maxStateEntries.
func TestStateCacheBounded(t *testing.T) {
	t.Parallel()
	var c stateCache[int]
	c.store("a", 1, 10)
	if v, ok := c.load("a", 1); !ok || v != 10 {
		t.Fatalf("load a@1: %d, %v", v, ok)
	}
	if _, ok := c.load("a", 2); ok {
		t.Fatal("answer of generation 1 given for generation 2")
	}
	c.store("a", 2, 20)
	if v, ok := c.load("a", 2); !ok || v != 20 || c.len() != 1 {
		t.Fatalf("after replacing: %d, %v, %d keys", v, ok, c.len())
	}
	for i := range 3 * maxStateEntries {
		c.store(fmt.Sprintf("path-%d", i), 2, i)
		if n := c.len(); i%997 == 0 && n > maxStateEntries {
			t.Fatalf("%d keys after %d stores", n, i+1)
		}
	}
	if n := c.len(); n == 0 || n > maxStateEntries {
		t.Fatalf("%d keys at the end", n)
	}
}

// Queries on paths the index has never seen remember their answers in the
// bounded caches (these are the caches a caller can fill).
func TestQueriesUseStateCaches(t *testing.T) {
	t.Parallel()
	fx := conformanceFixture(t)
	ix := fx.ix
	ctx := context.Background()
	before := ix.complete.len() + ix.multi.len() + ix.armSets.len()
	for i := range 20 {
		q := Query{Filter: mustParse(fmt.Sprintf(`eq(attributes/never%d,1)`, i)), Subjects: conformanceCallers[0], Limit: 5, Now: fixedNow,
			Sort: []rql.SortKey{{Property: fmt.Sprintf("attributes/unknown%d", i)}}}
		if _, err := ix.Query(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if after := ix.complete.len() + ix.multi.len() + ix.armSets.len(); after < before+20 {
		t.Fatalf("caches hold %d answers after 20 new paths, %d before", after, before)
	}
}
