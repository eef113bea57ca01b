package enforcer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// readersPolicy has a subject of each kind events distinguish.
const readersPolicy = `{"entries":{
  "OWNER":{"subjects":{"nginx:owner":{"type":"t"}},"resources":{
    "thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}},
  "ATTRS":{"subjects":{"nginx:attrs":{"type":"t"}},"resources":{
    "thing:/attributes":{"grant":["READ"],"revoke":[]},
    "thing:/attributes/secret":{"grant":[],"revoke":["READ"]}}},
  "FEAT":{"subjects":{"nginx:feat":{"type":"t"}},"resources":{
    "thing:/features/A":{"grant":["READ"],"revoke":[]},
    "thing:/attributes/foo":{"grant":["READ"],"revoke":[]}}},
  "WRITEONLY":{"subjects":{"nginx:writeonly":{"type":"t"}},"resources":{
    "thing:/":{"grant":["READ","WRITE"],"revoke":["READ"]}}},
  "POLICYREADER":{"subjects":{"nginx:policies":{"type":"t"}},"resources":{
    "policy:/entries/OWNER":{"grant":["READ"],"revoke":[]},
    "policy:/entries/OWNER/subjects":{"grant":[],"revoke":["READ"]}}},
  "ACME":{"subjects":{"nginx:acme":{"type":"t"}},"namespaces":["com.acme"],"resources":{
    "thing:/":{"grant":["READ"],"revoke":[]}}},
  "TEMP":{"subjects":{"nginx:expired":{"type":"t","expiry":"2001-01-01T00:00:00Z"},
    "nginx:later":{"type":"t","expiry":"2030-01-01T00:00:00Z"}},"resources":{
    "thing:/":{"grant":["READ"],"revoke":[]}}}}}`

const readersThing = `{"thingId":"org.eclipse.ditto:t","policyId":"org.eclipse.ditto:p",
  "attributes":{"foo":1,"bar":{"x":1,"y":2},"secret":{"pin":1234},"empty":{}},
  "features":{"A":{"properties":{"baz":1}},"B":{"properties":{"q":2}}}}`

var (
	before2030 = time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC)
	after2030  = time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
)

func mustCompile(t *testing.T, policy string) *Enforcer {
	t.Helper()
	e, err := Compile(jsonv.MustParse(policy))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func checkHeader(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\n got %s\nwant %s", what, got, want)
	}
}

func TestReadSubjects(t *testing.T) {
	t.Parallel()
	e := mustCompile(t, readersPolicy)
	const thingReaders = `["nginx:attrs","nginx:feat","nginx:later","nginx:owner"]`
	tests := []struct {
		name, ns, typ, path string
		now                 time.Time
		want                string
	}{
		{"whole thing", "org.eclipse.ditto", TypeThing, "/", before2030, thingReaders},
		// nginx:attrs reads all of /attributes/bar, nginx:feat none of it:
		// both read part of the thing, so both get the event (Ditto's
		// partialOnly(root)); their partial paths tell them apart.
		{"path one partial subject reads wholly", "org.eclipse.ditto", TypeThing, "/attributes/bar", before2030, thingReaders},
		{"path nobody partial reads", "org.eclipse.ditto", TypeThing, "/attributes/secret", before2030, thingReaders},
		{"entry of another namespace does not apply", "com.acmex", TypeThing, "/", before2030, thingReaders},
		{"entry of its namespace applies", "com.acme", TypeThing, "/features", before2030,
			`["nginx:acme","nginx:attrs","nginx:feat","nginx:later","nginx:owner"]`},
		{"subject past its expiry is gone", "org.eclipse.ditto", TypeThing, "/", after2030,
			`["nginx:attrs","nginx:feat","nginx:owner"]`},
		{"policy root", "org.eclipse.ditto", TypePolicy, "/", before2030, `["nginx:owner","nginx:policies"]`},
		{"policy path a partial reader cannot read", "org.eclipse.ditto", TypePolicy, "/entries/OWNER/subjects", before2030,
			`["nginx:owner","nginx:policies"]`},
		{"policy entry nobody partial reads", "org.eclipse.ditto", TypePolicy, "/entries/FEAT", before2030,
			`["nginx:owner","nginx:policies"]`},
		{"message type", "org.eclipse.ditto", TypeMessage, "/", before2030, `[]`},
	}
	for _, tc := range tests {
		r := e.Readers(tc.ns, tc.now)
		checkHeader(t, tc.name, r.ReadSubjectsHeader(tc.typ, ptr(tc.path)), tc.want)
		want := []string{}
		for _, v := range jsonv.MustParse(tc.want).Elements() {
			s, _ := v.Str()
			want = append(want, s)
		}
		if got := r.ReadSubjects(tc.typ, ptr(tc.path)); !slices.Equal(got, want) {
			t.Errorf("%s: ReadSubjects = %q, want %q", tc.name, got, want)
		}
	}
}

func TestReadersSubjects(t *testing.T) {
	t.Parallel()
	e := mustCompile(t, readersPolicy)
	tests := []struct {
		ns   string
		now  time.Time
		want []string
	}{
		{"org.eclipse.ditto", before2030, []string{"nginx:attrs", "nginx:feat", "nginx:later", "nginx:owner", "nginx:policies", "nginx:writeonly"}},
		{"com.acme", before2030, []string{"nginx:acme", "nginx:attrs", "nginx:feat", "nginx:later", "nginx:owner", "nginx:policies", "nginx:writeonly"}},
		{"org.eclipse.ditto", after2030, []string{"nginx:attrs", "nginx:feat", "nginx:owner", "nginx:policies", "nginx:writeonly"}},
		// Back before the expiry: the memo built later is not reused.
		{"org.eclipse.ditto", before2030, []string{"nginx:attrs", "nginx:feat", "nginx:later", "nginx:owner", "nginx:policies", "nginx:writeonly"}},
	}
	for _, tc := range tests {
		if got := e.Readers(tc.ns, tc.now).Subjects(); !slices.Equal(got, tc.want) {
			t.Errorf("Subjects in %s at %s = %q, want %q", tc.ns, tc.now.Format(time.DateOnly), got, tc.want)
		}
	}
}

func TestPartialAccessPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, policy, doc string
		want              string // "" means no header
	}{
		{
			name: "default policy: nobody restricted",
			policy: `{"entries":{"DEFAULT":{"subjects":{"nginx:ditto":{"type":"generated"}},"resources":{
				"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]},
				"message:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`,
			doc: readersThing,
		},
		{
			// nginx:attrs loses the secret, so /attributes does not
			// collapse; /attributes/bar does; the empty object is a leaf.
			// nginx:writeonly (READ revoked on thing:/) and the owner are
			// absent.
			name:   "restricted subjects",
			policy: readersPolicy,
			doc:    readersThing,
			want: `{"subjects":["nginx:attrs","nginx:feat"],"paths":{"attributes/foo":[0,1],"attributes/bar":[0],` +
				`"attributes/empty":[0],"features/A":[1]}}`,
		},
		{
			name:   "a wholly readable subtree is named by its root",
			policy: readersPolicy,
			doc:    `{"thingId":"org.eclipse.ditto:t","attributes":{"foo":1,"bar":{"x":1}},"features":{"A":{"properties":{"baz":1}}}}`,
			want:   `{"subjects":["nginx:attrs","nginx:feat"],"paths":{"attributes":[0],"attributes/foo":[1],"features":[1]}}`,
		},
		{
			// It is a read subject: leaving it out would make a consumer
			// take it for one that reads everything (Ditto lists it).
			name:   "a subject that reads nothing of the thing is listed without paths",
			policy: readersPolicy,
			doc:    `{"thingId":"org.eclipse.ditto:t","attributes":{"bar":1}}`,
			want:   `{"subjects":["nginx:attrs","nginx:feat"],"paths":{"attributes":[0]}}`,
		},
		{
			name:   "nothing readable: the subjects without paths",
			policy: readersPolicy,
			doc:    `{"thingId":"org.eclipse.ditto:t","attributes":{"secret":1}}`,
			want:   `{"subjects":["nginx:attrs","nginx:feat"],"paths":{}}`,
		},
		{
			// Ditto collapses below the root only: a restricted subject
			// that happens to read everything gets the top-level members.
			name: "everything readable names the members, not the root",
			policy: `{"entries":{"R":{"subjects":{"s:r":{"type":"t"}},"resources":{
				"thing:/":{"grant":["READ"],"revoke":[]},"thing:/attributes/secret":{"grant":[],"revoke":["READ"]}}}}}`,
			doc:  `{"thingId":"ns:t","attributes":{"a":1},"features":{}}`,
			want: `{"subjects":["s:r"],"paths":{"thingId":[0],"attributes":[0],"features":[0]}}`,
		},
		{
			name: "a revoke below a leaf withholds the leaf",
			policy: `{"entries":{"R":{"subjects":{"s:r":{"type":"t"}},"resources":{
				"thing:/attributes":{"grant":["READ"],"revoke":[]},"thing:/attributes/a/deep":{"grant":[],"revoke":["READ"]}}}}}`,
			doc:  `{"thingId":"ns:t","attributes":{"a":"scalar","b":{},"c":2}}`,
			want: `{"subjects":["s:r"],"paths":{"attributes/b":[0],"attributes/c":[0]}}`,
		},
		{
			name: "a deeper grant beats a revoke above",
			policy: `{"entries":{"R":{"subjects":{"s:r":{"type":"t"}},"resources":{
				"thing:/":{"grant":["READ"],"revoke":[]},"thing:/features":{"grant":[],"revoke":["READ"]},
				"thing:/features/pub/properties":{"grant":["READ"],"revoke":[]}}}}}`,
			doc:  `{"thingId":"ns:t","features":{"pub":{"definition":["d"],"properties":{"a":1,"b":{"c":2}}},"priv":{"properties":{"x":1}}}}`,
			want: `{"subjects":["s:r"],"paths":{"thingId":[0],"features/pub/properties":[0]}}`,
		},
		{
			// Subjects are evaluated alone: the grant nginx:b holds does
			// not widen what nginx:a reads in the same entry set.
			name: "each subject alone",
			policy: `{"entries":{
				"A":{"subjects":{"nginx:a":{"type":"t"},"nginx:b":{"type":"t"}},"resources":{"thing:/attributes/x":{"grant":["READ"],"revoke":[]}}},
				"B":{"subjects":{"nginx:b":{"type":"t"}},"resources":{"thing:/attributes/y":{"grant":["READ"],"revoke":[]}}}}}`,
			doc:  `{"thingId":"ns:t","attributes":{"x":1,"y":2,"z":3}}`,
			want: `{"subjects":["nginx:a","nginx:b"],"paths":{"attributes/x":[0,1],"attributes/y":[1]}}`,
		},
		{
			name:   "a tilde in a key is escaped",
			policy: `{"entries":{"R":{"subjects":{"s:r":{"type":"t"}},"resources":{"thing:/attributes/a~0b":{"grant":["READ"],"revoke":[]}}}}}`,
			doc:    `{"thingId":"ns:t","attributes":{"a~b":1,"c":2}}`,
			want:   `{"subjects":["s:r"],"paths":{"attributes/a~0b":[0]}}`,
		},
	}
	for _, tc := range tests {
		e := mustCompile(t, tc.policy)
		r := e.Readers("org.eclipse.ditto", before2030)
		got := r.PartialAccessPaths(TypeThing, jsonv.MustParse(tc.doc))
		checkHeader(t, tc.name, got, tc.want)
		if r.HasRestricted(TypeThing) != (tc.name != "default policy: nobody restricted") {
			t.Errorf("%s: HasRestricted = %v", tc.name, r.HasRestricted(TypeThing))
		}
		if got != "" && !jsonv.MustParse(got).Equal(jsonv.MustParse(tc.want)) {
			t.Errorf("%s: header is not the JSON wanted", tc.name)
		}
	}
}

func TestPartialAccessPathsNeverNamesARevokedPath(t *testing.T) {
	t.Parallel()
	r := mustCompile(t, readersPolicy).Readers("org.eclipse.ditto", before2030)
	got := jsonv.MustParse(r.PartialAccessPaths(TypeThing, jsonv.MustParse(readersThing)))
	paths, _ := got.Get("paths")
	for _, m := range paths.Members() {
		if p := ptr(m.Key); p.HasPrefix(ptr("/attributes/secret")) || ptr("/attributes/secret").HasPrefix(p) {
			t.Errorf("partial access paths name %q, which covers the revoked secret", m.Key)
		}
	}
}

// The common case, a policy whose subjects read everything, must cost no
// allocation per event once the enforcer has seen the namespace. Not
// parallel: AllocsPerRun counts the allocations of the whole process.
func TestReadersCommonCaseDoesNotAllocate(t *testing.T) {
	e := mustCompile(t, `{"entries":{"DEFAULT":{"subjects":{"nginx:ditto":{"type":"generated"}},"resources":{
		"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`)
	doc := jsonv.MustParse(readersThing)
	path := ptr("/attributes/foo")
	now := time.Now()
	e.Readers("ns", now).ReadSubjectsHeader(TypeThing, path)
	allocs := testing.AllocsPerRun(100, func() {
		r := e.Readers("ns", now)
		if r.ReadSubjectsHeader(TypeThing, path) != `["nginx:ditto"]` || r.PartialAccessPaths(TypeThing, doc) != "" {
			t.Fatal("wrong headers")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event, want 0", allocs)
	}
}

// TestLeafKeyMatchesView checks that a leaf key decides every combination of
// caller subjects as the enforcer does, on random policies.
func TestLeafKeyMatchesView(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	subjects := []string{"s:a", "s:b", "s:c\x00\"x"}
	paths := []jsonv.Pointer{
		nil, {"attributes"}, {"attributes", "x"}, {"attributes", "x", "y"},
		{"attributes", "z"}, {"features"}, {"features", "f", "properties", "p"},
	}
	callers := [][]string{
		{"s:a"}, {"s:b"}, {"s:c\x00\"x"}, {"s:a", "s:b"}, {"s:b", "s:c\x00\"x"},
		{"s:a", "s:b", "s:c\x00\"x"}, {"s:other"}, {"s:other", "s:a"},
	}
	for iter := range 300 {
		entries := make([]jsonv.Member, 0, 4)
		for e := range 1 + rng.IntN(4) {
			var subs []jsonv.Member
			for _, s := range subjects {
				if rng.IntN(2) == 0 {
					subs = append(subs, jsonv.Member{Key: s, Value: jsonv.MustParse(`{"type":"t"}`)})
				}
			}
			var res []jsonv.Member
			for range 1 + rng.IntN(3) {
				p := paths[rng.IntN(len(paths))]
				var grant, revoke []jsonv.Value
				if rng.IntN(3) > 0 {
					grant = append(grant, jsonv.String(Read))
				}
				if rng.IntN(3) == 0 {
					revoke = append(revoke, jsonv.String(Read))
				}
				res = append(res, jsonv.Member{Key: "thing:" + p.String(), Value: jsonv.Object(
					jsonv.Member{Key: "grant", Value: jsonv.Array(grant...)},
					jsonv.Member{Key: "revoke", Value: jsonv.Array(revoke...)},
				)})
			}
			entries = append(entries, jsonv.Member{Key: fmt.Sprintf("E%d", e), Value: jsonv.Object(
				jsonv.Member{Key: "subjects", Value: jsonv.Object(subs...)},
				jsonv.Member{Key: "resources", Value: jsonv.Object(res...)},
			)})
		}
		policy := jsonv.Object(jsonv.Member{Key: "entries", Value: jsonv.Object(entries...)})
		e, err := Compile(policy)
		if err != nil {
			t.Fatal(err)
		}
		r := e.Readers("ns", time.Now())
		for _, p := range append(paths, jsonv.Pointer{"attributes", "x", "y", "deeper"}, jsonv.Pointer{"other"}) {
			key := r.LeafKey(TypeThing, p)
			grants, err := DecodeLeafKey(key)
			if err != nil {
				t.Fatalf("DecodeLeafKey(%s): %v", key, err)
			}
			for _, c := range callers {
				got := LeafReadable(grants, c)
				want := e.For("ns", c).Has(TypeThing, p, Read)
				if got != want {
					t.Fatalf("iter %d policy %s path %s caller %q key %s: got %v, want %v", iter, policy, p, c, key, got, want)
				}
			}
		}
		// PartialReaders: whoever alone reads part of the thing.
		var want []string
		for _, s := range r.Subjects() {
			if e.For("ns", []string{s}).HasPartial(TypeThing, nil, Read) {
				want = append(want, s)
			}
		}
		if got := r.PartialReaders(TypeThing); !slices.Equal(got, want) {
			t.Fatalf("PartialReaders = %q, want %q", got, want)
		}
	}
}

func TestDecodeLeafKeyRejects(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"", "{}", `[["a",1]]`, `[[1,2,3]]`, `[["a","1",2]]`} {
		if _, err := DecodeLeafKey(key); err == nil {
			t.Errorf("DecodeLeafKey(%q): no error", key)
		}
	}
}

func TestReadersExpires(t *testing.T) {
	t.Parallel()
	e := mustCompile(t, readersPolicy)
	want := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := e.Readers("org.eclipse.ditto", before2030).Expires(); !got.Equal(want) {
		t.Errorf("Expires = %v, want %v", got, want)
	}
	if got := e.Readers("org.eclipse.ditto", after2030).Expires(); !got.IsZero() {
		t.Errorf("Expires after 2030 = %v, want zero", got)
	}
}
