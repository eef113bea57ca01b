package platform

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/dittoconf"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// Namespace root policies (ditto.namespace-policies, the guide's HOCON):
// the implicit entries of the root apply to every policy of the matching
// namespaces, in things' enforcement, in search visibility and in the
// policies service's own enforcement; explicit and never entries do not;
// a change to the root takes effect at once in enforcement and, re-indexed,
// in search; a namespace the pattern does not match gets nothing.
func TestNamespaceRootPolicies(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	tree, err := dittoconf.Parse("test.conf", []byte(`ditto.namespace-policies {
  "org.tenant.*" = ["org.tenant:root"]
}`), dittoconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tree = tree
	pl := startPlatform(t, cfg)
	root := func(reader string) string {
		return `{"entries":{
			"ADMIN":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}},"importable":"never"},
			"READER":{"subjects":{"` + reader + `":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]},"policy:/":{"grant":["READ"],"revoke":[]}},"importable":"implicit"},
			"WRITER":{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{"thing:/":{"grant":["WRITE"],"revoke":[]}},"importable":"explicit"}}}`
	}
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.tenant:root", root("nginx:ditto2"), nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.tenant.devices:lamp", `{"attributes":{"on":true}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.other:lamp", `{"attributes":{"on":true}}`, nil, 201, "")

	// Things: ditto2 reads the tenant's lamp through the root, not the other.
	pl.expect(t, "ditto2", "GET", "/api/2/things/org.tenant.devices:lamp", "", nil, 200, "")
	pl.expect(t, "ditto2", "GET", "/api/2/things/org.other:lamp", "", nil, 404, "things:thing.notfound")
	// The explicit entry is not merged: no WRITE.
	pl.expect(t, "ditto2", "PUT", "/api/2/things/org.tenant.devices:lamp/attributes/on", "false", nil, 403, "things:attribute.notmodifiable")
	// The policies service: ditto2 reads the lamp's policy (as stored:
	// its own entries, which it may read through the root), and the
	// resolved view shows the merged entry, without an ETag.
	r := pl.expect(t, "ditto2", "GET", "/api/2/policies/org.tenant.devices:lamp", "", nil, 200, "")
	if strings.Contains(r.body, "nsimported") {
		t.Errorf("the stored view holds a merged entry: %s", r.body)
	}
	r = pl.expect(t, "ditto2", "GET", "/api/2/policies/org.tenant.devices:lamp?policy-view=resolved&fields=entries", "", nil, 200, "")
	if !strings.Contains(r.body, `"nsimported-org.tenant:root-READER":{"subjects":{"nginx:ditto2"`) || strings.Contains(r.body, "WRITER") || strings.Contains(r.body, "ADMIN") {
		t.Errorf("resolved view: %s", r.body)
	}
	if r.header.Get("ETag") != "" {
		t.Errorf("resolved view with ETag %s", r.header.Get("ETag"))
	}
	r = pl.expect(t, "ditto2", "GET", "/api/2/policies/org.tenant.devices:lamp", "", map[string]string{"policy-view": "resolved", "If-None-Match": "*"}, 200, "")
	if !strings.Contains(r.body, "nsimported-org.tenant:root-READER") {
		t.Errorf("resolved view by header: %s", r.body)
	}
	pl.expect(t, "ditto2", "GET", "/api/2/policies/org.other:lamp", "", nil, 404, "policies:policy.notfound")
	// Events: ditto2's session gets the tenant lamp's changes (their read
	// subjects come from the effective policy), not the other's.
	c := pl.mustDial(t, "ditto2")
	c.ack("START-SEND-EVENTS")
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.other:lamp/attributes/on", "false", nil, 204, "")
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.tenant.devices:lamp/attributes/on", "false", nil, 204, "")
	if env := c.envelope(); env.Topic != "org.tenant.devices/lamp/things/twin/events/modified" {
		t.Errorf("ditto2's event: %s %s", env.Topic, env.Value)
	}
	// Search: the tenant's lamp only.
	ids := func(user string) string {
		t.Helper()
		r := pl.expect(t, user, "GET", "/api/2/search/things?fields=thingId&option=sort(%2BthingId)", "", nil, 200, "")
		return r.body
	}
	streamstest.Eventually(t, 10*time.Second, func() error {
		if got := ids("ditto2"); !strings.Contains(got, "org.tenant.devices:lamp") || strings.Contains(got, "org.other:lamp") {
			return fmt.Errorf("ditto2's search: %s", got)
		}
		return nil
	})

	// The root changes: another reader. Enforcement follows at once,
	// search after re-indexing.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.tenant:root", root("nginx:someone-else"), nil, 204, "")
	pl.expect(t, "ditto2", "GET", "/api/2/things/org.tenant.devices:lamp", "", nil, 404, "things:thing.notfound")
	pl.expect(t, "ditto2", "GET", "/api/2/policies/org.tenant.devices:lamp", "", nil, 404, "policies:policy.notfound")
	streamstest.Eventually(t, 10*time.Second, func() error {
		if got := ids("ditto2"); strings.Contains(got, "org.tenant.devices:lamp") {
			return fmt.Errorf("ditto2's search after the root changed: %s", got)
		}
		return nil
	})
	// A change to one entry of the root takes effect too.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.tenant:root/entries/READER/subjects/nginx:ditto2", `{"type":"t"}`, nil, 201, "")
	pl.expect(t, "ditto2", "GET", "/api/2/things/org.tenant.devices:lamp", "", nil, 200, "")
}
