package platform

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/streams/streamstest"
)

// Thing metadata through HTTP (Ditto's basic-metadata.html): put-metadata
// on create and modify with leaf wildcards, get-metadata answered in
// ditto-metadata, fields=_metadata, delete-metadata, cascading deletes,
// the one-header rule, malformed headers changing nothing, enforcement,
// and a restart that keeps it all.
func TestMetadata(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	pl := startPlatform(t, cfg)
	const u = "/api/2/things/org.eclipse.ditto:meta"
	const fields = u + "?fields=_metadata"

	// Created with metadata: a leaf wildcard and a specific key.
	r := pl.expect(t, "ditto", "PUT", u,
		`{"attributes":{"a":1,"b":{"c":2}},"features":{"lamp":{"properties":{"on":true}}}}`,
		map[string]string{"put-metadata": `[{"key":"*/unit","value":"m"},{"key":"/attributes/a/desc","value":"the a"}]`}, 201, "")
	jsonEq(t, "created thing", r.body,
		`{"thingId":"org.eclipse.ditto:meta","policyId":"org.eclipse.ditto:meta","attributes":{"a":1,"b":{"c":2}},"features":{"lamp":{"properties":{"on":true}}}}`)
	got := pl.expect(t, "ditto", "GET", u, "", nil, 200, "")
	jsonEq(t, "thing without fields", got.body,
		`{"thingId":"org.eclipse.ditto:meta","policyId":"org.eclipse.ditto:meta","attributes":{"a":1,"b":{"c":2}},"features":{"lamp":{"properties":{"on":true}}}}`)
	got = pl.expect(t, "ditto", "GET", fields, "", nil, 200, "")
	jsonEq(t, "metadata after create", got.body, `{"_metadata":{
		"thingId":{"unit":"m"},"policyId":{"unit":"m"},
		"attributes":{"a":{"unit":"m","desc":"the a"},"b":{"c":{"unit":"m"}}},
		"features":{"lamp":{"properties":{"on":{"unit":"m"}}}}}}`)

	// Modify a sub-resource: keys relative to its path, wildcards expanded
	// against the value written, existing metadata below it kept.
	pl.expect(t, "ditto", "PUT", u+"/attributes/b", `{"c":3,"d":4}`,
		map[string]string{"put-metadata": `[{"key":"*/ts","value":7}]`}, 204, "")
	got = pl.expect(t, "ditto", "GET", u+"?fields=_metadata/attributes/b", "", nil, 200, "")
	jsonEq(t, "metadata of b", got.body, `{"_metadata":{"attributes":{"b":{"c":{"unit":"m","ts":7},"d":{"ts":7}}}}}`)
	// Attribute wildcard at the root; a merge.
	pl.expect(t, "ditto", "PATCH", u, `{"attributes":{"a":5}}`,
		map[string]string{"Content-Type": "application/merge-patch+json", "put-metadata": `[{"key":"attributes/*/by","value":"merge"}]`}, 204, "")

	// get-metadata: ditto-metadata header, relative to the path, with
	// wildcards; the body is the plain value.
	got = pl.expect(t, "ditto", "GET", u, "", map[string]string{"get-metadata": "attributes/a"}, 200, "")
	jsonEq(t, "ditto-metadata of attributes/a", got.header.Get("ditto-metadata"), `{"attributes":{"a":{"unit":"m","desc":"the a","by":"merge"}}}`)
	got = pl.expect(t, "ditto", "GET", u+"/attributes", "", map[string]string{"get-metadata": "*/unit"}, 200, "")
	jsonEq(t, "ditto-metadata */unit", got.header.Get("ditto-metadata"), `{"a":{"unit":"m"},"b":{"c":{"unit":"m"}}}`)
	jsonEq(t, "attributes body", got.body, `{"a":5,"b":{"c":3,"d":4}}`)
	got = pl.expect(t, "ditto", "GET", u+"/features/lamp", "", map[string]string{"get-metadata": "properties/*/unit"}, 200, "")
	jsonEq(t, "ditto-metadata properties/*/unit", got.header.Get("ditto-metadata"), `{"properties":{"on":{"unit":"m"}}}`)

	// delete-metadata.
	pl.expect(t, "ditto", "PUT", u+"/attributes/a", `6`, map[string]string{"delete-metadata": "desc"}, 204, "")
	got = pl.expect(t, "ditto", "GET", u, "", map[string]string{"get-metadata": "attributes/a"}, 200, "")
	jsonEq(t, "after delete-metadata", got.header.Get("ditto-metadata"), `{"attributes":{"a":{"unit":"m","by":"merge"}}}`)

	// Deleting a value deletes its metadata.
	pl.expect(t, "ditto", "DELETE", u+"/attributes/b", "", nil, 204, "")
	got = pl.expect(t, "ditto", "GET", fields, "", nil, 200, "")
	jsonEq(t, "metadata after cascading delete", got.body, `{"_metadata":{
		"thingId":{"unit":"m"},"policyId":{"unit":"m"},
		"attributes":{"a":{"unit":"m","by":"merge"}},
		"features":{"lamp":{"properties":{"on":{"unit":"m"}}}}}}`)
	before := got.body

	// One metadata header per request; malformed headers and wildcards:
	// Ditto's errors, and nothing changes.
	for _, c := range []struct {
		name, method, path, body string
		headers                  map[string]string
		status                   int
		code                     string
	}{
		{"put and delete", "PUT", u + "/attributes/a", `7`,
			map[string]string{"put-metadata": `[{"key":"x","value":1}]`, "delete-metadata": "x"}, 400, "things:metadata.headersconflict"},
		{"get and put on a retrieve", "GET", u, ``,
			map[string]string{"get-metadata": "x", "put-metadata": `[]`}, 400, "things:metadata.headersconflict"},
		{"not an array", "PUT", u + "/attributes/a", `7`,
			map[string]string{"put-metadata": `{"key":"x"}`}, 400, "header.invalid"},
		{"no value", "PUT", u + "/attributes/a", `7`,
			map[string]string{"put-metadata": `[{"key":"x"}]`}, 400, "header.invalid"},
		{"wildcard form not allowed at the root", "PUT", u, `{"attributes":{"a":7}}`,
			map[string]string{"put-metadata": `[{"key":"attributes/*/*/x","value":1}]`}, 400, "header.invalid"},
		{"wildcard form not allowed below the root", "PUT", u + "/attributes", `{"a":7}`,
			map[string]string{"put-metadata": `[{"key":"a/*/x","value":1}]`}, 400, "header.invalid"},
		{"bad selector", "GET", u, ``, map[string]string{"get-metadata": "a(b"}, 400, "header.invalid"},
		{"create with a bad header", "PUT", "/api/2/things/org.eclipse.ditto:meta-nope", `{}`,
			map[string]string{"put-metadata": `[{"key":"*/*/x","value":1}]`}, 400, "header.invalid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pl.expect(t, "ditto", c.method, c.path, c.body, c.headers, c.status, c.code)
		})
	}
	got = pl.expect(t, "ditto", "GET", fields+",attributes,_revision", "", nil, 200, "")
	jsonEq(t, "thing after refused requests", got.body, `{"attributes":{"a":6},"_revision":5,`+before[1:])
	pl.expect(t, "ditto", "GET", "/api/2/things/org.eclipse.ditto:meta-nope", "", nil, 404, "things:thing.notfound")
	pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:meta-nope", "", nil, 404, "")

	// As in Ditto, _metadata is a field of the thing: a reader of the
	// attributes alone sees no metadata; with READ on
	// thing:/_metadata/attributes too, their metadata and nothing else.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:meta/entries/GUEST",
		`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{"thing:/attributes":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")
	got = pl.expect(t, "ditto2", "GET", fields, "", nil, 200, "")
	jsonEq(t, "ditto2's metadata without a grant on it", got.body, `{}`)
	got = pl.expect(t, "ditto2", "GET", u, "", map[string]string{"get-metadata": "*"}, 200, "")
	jsonEq(t, "ditto2's ditto-metadata without a grant on it", got.header.Get("ditto-metadata"), `{}`)
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:meta/entries/GUEST",
		`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{"thing:/attributes":{"grant":["READ"],"revoke":[]},"thing:/_metadata/attributes":{"grant":["READ"],"revoke":[]}}}`, nil, 204, "")
	got = pl.expect(t, "ditto2", "GET", fields, "", nil, 200, "")
	jsonEq(t, "ditto2's metadata", got.body, `{"_metadata":{"attributes":{"a":{"unit":"m","by":"merge"}}}}`)
	got = pl.expect(t, "ditto2", "GET", u, "", map[string]string{"get-metadata": "*"}, 200, "")
	jsonEq(t, "ditto2's ditto-metadata", got.header.Get("ditto-metadata"), `{"attributes":{"a":{"unit":"m","by":"merge"}}}`)
	got = pl.expect(t, "ditto2", "GET", u, "", map[string]string{"get-metadata": "features"}, 200, "")
	jsonEq(t, "ditto2's feature metadata", got.header.Get("ditto-metadata"), `{}`)

	// A policy has no metadata, as in Ditto (its command strategies compute
	// none): put-metadata on a policy request is accepted and ignored.
	const policyURL = "/api/2/policies/org.eclipse.ditto:meta"
	pl.expect(t, "ditto", "PUT", policyURL+"/entries/GUEST/subjects/nginx:ditto3", `{"type":"guest"}`,
		map[string]string{"put-metadata": `[{"key":"*/unit","value":"m"}]`}, 201, "")
	got = pl.expect(t, "ditto", "GET", policyURL+"?fields=_metadata", "", nil, 200, "")
	jsonEq(t, "the policy's _metadata", got.body, `{}`)
	got = pl.expect(t, "ditto", "GET", policyURL+"?fields=_metadata,_revision", "", map[string]string{"get-metadata": "*"}, 200, "")
	if !strings.HasPrefix(got.body, `{"_revision":`) || got.header.Get("ditto-metadata") != "" {
		t.Errorf("policy with fields=_metadata,_revision and get-metadata: %s, ditto-metadata %q, want only _revision and no ditto-metadata",
			got.body, got.header.Get("ditto-metadata"))
	}

	// Metadata is in the journal: a restart (past the snapshot threshold)
	// keeps it.
	pl.expect(t, "ditto", "PUT", u+"/attributes/n", `1`, nil, 201, "")
	for range 5 {
		pl.expect(t, "ditto", "PUT", u+"/attributes/n", `1`, nil, 204, "")
	}
	before = pl.expect(t, "ditto", "GET", fields, "", nil, 200, "").body
	pl.stop(t)
	pl2 := startPlatform(t, cfg)
	after := pl2.expect(t, "ditto", "GET", fields, "", nil, 200, "").body
	jsonEq(t, "metadata after restart", after, before)

	// Deleting the thing deletes its metadata: created anew, it has none.
	pl2.expect(t, "ditto", "DELETE", u, "", nil, 204, "")
	pl2.expect(t, "ditto", "PUT", u, `{"policyId":"org.eclipse.ditto:meta","attributes":{"a":1}}`, nil, 201, "")
	got = pl2.expect(t, "ditto", "GET", fields, "", nil, 200, "")
	jsonEq(t, "metadata of a thing created anew", got.body, `{}`)
}

// Metadata is searchable: a filter on _metadata finds the thing (by the
// metadata an event set and by what a full load brings), fields=_metadata
// returns it, results without fields do not carry it, and who may not
// read thing:/_metadata finds nothing by it.
func TestMetadataSearch(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const u = "/api/2/things/org.eclipse.ditto:meta-search"
	pl.expect(t, "ditto", "PUT", u, `{"attributes":{"a":1,"b":2}}`,
		map[string]string{"put-metadata": `[{"key":"attributes/a/unit","value":"m"}]`}, 201, "")
	pl.expect(t, "ditto", "PUT", u+"/attributes/b", `3`, map[string]string{"put-metadata": `[{"key":"unit","value":"s"}]`}, 204, "")
	search := func(user, query string) string {
		t.Helper()
		return pl.expect(t, user, "GET", "/api/2/search/things?"+query, "", nil, 200, "").body
	}
	streamstest.Eventually(t, 10*time.Second, func() error {
		if got := search("ditto", "filter=eq(_metadata/attributes/b/unit,%22s%22)&fields=thingId"); !strings.Contains(got, "meta-search") {
			return fmt.Errorf("search by the modify's metadata: %s", got)
		}
		return nil
	})
	if got := search("ditto", "filter=eq(_metadata/attributes/a/unit,%22m%22)&fields=thingId,_metadata"); !strings.Contains(got, `"_metadata":{"attributes":{"a":{"unit":"m"},"b":{"unit":"s"}}}`) {
		t.Errorf("search with fields=_metadata: %s", got)
	}
	if got := search("ditto", "filter=eq(thingId,%22org.eclipse.ditto:meta-search%22)"); strings.Contains(got, "_metadata") || !strings.Contains(got, "meta-search") {
		t.Errorf("search without fields: %s", got)
	}
	// A reader of the attributes alone: the thing, but not by its metadata.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:meta-search/entries/GUEST",
		`{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{"thing:/attributes":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")
	streamstest.Eventually(t, 10*time.Second, func() error {
		if got := search("ditto2", "filter=eq(attributes/b,3)&fields=thingId"); !strings.Contains(got, "meta-search") {
			return fmt.Errorf("ditto2 by attribute: %s", got)
		}
		return nil
	})
	if got := search("ditto2", "filter=eq(_metadata/attributes/a/unit,%22m%22)&fields=thingId"); strings.Contains(got, "meta-search") {
		t.Errorf("ditto2 found the thing by metadata it may not read: %s", got)
	}
}

// The metadata headers work in Ditto Protocol commands on the WebSocket
// as over HTTP: put-metadata on a modify, get-metadata answered in the
// response's ditto-metadata header.
func TestMetadataOverWebSocket(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:meta-ws", `{"attributes":{"a":1}}`, nil, 201, "")
	c := pl.mustDial(t, "ditto")
	c.send(`{"topic":"org.eclipse.ditto/meta-ws/things/twin/commands/modify","headers":{"correlation-id":"m1","put-metadata":[{"key":"unit","value":"m"}]},"path":"/attributes/a","value":2}`)
	if env := c.envelope(); env.Status != 204 {
		t.Fatalf("modify with put-metadata: %d %s", env.Status, env.Value)
	}
	c.send(`{"topic":"org.eclipse.ditto/meta-ws/things/twin/commands/retrieve","headers":{"correlation-id":"r1","get-metadata":"a/unit"},"path":"/attributes"}`)
	env := c.envelope()
	if env.Status != 200 || env.Headers["ditto-metadata"] != `{"a":{"unit":"m"}}` {
		t.Fatalf("retrieve with get-metadata: %d %v %s", env.Status, env.Headers, env.Value)
	}
	jsonEq(t, "fields=_metadata over HTTP", pl.expect(t, "ditto", "GET", "/api/2/things/org.eclipse.ditto:meta-ws?fields=_metadata", "", nil, 200, "").body,
		`{"_metadata":{"attributes":{"a":{"unit":"m"}}}}`)
}
