package policyresolve

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// FuzzResolve feeds arbitrary policy JSON, importing from (and rooted in)
// three arbitrary stored policies, and checks that Resolve terminates
// without panicking, that its result compiles, that own entries without
// references come out unchanged, that DependsOn is sorted, unique and only
// names ids Resolve could have loaded, and that resolving is deterministic.
func FuzzResolve(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	var docs []string
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	docs = append(docs, importableExample, anotherImported, importingExample, plant43,
		chainA, chainB, chainC, chainD, template, sensorPolicy, basePolicy)
	for i, d := range docs {
		f.Add(d, docs[(i+1)%len(docs)], docs[(i+2)%len(docs)], docs[(i+3)%len(docs)])
	}
	f.Add(`{"policyId": "f:a", "imports": {"f:b": {"transitiveImports": ["f:c", "f:a"]}, "f:a": {"transitiveImports": ["f:a"]}},
	  "entries": {"x": {"references": [{"entry": "x"}, {"import": "f:b", "entry": "y"}], "allowedAdditions": "bad", "importable": 3}}}`,
		`{"policyId": "f:b", "imports": {"f:c": {"transitiveImports": ["f:a"]}}, "entries": {"y": {"references": [{"import": "f:c", "entry": "z"}]}}}`,
		`{"policyId": "f:c", "imports": {"f:a": {"transitiveImports": ["f:b"]}}, "entries": {"z": {"subjects": {"s:z": {}}, "resources": {"thing:/": {"grant": ["READ"]}}}}}`,
		`[]`)

	// Every policy is stored under all the ids the seeds use, so that
	// arbitrary inputs keep hitting stored policies.
	ids := []string{"f:a", "f:b", "f:c"}
	for _, d := range docs {
		v := jsonv.MustParse(d)
		if id, ok := v.Get("policyId"); ok {
			if s, ok := id.Str(); ok {
				ids = append(ids, s)
			}
		}
		imports, _ := v.Get("imports")
		for _, m := range imports.Members() {
			ids = append(ids, m.Key)
		}
	}

	f.Fuzz(func(t *testing.T, policyJSON, a, b, c string) {
		policy, err := jsonv.ParseString(policyJSON)
		if err != nil {
			return
		}
		stored := []string{a, b, c}
		load := func(_ context.Context, id string) (jsonv.Value, bool, error) {
			i := slices.Index(ids, id)
			if i < 0 {
				return jsonv.Value{}, false, nil
			}
			v, err := jsonv.ParseString(stored[i%len(stored)])
			if err != nil {
				return jsonv.Value{}, false, nil
			}
			return v, true, nil
		}
		opt := Options{NamespaceRoots: func(string) []string { return []string{"f:a", "f:c", "f:gone"} }}

		res, err := Resolve(context.Background(), policy, load, opt)
		if err != nil {
			return
		}
		if res.Policy.Kind() != jsonv.KindObject {
			t.Fatalf("result is a JSON %s", res.Policy.Kind())
		}
		if _, err := enforcer.Compile(res.Policy); err != nil {
			t.Fatalf("enforcer.Compile: %v", err)
		}
		if !slices.IsSorted(res.DependsOn) || len(slices.Compact(slices.Clone(res.DependsOn))) != len(res.DependsOn) {
			t.Fatalf("DependsOn not sorted and unique: %q", res.DependsOn)
		}
		selfID, _ := policy.Get("policyId")
		self, _ := selfID.Str()
		for _, id := range res.DependsOn {
			if id == self {
				t.Fatalf("DependsOn lists the policy itself: %q", res.DependsOn)
			}
		}

		// Own entries without references are written back as they were.
		in, _ := policy.Get("entries")
		out, _ := res.Policy.Get("entries")
		for _, m := range in.Members() {
			got, ok := out.Get(m.Key)
			if !ok {
				t.Fatalf("own entry %q missing", m.Key)
			}
			if refs := parseEntry(m.Key, m.Value).refs; len(refs) == 0 && !got.Identical(m.Value) {
				t.Fatalf("own entry %q changed: %s -> %s", m.Key, m.Value, got)
			}
		}

		again, err := Resolve(context.Background(), policy, load, opt)
		if err != nil || !again.Policy.Identical(res.Policy) || !slices.Equal(again.DependsOn, res.DependsOn) {
			t.Fatalf("resolving twice differs: %v", err)
		}
	})
}
