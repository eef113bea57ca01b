package things_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/journal"
)

// The things service's behaviour, command by command, as the gateway sends
// the commands of Ditto's HTTP API (the mapping itself is the gateway's and
// tested there).

const lamp = "org.eclipse.ditto:lamp"

// The hello-world path of Ditto's documentation, and what another user may
// and may not do until the owner's policy lets them.
func TestThingLifecycleAndEnforcement(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startBoth(t)

	r := f.expect(t, thing(ditto, modify, lamp).with(`{"thingId":"org.eclipse.ditto:lamp","attributes":{"manufacturer":"ACME","location":{"room":"kitchen"}},
		"features":{"lamp":{"properties":{"on":false,"brightness":10}}}}`), 201, "")
	jsonEq(t, "created thing", r.env.Value, `{"thingId":"org.eclipse.ditto:lamp","policyId":"org.eclipse.ditto:lamp",
		"attributes":{"manufacturer":"ACME","location":{"room":"kitchen"}},"features":{"lamp":{"properties":{"on":false,"brightness":10}}}}`)
	if r.etag() != `"rev:1"` {
		t.Errorf("ETag %q, want \"rev:1\"", r.etag())
	}
	// The default policy grants the creator everything.
	pol := f.expect(t, policy(ditto, retrieve, lamp), 200, "")
	jsonEq(t, "default policy entry", []byte(mustAt(t, pol.value(t), "/entries/DEFAULT/subjects").String()), `{"nginx:ditto":{"type":"generated"}}`)

	f.expect(t, thing(ditto, modify, lamp+"/features/lamp/properties/on").with(`true`), 204, "")
	f.expect(t, thing(ditto, modify, lamp+"/attributes/serial").with(`"A-1"`), 201, "")
	got := f.expect(t, thing(ditto, retrieve, lamp+"/features/lamp/properties"), 200, "")
	jsonEq(t, "properties", got.env.Value, `{"on":true,"brightness":10}`)
	got = f.expect(t, thing(ditto, retrieve, lamp).selecting("thingId,attributes/serial,_revision"), 200, "")
	jsonEq(t, "selected fields", got.env.Value, `{"thingId":"org.eclipse.ditto:lamp","attributes":{"serial":"A-1"},"_revision":3}`)

	// ditto2 cannot even learn that the thing exists.
	f.expect(t, thing(ditto2, retrieve, lamp), 404, "things:thing.notfound")
	f.expect(t, thing(ditto2, modify, lamp+"/attributes/x").with(`1`), 404, "things:thing.notfound")
	f.expect(t, policy(ditto2, retrieve, lamp), 404, "policies:policy.notfound")

	// The owner lets ditto2 read the attributes except the location: the
	// next command already sees it.
	f.expect(t, policy(ditto, modify, lamp+"/entries/GUEST").with(`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{
		  "thing:/attributes":{"grant":["READ"],"revoke":[]},
		  "thing:/attributes/location":{"grant":[],"revoke":["READ"]}}}`), 201, "")
	got = f.expect(t, thing(ditto2, retrieve, lamp), 200, "")
	jsonEq(t, "ditto2's view", got.env.Value, `{"thingId":"org.eclipse.ditto:lamp","attributes":{"manufacturer":"ACME","serial":"A-1"}}`)
	f.expect(t, thing(ditto2, retrieve, lamp+"/attributes/location"), 404, "things:attribute.notfound")
	f.expect(t, thing(ditto2, retrieve, lamp+"/features"), 404, "things:features.notfound")
	// It can read, so a write is forbidden rather than not found.
	f.expect(t, thing(ditto2, modify, lamp+"/attributes/serial").with(`"B"`), 403, "things:attribute.notmodifiable")
	f.expect(t, thing(ditto2, del, lamp), 403, "things:thing.notdeletable")
	f.expect(t, thing(ditto2, merge, lamp).with(`{"attributes":{"serial":"C"}}`), 403, "things:thing.notmodifiable")

	// Granting WRITE on one attribute allows exactly that.
	f.expect(t, policy(ditto, modify, lamp+"/entries/GUEST/resources/thing:/attributes/serial").with(`{"grant":["READ","WRITE"],"revoke":[]}`), 201, "")
	f.expect(t, thing(ditto2, modify, lamp+"/attributes/serial").with(`"B"`), 204, "")
	f.expect(t, thing(ditto2, merge, lamp).with(`{"attributes":{"serial":"C"}}`), 204, "")
	f.expect(t, thing(ditto2, merge, lamp).with(`{"attributes":{"serial":"D","manufacturer":"X"}}`), 403, "things:thing.notmodifiable")
	got = f.expect(t, thing(ditto, retrieve, lamp+"/attributes"), 200, "")
	jsonEq(t, "attributes after ditto2's writes", got.env.Value, `{"manufacturer":"ACME","location":{"room":"kitchen"},"serial":"C"}`)

	// Removing the entry takes the access away on the next command.
	f.expect(t, policy(ditto, del, lamp+"/entries/GUEST"), 204, "")
	f.expect(t, thing(ditto2, retrieve, lamp), 404, "things:thing.notfound")

	// Delete: the thing is gone, its policy stays.
	f.expect(t, thing(ditto, del, lamp), 204, "")
	f.expect(t, thing(ditto, retrieve, lamp), 404, "things:thing.notfound")
	f.expect(t, policy(ditto, retrieve, lamp), 200, "")
}

func TestSubResourcesAndConditionalRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startBoth(t)
	const u = "org.eclipse.ditto:sensor"
	f.expect(t, thing(ditto, modify, u).with(`{"thingId":"org.eclipse.ditto:sensor"}`), 201, "")

	// Features and properties.
	f.expect(t, thing(ditto, modify, u+"/features/temp/properties/value").with(`21`), 404, "things:feature.notfound")
	f.expect(t, thing(ditto, modify, u+"/features/temp").with(`{"definition":["org.example:temp:1.0.0"],"properties":{"value":20}}`), 201, "")
	f.expect(t, thing(ditto, modify, u+"/features/temp/properties/value").with(`21`), 204, "")
	f.expect(t, thing(ditto, modify, u+"/features/temp/desiredProperties/value").with(`22`), 201, "")
	f.expect(t, thing(ditto, modify, u+"/features/temp/definition").with(`[]`), 400, "things:feature.definition.empty")
	f.expect(t, thing(ditto, modify, u+"/definition").with(`"org.example:sensor:2"`), 201, "")
	f.expect(t, thing(ditto, modify, u+"/definition").with(`"no-definition"`), 400, "things:definition.identifier.invalid")
	got := f.expect(t, thing(ditto, retrieve, u+"/features/temp"), 200, "")
	jsonEq(t, "feature", got.env.Value, `{"definition":["org.example:temp:1.0.0"],"properties":{"value":21},"desiredProperties":{"value":22}}`)
	f.expect(t, thing(ditto, del, u+"/features/temp/desiredProperties"), 204, "")
	f.expect(t, thing(ditto, retrieve, u+"/features/temp/desiredProperties"), 404, "things:feature.desiredProperties.notfound")
	f.expect(t, thing(ditto, del, u+"/features/nope"), 404, "things:feature.notfound")

	// Merge patch: null removes, objects merge.
	f.expect(t, thing(ditto, merge, u).with(`{"attributes":{"a":1,"b":{"c":2}},"features":{"temp":{"properties":{"value":null,"unit":"C"}}}}`), 204, "")
	got = f.expect(t, thing(ditto, retrieve, u).selecting("attributes,features/temp/properties"), 200, "")
	jsonEq(t, "after merge", got.env.Value, `{"attributes":{"a":1,"b":{"c":2}},"features":{"temp":{"properties":{"unit":"C"}}}}`)
	f.expect(t, thing(ditto, merge, u+"/attributes/b").with(`{"c":null,"d":3}`), 204, "")
	got = f.expect(t, thing(ditto, retrieve, u+"/attributes"), 200, "")
	jsonEq(t, "after nested merge", got.env.Value, `{"a":1,"b":{"d":3}}`)

	// ETags and preconditions.
	tag := f.expect(t, thing(ditto, retrieve, u), 200, "").etag()
	if !strings.HasPrefix(tag, `"rev:`) {
		t.Fatalf("thing ETag %q", tag)
	}
	// A failed precondition answers with the current ETag, as Ditto does.
	nm := f.expect(t, thing(ditto, retrieve, u).header("if-none-match", tag), 304, "things:precondition.notmodified")
	if got := nm.etag(); got != tag {
		t.Errorf("304 ETag %q, want %q", got, tag)
	}
	pf := f.expect(t, thing(ditto, modify, u+"/attributes/a").with(`2`).header("if-match", `"rev:1"`), 412, "things:precondition.failed")
	if got := pf.etag(); !strings.HasPrefix(got, `"hash:`) {
		t.Errorf("412 ETag %q, want the attribute's current hash tag", got)
	}
	f.expect(t, thing(ditto, modify, u).with(`{"thingId":"org.eclipse.ditto:sensor"}`).header("if-none-match", "*"), 412, "things:precondition.failed")
	// A weak tag never matches (Ditto compares strongly), a missing
	// resource's tag is named null.
	f.expect(t, thing(ditto, retrieve, u).header("if-match", "W/"+tag), 412, "things:precondition.failed")
	missing := f.expect(t, thing(ditto, modify, u+"/attributes/none").with(`1`).header("if-match", "*"), 412, "things:precondition.failed")
	if !strings.Contains(missing.err.Message, "actual entity-tag: 'null'") || missing.etag() != "" {
		t.Errorf("If-Match on a missing attribute: ETag %q, error %s", missing.etag(), missing.env.Value)
	}
	atag := f.expect(t, thing(ditto, retrieve, u+"/attributes/a"), 200, "").etag()
	if !strings.HasPrefix(atag, `"hash:`) {
		t.Fatalf("attribute ETag %q", atag)
	}
	f.expect(t, thing(ditto, modify, u+"/attributes/a").with(`5`).header("if-match", atag), 204, "")
	f.expect(t, thing(ditto, modify, u+"/attributes/a").with(`6`).header("if-match", atag), 412, "things:precondition.failed")

	// if-equal: skip refuses a change that changes nothing.
	f.expect(t, thing(ditto, modify, u+"/attributes/a").with(`5`).header("if-equal", "skip"), 412, "things:precondition.failed")
	f.expect(t, thing(ditto, modify, u+"/attributes/a").with(`7`).header("if-equal", "skip"), 204, "")

	// condition (RQL).
	f.expect(t, thing(ditto, modify, u+"/attributes/a").with(`8`).header("condition", "eq(attributes/a,7)"), 204, "")
	f.expect(t, thing(ditto, modify, u+"/attributes/a").with(`9`).header("condition", "eq(attributes/a,7)"), 412, "things:condition.failed")
	f.expect(t, thing(ditto, modify, u+"/attributes/a").with(`9`).header("condition", "eq(attributes/a"), 400, "things:condition.invalid")
	f.expect(t, thing(ditto, retrieve, u).header("condition", "gt(attributes/a,100)"), 412, "things:condition.failed")

	got = f.expect(t, thing(ditto, retrieve, u+"/attributes/a"), 200, "")
	if string(got.env.Value) != "8" {
		t.Errorf("attribute a = %s after conditional writes, want 8", got.env.Value)
	}
}

func TestThingCreationWithPolicies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startBoth(t)
	const ns = "org.eclipse.ditto:"
	// putThing is a modify of a whole thing, to which the gateway adds the
	// id of the URL.
	putThing := func(auth []string, name, body string) command {
		rest := strings.TrimPrefix(body, "{")
		if rest != "}" {
			rest = "," + rest
		}
		return thing(auth, modify, ns+name).with(`{"thingId":"` + ns + name + `"` + rest)
	}

	// Inline policy: its id is the thing's id unless the thing names one.
	inline := `{"_policy":{"entries":{"OWNER":{"subjects":{"nginx:ditto":{"type":"basic"}},
		"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}}`
	r := f.expect(t, putThing(ditto, "inline", inline), 201, "")
	jsonEq(t, "thing with inline policy", r.env.Value, `{"thingId":"org.eclipse.ditto:inline","policyId":"org.eclipse.ditto:inline"}`)
	ptag := f.expect(t, policy(ditto, retrieve, ns+"inline/entries/OWNER"), 200, "").etag()
	if nm := f.expect(t, policy(ditto, retrieve, ns+"inline/entries/OWNER").header("if-none-match", ptag), 304, ""); ptag == "" || nm.etag() != ptag {
		t.Errorf("policy entry: ETag %q, 304 with ETag %q", ptag, nm.etag())
	}

	// Existing policy by id: usable by whoever it grants.
	f.expect(t, putThing(ditto, "shared", `{"policyId":"org.eclipse.ditto:inline"}`), 201, "")
	f.expect(t, putThing(ditto2, "stolen", `{"policyId":"org.eclipse.ditto:inline"}`), 404, "policies:policy.notfound")
	f.expect(t, putThing(ditto, "orphan", `{"policyId":"org.eclipse.ditto:does-not-exist"}`), 404, "policies:policy.notfound")
	f.expect(t, thing(ditto, retrieve, ns+"orphan"), 404, "things:thing.notfound")

	// Copied policy: a new policy with the source's entries.
	f.expect(t, putThing(ditto, "copy", `{"_copyPolicyFrom":"org.eclipse.ditto:inline"}`), 201, "")
	f.expect(t, policy(ditto, retrieve, ns+"copy/entries/OWNER"), 200, "")
	f.expect(t, putThing(ditto, "copy2", `{"_copyPolicyFrom":"{{ ref:things/org.eclipse.ditto:copy/policyId }}"}`), 201, "")
	f.expect(t, putThing(ditto, "both", `{"_copyPolicyFrom":"org.eclipse.ditto:inline","_policy":{}}`), 400, "things:policy.conflicting")

	// A default policy that already exists makes the thing not creatable.
	f.expect(t, policy(ditto, modify, ns+"taken").with(`{"policyId":"org.eclipse.ditto:taken","entries":{"E":{"subjects":{"nginx:ditto":{"type":"t"}},
		"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`), 201, "")
	f.expect(t, putThing(ditto, "taken", `{}`), 400, "things:thing.notcreatable")

	// An inline policy that does not let the creator write the thing: the
	// thing is refused and the policy made for it is removed again.
	f.expect(t, putThing(ditto, "readonly", `{"_policy":{"entries":{"E":{"subjects":{"nginx:ditto":{"type":"t"}},
		"resources":{"thing:/":{"grant":["READ"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}}`), 403, "things:thing.notmodifiable")
	f.expect(t, policy(ditto, retrieve, ns+"readonly"), 404, "policies:policy.notfound")

	// A create command, as POST sends it with the id the gateway
	// generated.
	id := ns + uuid.NewString()
	f.expect(t, thing(ditto, create, id).with(`{"thingId":"`+id+`","attributes":{"x":1}}`), 201, "")
	f.expect(t, thing(ditto, retrieve, id), 200, "")
	f.expect(t, thing(ditto, create, id).with(`{"thingId":"`+id+`"}`), 409, "things:thing.conflict")

	// What GET ?ids= gathers: the visible ones, with the fields asked.
	for _, tc := range []struct {
		id, want string
	}{
		{"copy", `{"thingId":"org.eclipse.ditto:copy"}`},
		{"nope", ""},
		{"inline", `{"thingId":"org.eclipse.ditto:inline"}`},
	} {
		r := f.send(t, thing(ditto, retrieve, ns+tc.id).selecting("thingId"))
		switch {
		case tc.want == "" && r.status != 404:
			t.Errorf("%s: %s, want 404", tc.id, r)
		case tc.want != "":
			jsonEq(t, tc.id, r.env.Value, tc.want)
		}
	}
}

// Changing a thing's policyId switches enforcement at once, whether it is
// set alone, with the whole thing or in a merge, and changes elsewhere in the
// thing keep enforcing with the policy it names.
func TestPolicyIDChangeSwitchesEnforcement(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startBoth(t)
	const sw = "org.eclipse.ditto:switch"
	grant := func(id, subject string) string {
		return `{"policyId":"` + id + `","entries":{"E":{"subjects":{"` + subject + `":{"type":"t"}},
			"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`
	}
	f.expect(t, policy(ditto, modify, "org.eclipse.ditto:for-ditto").with(grant("org.eclipse.ditto:for-ditto", "nginx:ditto")), 201, "")
	f.expect(t, policy(ditto2, modify, "org.eclipse.ditto:for-ditto2").with(grant("org.eclipse.ditto:for-ditto2", "nginx:ditto2")), 201, "")
	f.expect(t, thing(ditto, modify, sw).with(`{"thingId":"org.eclipse.ditto:switch","policyId":"org.eclipse.ditto:for-ditto","attributes":{"a":1}}`), 201, "")
	f.expect(t, thing(ditto, modify, sw+"/attributes/a").with(`2`), 204, "")
	f.expect(t, thing(ditto2, retrieve, sw), 404, "things:thing.notfound")

	// ditto may write the thing, so it may hand it to ditto2's policy.
	f.expect(t, thing(ditto, modify, sw+"/policyId").with(`"org.eclipse.ditto:for-ditto2"`), 204, "")
	f.expect(t, thing(ditto, retrieve, sw), 404, "things:thing.notfound")
	f.expect(t, thing(ditto2, modify, sw+"/attributes/a").with(`3`), 204, "")
	f.expect(t, thing(ditto, modify, sw+"/attributes/a").with(`4`), 404, "things:thing.notfound")

	// Back through a merge of the whole thing.
	f.expect(t, thing(ditto2, merge, sw).with(`{"policyId":"org.eclipse.ditto:for-ditto"}`), 204, "")
	f.expect(t, thing(ditto2, retrieve, sw), 404, "things:thing.notfound")
	f.expect(t, thing(ditto, merge, sw+"/attributes").with(`{"b":true}`), 204, "")

	// And through a modify of the whole thing.
	f.expect(t, thing(ditto, modify, sw).with(`{"thingId":"org.eclipse.ditto:switch","policyId":"org.eclipse.ditto:for-ditto2"}`), 204, "")
	f.expect(t, thing(ditto, retrieve, sw), 404, "things:thing.notfound")
	r := f.expect(t, thing(ditto2, retrieve, sw), 200, "")
	jsonEq(t, "thing after the switches", r.env.Value, `{"thingId":"org.eclipse.ditto:switch","policyId":"org.eclipse.ditto:for-ditto2"}`)
}

func TestBadInputIsRejectedAndChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startBoth(t)
	const u = "org.eclipse.ditto:strict"
	f.expect(t, thing(ditto, modify, u).with(`{"thingId":"org.eclipse.ditto:strict","attributes":{"keep":true}}`), 201, "")
	tests := []struct {
		name   string
		cmd    command
		status int
		code   string
	}{
		{"thingId differs from the entity's", thing(ditto, modify, u).with(`{"thingId":"org.eclipse.ditto:other"}`), 400, "things:id.notsettable"},
		{"invalid thing id", thing(ditto, modify, "1nvalid:x").with(`{}`), 400, "things:id.invalid"},
		{"invalid policy id", thing(ditto, modify, u+"/policyId").with(`"nope"`), 400, "policies:id.invalid"},
		{"attributes not an object", thing(ditto, modify, u+"/attributes").with(`[1]`), 400, "json.invalid"},
		{"key with slash", thing(ditto, modify, u+"/attributes").with(`{"a/b":1}`), 400, "json.key.invalid"},
		{"too large", thing(ditto, modify, u+"/attributes/big").with(`"` + strings.Repeat("x", 5000) + `"`), 413, "things:thing.toolarge"},
		{"bad timeout", thing(ditto, retrieve, u).header("timeout", "soon"), 400, ""},
		{"bad If-Match", thing(ditto, modify, u+"/attributes/x").with(`1`).header("if-match", "no-quotes"), 400, ""},
		{"bad fields", thing(ditto, retrieve, u).selecting("attributes("), 400, "json.fieldselector.invalid"},
		{"no authenticated subjects", thing(nil, modify, u+"/attributes/x").with(`1`), 401, ""},
		{"empty subject", thing([]string{""}, modify, u+"/attributes/x").with(`1`), 401, ""},
	}
	for _, tc := range tests {
		r := f.send(t, tc.cmd)
		if r.status != tc.status || (tc.code != "" && r.code != tc.code) {
			t.Errorf("%s: %s, want %d %s", tc.name, r, tc.status, tc.code)
		}
	}
	// Malformed JSON: the command cannot even be read.
	ns, name := protocol.SplitID(u)
	malformed := `{"topic":"` + ns + `/` + name + `/things/twin/commands/modify","headers":{},"path":"/attributes/x","value":{"a":}`
	env, err := f.requestData(protocol.GroupThings, u, []byte(malformed), ditto, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := newReply(env); r.status != 400 || r.code != "json.invalid" {
		t.Errorf("malformed JSON: %s, want 400 json.invalid", r)
	}

	got := f.expect(t, thing(ditto, retrieve, u), 200, "")
	jsonEq(t, "thing after bad commands", got.env.Value, `{"thingId":"org.eclipse.ditto:strict","policyId":"org.eclipse.ditto:strict","attributes":{"keep":true}}`)
	if got.etag() != `"rev:1"` {
		t.Errorf("revision moved to %s", got.etag())
	}
}

// If-Match on a thing or policy that does not exist fails (Ditto: "Update
// only if the Thing exists") and creates nothing, neither the thing nor a
// policy for it; If-None-Match: * creates once.
func TestIfMatchOnMissingEntityCreatesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startBoth(t)
	const u = "org.eclipse.ditto:only-if-exists"
	for _, tag := range []string{"*", `"rev:1"`} {
		r := f.expect(t, thing(ditto, modify, u).with(`{"thingId":"`+u+`","attributes":{"a":1}}`).header("if-match", tag), 412, "things:precondition.failed")
		if want := "Header value: '" + tag + "', actual entity-tag: 'null'."; !strings.HasSuffix(r.err.Message, want) || r.etag() != "" {
			t.Errorf("If-Match %s: ETag %q, message %q; want no ETag and %q", tag, r.etag(), r.err.Message, want)
		}
	}
	f.expect(t, thing(ditto, modify, u).with(`{"thingId":"`+u+`","_policy":{"entries":{}}}`).header("if-match", "*"), 412, "things:precondition.failed")
	generated := "org.eclipse.ditto:" + uuid.NewString()
	f.expect(t, thing(ditto, create, generated).with(`{"thingId":"`+generated+`"}`).header("if-match", "*"), 412, "things:precondition.failed")
	f.expect(t, thing(ditto, retrieve, generated), 404, "things:thing.notfound")
	f.expect(t, thing(ditto, retrieve, u), 404, "things:thing.notfound")
	f.expect(t, policy(ditto, retrieve, u), 404, "policies:policy.notfound")

	f.expect(t, thing(ditto, modify, u).with(`{"thingId":"`+u+`"}`).header("if-none-match", "*"), 201, "")
	f.expect(t, thing(ditto, modify, u).with(`{"thingId":"`+u+`"}`).header("if-none-match", "*"), 412, "things:precondition.failed")
	f.expect(t, thing(ditto, modify, u).with(`{"thingId":"`+u+`"}`).header("if-match", "*"), 204, "")

	const p = "org.eclipse.ditto:only-if-exists-policy"
	pol := `{"policyId":"` + p + `","entries":{"owner":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`
	f.expect(t, policy(ditto, modify, p).with(pol).header("if-match", "*"), 412, "policies:precondition.failed")
	f.expect(t, policy(ditto, retrieve, p), 404, "policies:policy.notfound")
	f.expect(t, policy(ditto, modify, p).with(pol).header("if-none-match", "*"), 201, "")
	f.expect(t, policy(ditto, modify, p).with(pol).header("if-none-match", "*"), 412, "policies:precondition.failed")
}

// nestedObjects is n JSON objects nested in each other.
func nestedObjects(n int) string {
	return strings.Repeat(`{"d":`, n-1) + "{}" + strings.Repeat("}", n-1)
}

// A write that would nest a thing or policy deeper than the JSON parser
// reads is refused and stores nothing, whatever path and value make it so;
// a subject allowed to write one attribute cannot make the thing
// unreadable either.
func TestTooDeepWritesAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startBoth(t)
	const u, up = "org.eclipse.ditto:deep", "org.eclipse.ditto:deep-policy"
	f.expect(t, thing(ditto, modify, u).with(`{"thingId":"org.eclipse.ditto:deep","policyId":"org.eclipse.ditto:deep-policy","_policy":{"entries":{
		"owner":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}},
		"one":{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{"thing:/attributes/open":{"grant":["WRITE"],"revoke":[]}}}}}}`), 201, "")
	attr := func(n int) string { return u + "/attributes" + strings.Repeat("/d", n-1) } // a pointer of n segments
	tests := []struct {
		name string
		cmd  command
	}{
		{"600 segment path", thing(ditto, modify, attr(600)).with(`1`)},
		{"one level too deep", thing(ditto, modify, attr(513)).with(`1`)},
		{"300 segment path, 300 deep value", thing(ditto, modify, attr(300)).with(nestedObjects(300))},
		{"merge at a 600 segment path", thing(ditto, merge, attr(600)).with(`{"x":1}`)},
		{"merge at a 300 segment path, 300 deep patch", thing(ditto, merge, attr(300)).with(nestedObjects(300))},
		{"writer of one attribute", thing(ditto2, modify, u+"/attributes/open"+strings.Repeat("/d", 599)).with(`1`)},
		// A subject's announcement keeps only the fields Ditto knows, so
		// only a payload that is itself too deep is refused.
		{"policy subject nested too deep", policy(ditto, modify, up+"/entries/owner/subjects/x:y").with(`{"type":"t","announcement":` + nestedObjects(520) + `}`)},
	}
	for _, tc := range tests {
		r := f.send(t, tc.cmd)
		// The document a write would leave, or the payload itself.
		if msg := r.err.Message + r.err.Description; r.status != 400 || r.code != "json.invalid" ||
			!strings.Contains(msg, "nested deeper than 512 levels") && !strings.Contains(msg, "nesting deeper than 512 levels") {
			t.Errorf("%s: %s, want 400 json.invalid", tc.name, r)
		}
	}
	got := f.expect(t, thing(ditto, retrieve, u), 200, "")
	jsonEq(t, "thing after refused writes", got.env.Value, `{"thingId":"org.eclipse.ditto:deep","policyId":"org.eclipse.ditto:deep-policy"}`)
	if got.etag() != `"rev:1"` {
		t.Errorf("revision moved to %s", got.etag())
	}
	if tag := f.expect(t, policy(ditto, retrieve, up), 200, "").etag(); tag != `"rev:1"` {
		t.Errorf("policy revision moved to %s", tag)
	}
	// Up to the limit is fine, and stays readable.
	f.expect(t, thing(ditto, modify, attr(512)).with(`1`), 201, "")
	f.expect(t, thing(ditto, retrieve, u), 200, "")
	f.expect(t, thing(ditto, del, u+"/attributes/d"), 204, "")
}

// An entity stored deeper than the JSON parser reads, by a version that did
// not check the depth of writes (here: written into the journal directly),
// loads after a restart of the things service, refuses changes that leave
// it that deep, and can be repaired or deleted. One is deep through an
// event, one through a snapshot deeper than encoding/json reads (10000
// levels).
func TestDeepStoredEntitiesStillLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startPolicies(t, policiesConfig())
	svc := f.startThings(t, thingsConfig())
	const byEvent, bySnapshot = "org.eclipse.ditto:deep-event", "org.eclipse.ditto:deep-snapshot"
	f.expect(t, thing(ditto, modify, byEvent).with(`{"thingId":"`+byEvent+`"}`), 201, "")
	f.expect(t, thing(ditto, modify, bySnapshot).with(`{"thingId":"`+bySnapshot+`"}`), 201, "")
	svc.stop()

	ctx := context.Background()
	deepPath := "/attributes" + strings.Repeat("/d", 599)
	ev, err := protocol.Envelope{
		Topic: "org.eclipse.ditto/deep-event/things/twin/events/modified", Headers: protocol.Headers{},
		Path: deepPath, Value: []byte(`1`), Revision: 2,
	}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.thingsJ.Append(ctx, journal.Event{PID: "thing:" + byEvent, SN: 2, Timestamp: time.Now(), Payload: ev}); err != nil {
		t.Fatal(err)
	}
	snapDoc := `{"thingId":"` + bySnapshot + `","policyId":"` + bySnapshot + `","attributes":{"d":` + nestedObjects(20000) + `}}`
	snap := `{"created":"2024-01-01T00:00:00Z","modified":"2024-01-02T00:00:00Z","entity":` + snapDoc + `}`
	if err := f.thingsJ.SaveSnapshot(ctx, journal.Snapshot{PID: "thing:" + bySnapshot, SN: 2, Timestamp: time.Now(), Payload: []byte(snap)}); err != nil {
		t.Fatal(err)
	}

	f.startThings(t, thingsConfig())
	r := f.expect(t, thing(ditto, retrieve, byEvent), 200, "")
	if r.etag() != `"rev:2"` || !strings.Contains(string(r.env.Value), strings.Repeat(`{"d":`, 599)+"1") {
		t.Errorf("thing deep by an event: ETag %s, value %.100s...", r.etag(), r.env.Value)
	}
	f.expect(t, thing(ditto, modify, byEvent+"/attributes/x").with(`1`), 400, "json.invalid")
	f.expect(t, thing(ditto, del, byEvent+"/attributes/d"), 204, "")
	f.expect(t, thing(ditto, modify, byEvent+"/attributes/x").with(`1`), 201, "")
	got := f.expect(t, thing(ditto, retrieve, byEvent), 200, "")
	jsonEq(t, "repaired thing", got.env.Value, `{"thingId":"`+byEvent+`","policyId":"`+byEvent+`","attributes":{"x":1}}`)

	r = f.expect(t, thing(ditto, retrieve, bySnapshot), 200, "")
	if string(r.env.Value) != snapDoc || r.etag() != `"rev:2"` {
		t.Errorf("thing deep by a snapshot: ETag %s, %d bytes, want the stored %d", r.etag(), len(r.env.Value), len(snapDoc))
	}
	f.expect(t, thing(ditto, del, bySnapshot), 204, "")
	f.expect(t, thing(ditto, retrieve, bySnapshot), 404, "things:thing.notfound")
}
