package platform

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/streams/streamstest"
)

// Policy imports end to end: a template policy's entries apply to the
// things of a policy importing it (reads, event read subjects, search),
// an entry reference adds local subjects to a template role, a change to
// the template takes effect everywhere, and only a caller who may read
// the template's entries may import it.
func TestPolicyImports(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	// The template: ditto administers it; "viewer" (implicit) lets
	// ditto2 read things; "operator" (explicit) grants WRITE to whoever
	// references it; "secret" is never imported.
	template := func(viewer string) string {
		return `{"entries":{
			"ADMIN":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}},"importable":"never"},
			"viewer":{"subjects":{"` + viewer + `":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}},
			"operator":{"subjects":{},"resources":{"thing:/attributes":{"grant":["READ","WRITE"],"revoke":[]}},"importable":"explicit","allowedAdditions":["subjects"]},
			"secret":{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{"thing:/":{"grant":["WRITE"],"revoke":[]}},"importable":"never"}}}`
	}
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:template", template("nginx:ditto2"), nil, 201, "")
	importing := `{"imports":{"org.eclipse.ditto:template":{"entries":["operator"]}},"entries":{
		"OWNER":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}},
		"operator":{"subjects":{"nginx:operator-user":{"type":"t"}},"references":[{"import":"org.eclipse.ditto:template","entry":"operator"}]}}}`
	r := pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:plant", importing, nil, 201, "")
	if !strings.Contains(r.body, `"imports":{"org.eclipse.ditto:template":{"entries":["operator"]}}`) {
		t.Errorf("created policy: %s", r.body)
	}
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:reactor", `{"policyId":"org.eclipse.ditto:plant","attributes":{"t":1}}`, nil, 201, "")

	// ditto2 reads through the imported viewer entry; the never entry
	// grants it no WRITE.
	pl.expect(t, "ditto2", "GET", "/api/2/things/org.eclipse.ditto:reactor", "", nil, 200, "")
	pl.expect(t, "ditto2", "PUT", "/api/2/things/org.eclipse.ditto:reactor/attributes/t", "2", nil, 403, "things:attribute.notmodifiable")
	// The resolved view of the importing policy shows the imported
	// entries (Ditto's imported-<id>-<label>) and the referencing one
	// with the template's resources.
	r = pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:plant?policy-view=resolved", "", nil, 200, "")
	for _, want := range []string{`"imported-org.eclipse.ditto:template-viewer"`, `"imported-org.eclipse.ditto:template-operator"`, `"thing:/attributes":{"grant":["READ","WRITE"]`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("resolved view lacks %s: %s", want, r.body)
		}
	}
	if strings.Contains(r.body, "secret") || strings.Contains(r.body, "ADMIN") {
		t.Errorf("resolved view holds a never entry: %s", r.body)
	}

	// Events reach ditto2 (read subjects from the effective policy).
	c := pl.mustDial(t, "ditto2")
	c.ack("START-SEND-EVENTS")
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:reactor/attributes/t", "3", nil, 204, "")
	if env := c.envelope(); env.Topic != "org.eclipse.ditto/reactor/things/twin/events/modified" {
		t.Errorf("ditto2's event: %s %s", env.Topic, env.Value)
	}
	// Search finds it for ditto2.
	search := func() string {
		return pl.expect(t, "ditto2", "GET", "/api/2/search/things?fields=thingId", "", nil, 200, "").body
	}
	streamstest.Eventually(t, 10*time.Second, func() error {
		if got := search(); !strings.Contains(got, "org.eclipse.ditto:reactor") {
			return fmt.Errorf("ditto2's search: %s", got)
		}
		return nil
	})

	// The template changes: ditto2 is no longer a viewer. Enforcement
	// follows at once, search after re-indexing.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:template", template("nginx:someone-else"), nil, 204, "")
	pl.expect(t, "ditto2", "GET", "/api/2/things/org.eclipse.ditto:reactor", "", nil, 404, "things:thing.notfound")
	streamstest.Eventually(t, 10*time.Second, func() error {
		if got := search(); strings.Contains(got, "org.eclipse.ditto:reactor") {
			return fmt.Errorf("ditto2's search after the template changed: %s", got)
		}
		return nil
	})

	// Importing needs READ on what is imported: ditto2 may not read the
	// template, so it cannot import it into a policy of its own.
	pl.expect(t, "ditto2", "PUT", "/api/2/policies/org.eclipse.ditto:mine",
		`{"imports":{"org.eclipse.ditto:template":{}},"entries":{"me":{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`,
		nil, 404, "policies:policy.notfound")
	pl.expect(t, "ditto2", "GET", "/api/2/policies/org.eclipse.ditto:mine", "", nil, 404, "policies:policy.notfound")
	// A reference to a never entry is refused.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:plant/entries/spy",
		`{"subjects":{"nginx:ditto2":{"type":"t"}},"references":[{"import":"org.eclipse.ditto:template","entry":"secret"}]}`, nil, 400, "policies:import.invalid")
	// The referenced local entry cannot be deleted while referenced.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:plant/entries/extra",
		`{"references":[{"entry":"operator"}]}`, nil, 201, "")
	pl.expect(t, "ditto", "DELETE", "/api/2/policies/org.eclipse.ditto:plant/entries/operator", "", nil, 409, "policies:entry.referenceconflict")

	// The sub-resources: imports, one import, its entries and transitive
	// imports, an entry's references and importable.
	base := "/api/2/policies/org.eclipse.ditto:plant"
	jsonEq(t, "imports", pl.expect(t, "ditto", "GET", base+"/imports", "", nil, 200, "").body,
		`{"org.eclipse.ditto:template":{"entries":["operator"]}}`)
	jsonEq(t, "import entries", pl.expect(t, "ditto", "GET", base+"/imports/org.eclipse.ditto:template/entries", "", nil, 200, "").body, `["operator"]`)
	jsonEq(t, "transitive imports", pl.expect(t, "ditto", "GET", base+"/imports/org.eclipse.ditto:template/transitiveImports", "", nil, 200, "").body, `[]`)
	// The listed operator entry is referenced: the filter cannot lose it.
	pl.expect(t, "ditto", "PUT", base+"/imports/org.eclipse.ditto:template/entries", `[]`, nil, 409, "policies:import.referenceconflict")
	pl.expect(t, "ditto", "PUT", base+"/imports/org.eclipse.ditto:template", `{}`, nil, 409, "policies:import.referenceconflict")
	pl.expect(t, "ditto", "GET", base+"/imports/org.eclipse.ditto:nope", "", nil, 404, "policies:import.notfound")
	pl.expect(t, "ditto", "DELETE", base+"/imports/org.eclipse.ditto:template", "", nil, 409, "policies:import.referenceconflict")
	jsonEq(t, "references", pl.expect(t, "ditto", "GET", base+"/entries/operator/references", "", nil, 200, "").body,
		`[{"import":"org.eclipse.ditto:template","entry":"operator"}]`)
	pl.expect(t, "ditto", "DELETE", base+"/entries/extra/references", "", nil, 204, "")
	pl.expect(t, "ditto", "PUT", base+"/entries/operator/references", `[]`, nil, 204, "")
	jsonEq(t, "importable", pl.expect(t, "ditto", "GET", base+"/entries/operator/importable", "", nil, 200, "").body, `"implicit"`)
	// ditto2 becomes a viewer again, then the import goes: ditto2 loses
	// the thing at once.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:template/entries/viewer/subjects/nginx:ditto2", `{"type":"t"}`, nil, 201, "")
	pl.expect(t, "ditto2", "GET", "/api/2/things/org.eclipse.ditto:reactor", "", nil, 200, "")
	pl.expect(t, "ditto", "DELETE", base+"/imports/org.eclipse.ditto:template", "", nil, 204, "")
	pl.expect(t, "ditto2", "GET", "/api/2/things/org.eclipse.ditto:reactor", "", nil, 404, "things:thing.notfound")
	jsonEq(t, "imports after the delete", pl.expect(t, "ditto", "GET", base+"/imports", "", nil, 200, "").body, `{}`)
	// Import it again through its own resource: created.
	pl.expect(t, "ditto", "PUT", base+"/imports/org.eclipse.ditto:template", `{}`, nil, 201, "")
	pl.expect(t, "ditto2", "GET", "/api/2/things/org.eclipse.ditto:reactor", "", nil, 200, "")
	// ditto2 may not change the imports.
	pl.expect(t, "ditto2", "PUT", base+"/imports/org.eclipse.ditto:template", `{}`, nil, 403, "policies:import.notmodifiable")
}

// Two policies that import each other: commands on both at once all come
// back (the policies an effective policy is computed from are read from
// the journal, not from their owners' mailboxes, which would wait for
// each other).
func TestMutualImportsDoNotWaitForEachOther(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	entry := func(subject string) string {
		return `"OWNER":{"subjects":{"` + subject + `":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}}`
	}
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:mutual-b", `{"entries":{`+entry("nginx:ditto")+`}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:mutual-a",
		`{"imports":{"org.eclipse.ditto:mutual-b":{}},"entries":{`+entry("nginx:ditto")+`}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:mutual-b/imports/org.eclipse.ditto:mutual-a", `{}`, nil, 201, "")
	done := make(chan error, 40)
	for i := range 20 {
		go func() {
			r := pl.do(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:mutual-a", "", nil)
			if r.status != 200 {
				done <- fmt.Errorf("retrieve a: %d %s", r.status, r.body)
				return
			}
			done <- nil
		}()
		go func() {
			r := pl.do(t, "ditto", "PUT", fmt.Sprintf("/api/2/policies/org.eclipse.ditto:mutual-b/entries/e%d", i),
				`{"subjects":{"nginx:x":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}`, nil)
			if r.status != 201 {
				done <- fmt.Errorf("modify b: %d %s", r.status, r.body)
				return
			}
			done <- nil
		}()
	}
	timeout := time.After(20 * time.Second)
	for range 40 {
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-timeout:
			t.Fatal("commands on two policies importing each other did not come back")
		}
	}
}
