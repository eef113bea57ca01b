package platform

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// History over HTTP and the WebSocket: a thing, an attribute and a policy
// entry at a revision or a time (header or query parameter), answered with
// the historical headers journaled with that revision; a client's
// ditto-originator never reaches the journal; bad input gets Ditto's
// errors.
func TestHistoryOverHTTPAndWebSocket(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Things.HistoricalHeaders = []string{"ditto-originator", "correlation-id"}
	cfg.Policies.HistoricalHeaders = []string{"ditto-originator", "correlation-id"}
	pl := startPlatform(t, cfg)
	const id = "org.eclipse.ditto:history"
	const thing = "/api/2/things/" + id
	cid := func(c string) map[string]string {
		return map[string]string{"correlation-id": c, "ditto-originator": "nginx:mallory"}
	}
	pl.expect(t, "ditto", "PUT", thing, `{"attributes":{"n":1}}`, cid("h-1"), 201, "")
	var modified []time.Time  // _modified of revisions 2..7
	for n := 2; n <= 7; n++ { // snapshots at 5 (testConfig)
		pl.expect(t, "ditto", "PUT", thing+"/attributes/n", strconv.Itoa(n), cid("h-"+strconv.Itoa(n)), 204, "")
		r := pl.expect(t, "ditto", "GET", thing+"?fields=_modified", "", nil, 200, "")
		var m struct {
			Modified time.Time `json:"_modified"`
		}
		if err := json.Unmarshal([]byte(r.body), &m); err != nil {
			t.Fatal(err)
		}
		modified = append(modified, m.Modified)
	}

	historical := func(r reply) map[string]string {
		t.Helper()
		var m map[string]string
		if err := json.Unmarshal([]byte(r.header.Get("historical-headers")), &m); err != nil {
			t.Fatalf("historical-headers %q: %v", r.header.Get("historical-headers"), err)
		}
		return m
	}
	r := pl.expect(t, "ditto", "GET", thing, "", map[string]string{"at-historical-revision": "1"}, 200, "")
	jsonEq(t, "thing at 1", r.body, `{"thingId":"`+id+`","policyId":"`+id+`","attributes":{"n":1}}`)
	if r.header.Get("ETag") != `"rev:1"` {
		t.Errorf("thing at 1: ETag %q", r.header.Get("ETag"))
	}
	if h := historical(r); h["ditto-originator"] != "nginx:ditto" || h["correlation-id"] != "h-1" || len(h) != 2 {
		t.Errorf("thing at 1: historical-headers %v", h)
	}
	r = pl.expect(t, "ditto", "GET", thing+"/attributes/n?at-historical-revision=3", "", nil, 200, "")
	if r.body != "3" || historical(r)["correlation-id"] != "h-3" {
		t.Errorf("attribute at 3 (query parameter): %s %v", r.body, r.header)
	}
	// _modified of revision 4 is when it was made: that time reads it.
	r = pl.expect(t, "ditto", "GET", thing+"/attributes/n?at-historical-timestamp="+url.QueryEscape(modified[2].Format(time.RFC3339Nano)), "", nil, 200, "")
	if r.body != "4" && r.body != "5" { // 5 when made in the same millisecond
		t.Errorf("attribute at revision 4's _modified = %s", r.body)
	}

	// A policy entry at a revision: revision 1 of the thing's policy,
	// before a guest entry came.
	policy := "/api/2/policies/" + id
	pl.expect(t, "ditto", "PUT", policy+"/entries/GUEST",
		`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{"thing:/attributes":{"grant":["READ"],"revoke":[]}}}`, cid("p-2"), 201, "")
	pl.expect(t, "ditto", "GET", policy+"/entries/GUEST", "", map[string]string{"at-historical-revision": "1"}, 404, "policies:entry.notfound")
	r = pl.expect(t, "ditto", "GET", policy+"/entries/GUEST", "", map[string]string{"at-historical-revision": "2"}, 200, "")
	if h := historical(r); h["ditto-originator"] != "nginx:ditto" || h["correlation-id"] != "p-2" {
		t.Errorf("entry at 2: historical-headers %v", h)
	}
	// ditto2 reads the thing's past as the policy lets it now.
	r = pl.expect(t, "ditto2", "GET", thing, "", map[string]string{"at-historical-revision": "2"}, 200, "")
	jsonEq(t, "ditto2's thing at 2", r.body, `{"thingId":"`+id+`","attributes":{"n":2}}`)

	// Bad input.
	for _, tt := range []struct {
		name, path string
		headers    map[string]string
		status     int
		code       string
	}{
		{"revision beyond", thing, map[string]string{"at-historical-revision": "8"}, 404, "things:thing.history.notfound"},
		{"malformed revision", thing, map[string]string{"at-historical-revision": "two"}, 400, "header.invalid"},
		{"malformed timestamp", thing + "?at-historical-timestamp=now", nil, 400, "header.invalid"},
		{"before the creation", thing, map[string]string{"at-historical-timestamp": "2020-01-01T00:00:00Z"}, 404, "things:thing.history.notfound"},
		{"policy revision beyond", policy, map[string]string{"at-historical-revision": "3"}, 404, "policies:policy.history.notfound"},
	} {
		pl.expect(t, "ditto", "GET", tt.path, "", tt.headers, tt.status, tt.code)
	}

	// Over the WebSocket the headers travel in the envelope; the answer's
	// historical-headers is a JSON object.
	c := pl.mustDial(t, "ditto")
	c.send(`{"topic":"org.eclipse.ditto/history/things/twin/commands/retrieve","headers":{"correlation-id":"ws-1","at-historical-revision":2},"path":"/attributes/n"}`)
	f := c.next(10 * time.Second)
	env, err := protocol.DecodeEnvelope([]byte(f))
	if err != nil {
		t.Fatal(err)
	}
	if env.Status != 200 || string(env.Value) != "2" {
		t.Fatalf("WebSocket retrieve at 2: %s", f)
	}
	var frame struct {
		Headers struct {
			Historical map[string]string `json:"historical-headers"`
		} `json:"headers"`
	}
	if err := json.Unmarshal([]byte(f), &frame); err != nil || frame.Headers.Historical["correlation-id"] != "h-2" || frame.Headers.Historical["ditto-originator"] != "nginx:ditto" {
		t.Errorf("WebSocket historical-headers: %s (%v)", f, err)
	}
	c.send(`{"topic":"org.eclipse.ditto/history/things/twin/commands/retrieve","headers":{"correlation-id":"ws-2","at-historical-timestamp":"2020-01-01T00:00:00Z"},"path":"/"}`)
	if f := c.next(10 * time.Second); !strings.Contains(f, "things:thing.history.notfound") {
		t.Errorf("WebSocket retrieve before the creation: %s", f)
	}
}

// The historical headers come from the environment (comma-separated) or
// from Ditto's keys in a HOCON file (a list, as things.conf writes it).
func TestHistoricalHeadersConfig(t *testing.T) {
	t.Parallel()
	file := writeConf(t, `ditto.things.thing.event.historical-headers-to-persist = ["ditto-originator", "Correlation-Id"]
ditto.policies.policy.event.historical-headers-to-persist = []`)
	cfg, err := LoadEnv([]string{"DITTO_CONFIG_FILE=" + file})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Things.HistoricalHeaders, ","); got != "ditto-originator,correlation-id" {
		t.Errorf("things from the file: %q", got)
	}
	if len(cfg.Policies.HistoricalHeaders) != 0 {
		t.Errorf("policies from the file: %q", cfg.Policies.HistoricalHeaders)
	}
	cfg, err = LoadEnv([]string{"DITTO_CONFIG_FILE=" + file, "POLICY_EVENT_HISTORICAL_HEADERS_TO_PERSIST=ditto-originator, user-agent"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Policies.HistoricalHeaders, ","); got != "ditto-originator,user-agent" {
		t.Errorf("policies from the environment: %q", got)
	}
	def, err := LoadEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(def.Things.HistoricalHeaders)+len(def.Policies.HistoricalHeaders) != 0 {
		t.Errorf("defaults: %q %q, want none (Ditto's)", def.Things.HistoricalHeaders, def.Policies.HistoricalHeaders)
	}
}
