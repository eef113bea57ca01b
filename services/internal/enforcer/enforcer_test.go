package enforcer

import (
	"errors"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/streams/streamstest"
)

const testPolicy = `{
  "policyId": "org.eclipse.ditto:p1",
  "entries": {
    "OWNER": {
      "subjects": {"nginx:owner": {"type": "basic"}},
      "resources": {
        "thing:/": {"grant": ["READ", "WRITE"], "revoke": []},
        "policy:/": {"grant": ["READ", "WRITE"], "revoke": []}
      }
    },
    "READER": {
      "subjects": {"nginx:reader": {"type": "basic"}, "group:readers": {"type": "group"}},
      "resources": {
        "thing:/": {"grant": ["READ"], "revoke": []},
        "thing:/attributes/secret": {"grant": [], "revoke": ["READ"]},
        "thing:/features": {"grant": [], "revoke": ["READ"]},
        "thing:/features/public": {"grant": ["READ"], "revoke": []}
      }
    },
    "WRITER": {
      "subjects": {"nginx:writer": {"type": "basic"}},
      "resources": {
        "thing:/features/f1/properties": {"grant": ["READ", "WRITE"], "revoke": []},
        "thing:/features/f1/properties/locked": {"grant": [], "revoke": ["WRITE"]}
      }
    },
    "SAMEDEPTH": {
      "subjects": {"nginx:conflicted": {"type": "basic"}},
      "resources": {
        "thing:/attributes": {"grant": ["READ"], "revoke": ["READ"]}
      }
    },
    "REVOKE-ENTRY": {
      "subjects": {"group:readers": {"type": "group"}},
      "resources": {
        "thing:/attributes/model": {"grant": [], "revoke": ["READ"]}
      }
    },
    "EXPIRED": {
      "subjects": {"nginx:temp": {"type": "basic", "expiry": "2001-01-01T00:00:00Z"}},
      "resources": {"thing:/": {"grant": ["READ"], "revoke": []}}
    }
  }
}`

func compile(t *testing.T) *Enforcer {
	t.Helper()
	e, err := Compile(jsonv.MustParse(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func ptr(s string) jsonv.Pointer { return jsonv.MustParsePointer(s) }

func TestPermissionChecks(t *testing.T) {
	t.Parallel()
	e := compile(t)
	tests := []struct {
		name                         string
		subjects                     []string
		typ, path, perm              string
		has, unrestricted, partially bool
	}{
		{"owner reads root", []string{"nginx:owner"}, TypeThing, "/", Read, true, true, true},
		{"owner writes deep", []string{"nginx:owner"}, TypeThing, "/features/x/properties/y", Write, true, true, true},
		{"owner writes policy", []string{"nginx:owner"}, TypePolicy, "/entries", Write, true, true, true},
		{"owner has no message grant", []string{"nginx:owner"}, TypeMessage, "/", Write, false, false, false},
		{"reader reads root but not unrestricted", []string{"nginx:reader"}, TypeThing, "/", Read, true, false, true},
		{"reader cannot read secret", []string{"nginx:reader"}, TypeThing, "/attributes/secret", Read, false, false, false},
		{"reader cannot read below secret", []string{"nginx:reader"}, TypeThing, "/attributes/secret/x", Read, false, false, false},
		{"reader reads other attribute", []string{"nginx:reader"}, TypeThing, "/attributes/other", Read, true, true, true},
		{"deeper grant beats revoke above", []string{"nginx:reader"}, TypeThing, "/features/public/properties", Read, true, true, true},
		{"features partially readable", []string{"nginx:reader"}, TypeThing, "/features", Read, false, false, true},
		{"reader cannot write", []string{"nginx:reader"}, TypeThing, "/attributes/other", Write, false, false, false},
		{"writer writes properties only partially", []string{"nginx:writer"}, TypeThing, "/features/f1/properties", Write, true, false, true},
		{"writer cannot write locked", []string{"nginx:writer"}, TypeThing, "/features/f1/properties/locked", Write, false, false, false},
		{"writer writes other property", []string{"nginx:writer"}, TypeThing, "/features/f1/properties/temp", Write, true, true, true},
		{"writer cannot write feature root", []string{"nginx:writer"}, TypeThing, "/features/f1", Write, false, false, true},
		{"revoke wins at equal depth", []string{"nginx:conflicted"}, TypeThing, "/attributes", Read, false, false, false},
		{"entries of all subjects combine", []string{"nginx:writer", "nginx:reader"}, TypeThing, "/features/f1/properties/x", Read, true, true, true},
		{"a revoke in another entry of the caller applies", []string{"group:readers"}, TypeThing, "/attributes/model", Read, false, false, false},
		{"unknown subject gets nothing", []string{"nginx:nobody"}, TypeThing, "/", Read, false, false, false},
		{"expired subject gets nothing", []string{"nginx:temp"}, TypeThing, "/", Read, false, false, false},
	}
	for _, tc := range tests {
		v := e.For("org.eclipse.ditto", tc.subjects)
		p := ptr(tc.path)
		if got := v.Has(tc.typ, p, tc.perm); got != tc.has {
			t.Errorf("%s: Has = %v, want %v", tc.name, got, tc.has)
		}
		if got := v.HasUnrestricted(tc.typ, p, tc.perm); got != tc.unrestricted {
			t.Errorf("%s: HasUnrestricted = %v, want %v", tc.name, got, tc.unrestricted)
		}
		if got := v.HasPartial(tc.typ, p, tc.perm); got != tc.partially {
			t.Errorf("%s: HasPartial = %v, want %v", tc.name, got, tc.partially)
		}
	}
}

const testThing = `{"thingId":"org.eclipse.ditto:t1","policyId":"org.eclipse.ditto:p1",
 "attributes":{"secret":{"pin":1234},"other":"x","model":"m","empty":{}},
 "features":{"public":{"properties":{"a":1}},"f1":{"properties":{"locked":true,"temp":20}}}}`

func TestView(t *testing.T) {
	t.Parallel()
	e := compile(t)
	thing := jsonv.MustParse(testThing)
	tests := []struct {
		name     string
		subjects []string
		path     string
		want     string // "" means nothing visible
	}{
		{"owner sees all", []string{"nginx:owner"}, "/", testThing},
		{"reader sees filtered thing", []string{"nginx:reader"}, "/",
			`{"thingId":"org.eclipse.ditto:t1","policyId":"org.eclipse.ditto:p1","attributes":{"other":"x","model":"m","empty":{}},"features":{"public":{"properties":{"a":1}}}}`},
		{"group member also loses model", []string{"group:readers"}, "/",
			`{"thingId":"org.eclipse.ditto:t1","policyId":"org.eclipse.ditto:p1","attributes":{"other":"x","empty":{}},"features":{"public":{"properties":{"a":1}}}}`},
		{"writer sees only f1 properties", []string{"nginx:writer"}, "/",
			`{"features":{"f1":{"properties":{"locked":true,"temp":20}}}}`},
		{"nobody sees nothing", []string{"nginx:nobody"}, "/", ""},
		{"reader views features sub-resource", []string{"nginx:reader"}, "/features",
			`{"public":{"properties":{"a":1}}}`},
		{"reader views secret", []string{"nginx:reader"}, "/attributes/secret", ""},
		{"reader views a primitive", []string{"nginx:reader"}, "/attributes/other", `"x"`},
	}
	for _, tc := range tests {
		p := ptr(tc.path)
		val, ok := thing.At(p)
		if !ok {
			t.Fatalf("%s: test thing has nothing at %s", tc.name, tc.path)
		}
		got, visible := e.For("org.eclipse.ditto", tc.subjects).View(TypeThing, p, val, Read)
		if tc.want == "" {
			if visible {
				t.Errorf("%s: View = %s, want nothing visible", tc.name, got)
			}
			continue
		}
		if !visible || !got.Equal(jsonv.MustParse(tc.want)) {
			t.Errorf("%s: View = %s (visible %v), want %s", tc.name, got, visible, tc.want)
		}
	}
}

func TestViewKeepsMemberOrder(t *testing.T) {
	t.Parallel()
	e := compile(t)
	got, _ := e.For("org.eclipse.ditto", []string{"nginx:reader"}).View(TypeThing, nil, jsonv.MustParse(testThing), Read)
	var keys []string
	for _, m := range got.Members() {
		keys = append(keys, m.Key)
	}
	if want := []string{"thingId", "policyId", "attributes", "features"}; len(keys) != len(want) || keys[0] != want[0] || keys[3] != want[3] {
		t.Errorf("member order %v, want %v", keys, want)
	}
}

func TestExpiringSubjectViewIsRebuilt(t *testing.T) {
	t.Parallel()
	soon := time.Now().Add(200 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	e, err := Compile(jsonv.MustParse(`{"entries":{"E":{"subjects":{"s:x":{"type":"t","expiry":"` + soon + `"}},
		"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !e.For("ns", []string{"s:x"}).Has(TypeThing, nil, Read) {
		t.Fatal("subject denied before its expiry")
	}
	streamstest.Eventually(t, 5*time.Second, func() error {
		if e.For("ns", []string{"s:x"}).Has(TypeThing, nil, Read) {
			return errors.New("subject still granted after its expiry")
		}
		return nil
	})
}

func TestParseResourceKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key, typ, path string
		ok             bool
	}{
		{"thing:/", "thing", "/", true},
		{"thing:/attributes/a", "thing", "/attributes/a", true},
		{"policy:/entries", "policy", "/entries", true},
		{"message:/inbox", "message", "/inbox", true},
		{"thing", "", "", false},
		{":/a", "", "", false},
	}
	for _, tc := range tests {
		typ, p, ok := ParseResourceKey(tc.key)
		if ok != tc.ok || (ok && (typ != tc.typ || p.String() != tc.path)) {
			t.Errorf("ParseResourceKey(%q) = %q, %q, %v; want %q, %q, %v", tc.key, typ, p, ok, tc.typ, tc.path, tc.ok)
		}
	}
}

func TestCompileRejectsNonObject(t *testing.T) {
	t.Parallel()
	if _, err := Compile(jsonv.MustParse(`[1]`)); err == nil {
		t.Error("Compile accepted an array")
	}
}

func TestEntryNamespaces(t *testing.T) {
	t.Parallel()
	e, err := Compile(jsonv.MustParse(`{"entries":{
		"ALL":{"subjects":{"s:all":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}},
		"EXACT":{"subjects":{"s:x":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}},"namespaces":["com.acme"]},
		"BELOW":{"subjects":{"s:x":{"type":"t"}},"resources":{"thing:/":{"grant":["WRITE"],"revoke":[]}},"namespaces":["com.acme.*"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ns          string
		subject     string
		read, write bool
	}{
		{"com.acme", "s:x", true, false},
		{"com.acme.sub", "s:x", false, true},
		{"com.acme.sub.deep", "s:x", false, true},
		{"com.acmex", "s:x", false, false},
		{"org.other", "s:x", false, false},
		{"org.other", "s:all", true, false},
	}
	for _, tc := range tests {
		v := e.For(tc.ns, []string{tc.subject})
		if got := v.Has(TypeThing, nil, Read); got != tc.read {
			t.Errorf("%s in %s: READ %v, want %v", tc.subject, tc.ns, got, tc.read)
		}
		if got := v.Has(TypeThing, nil, Write); got != tc.write {
			t.Errorf("%s in %s: WRITE %v, want %v", tc.subject, tc.ns, got, tc.write)
		}
	}
}
