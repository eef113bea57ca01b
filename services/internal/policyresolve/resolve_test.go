package policyresolve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// template is an imported policy with one entry of each importable type
// and a template entry with a revoke and allowedAdditions [].
const template = `{"policyId": "t:tpl", "entries": {
  "implicit": {"subjects": {"s:implicit": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}},
  "explicit": {"subjects": {"s:explicit": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}, "importable": "explicit"},
  "never": {"subjects": {"s:never": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}, "importable": "never"},
  "locked": {"subjects": {"s:tpl": {"type": "template", "expiry": "2999-01-01T00:00:00Z"}},
    "resources": {"thing:/": {"grant": ["READ"], "revoke": []}, "thing:/attributes/secret": {"grant": [], "revoke": ["READ"]}},
    "namespaces": ["t"], "allowedAdditions": []},
  "open": {"subjects": {}, "resources": {"thing:/features": {"grant": ["READ"], "revoke": []}}, "namespaces": ["t.a"]}
}}`

func TestResolveSemantics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy string
		stored []string
		// entry is the label of an entry to compare with want ("" to skip).
		entry, want string
		labels      []string
		deps        []string
		checks      []check
	}{
		{
			name:   "implicit imported, explicit only when listed, never never",
			policy: `{"policyId": "t:p", "imports": {"t:tpl": {}}, "entries": {}}`,
			stored: []string{template},
			labels: []string{"imported-t:tpl-implicit", "imported-t:tpl-locked", "imported-t:tpl-open"},
			deps:   []string{"t:tpl"},
			checks: []check{
				{"s:implicit", "t", "thing:/", enforcer.Read, true},
				{"s:explicit", "t", "thing:/", enforcer.Read, false},
				{"s:never", "t", "thing:/", enforcer.Read, false},
			},
		},
		{
			name:   "explicit imported when listed, never even when listed",
			policy: `{"policyId": "t:p", "imports": {"t:tpl": {"entries": ["explicit", "never"]}}, "entries": {}}`,
			stored: []string{template},
			labels: []string{"imported-t:tpl-implicit", "imported-t:tpl-explicit", "imported-t:tpl-locked", "imported-t:tpl-open"},
			deps:   []string{"t:tpl"},
			checks: []check{
				{"s:explicit", "t", "thing:/", enforcer.Read, true},
				{"s:never", "t", "thing:/", enforcer.Read, false},
			},
		},
		{
			name: "allowedAdditions [] strips own subjects, resources and namespaces; referenced revoke survives",
			policy: `{"policyId": "t:p", "imports": {"t:tpl": {}}, "entries": {"user": {
			  "references": [{"import": "t:tpl", "entry": "locked"}],
			  "subjects": {"s:own": {"type": "t"}, "s:tpl": {"type": "own"}},
			  "resources": {"thing:/attributes/secret": {"grant": ["READ"], "revoke": []}, "thing:/features": {"grant": ["WRITE"], "revoke": []}},
			  "namespaces": ["other"]}}}`,
			stored: []string{template},
			entry:  "user",
			want: `{"subjects": {"s:tpl": {"type": "template", "expiry": "2999-01-01T00:00:00Z"}},
			  "resources": {"thing:/": {"grant": ["READ"], "revoke": []}, "thing:/attributes/secret": {"grant": [], "revoke": ["READ"]}},
			  "namespaces": ["t"], "allowedAdditions": [],
			  "references": [{"import": "t:tpl", "entry": "locked"}]}`,
			deps: []string{"t:tpl"},
			checks: []check{
				{"s:own", "t", "thing:/", enforcer.Read, false},
				{"s:own", "other", "thing:/", enforcer.Read, false},
				{"s:tpl", "t", "thing:/attributes/model", enforcer.Read, true},
				{"s:tpl", "t", "thing:/attributes/secret", enforcer.Read, false},
			},
		},
		{
			name: "own revoke and grant unite with the referenced ones; referenced revoke cannot be removed",
			policy: `{"policyId": "t:p", "imports": {"t:tpl": {}}, "entries": {"user": {
			  "references": [{"import": "t:tpl", "entry": "open"}],
			  "subjects": {"s:own": {"type": "t"}},
			  "resources": {"thing:features": {"grant": ["WRITE"], "revoke": ["READ"]}},
			  "namespaces": ["t.b"]}}}`,
			stored: []string{template},
			entry:  "user",
			want: `{"subjects": {"s:own": {"type": "t"}},
			  "resources": {"thing:/features": {"grant": ["READ", "WRITE"], "revoke": ["READ"]}},
			  "namespaces": ["t.a", "t.b"],
			  "references": [{"import": "t:tpl", "entry": "open"}]}`,
			deps: []string{"t:tpl"},
			checks: []check{
				{"s:own", "t.a", "thing:/features", enforcer.Write, true},
				{"s:own", "t.b", "thing:/features", enforcer.Read, false},
				{"s:own", "t.c", "thing:/features", enforcer.Write, false},
			},
		},
		{
			name: "strictest allowedAdditions across references wins",
			policy: `{"policyId": "t:p", "entries": {
			  "a": {"subjects": {"s:a": {"type": "t"}}, "resources": {}, "allowedAdditions": ["subjects", "resources"]},
			  "b": {"subjects": {}, "resources": {"thing:/b": {"grant": ["READ"], "revoke": []}}, "allowedAdditions": ["resources", "namespaces"]},
			  "c": {"references": [{"entry": "a"}, {"entry": "b"}],
			    "subjects": {"s:own": {"type": "t"}}, "resources": {"thing:/own": {"grant": ["READ"], "revoke": []}}}}}`,
			entry: "c",
			want: `{"subjects": {"s:a": {"type": "t"}},
			  "resources": {"thing:/b": {"grant": ["READ"], "revoke": []}, "thing:/own": {"grant": ["READ"], "revoke": []}},
			  "allowedAdditions": ["resources"],
			  "references": [{"entry": "a"}, {"entry": "b"}]}`,
			checks: []check{
				{"s:a", "t", "thing:/own", enforcer.Read, true},
				{"s:own", "t", "thing:/own", enforcer.Read, false},
			},
		},
		{
			name: "local references resolve one level deep and mutual ones terminate",
			policy: `{"policyId": "t:p", "entries": {
			  "x": {"subjects": {"s:x": {"type": "t"}}, "resources": {"thing:/x": {"grant": ["READ"], "revoke": []}}},
			  "a": {"references": [{"entry": "b"}, {"entry": "x"}], "subjects": {"s:a": {"type": "t"}}, "resources": {}},
			  "b": {"references": [{"entry": "a"}], "subjects": {"s:b": {"type": "t"}}, "resources": {}}}}`,
			entry: "b",
			want: `{"subjects": {"s:a": {"type": "t"}, "s:b": {"type": "t"}}, "resources": {},
			  "references": [{"entry": "a"}]}`,
			checks: []check{
				// a's own subject gets x's resource through a's reference; b
				// (compared above) does not, as it sees a's raw content only.
				{"s:a", "t", "thing:/x", enforcer.Read, true},
				{"s:x", "t", "thing:/x", enforcer.Read, true},
			},
		},
		{
			name: "references to never, missing and unimported entries are skipped",
			policy: `{"policyId": "t:p", "imports": {"t:tpl": {}}, "entries": {
			  "break-glass": {"subjects": {"s:admin": {"type": "t"}}, "resources": {"thing:/": {"grant": ["WRITE"], "revoke": []}}, "importable": "never"},
			  "user": {"references": [{"entry": "break-glass"}, {"entry": "phantom"},
			      {"import": "t:tpl", "entry": "never"}, {"import": "t:tpl", "entry": "explicit"}, {"import": "t:other", "entry": "x"}],
			    "subjects": {"s:user": {"type": "t"}}, "resources": {"thing:/own": {"grant": ["READ"], "revoke": []}}}}}`,
			stored: []string{template},
			entry:  "user",
			want: `{"subjects": {"s:user": {"type": "t"}}, "resources": {"thing:/own": {"grant": ["READ"], "revoke": []}},
			  "references": [{"entry": "break-glass"}, {"entry": "phantom"},
			      {"import": "t:tpl", "entry": "never"}, {"import": "t:tpl", "entry": "explicit"}, {"import": "t:other", "entry": "x"}]}`,
			deps: []string{"t:tpl"},
			checks: []check{
				{"s:user", "t", "thing:/", enforcer.Write, false},
				{"s:user", "t", "thing:/own", enforcer.Read, true},
			},
		},
		{
			name:   "missing import is skipped but listed",
			policy: `{"policyId": "t:p", "imports": {"t:gone": {}, "t:tpl": {}}, "entries": {}}`,
			stored: []string{template},
			labels: []string{"imported-t:tpl-implicit", "imported-t:tpl-locked", "imported-t:tpl-open"},
			deps:   []string{"t:gone", "t:tpl"},
		},
		{
			name:   "self import",
			policy: `{"policyId": "t:a", "imports": {"t:a": {}}, "entries": {"e": {"subjects": {"s:e": {"type": "t"}}, "resources": {}}}}`,
			labels: []string{"e", "imported-t:a-e"},
		},
		{
			name:   "self import with itself as transitive import terminates",
			policy: `{"policyId": "t:a", "imports": {"t:a": {"transitiveImports": ["t:a"]}}, "entries": {"e": {"subjects": {"s:e": {"type": "t"}}, "resources": {}}}}`,
			labels: []string{"e", "imported-t:a-e", "imported-t:a-imported-t:a-e"},
		},
		{
			name:   "cycle A to B to A terminates",
			policy: `{"policyId": "t:a", "imports": {"t:b": {"transitiveImports": ["t:a"]}}, "entries": {"ea": {"subjects": {"s:a": {"type": "t"}}, "resources": {"thing:/a": {"grant": ["READ"], "revoke": []}}}}}`,
			stored: []string{`{"policyId": "t:b", "imports": {"t:a": {"transitiveImports": ["t:b"]}}, "entries": {"eb": {"subjects": {"s:b": {"type": "t"}}, "resources": {"thing:/b": {"grant": ["READ"], "revoke": []}}}}}`},
			labels: []string{"ea", "imported-t:b-eb", "imported-t:b-imported-t:a-ea", "imported-t:b-imported-t:a-imported-t:b-eb"},
			deps:   []string{"t:b"},
			checks: []check{
				{"s:b", "t", "thing:/b", enforcer.Read, true},
				{"s:a", "t", "thing:/a", enforcer.Read, true},
				{"s:b", "t", "thing:/a", enforcer.Read, false},
			},
		},
		{
			// PolicyImporterTest.mutualTransitiveCycleDoesNotCauseInfiniteRecursion.
			name:   "three policy transitive cycle yields the one entry",
			policy: `{"policyId": "t:a", "imports": {"t:b": {"transitiveImports": ["t:c"]}}, "entries": {}}`,
			stored: []string{
				`{"policyId": "t:b", "imports": {"t:c": {"transitiveImports": ["t:a"]}}, "entries": {}}`,
				`{"policyId": "t:c", "imports": {"t:a": {"transitiveImports": ["t:b"]}}, "entries": {"ROLE": {"subjects": {"s:u": {"type": "t"}}, "resources": {"thing:/attributes": {"grant": ["READ"], "revoke": []}}}}}`,
			},
			labels: []string{"imported-t:b-imported-t:c-ROLE"},
			deps:   []string{"t:b", "t:c"},
			checks: []check{{"s:u", "t", "thing:/attributes", enforcer.Read, true}},
		},
		{
			name:   "transitive ids the imported policy does not import are ignored",
			policy: `{"policyId": "t:a", "imports": {"t:b": {"transitiveImports": ["t:nowhere"]}}, "entries": {}}`,
			stored: []string{`{"policyId": "t:b", "entries": {"eb": {"subjects": {}, "resources": {}}}}`},
			labels: []string{"imported-t:b-eb"},
			deps:   []string{"t:b"},
		},
		{
			name: "subject of the first reference wins",
			policy: `{"policyId": "t:p", "imports": {"t:tpl": {}}, "entries": {
			  "mine": {"subjects": {"s:tpl": {"type": "local"}}, "resources": {}},
			  "user": {"references": [{"import": "t:tpl", "entry": "locked"}, {"entry": "mine"}], "subjects": {}, "resources": {}}}}`,
			stored: []string{template},
			entry:  "user",
			want: `{"subjects": {"s:tpl": {"type": "template", "expiry": "2999-01-01T00:00:00Z"}},
			  "resources": {"thing:/": {"grant": ["READ"], "revoke": []}, "thing:/attributes/secret": {"grant": [], "revoke": ["READ"]}},
			  "namespaces": ["t"], "allowedAdditions": [],
			  "references": [{"import": "t:tpl", "entry": "locked"}, {"entry": "mine"}]}`,
			deps: []string{"t:tpl"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := resolve(t, tt.policy, newStore(t, tt.stored...), Options{})
			if tt.entry != "" {
				entries, _ := res.Policy.Get("entries")
				got, ok := entries.Get(tt.entry)
				if want := jsonv.MustParse(tt.want); !ok || !got.Equal(want) {
					t.Errorf("entry %q =\n  %s\nwant\n  %s", tt.entry, got, want)
				}
			}
			if tt.labels != nil {
				if got := labels(res.Policy); !slices.Equal(got, tt.labels) {
					t.Errorf("labels = %q, want %q", got, tt.labels)
				}
			}
			if !slices.Equal(res.DependsOn, tt.deps) {
				t.Errorf("DependsOn = %q, want %q", res.DependsOn, tt.deps)
			}
			checkPermissions(t, res.Policy, tt.checks)
		})
	}
}

// TestResolveKeepsPolicyShape checks that only the entries change and that
// own entries without references are written back untouched.
func TestResolveKeepsPolicyShape(t *testing.T) {
	t.Parallel()
	in := `{"policyId": "t:p", "imports": {"t:tpl": {"entries": ["explicit"]}},
	  "entries": {"own": {"subjects": {"s:o": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}, "importable": "never"}}}`
	res := resolve(t, in, newStore(t, template), Options{})
	orig := jsonv.MustParse(in)
	for _, key := range []string{"policyId", "imports"} {
		g, _ := res.Policy.Get(key)
		w, _ := orig.Get(key)
		if !g.Identical(w) {
			t.Errorf("%s = %s, want %s", key, g, w)
		}
	}
	entries, _ := res.Policy.Get("entries")
	g, _ := entries.Get("own")
	w, _ := orig.At(jsonv.MustParsePointer("/entries/own"))
	if !g.Identical(w) {
		t.Errorf("own entry = %s, want it unchanged: %s", g, w)
	}
	if got := labels(res.Policy)[0]; got != "own" {
		t.Errorf("first label = %q, want the own entry first", got)
	}
}

// chain builds the policies of PolicyImporterTest.deepTransitiveChainExceedingMaxDepthIsRejected:
// p0 -> p1 -> ... with pi importing p(i+1) and listing p(i+2) as transitive.
func chain(n int) (first string, rest []string) {
	docs := make([]string, n)
	for i := range n {
		imports := ""
		switch {
		case i+2 < n:
			imports = fmt.Sprintf(`"imports": {"c:p%d": {"transitiveImports": ["c:p%d"]}},`, i+1, i+2)
		case i+1 < n:
			imports = fmt.Sprintf(`"imports": {"c:p%d": {}},`, i+1)
		}
		entries := "{}"
		if i == n-1 {
			entries = `{"ROLE": {"subjects": {"s:leaf": {"type": "t"}}, "resources": {"thing:/attributes": {"grant": ["READ"], "revoke": []}}}}`
		}
		docs[i] = fmt.Sprintf(`{"policyId": "c:p%d", %s "entries": %s}`, i, imports, entries)
	}
	return docs[0], docs[1:]
}

func TestResolveDepthLimit(t *testing.T) {
	t.Parallel()
	// MaxTransitiveDepth+2 policies reach depth MaxTransitiveDepth-1: fine.
	first, rest := chain(MaxTransitiveDepth + 2)
	res := resolve(t, first, newStore(t, rest...), Options{})
	checkPermissions(t, res.Policy, []check{{"s:leaf", "c", "thing:/attributes", enforcer.Read, true}})
	if len(res.DependsOn) != MaxTransitiveDepth+1 {
		t.Errorf("DependsOn = %q, want the %d other policies", res.DependsOn, MaxTransitiveDepth+1)
	}

	// One more reaches depth MaxTransitiveDepth: Ditto rejects the graph.
	first, rest = chain(MaxTransitiveDepth + 3)
	_, err := Resolve(context.Background(), jsonv.MustParse(first), newStore(t, rest...).load, Options{})
	if !errors.Is(err, protocol.ErrPolicyImportInvalid()) {
		t.Fatalf("err = %v, want %s", err, protocol.CodePolicyImportInvalid)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(MaxTransitiveDepth)) {
		t.Errorf("err = %v, want it to name the limit", err)
	}
}

func TestResolveImportBudget(t *testing.T) {
	t.Parallel()
	// Levels of width w, every policy importing all of the next level with
	// all of the one after as transitiveImports: no id repeats on a path,
	// so neither the visited set nor the depth limit (the graph is just
	// shallow enough) stops it, but there are w^depth paths.
	const levels, w = MaxTransitiveDepth + 2, 3
	id := func(l, k int) string { return fmt.Sprintf("b:l%dp%d", l, k) }
	level := func(l int) []string {
		var ids []string
		for k := range w {
			ids = append(ids, fmt.Sprintf("%q", id(l, k)))
		}
		return ids
	}
	var docs []string
	for l := range levels {
		for k := range w {
			var imports []string
			if l+1 < levels {
				transitive := ""
				if l+2 < levels {
					transitive = strings.Join(level(l+2), ",")
				}
				for _, next := range level(l + 1) {
					imports = append(imports, fmt.Sprintf(`%s: {"transitiveImports": [%s]}`, next, transitive))
				}
			}
			docs = append(docs, fmt.Sprintf(`{"policyId": %q, "imports": {%s}, "entries": {"e": {"subjects": {}, "resources": {}}}}`,
				id(l, k), strings.Join(imports, ",")))
		}
	}
	_, err := Resolve(context.Background(), jsonv.MustParse(docs[0]), newStore(t, docs[1:]...).load, Options{})
	if !errors.Is(err, protocol.ErrPolicyImportInvalid()) || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err = %v, want %s for a too large graph", err, protocol.CodePolicyImportInvalid)
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	t.Run("loader error", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		s.err = boom
		_, err := Resolve(context.Background(), jsonv.MustParse(`{"policyId": "t:p", "imports": {"t:x": {}}}`), s.load, Options{})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	})
	t.Run("not an object", func(t *testing.T) {
		t.Parallel()
		if _, err := Resolve(context.Background(), jsonv.MustParse(`[]`), newStore(t).load, Options{}); err == nil {
			t.Fatal("no error for an array")
		}
	})
	t.Run("stored policy not an object", func(t *testing.T) {
		t.Parallel()
		load := func(context.Context, string) (jsonv.Value, bool, error) { return jsonv.String("x"), true, nil }
		if _, err := Resolve(context.Background(), jsonv.MustParse(`{"policyId": "t:p", "imports": {"t:x": {}}}`), load, Options{}); err == nil {
			t.Fatal("no error for a string policy")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Resolve(ctx, jsonv.MustParse(`{"policyId": "t:p", "imports": {"t:x": {}}}`), newStore(t).load, Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestResolveLoadsEachPolicyOnce(t *testing.T) {
	t.Parallel()
	s := newStore(t, chainB, chainC, chainD)
	res := resolve(t, chainA, s, Options{NamespaceRoots: func(string) []string { return []string{"ex:c", "ex:a", "ex:gone"} }})
	slices.Sort(s.asked)
	if want := []string{"ex:b", "ex:c", "ex:d", "ex:gone"}; !slices.Equal(s.asked, want) {
		t.Errorf("loaded %q, want %q (each once, never the policy itself)", s.asked, want)
	}
	if want := []string{"ex:b", "ex:c", "ex:d", "ex:gone"}; !slices.Equal(res.DependsOn, want) {
		t.Errorf("DependsOn = %q, want %q", res.DependsOn, want)
	}
}

func TestNamespaceRootEntries(t *testing.T) {
	t.Parallel()
	root := `{"policyId": "r:root", "imports": {"r:lib": {}}, "entries": {
	  "DEFAULT": {"subjects": {"s:default": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}},
	  "IMPLICIT": {"subjects": {"s:implicit": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}, "importable": "implicit"},
	  "EXPLICIT": {"subjects": {"s:explicit": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}, "importable": "explicit"},
	  "NEVER": {"subjects": {"s:never": {"type": "t"}}, "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}, "importable": "never"},
	  "REF": {"references": [{"import": "r:lib", "entry": "lib"}], "subjects": {"s:ref": {"type": "t"}}}}}`
	lib := `{"policyId": "r:lib", "entries": {"lib": {"subjects": {"s:lib": {"type": "t"}}, "resources": {"thing:/features": {"grant": ["WRITE"], "revoke": []}}}}}`
	roots, err := NamespaceRootsFromConfig(map[string][]string{"a.b.*": {"r:root", "r:gone"}})
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, root, lib)

	res := resolve(t, `{"policyId": "a.b.c:p", "entries": {}}`, s, Options{NamespaceRoots: roots})
	want := []string{"nsimported-r:root-DEFAULT", "nsimported-r:root-IMPLICIT", "nsimported-r:root-REF", "nsimported-r:root-imported-r:lib-lib"}
	if got := labels(res.Policy); !slices.Equal(got, want) {
		t.Errorf("labels = %q, want %q", got, want)
	}
	if want := []string{"r:gone", "r:lib", "r:root"}; !slices.Equal(res.DependsOn, want) {
		t.Errorf("DependsOn = %q, want %q", res.DependsOn, want)
	}
	entries, _ := res.Policy.Get("entries")
	ref, _ := entries.Get("nsimported-r:root-REF")
	if _, ok := ref.Get("references"); ok {
		t.Errorf("namespace-root entry kept its references: %s", ref)
	}
	checkPermissions(t, res.Policy, []check{
		{"s:default", "a.b.c", "thing:/", enforcer.Read, true},
		{"s:implicit", "a.b.c", "thing:/", enforcer.Read, true},
		{"s:explicit", "a.b.c", "thing:/", enforcer.Read, false},
		{"s:never", "a.b.c", "thing:/", enforcer.Read, false},
		{"s:ref", "a.b.c", "thing:/features", enforcer.Write, true},
	})

	res = resolve(t, `{"policyId": "a.b:p", "entries": {}}`, s, Options{NamespaceRoots: roots})
	if got := labels(res.Policy); len(got) != 0 || len(res.DependsOn) != 0 {
		t.Errorf("a.b.* applied to a.b: labels %q, DependsOn %q", got, res.DependsOn)
	}
}

func TestNamespaceRootsFromConfig(t *testing.T) {
	t.Parallel()
	roots, err := NamespaceRootsFromConfig(map[string][]string{
		"*":         {"x:all"},
		"a.*":       {"x:a", "x:shared"},
		"a.b.*":     {"x:ab", "x:shared"},
		"a.b":       {"x:exact"},
		"c":         {},
		"a.bb.*":    {"x:abb"},
		"unrelated": {"x:u"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		namespace string
		want      []string
	}{
		{"a.b", []string{"x:exact", "x:a", "x:shared", "x:all"}},
		{"a.b.c", []string{"x:ab", "x:shared", "x:a", "x:all"}},
		{"a.bb.c", []string{"x:abb", "x:a", "x:shared", "x:all"}},
		{"a", []string{"x:all"}},
		{"ab", []string{"x:all"}},
		{"c", []string{"x:all"}},
		{"", []string{"x:all"}},
	}
	for _, tt := range tests {
		if got := roots(tt.namespace); !slices.Equal(got, tt.want) {
			t.Errorf("roots(%q) = %q, want %q", tt.namespace, got, tt.want)
		}
	}
	for _, bad := range []string{"a.", ".*", "a.*.b", "a b", "*.a", "1a"} {
		if _, err := NamespaceRootsFromConfig(map[string][]string{bad: {"x:y"}}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}
