package platform

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// piggybackAnswer is what a piggyback handler answered.
type piggybackAnswer struct {
	status int
	body   string
}

// The DevOps user manages policies and things with piggyback commands in
// Ditto's internal JSON, through the handlers on the real services: with
// ditto-sudo the commands bypass enforcement (and the services log them);
// without it they are enforced as the authorization context's subjects,
// and with no context at all refused as the HTTP API refuses a caller
// without permission.
func TestPiggybackManagesThingsAndPolicies(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	pl := startPlatformLog(t, testConfig(t), log)
	// send runs a piggyback command through the gateway's DevOps route,
	// as an operator sends it, to the service the selection names.
	send := func(selection, headers, cmd string) piggybackAnswer {
		t.Helper()
		service := "things"
		if selection == "/system/sharding/policy" {
			service = "policies"
		}
		r := pl.doDevOps(t, "POST", "/devops/piggyback/"+service+"?timeout=10s", `{"targetActorSelection":"`+selection+
			`","headers":`+headers+`,"piggybackCommand":`+cmd+`}`)
		// Ditto's DevOps route answers 200 with the command's response,
		// whose own status is in its body.
		var st struct {
			Status int `json:"status"`
		}
		if err := json.Unmarshal([]byte(r.body), &st); err != nil || r.status != 200 {
			t.Fatalf("%s: %d %s", cmd, r.status, r.body)
		}
		return piggybackAnswer{st.Status, r.body}
	}
	const (
		sudo     = `{"aggregate":false,"is-group-topic":true,"ditto-sudo":true}`
		enforced = `{"aggregate":false,"is-group-topic":true}`
		policy   = "/system/sharding/policy"
		thing    = "/system/sharding/thing"
		id       = "org.eclipse.ditto:piggyback"
	)
	expect := func(what string, got piggybackAnswer, status int, body string) {
		t.Helper()
		if got.status != status {
			t.Fatalf("%s: status %d, want %d; body %s", what, got.status, status, got.body)
		}
		jsonEq(t, what, got.body, body)
	}

	// Create and read a policy and a thing governed by it.
	policyJSON := `{"policyId":"` + id + `","entries":{"OWNER":{"subjects":{"nginx:ditto":{"type":"owner"}},` +
		`"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`
	created := send(policy, sudo, `{"type":"policies.commands:createPolicy","policy":`+policyJSON+`}`)
	if created.status != 201 || !strings.Contains(created.body, `"type":"policies.responses:createPolicy"`) ||
		!strings.Contains(created.body, `"policyId":"`+id+`"`) {
		t.Fatalf("createPolicy: %d %s", created.status, created.body)
	}
	got := send(policy, sudo, `{"type":"policies.commands:retrievePolicy","policyId":"`+id+`","selectedFields":"entries"}`)
	expect("retrievePolicy", got, 200, `{"type":"policies.responses:retrievePolicy","status":200,"policyId":"`+id+`",`+
		`"policy":{"entries":{"OWNER":{"subjects":{"nginx:ditto":{"type":"owner"}},`+
		`"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}}`)

	got = send(thing, sudo, `{"type":"things.commands:createThing","thing":{"thingId":"`+id+`","policyId":"`+id+`","attributes":{"a":1}}}`)
	expect("createThing", got, 201, `{"type":"things.responses:createThing","status":201,`+
		`"thing":{"thingId":"`+id+`","policyId":"`+id+`","attributes":{"a":1}}}`)
	got = send(thing, sudo, `{"type":"things.commands:retrieveThing","thingId":"`+id+`"}`)
	expect("retrieveThing", got, 200, `{"type":"things.responses:retrieveThing","status":200,"thingId":"`+id+`",`+
		`"thingPlainJson":"{\"thingId\":\"`+id+`\",\"policyId\":\"`+id+`\",\"attributes\":{\"a\":1}}"}`)

	// Modify an attribute, create another; the HTTP API sees the result.
	got = send(thing, sudo, `{"type":"things.commands:modifyAttribute","thingId":"`+id+`","attribute":"/a","value":2}`)
	expect("modifyAttribute", got, 204, `{"type":"things.responses:modifyAttribute","status":204,"thingId":"`+id+`","attribute":"/a"}`)
	got = send(thing, sudo, `{"type":"things.commands:modifyAttribute","thingId":"`+id+`","attribute":"b/c","value":true}`)
	expect("modifyAttribute created", got, 201, `{"type":"things.responses:modifyAttribute","status":201,"thingId":"`+id+`","attribute":"/b/c","value":true}`)
	r := pl.expect(t, "ditto", "GET", "/api/2/things/"+id+"/attributes", "", nil, 200, "")
	jsonEq(t, "attributes over HTTP", r.body, `{"a":2,"b":{"c":true}}`)

	// Without ditto-sudo and without an authorization context the command
	// is enforced for nobody: refused as the HTTP API refuses a caller the
	// policy grants nothing.
	denied := pl.expect(t, "ditto2", "GET", "/api/2/things/"+id, "", nil, 404, "things:thing.notfound")
	got = send(thing, enforced, `{"type":"things.commands:retrieveThing","thingId":"`+id+`"}`)
	expect("retrieveThing without sudo", got, 404, denied.body)
	denied = pl.expect(t, "ditto2", "GET", "/api/2/policies/"+id, "", nil, 404, "policies:policy.notfound")
	got = send(policy, enforced, `{"type":"policies.commands:retrievePolicy","policyId":"`+id+`"}`)
	expect("retrievePolicy without sudo", got, 404, denied.body)
	denied = pl.do(t, "ditto2", "PUT", "/api/2/things/"+id+"/attributes/a", "3", nil)
	got = send(thing, enforced, `{"type":"things.commands:modifyAttribute","thingId":"`+id+`","attribute":"a","value":3}`)
	expect("modifyAttribute without sudo", got, denied.status, denied.body)

	// With the authorization context of the policy's subject it passes.
	got = send(thing, `{"aggregate":false,"ditto-auth-context":{"type":"pre-authenticated-connection","subjects":["nginx:ditto"]}}`,
		`{"type":"things.commands:retrieveAttribute","thingId":"`+id+`","attribute":"a"}`)
	expect("retrieveAttribute as nginx:ditto", got, 200, `{"type":"things.responses:retrieveAttribute","status":200,"thingId":"`+id+`","attribute":"/a","value":2}`)

	// A command the services refuse is answered with their error as it is.
	got = send(thing, sudo, `{"type":"things.commands:createThing","thing":{"thingId":"`+id+`","policyId":"`+id+`"}}`)
	if got.status != 409 || !strings.Contains(got.body, `"error":"things:thing.conflict"`) {
		t.Errorf("second createThing: %d %s", got.status, got.body)
	}

	// A sudo thing without a policy gets the default policy of the
	// authorization context's subject; retrieveThings answers the things
	// that exist, in order.
	other := "org.eclipse.ditto:piggyback-2"
	got = send(thing, `{"aggregate":false,"ditto-sudo":true,"ditto-auth-context":{"type":"pre-authenticated-connection","subjects":["nginx:ditto"]}}`,
		`{"type":"things.commands:createThing","thing":{"thingId":"`+other+`"}}`)
	expect("createThing with a default policy", got, 201, `{"type":"things.responses:createThing","status":201,`+
		`"thing":{"thingId":"`+other+`","policyId":"`+other+`"}}`)
	pl.expect(t, "ditto", "GET", "/api/2/things/"+other, "", nil, 200, "")
	got = send(thing, sudo, `{"type":"things.commands:retrieveThings","thingIds":["`+other+`","org.eclipse.ditto:none","`+id+`"],"selectedFields":"thingId"}`)
	expect("retrieveThings", got, 200, `{"type":"things.responses:retrieveThings","status":200,`+
		`"thingsPlainJson":"[{\"thingId\":\"`+other+`\"},{\"thingId\":\"`+id+`\"}]"}`)

	// Delete both.
	got = send(thing, sudo, `{"type":"things.commands:deleteThing","thingId":"`+id+`"}`)
	expect("deleteThing", got, 204, `{"type":"things.responses:deleteThing","status":204,"thingId":"`+id+`"}`)
	got = send(policy, sudo, `{"type":"policies.commands:deletePolicy","policyId":"`+id+`"}`)
	expect("deletePolicy", got, 204, `{"type":"policies.responses:deletePolicy","status":204,"policyId":"`+id+`"}`)
	got = send(thing, sudo, `{"type":"things.commands:retrieveThing","thingId":"`+id+`"}`)
	if got.status != 404 || !strings.Contains(got.body, `"error":"things:thing.notfound"`) {
		t.Errorf("retrieveThing after delete: %d %s", got.status, got.body)
	}
	got = send(policy, sudo, `{"type":"policies.commands:retrievePolicy","policyId":"`+id+`"}`)
	if got.status != 404 || !strings.Contains(got.body, `"error":"policies:policy.notfound"`) {
		t.Errorf("retrievePolicy after delete: %d %s", got.status, got.body)
	}
	pl.expect(t, "ditto", "GET", "/api/2/things/"+id, "", nil, 404, "things:thing.notfound")

	// The services logged the sudo commands, and the handlers every one.
	logs := out.String()
	for _, want := range []string{`msg="sudo command"`, `auth=[devops]`,
		`msg="piggyback command" service=things instance=test type=things.commands:createThing entity_id=` + id + ` sudo=true status=201`,
		`msg="piggyback command" service=things instance=test type=things.commands:retrieveThing entity_id=` + id + ` sudo=false status=404`,
		`msg="piggyback command" service=policies instance=test type=policies.commands:deletePolicy entity_id=` + id + ` sudo=true status=204`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s", want)
		}
	}
}
