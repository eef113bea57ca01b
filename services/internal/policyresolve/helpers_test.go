package policyresolve

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// store is an in-memory Loader that records which ids were asked for.
type store struct {
	mu       sync.Mutex
	policies map[string]jsonv.Value
	asked    []string
	err      error // returned for every load when set
}

func newStore(t *testing.T, docs ...string) *store {
	t.Helper()
	s := &store{policies: map[string]jsonv.Value{}}
	for _, d := range docs {
		v := jsonv.MustParse(d)
		id, ok := v.Get("policyId")
		if !ok {
			t.Fatalf("stored policy without policyId: %s", d)
		}
		ids, _ := id.Str()
		s.policies[ids] = v
	}
	return s
}

func (s *store) load(_ context.Context, id string) (jsonv.Value, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, id)
	if s.err != nil {
		return jsonv.Value{}, false, s.err
	}
	v, ok := s.policies[id]
	return v, ok, nil
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func resolve(t *testing.T, policy string, s *store, opt Options) Result {
	t.Helper()
	res, err := Resolve(context.Background(), jsonv.MustParse(policy), s.load, opt)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return res
}

// labels returns the entry labels of a resolved policy, in order.
func labels(v jsonv.Value) []string {
	entries, _ := v.Get("entries")
	var out []string
	for _, m := range entries.Members() {
		out = append(out, m.Key)
	}
	return out
}

// wantEntries compares the entries of a resolved policy with want (JSON),
// semantically (member order aside), entry by entry for readable failures.
func wantEntries(t *testing.T, got jsonv.Value, want string) {
	t.Helper()
	gotEntries, _ := got.Get("entries")
	wantEntries := jsonv.MustParse(want)
	if g, w := labels(got), labels(jsonv.Object(jsonv.Member{Key: "entries", Value: wantEntries})); !sameSet(g, w) {
		t.Errorf("entry labels = %q, want %q", g, w)
	}
	for _, m := range wantEntries.Members() {
		g, ok := gotEntries.Get(m.Key)
		if !ok {
			continue
		}
		if !g.Equal(m.Value) {
			t.Errorf("entry %q =\n  %s\nwant\n  %s", m.Key, g, m.Value)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// check is one permission question to a compiled effective policy.
type check struct {
	subject   string
	namespace string
	resource  string // "thing:/features/x"
	perm      string
	want      bool
}

func checkPermissions(t *testing.T, policy jsonv.Value, checks []check) {
	t.Helper()
	e, err := enforcer.Compile(policy)
	if err != nil {
		t.Fatalf("enforcer.Compile: %v", err)
	}
	for _, c := range checks {
		typ, path, ok := enforcer.ParseResourceKey(c.resource)
		if !ok {
			t.Fatalf("bad resource key %q", c.resource)
		}
		if got := e.For(c.namespace, []string{c.subject}).Has(typ, path, c.perm); got != c.want {
			t.Errorf("%s %s %s in %q = %v, want %v", c.subject, c.perm, c.resource, c.namespace, got, c.want)
		}
	}
}
