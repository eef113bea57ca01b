package platform

import (
	"testing"

	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

// The guide's -D example restricts entity creation: only the subjects it
// names create things and policies; changing what exists is not creating.
func TestEntityCreationRestricted(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	props, err := dittoconf.ParseProperties("-Dditto.entity-creation.grant.0.auth-subjects.0=nginx:ditto " +
		"-Dditto.entity-creation.grant.0.auth-subjects.1=integration:some-connection")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tree, err = dittoconf.PropertiesTree(props); err != nil {
		t.Fatal(err)
	}
	pl := startPlatform(t, cfg)
	thing := `{"policyId":"org.eclipse.ditto:shared","attributes":{"a":1}}`
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:shared",
		`{"entries":{"all":{"subjects":{"nginx:ditto":{"type":"t"},"nginx:ditto2":{"type":"t"}},`+
			`"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:allowed", thing, nil, 201, "")
	r := pl.expect(t, "ditto2", "PUT", "/api/2/things/org.eclipse.ditto:refused", thing, nil, 403, "entity.notcreatable")
	jsonEq(t, "refused", r.body, `{"status":403,"error":"entity.notcreatable",`+
		`"message":"The Entity with ID 'org.eclipse.ditto:refused' could not be created as the creation was configured not to be allowed.",`+
		`"description":"The thing creation was configured not to be allowed for the authenticated subject(s) and used thing definition 'null' in namespace 'org.eclipse.ditto'. Check with your administrator if that was unexpected."}`)
	pl.expect(t, "ditto2", "POST", "/api/2/things", thing, nil, 403, "entity.notcreatable")
	pl.expect(t, "ditto2", "PUT", "/api/2/policies/org.eclipse.ditto:mine",
		`{"entries":{"all":{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`,
		nil, 403, "entity.notcreatable")
	// Modifying what exists is not creating.
	pl.expect(t, "ditto2", "PUT", "/api/2/policies/org.eclipse.ditto:shared/entries/more",
		`{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")
	pl.expect(t, "ditto2", "PUT", "/api/2/things/org.eclipse.ditto:allowed/attributes/a", "2", nil, 204, "")
	pl.expect(t, "ditto2", "GET", "/api/2/things/org.eclipse.ditto:refused", "", nil, 404, "things:thing.notfound")
}
