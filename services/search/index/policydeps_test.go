package index

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// The policies a policy's effective policy was computed from are kept
// with the index, replaced per policy, and found back by dependency: what
// the projector re-indexes when an imported policy changes. They survive
// closing and opening the file.
func TestPolicyDeps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "index.db")
	ix, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dependents := func(ix *Index, dep string) []string {
		t.Helper()
		got, err := ix.DependentPolicies(ctx, dep)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if err := ix.Write(ctx, Batch{PolicyDeps: map[string][]string{"a:1": {"t:roles", "t:base"}, "a:2": {"t:roles"}}}); err != nil {
		t.Fatal(err)
	}
	if got := dependents(ix, "t:roles"); !slices.Equal(got, []string{"a:1", "a:2"}) {
		t.Errorf("dependents of t:roles: %v", got)
	}
	// a:1 no longer imports t:roles; a:2 imports nothing any more.
	if err := ix.Write(ctx, Batch{PolicyDeps: map[string][]string{"a:1": {"t:base"}, "a:2": nil}}); err != nil {
		t.Fatal(err)
	}
	if got := dependents(ix, "t:roles"); len(got) != 0 {
		t.Errorf("dependents of t:roles after the change: %v", got)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	ix, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if got := dependents(ix, "t:base"); !slices.Equal(got, []string{"a:1"}) {
		t.Errorf("dependents of t:base after reopening: %v", got)
	}
}
