package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/gateway"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/limits"
	"github.com/dittonats/dittonats/services/internal/sqlitestore"
	"github.com/dittonats/dittonats/services/policies"
	"github.com/dittonats/dittonats/services/things"
)

// testConfig is the embedded default in a temporary directory, without a
// NATS port.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Infra.DataDir = t.TempDir()
	cfg.Infra.NATSListen = "off"
	cfg.Infra.NATSURL = ""
	cfg.Infra.MongoURI = ""
	cfg.Infra.Shards = 7
	cfg.Infra.Instance = "test"
	cfg.Gateway.HTTPPort = 0
	cfg.Things = things.Config{SnapshotThreshold: 5, MailboxSize: 100, MaxThingsInMemory: 1000, PolicyCacheSize: 1000,
		DefaultTimeout: 10 * time.Second}
	cfg.Policies = policies.Config{SnapshotThreshold: 5, MailboxSize: 100, MaxEntities: 1000}
	cfg.setLimits(limits.Config{ThingsMaxSize: 4096, PoliciesMaxSize: 4096, MessagesMaxSize: 4096})
	return cfg
}

// platform is a running all-in-one process with an HTTP test server on its
// gateway.
type platform struct {
	p      *Process
	url    string
	cancel context.CancelFunc
	done   chan error
}

func startPlatform(t *testing.T, cfg Config) *platform {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, cfg, All, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.runners[Gateway].(*gateway.Gateway).Handler())
	pl := &platform{p: p, url: srv.URL, cancel: cancel, done: make(chan error, 1)}
	go func() { pl.done <- p.Wait(ctx) }()
	t.Cleanup(func() {
		srv.Close()
		pl.stop(t)
	})
	// Ready once the shards are leased: a request is answered (404 here).
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := pl.do(t, "ditto", "GET", "/api/2/things/org.eclipse.ditto:readiness-probe", "", nil)
		if r.status == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("platform not ready: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return pl
}

func (pl *platform) stop(t *testing.T) {
	if pl.cancel == nil {
		return
	}
	pl.cancel()
	pl.cancel = nil
	select {
	case err := <-pl.done:
		if err != nil {
			t.Errorf("platform stopped with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("platform did not stop within 60s")
	}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) json(t *testing.T) jsonv.Value {
	t.Helper()
	v, err := jsonv.Parse([]byte(r.body))
	if err != nil {
		t.Fatalf("reply body %q: %v", r.body, err)
	}
	return v
}

func (r reply) code(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal([]byte(r.body), &e)
	return e.Error
}

// do sends a request as user (password = user name, the defaults).
func (pl *platform) do(t *testing.T, user, method, path, body string, headers map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, pl.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, user)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// expect sends a request and checks its status (and error code, if given).
func (pl *platform) expect(t *testing.T, user, method, path, body string, headers map[string]string, status int, code string) reply {
	t.Helper()
	r := pl.do(t, user, method, path, body, headers)
	if r.status != status {
		t.Fatalf("%s %s as %s: status %d, want %d; body %s", method, path, user, r.status, status, r.body)
	}
	if code != "" && r.code(t) != code {
		t.Fatalf("%s %s as %s: error %q, want %q; body %s", method, path, user, r.code(t), code, r.body)
	}
	return r
}

func jsonEq(t *testing.T, what, got, want string) {
	t.Helper()
	g, err := jsonv.Parse([]byte(got))
	if err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if !g.Equal(jsonv.MustParse(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

const thingURL = "/api/2/things/org.eclipse.ditto:lamp"

// The hello-world path of Ditto's documentation, and what another user may
// and may not do until the owner's policy lets them.
func TestThingLifecycleAndEnforcement(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))

	thing := `{"attributes":{"manufacturer":"ACME","location":{"room":"kitchen"}},
		"features":{"lamp":{"properties":{"on":false,"brightness":10}}}}`
	r := pl.expect(t, "ditto", "PUT", thingURL, thing, nil, 201, "")
	jsonEq(t, "created thing", r.body, `{"thingId":"org.eclipse.ditto:lamp","policyId":"org.eclipse.ditto:lamp",
		"attributes":{"manufacturer":"ACME","location":{"room":"kitchen"}},"features":{"lamp":{"properties":{"on":false,"brightness":10}}}}`)
	if r.header.Get("ETag") != `"rev:1"` {
		t.Errorf("ETag %q, want \"rev:1\"", r.header.Get("ETag"))
	}
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, thingURL) {
		t.Errorf("Location %q", loc)
	}
	// The default policy grants the creator everything.
	pol := pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:lamp", "", nil, 200, "")
	jsonEq(t, "default policy entry", mustAt(t, pol.json(t), "/entries/DEFAULT/subjects").String(), `{"nginx:ditto":{"type":"generated"}}`)

	pl.expect(t, "ditto", "PUT", thingURL+"/features/lamp/properties/on", `true`, nil, 204, "")
	pl.expect(t, "ditto", "PUT", thingURL+"/attributes/serial", `"A-1"`, nil, 201, "")
	got := pl.expect(t, "ditto", "GET", thingURL+"/features/lamp/properties", "", nil, 200, "")
	jsonEq(t, "properties", got.body, `{"on":true,"brightness":10}`)
	got = pl.expect(t, "ditto", "GET", thingURL+"?fields=thingId,attributes/serial,_revision", "", nil, 200, "")
	jsonEq(t, "selected fields", got.body, `{"thingId":"org.eclipse.ditto:lamp","attributes":{"serial":"A-1"},"_revision":3}`)

	// ditto2 cannot even learn that the thing exists.
	pl.expect(t, "ditto2", "GET", thingURL, "", nil, 404, "things:thing.notfound")
	pl.expect(t, "ditto2", "PUT", thingURL+"/attributes/x", `1`, nil, 404, "things:thing.notfound")
	pl.expect(t, "ditto2", "GET", "/api/2/policies/org.eclipse.ditto:lamp", "", nil, 404, "policies:policy.notfound")

	// The owner lets ditto2 read the attributes except the location: the
	// next request already sees it.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:lamp/entries/GUEST",
		`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{
		  "thing:/attributes":{"grant":["READ"],"revoke":[]},
		  "thing:/attributes/location":{"grant":[],"revoke":["READ"]}}}`, nil, 201, "")
	got = pl.expect(t, "ditto2", "GET", thingURL, "", nil, 200, "")
	jsonEq(t, "ditto2's view", got.body, `{"thingId":"org.eclipse.ditto:lamp","attributes":{"manufacturer":"ACME","serial":"A-1"}}`)
	pl.expect(t, "ditto2", "GET", thingURL+"/attributes/location", "", nil, 404, "things:attribute.notfound")
	pl.expect(t, "ditto2", "GET", thingURL+"/features", "", nil, 404, "things:features.notfound")
	// It can read, so a write is forbidden rather than not found.
	pl.expect(t, "ditto2", "PUT", thingURL+"/attributes/serial", `"B"`, nil, 403, "things:attribute.notmodifiable")
	pl.expect(t, "ditto2", "DELETE", thingURL, "", nil, 403, "things:thing.notdeletable")
	pl.expect(t, "ditto2", "PATCH", thingURL, `{"attributes":{"serial":"C"}}`, map[string]string{"Content-Type": "application/merge-patch+json"}, 403, "things:thing.notmodifiable")

	// Granting WRITE on one attribute allows exactly that.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:lamp/entries/GUEST/resources/thing:/attributes/serial",
		`{"grant":["READ","WRITE"],"revoke":[]}`, nil, 201, "")
	pl.expect(t, "ditto2", "PUT", thingURL+"/attributes/serial", `"B"`, nil, 204, "")
	pl.expect(t, "ditto2", "PATCH", thingURL, `{"attributes":{"serial":"C"}}`, map[string]string{"Content-Type": "application/merge-patch+json"}, 204, "")
	pl.expect(t, "ditto2", "PATCH", thingURL, `{"attributes":{"serial":"D","manufacturer":"X"}}`, map[string]string{"Content-Type": "application/merge-patch+json"}, 403, "things:thing.notmodifiable")
	got = pl.expect(t, "ditto", "GET", thingURL+"/attributes", "", nil, 200, "")
	jsonEq(t, "attributes after ditto2's writes", got.body, `{"manufacturer":"ACME","location":{"room":"kitchen"},"serial":"C"}`)

	// Removing the entry takes the access away on the next request.
	pl.expect(t, "ditto", "DELETE", "/api/2/policies/org.eclipse.ditto:lamp/entries/GUEST", "", nil, 204, "")
	pl.expect(t, "ditto2", "GET", thingURL, "", nil, 404, "things:thing.notfound")

	// Delete: the thing is gone, its policy stays.
	pl.expect(t, "ditto", "DELETE", thingURL, "", nil, 204, "")
	pl.expect(t, "ditto", "GET", thingURL, "", nil, 404, "things:thing.notfound")
	pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:lamp", "", nil, 200, "")
}

func mustAt(t *testing.T, v jsonv.Value, p string) jsonv.Value {
	t.Helper()
	x, ok := v.At(jsonv.MustParsePointer(p))
	if !ok {
		t.Fatalf("%s not in %s", p, v)
	}
	return x
}

func TestSubResourcesAndConditionalRequests(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	u := "/api/2/things/org.eclipse.ditto:sensor"
	pl.expect(t, "ditto", "PUT", u, `{}`, nil, 201, "")

	// Features and properties.
	pl.expect(t, "ditto", "PUT", u+"/features/temp/properties/value", `21`, nil, 404, "things:feature.notfound")
	pl.expect(t, "ditto", "PUT", u+"/features/temp", `{"definition":["org.example:temp:1.0.0"],"properties":{"value":20}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", u+"/features/temp/properties/value", `21`, nil, 204, "")
	pl.expect(t, "ditto", "PUT", u+"/features/temp/desiredProperties/value", `22`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", u+"/features/temp/definition", `[]`, nil, 400, "things:feature.definition.empty")
	pl.expect(t, "ditto", "PUT", u+"/definition", `"org.example:sensor:2"`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", u+"/definition", `"no-definition"`, nil, 400, "things:definition.identifier.invalid")
	got := pl.expect(t, "ditto", "GET", u+"/features/temp", "", nil, 200, "")
	jsonEq(t, "feature", got.body, `{"definition":["org.example:temp:1.0.0"],"properties":{"value":21},"desiredProperties":{"value":22}}`)
	pl.expect(t, "ditto", "DELETE", u+"/features/temp/desiredProperties", "", nil, 204, "")
	pl.expect(t, "ditto", "GET", u+"/features/temp/desiredProperties", "", nil, 404, "things:feature.desiredProperties.notfound")
	pl.expect(t, "ditto", "DELETE", u+"/features/nope", "", nil, 404, "things:feature.notfound")

	// Merge patch: null removes, objects merge.
	mp := map[string]string{"Content-Type": "application/merge-patch+json"}
	pl.expect(t, "ditto", "PATCH", u, `{"attributes":{"a":1,"b":{"c":2}},"features":{"temp":{"properties":{"value":null,"unit":"C"}}}}`, mp, 204, "")
	got = pl.expect(t, "ditto", "GET", u+"?fields=attributes,features/temp/properties", "", nil, 200, "")
	jsonEq(t, "after merge", got.body, `{"attributes":{"a":1,"b":{"c":2}},"features":{"temp":{"properties":{"unit":"C"}}}}`)
	pl.expect(t, "ditto", "PATCH", u+"/attributes/b", `{"c":null,"d":3}`, mp, 204, "")
	got = pl.expect(t, "ditto", "GET", u+"/attributes", "", nil, 200, "")
	jsonEq(t, "after nested merge", got.body, `{"a":1,"b":{"d":3}}`)
	pl.expect(t, "ditto", "PATCH", u+"/attributes/b", `{"d":4}`, map[string]string{"Content-Type": "application/json"}, 415, "")

	// ETags and preconditions.
	r := pl.expect(t, "ditto", "GET", u, "", nil, 200, "")
	tag := r.header.Get("ETag")
	if !strings.HasPrefix(tag, `"rev:`) {
		t.Fatalf("thing ETag %q", tag)
	}
	// A failed precondition answers with the current ETag, as Ditto does.
	nm := pl.expect(t, "ditto", "GET", u, "", map[string]string{"If-None-Match": tag}, 304, "")
	if got := nm.header.Get("ETag"); got != tag {
		t.Errorf("304 ETag %q, want %q", got, tag)
	}
	pf := pl.expect(t, "ditto", "PUT", u+"/attributes/a", `2`, map[string]string{"If-Match": `"rev:1"`}, 412, "things:precondition.failed")
	if got := pf.header.Get("ETag"); !strings.HasPrefix(got, `"hash:`) {
		t.Errorf("412 ETag %q, want the attribute's current hash tag", got)
	}
	pl.expect(t, "ditto", "PUT", u, `{}`, map[string]string{"If-None-Match": "*"}, 412, "things:precondition.failed")
	// A weak tag never matches (Ditto compares strongly), a missing
	// resource's tag is named null.
	pl.expect(t, "ditto", "GET", u, "", map[string]string{"If-Match": "W/" + tag}, 412, "things:precondition.failed")
	missing := pl.expect(t, "ditto", "PUT", u+"/attributes/none", `1`, map[string]string{"If-Match": "*"}, 412, "things:precondition.failed")
	if !strings.Contains(missing.body, "actual entity-tag: 'null'") || missing.header.Get("ETag") != "" {
		t.Errorf("If-Match on a missing attribute: ETag %q, body %s", missing.header.Get("ETag"), missing.body)
	}
	ar := pl.expect(t, "ditto", "GET", u+"/attributes/a", "", nil, 200, "")
	atag := ar.header.Get("ETag")
	if !strings.HasPrefix(atag, `"hash:`) {
		t.Fatalf("attribute ETag %q", atag)
	}
	pl.expect(t, "ditto", "PUT", u+"/attributes/a", `5`, map[string]string{"If-Match": atag}, 204, "")
	pl.expect(t, "ditto", "PUT", u+"/attributes/a", `6`, map[string]string{"If-Match": atag}, 412, "things:precondition.failed")

	// if-equal: skip refuses a change that changes nothing.
	pl.expect(t, "ditto", "PUT", u+"/attributes/a", `5`, map[string]string{"if-equal": "skip"}, 412, "things:precondition.failed")
	pl.expect(t, "ditto", "PUT", u+"/attributes/a", `7`, map[string]string{"if-equal": "skip"}, 204, "")

	// condition (RQL).
	pl.expect(t, "ditto", "PUT", u+"/attributes/a", `8`, map[string]string{"condition": "eq(attributes/a,7)"}, 204, "")
	pl.expect(t, "ditto", "PUT", u+"/attributes/a", `9`, map[string]string{"condition": "eq(attributes/a,7)"}, 412, "things:condition.failed")
	pl.expect(t, "ditto", "PUT", u+"/attributes/a", `9`, map[string]string{"condition": "eq(attributes/a"}, 400, "things:condition.invalid")
	pl.expect(t, "ditto", "GET", u+"?condition=gt(attributes/a,100)", "", nil, 412, "things:condition.failed")

	got = pl.expect(t, "ditto", "GET", u+"/attributes/a", "", nil, 200, "")
	if got.body != "8" {
		t.Errorf("attribute a = %s after conditional writes, want 8", got.body)
	}
}

func TestThingCreationWithPolicies(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	base := "/api/2/things/org.eclipse.ditto:"

	// Inline policy: its id is the thing's id unless the thing names one.
	inline := `{"_policy":{"entries":{"OWNER":{"subjects":{"nginx:ditto":{"type":"basic"}},
		"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}}`
	r := pl.expect(t, "ditto", "PUT", base+"inline", inline, nil, 201, "")
	jsonEq(t, "thing with inline policy", r.body, `{"thingId":"org.eclipse.ditto:inline","policyId":"org.eclipse.ditto:inline"}`)
	owner := pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:inline/entries/OWNER", "", nil, 200, "")
	ptag := owner.header.Get("ETag")
	if nm := pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:inline/entries/OWNER", "",
		map[string]string{"If-None-Match": ptag}, 304, ""); ptag == "" || nm.header.Get("ETag") != ptag {
		t.Errorf("policy entry: ETag %q, 304 with ETag %q", ptag, nm.header.Get("ETag"))
	}

	// Existing policy by id: usable by whoever it grants.
	pl.expect(t, "ditto", "PUT", base+"shared", `{"policyId":"org.eclipse.ditto:inline"}`, nil, 201, "")
	pl.expect(t, "ditto2", "PUT", base+"stolen", `{"policyId":"org.eclipse.ditto:inline"}`, nil, 404, "policies:policy.notfound")
	pl.expect(t, "ditto", "PUT", base+"orphan", `{"policyId":"org.eclipse.ditto:does-not-exist"}`, nil, 404, "policies:policy.notfound")
	pl.expect(t, "ditto", "GET", base+"orphan", "", nil, 404, "things:thing.notfound")

	// Copied policy: a new policy with the source's entries.
	pl.expect(t, "ditto", "PUT", base+"copy", `{"_copyPolicyFrom":"org.eclipse.ditto:inline"}`, nil, 201, "")
	pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:copy/entries/OWNER", "", nil, 200, "")
	pl.expect(t, "ditto", "PUT", base+"copy2", `{"_copyPolicyFrom":"{{ ref:things/org.eclipse.ditto:copy/policyId }}"}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", base+"both", `{"_copyPolicyFrom":"org.eclipse.ditto:inline","_policy":{}}`, nil, 400, "things:policy.conflicting")

	// A default policy that already exists makes the thing not creatable.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:taken", `{"entries":{"E":{"subjects":{"nginx:ditto":{"type":"t"}},
		"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", base+"taken", `{}`, nil, 400, "things:thing.notcreatable")

	// An inline policy that does not let the creator write the thing: the
	// thing is refused and the policy made for it is removed again.
	pl.expect(t, "ditto", "PUT", base+"readonly", `{"_policy":{"entries":{"E":{"subjects":{"nginx:ditto":{"type":"t"}},
		"resources":{"thing:/":{"grant":["READ"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}}`, nil, 403, "things:thing.notmodifiable")
	pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:readonly", "", nil, 404, "policies:policy.notfound")

	// POST generates the id in the default namespace.
	r = pl.expect(t, "ditto", "POST", "/api/2/things", `{"attributes":{"x":1}}`, nil, 201, "")
	id, _ := mustAt(t, r.json(t), "/thingId").Str()
	if !strings.HasPrefix(id, "org.eclipse.ditto:") {
		t.Errorf("generated id %q", id)
	}
	pl.expect(t, "ditto", "GET", "/api/2/things/"+id, "", nil, 200, "")
	pl.expect(t, "ditto", "POST", "/api/2/things", `{"thingId":"org.eclipse.ditto:mine"}`, nil, 400, "things:id.notsettable")

	// GET ?ids= returns the visible ones in the asked order.
	got := pl.expect(t, "ditto", "GET", "/api/2/things?ids=org.eclipse.ditto:copy,org.eclipse.ditto:nope,org.eclipse.ditto:inline&fields=thingId", "", nil, 200, "")
	jsonEq(t, "batch", got.body, `[{"thingId":"org.eclipse.ditto:copy"},{"thingId":"org.eclipse.ditto:inline"}]`)
}

// Changing a thing's policyId switches enforcement at once, whether it is
// set alone, with the whole thing or in a merge, and changes elsewhere in the
// thing keep enforcing with the policy it names.
func TestPolicyIDChangeSwitchesEnforcement(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	thing := "/api/2/things/org.eclipse.ditto:switch"
	grant := func(subject string) string {
		return `{"entries":{"E":{"subjects":{"` + subject + `":{"type":"t"}},
			"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`
	}
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:for-ditto", grant("nginx:ditto"), nil, 201, "")
	pl.expect(t, "ditto2", "PUT", "/api/2/policies/org.eclipse.ditto:for-ditto2", grant("nginx:ditto2"), nil, 201, "")
	pl.expect(t, "ditto", "PUT", thing, `{"policyId":"org.eclipse.ditto:for-ditto","attributes":{"a":1}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", thing+"/attributes/a", `2`, nil, 204, "")
	pl.expect(t, "ditto2", "GET", thing, "", nil, 404, "things:thing.notfound")

	// ditto may write the thing, so it may hand it to ditto2's policy.
	pl.expect(t, "ditto", "PUT", thing+"/policyId", `"org.eclipse.ditto:for-ditto2"`, nil, 204, "")
	pl.expect(t, "ditto", "GET", thing, "", nil, 404, "things:thing.notfound")
	pl.expect(t, "ditto2", "PUT", thing+"/attributes/a", `3`, nil, 204, "")
	pl.expect(t, "ditto", "PUT", thing+"/attributes/a", `4`, nil, 404, "things:thing.notfound")

	// Back through a merge of the whole thing.
	pl.expect(t, "ditto2", "PATCH", thing, `{"policyId":"org.eclipse.ditto:for-ditto"}`,
		map[string]string{"Content-Type": "application/merge-patch+json"}, 204, "")
	pl.expect(t, "ditto2", "GET", thing, "", nil, 404, "things:thing.notfound")
	pl.expect(t, "ditto", "PATCH", thing+"/attributes", `{"b":true}`,
		map[string]string{"Content-Type": "application/merge-patch+json"}, 204, "")

	// And through a PUT of the whole thing.
	pl.expect(t, "ditto", "PUT", thing, `{"policyId":"org.eclipse.ditto:for-ditto2"}`, nil, 204, "")
	pl.expect(t, "ditto", "GET", thing, "", nil, 404, "things:thing.notfound")
	r := pl.expect(t, "ditto2", "GET", thing, "", nil, 200, "")
	jsonEq(t, "thing after the switches", r.body, `{"thingId":"org.eclipse.ditto:switch","policyId":"org.eclipse.ditto:for-ditto2"}`)
}

func TestBadInputIsRejectedAndChangesNothing(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	u := "/api/2/things/org.eclipse.ditto:strict"
	pl.expect(t, "ditto", "PUT", u, `{"attributes":{"keep":true}}`, nil, 201, "")
	tests := []struct {
		name, method, path, body string
		headers                  map[string]string
		status                   int
		code                     string
	}{
		{"malformed JSON", "PUT", u + "/attributes/x", `{"a":`, nil, 400, "json.invalid"},
		{"thingId differs from URL", "PUT", u, `{"thingId":"org.eclipse.ditto:other"}`, nil, 400, "things:id.notsettable"},
		{"invalid thing id", "PUT", "/api/2/things/no-namespace-colon", `{}`, nil, 400, "things:id.invalid"},
		{"invalid policy id", "PUT", u + "/policyId", `"nope"`, nil, 400, "policies:id.invalid"},
		{"attributes not an object", "PUT", u + "/attributes", `[1]`, nil, 400, "json.invalid"},
		{"key with slash", "PUT", u + "/attributes", `{"a/b":1}`, nil, 400, "json.key.invalid"},
		{"too large", "PUT", u + "/attributes/big", `"` + strings.Repeat("x", 5000) + `"`, nil, 413, "things:thing.toolarge"},
		{"bad timeout", "GET", u, "", map[string]string{"timeout": "soon"}, 400, ""},
		{"bad If-Match", "PUT", u + "/attributes/x", `1`, map[string]string{"If-Match": "no-quotes"}, 400, ""},
		{"bad fields", "GET", u + "?fields=attributes(", "", nil, 400, "json.fieldselector.invalid"},
		{"unknown policy for policyId", "PUT", u + "/policyId", `"org.eclipse.ditto:unknown"`, nil, 204, ""},
	}
	for _, tc := range tests[:len(tests)-1] {
		r := pl.do(t, "ditto", tc.method, tc.path, tc.body, tc.headers)
		if r.status != tc.status || (tc.code != "" && r.code(t) != tc.code) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}
	got := pl.expect(t, "ditto", "GET", u, "", nil, 200, "")
	jsonEq(t, "thing after bad requests", got.body, `{"thingId":"org.eclipse.ditto:strict","policyId":"org.eclipse.ditto:strict","attributes":{"keep":true}}`)
	if got.header.Get("ETag") != `"rev:1"` {
		t.Errorf("revision moved to %s", got.header.Get("ETag"))
	}
	pl.expect(t, "", "GET", u, "", nil, 401, "")
	pl.expect(t, "nobody", "GET", u, "", nil, 401, "")
}

// Data survives a restart of the whole process, and the restart serves at
// once from the journal.
func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	pl := startPlatform(t, cfg)
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:r", `{}`, nil, 201, "")
	for i := range 12 { // past the snapshot threshold of 5
		pl.expect(t, "ditto", "PUT", fmt.Sprintf("/api/2/things/org.eclipse.ditto:r/attributes/a%d", i), `1`, nil, 201, "")
	}
	before := pl.expect(t, "ditto", "GET", "/api/2/things/org.eclipse.ditto:r", "", nil, 200, "")
	pl.stop(t)

	pl2 := startPlatform(t, cfg)
	after := pl2.expect(t, "ditto", "GET", "/api/2/things/org.eclipse.ditto:r", "", nil, 200, "")
	if after.body != before.body || after.header.Get("ETag") != before.header.Get("ETag") {
		t.Errorf("after restart %s %s, before %s %s", after.body, after.header.Get("ETag"), before.body, before.header.Get("ETag"))
	}
	pl2.expect(t, "ditto2", "GET", "/api/2/things/org.eclipse.ditto:r", "", nil, 404, "")
}

// A start that fails half-way tears down what it started and returns the
// error (it once panicked in its own cleanup instead).
func TestStartFailureReturnsError(t *testing.T) {
	cfg := testConfig(t)
	cfg.Gateway.HTTPPort = -1 // rejected once NATS and the store are up
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := Start(context.Background(), cfg, All, log)
	if err == nil {
		stopProcess(t, p)
		t.Fatal("Start accepted HTTP port -1")
	}
	if !strings.Contains(err.Error(), "HTTP_PORT") {
		t.Errorf("error %q does not name HTTP_PORT", err)
	}
	// The data directory is released: a second process can open it.
	cfg.Gateway.HTTPPort = 0
	q, err := Start(context.Background(), cfg, All, log)
	if err != nil {
		t.Fatalf("start after a failed start: %v", err)
	}
	stopProcess(t, q)
}

func stopProcess(t *testing.T, p *Process) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// If-Match on a thing or policy that does not exist fails (Ditto: "Update
// only if the Thing exists") and creates nothing, neither the thing nor a
// policy for it; If-None-Match: * creates once.
func TestIfMatchOnMissingEntityCreatesNothing(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	u := "/api/2/things/org.eclipse.ditto:only-if-exists"
	for _, tag := range []string{"*", `"rev:1"`} {
		r := pl.expect(t, "ditto", "PUT", u, `{"attributes":{"a":1}}`, map[string]string{"If-Match": tag}, 412, "things:precondition.failed")
		msg, _ := mustAt(t, r.json(t), "/message").Str()
		if want := "Header value: '" + tag + "', actual entity-tag: 'null'."; !strings.HasSuffix(msg, want) || r.header.Get("ETag") != "" {
			t.Errorf("If-Match %s: ETag %q, message %q; want no ETag and %q", tag, r.header.Get("ETag"), msg, want)
		}
	}
	pl.expect(t, "ditto", "PUT", u, `{"_policy":{"entries":{}}}`, map[string]string{"If-Match": "*"}, 412, "things:precondition.failed")
	pl.expect(t, "ditto", "POST", "/api/2/things", `{}`, map[string]string{"If-Match": "*"}, 412, "things:precondition.failed")
	pl.expect(t, "ditto", "GET", u, "", nil, 404, "things:thing.notfound")
	pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:only-if-exists", "", nil, 404, "policies:policy.notfound")

	pl.expect(t, "ditto", "PUT", u, `{}`, map[string]string{"If-None-Match": "*"}, 201, "")
	pl.expect(t, "ditto", "PUT", u, `{}`, map[string]string{"If-None-Match": "*"}, 412, "things:precondition.failed")
	pl.expect(t, "ditto", "PUT", u, `{}`, map[string]string{"If-Match": "*"}, 204, "")

	p := "/api/2/policies/org.eclipse.ditto:only-if-exists-policy"
	policy := `{"entries":{"owner":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`
	pl.expect(t, "ditto", "PUT", p, policy, map[string]string{"If-Match": "*"}, 412, "policies:precondition.failed")
	pl.expect(t, "ditto", "GET", p, "", nil, 404, "policies:policy.notfound")
	pl.expect(t, "ditto", "PUT", p, policy, map[string]string{"If-None-Match": "*"}, 201, "")
	pl.expect(t, "ditto", "PUT", p, policy, map[string]string{"If-None-Match": "*"}, 412, "policies:precondition.failed")
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
	pl := startPlatform(t, testConfig(t))
	u := "/api/2/things/org.eclipse.ditto:deep"
	pl.expect(t, "ditto", "PUT", u, `{"policyId":"org.eclipse.ditto:deep-policy","_policy":{"entries":{
		"owner":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}},
		"one":{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{"thing:/attributes/open":{"grant":["WRITE"],"revoke":[]}}}}}}`, nil, 201, "")
	mp := map[string]string{"Content-Type": "application/merge-patch+json"}
	attr := func(n int) string { return u + "/attributes" + strings.Repeat("/d", n-1) } // a pointer of n segments
	tests := []struct {
		name, user, method, path, body string
		headers                        map[string]string
	}{
		{"600 segment path", "ditto", "PUT", attr(600), `1`, nil},
		{"one level too deep", "ditto", "PUT", attr(513), `1`, nil},
		{"300 segment path, 300 deep value", "ditto", "PUT", attr(300), nestedObjects(300), nil},
		{"merge at a 600 segment path", "ditto", "PATCH", attr(600), `{"x":1}`, mp},
		{"merge at a 300 segment path, 300 deep patch", "ditto", "PATCH", attr(300), nestedObjects(300), mp},
		{"writer of one attribute", "ditto2", "PUT", u + "/attributes/open" + strings.Repeat("/d", 599), `1`, nil},
		{"policy subject nested too deep", "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:deep-policy/entries/owner/subjects/x:y",
			`{"type":"t","announcement":` + nestedObjects(508) + `}`, nil},
	}
	for _, tc := range tests {
		r := pl.do(t, tc.user, tc.method, tc.path, tc.body, tc.headers)
		if r.status != 400 || r.code(t) != "json.invalid" || !strings.Contains(r.body, "nested deeper than 512 levels") {
			t.Errorf("%s: %d %s, want 400 json.invalid", tc.name, r.status, r.body)
		}
	}
	got := pl.expect(t, "ditto", "GET", u, "", nil, 200, "")
	jsonEq(t, "thing after refused writes", got.body, `{"thingId":"org.eclipse.ditto:deep","policyId":"org.eclipse.ditto:deep-policy"}`)
	if got.header.Get("ETag") != `"rev:1"` {
		t.Errorf("revision moved to %s", got.header.Get("ETag"))
	}
	pol := pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:deep-policy", "", nil, 200, "")
	if pol.header.Get("ETag") != `"rev:1"` {
		t.Errorf("policy revision moved to %s", pol.header.Get("ETag"))
	}
	// Up to the limit is fine, and stays readable.
	pl.expect(t, "ditto", "PUT", attr(512), `1`, nil, 201, "")
	pl.expect(t, "ditto", "GET", u, "", nil, 200, "")
	pl.expect(t, "ditto", "DELETE", u+"/attributes/d", "", nil, 204, "")
}

// An entity stored deeper than the JSON parser reads, by a version that did
// not check the depth of writes (here: written into the journal directly),
// loads after a restart, refuses changes that leave it that deep, and can
// be repaired or deleted. One is deep through an event, one through a
// snapshot deeper than encoding/json reads (10000 levels).
func TestDeepStoredEntitiesStillLoad(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	pl := startPlatform(t, cfg)
	const byEvent, bySnapshot = "org.eclipse.ditto:deep-event", "org.eclipse.ditto:deep-snapshot"
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+byEvent, `{}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+bySnapshot, `{}`, nil, 201, "")
	pl.stop(t)

	store, err := sqlitestore.Open(filepath.Join(cfg.DataDir, "ditto.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := store.Journal(journal.Things)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	deepPath := "/attributes" + strings.Repeat("/d", 599)
	ev, err := protocol.Envelope{
		Topic: "org.eclipse.ditto/deep-event/things/twin/events/modified", Headers: protocol.Headers{},
		Path: deepPath, Value: []byte(`1`), Revision: 2,
	}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(ctx, journal.Event{PID: "thing:" + byEvent, SN: 2, Timestamp: time.Now(), Payload: ev}); err != nil {
		t.Fatal(err)
	}
	snapDoc := `{"thingId":"` + bySnapshot + `","policyId":"` + bySnapshot + `","attributes":{"d":` + nestedObjects(20000) + `}}`
	snap := `{"created":"2024-01-01T00:00:00Z","modified":"2024-01-02T00:00:00Z","entity":` + snapDoc + `}`
	if err := j.SaveSnapshot(ctx, journal.Snapshot{PID: "thing:" + bySnapshot, SN: 2, Timestamp: time.Now(), Payload: []byte(snap)}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	pl2 := startPlatform(t, cfg)
	u := "/api/2/things/" + byEvent
	r := pl2.expect(t, "ditto", "GET", u, "", nil, 200, "")
	if r.header.Get("ETag") != `"rev:2"` || !strings.Contains(r.body, strings.Repeat(`{"d":`, 599)+"1") {
		t.Errorf("thing deep by an event: ETag %s, body %.100s...", r.header.Get("ETag"), r.body)
	}
	pl2.expect(t, "ditto", "PUT", u+"/attributes/x", `1`, nil, 400, "json.invalid")
	pl2.expect(t, "ditto", "DELETE", u+"/attributes/d", "", nil, 204, "")
	pl2.expect(t, "ditto", "PUT", u+"/attributes/x", `1`, nil, 201, "")
	got := pl2.expect(t, "ditto", "GET", u, "", nil, 200, "")
	jsonEq(t, "repaired thing", got.body, `{"thingId":"`+byEvent+`","policyId":"`+byEvent+`","attributes":{"x":1}}`)

	s := "/api/2/things/" + bySnapshot
	r = pl2.expect(t, "ditto", "GET", s, "", nil, 200, "")
	if r.body != snapDoc || r.header.Get("ETag") != `"rev:2"` {
		t.Errorf("thing deep by a snapshot: ETag %s, %d bytes, want the stored %d", r.header.Get("ETag"), len(r.body), len(snapDoc))
	}
	pl2.expect(t, "ditto", "DELETE", s, "", nil, 204, "")
	pl2.expect(t, "ditto", "GET", s, "", nil, 404, "things:thing.notfound")
}
