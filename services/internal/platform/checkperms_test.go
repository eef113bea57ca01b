package platform

import (
	"encoding/json"
	"testing"
)

// POST /api/2/checkPermissions and its Ditto Protocol form answer which
// permissions the caller itself has, by the policies as they are now:
// grants, revokes below a path (a READ on a feature with a revoked
// property is not unrestricted), message resources, policy resources, an
// entity that does not exist (false), the request's order; malformed
// checks get Ditto's errors.
func TestCheckPermissions(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = "org.eclipse.ditto:check-lamp"
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{"_policy":{"entries":{
		"OWNER":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"message:/":{"grant":["READ","WRITE"],"revoke":[]}}},
		"GUEST":{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{
			"thing:/features/lamp":{"grant":["READ"],"revoke":[]},
			"thing:/features/lamp/properties/secret":{"grant":[],"revoke":["READ"]},
			"message:/features/lamp/inbox/messages/toggle":{"grant":["WRITE"],"revoke":[]}}}}},
		"features":{"lamp":{"properties":{"on":true,"secret":1}}}}`, nil, 201, "")
	checks := `{
		"readOn":{"resource":"thing:/features/lamp/properties/on","entityId":"` + id + `","hasPermissions":["READ"]},
		"readLamp":{"resource":"thing:/features/lamp","entityId":"` + id + `","hasPermissions":["READ"]},
		"writeOn":{"resource":"thing:/features/lamp/properties/on","entityId":"` + id + `","hasPermissions":["READ","WRITE"]},
		"toggle":{"resource":"message:/features/lamp/inbox/messages/toggle","entityId":"` + id + `","hasPermissions":["WRITE"]},
		"policy":{"resource":"policy:/","entityId":"` + id + `","hasPermissions":["READ"]},
		"nothing":{"resource":"thing:/","entityId":"org.eclipse.ditto:no-such-thing","hasPermissions":["READ"]},
		"noPolicy":{"resource":"policy:/","entityId":"org.eclipse.ditto:no-such-policy","hasPermissions":["READ"]},
		"skipped":"not an object"}`
	r := pl.expect(t, "ditto2", "POST", "/api/2/checkPermissions", checks, nil, 200, "")
	if r.body != `{"readOn":true,"readLamp":false,"writeOn":false,"toggle":true,"policy":false,"nothing":false,"noPolicy":false}` {
		t.Errorf("ditto2's checks: %s", r.body)
	}
	r = pl.expect(t, "ditto", "POST", "/api/2/checkPermissions", checks, nil, 200, "")
	if r.body != `{"readOn":true,"readLamp":true,"writeOn":true,"toggle":true,"policy":true,"nothing":false,"noPolicy":false}` {
		t.Errorf("ditto's checks: %s", r.body)
	}
	// Ditto's wrapped form.
	r = pl.expect(t, "ditto2", "POST", "/api/2/checkPermissions",
		`{"permissionChecks":{"a":{"resource":"thing:/features/lamp/properties/on","entityId":"`+id+`","hasPermissions":["READ"]}}}`, nil, 200, "")
	if r.body != `{"a":true}` {
		t.Errorf("wrapped checks: %s", r.body)
	}
	// A revoke takes effect at once.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+id+"/entries/GUEST/resources/thing:/features/lamp/properties/on", `{"grant":[],"revoke":["READ"]}`, nil, 201, "")
	r = pl.expect(t, "ditto2", "POST", "/api/2/checkPermissions",
		`{"a":{"resource":"thing:/features/lamp/properties/on","entityId":"`+id+`","hasPermissions":["READ"]}}`, nil, 200, "")
	if r.body != `{"a":false}` {
		t.Errorf("after the revoke: %s", r.body)
	}

	for _, tt := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"unsupported type", `{"a":{"resource":"connection:/","entityId":"` + id + `","hasPermissions":["READ"]}}`, 400, "json.invalid"},
		{"no entityId", `{"a":{"resource":"thing:/","hasPermissions":["READ"]}}`, 400, "json.field.missing"},
		{"no permissions", `{"a":{"resource":"thing:/","entityId":"` + id + `"}}`, 400, "json.field.missing"},
		{"invalid thing id", `{"a":{"resource":"thing:/","entityId":"no-namespace","hasPermissions":["READ"]}}`, 400, "things:id.invalid"},
		{"invalid policy id", `{"a":{"resource":"policy:/","entityId":"no-namespace","hasPermissions":["READ"]}}`, 400, "policies:id.invalid"},
		{"not an object", `[1]`, 400, "json.invalid"},
		{"not JSON", `{`, 400, "json.invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pl.expect(t, "ditto2", "POST", "/api/2/checkPermissions", tt.body, nil, tt.status, tt.code)
		})
	}
	pl.expect(t, "ditto2", "GET", "/api/2/checkPermissions", "", nil, 405, "")
	pl.expect(t, "", "POST", "/api/2/checkPermissions", checks, nil, 401, "")

	// The Ditto Protocol form on the WebSocket.
	c := pl.mustDial(t, "ditto2")
	c.send(`{"topic":"_/_/policies/commands/checkPermissions","headers":{"correlation-id":"cp"},"path":"/","value":{` +
		`"readLamp":{"resource":"thing:/features/lamp","entityId":"` + id + `","isPolicyResource":false,"hasPermissions":["READ"]},` +
		`"toggle":{"resource":"message:/features/lamp/inbox/messages/toggle","entityId":"` + id + `","isPolicyResource":false,"hasPermissions":["WRITE"]}}}`)
	env := c.envelope()
	var got map[string]bool
	if env.Topic != "_/_/policies/commands/checkPermissions" || env.Status != 200 || env.Headers["correlation-id"] != "cp" || json.Unmarshal(env.Value, &got) != nil ||
		got["readLamp"] || !got["toggle"] || len(got) != 2 {
		t.Errorf("over the WebSocket: %s %d %v %s", env.Topic, env.Status, env.Headers, env.Value)
	}
	c.send(`{"topic":"_/_/policies/commands/checkPermissions","headers":{"correlation-id":"bad"},"path":"/","value":{"a":{"resource":"x:/"}}}`)
	if env := c.envelope(); env.Topic != "_/_/policies/errors" || errorCode(env) != "json.field.missing" {
		t.Errorf("a bad check over the WebSocket: %s %s", env.Topic, env.Value)
	}
}
