package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

const (
	thingID  = "org.eclipse.ditto:t1"
	policyID = "org.eclipse.ditto:p1"
	thingURL = "/api/2/things/" + thingID
	polURL   = "/api/2/policies/" + policyID
)

// TestCommandMapping checks every route and method against the command
// the responder receives: subject, NATS headers, topic, path, value, fields
// and headers.
func TestCommandMapping(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	thingSubject := streams.New("").ThingCommands(streams.Shard(thingID, streams.DefaultShards))
	policySubject := streams.New("").PolicyCommands(streams.Shard(policyID, streams.DefaultShards))
	thingTopic := "org.eclipse.ditto/t1/things/twin/commands/"
	policyTopic := "org.eclipse.ditto/p1/policies/commands/"

	tests := []struct {
		name    string
		req     req
		subject string
		topic   string
		path    string
		value   string // compact JSON; "" for none
		fields  string
		headers map[string]string // must be among the command headers
		status  int
	}{
		{name: "retrieve thing", req: req{method: "GET", target: thingURL},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/", status: 200},
		{name: "retrieve thing with fields", req: req{method: "GET", target: thingURL + "?fields=thingId,attributes(location)"},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/", fields: "thingId,attributes(location)", status: 200},
		{name: "repeated fields joined", req: req{method: "GET", target: thingURL + "?fields=thingId&fields=policyId"},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/", fields: "thingId,policyId", status: 200},
		{name: "retrieve thing trailing slash", req: req{method: "GET", target: thingURL + "/"},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/", status: 200},
		{name: "modify thing gets its id", req: req{method: "PUT", target: thingURL, body: `{"attributes":{"a":1}}`},
			subject: thingSubject, topic: thingTopic + "modify", path: "/",
			value: `{"thingId":"org.eclipse.ditto:t1","attributes":{"a":1}}`, status: 204},
		{name: "modify thing with its own id and inline policy", req: req{method: "PUT", target: thingURL,
			body: `{"thingId":"org.eclipse.ditto:t1","_policy":{"entries":{}},"_copyPolicyFrom":"org.eclipse.ditto:p0"}`},
			subject: thingSubject, topic: thingTopic + "modify", path: "/",
			value: `{"thingId":"org.eclipse.ditto:t1","_policy":{"entries":{}},"_copyPolicyFrom":"org.eclipse.ditto:p0"}`, status: 204},
		{name: "merge thing", req: req{method: "PATCH", target: thingURL, body: `{"attributes":{"a":null}}`},
			subject: thingSubject, topic: thingTopic + "merge", path: "/", value: `{"attributes":{"a":null}}`,
			headers: map[string]string{"content-type": protocol.MediaTypeMergePatchJSON}, status: 204},
		{name: "delete thing", req: req{method: "DELETE", target: thingURL},
			subject: thingSubject, topic: thingTopic + "delete", path: "/", status: 204},
		{name: "retrieve policyId", req: req{method: "GET", target: thingURL + "/policyId"},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/policyId", status: 200},
		{name: "modify policyId", req: req{method: "PUT", target: thingURL + "/policyId", body: `"org.eclipse.ditto:p2"`},
			subject: thingSubject, topic: thingTopic + "modify", path: "/policyId", value: `"org.eclipse.ditto:p2"`, status: 204},
		{name: "merge policyId", req: req{method: "PATCH", target: thingURL + "/policyId", body: `"org.eclipse.ditto:p2"`},
			subject: thingSubject, topic: thingTopic + "merge", path: "/policyId", value: `"org.eclipse.ditto:p2"`, status: 204},
		{name: "modify definition", req: req{method: "PUT", target: thingURL + "/definition", body: `"org.eclipse.ditto:model:1.0.0"`},
			subject: thingSubject, topic: thingTopic + "modify", path: "/definition", value: `"org.eclipse.ditto:model:1.0.0"`, status: 204},
		{name: "delete definition", req: req{method: "DELETE", target: thingURL + "/definition/"},
			subject: thingSubject, topic: thingTopic + "delete", path: "/definition", status: 204},
		{name: "retrieve attributes with fields", req: req{method: "GET", target: thingURL + "/attributes?fields=location"},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/attributes", fields: "location", status: 200},
		{name: "attributes trailing slash", req: req{method: "PUT", target: thingURL + "/attributes/", body: `{}`},
			subject: thingSubject, topic: thingTopic + "modify", path: "/attributes", value: `{}`, status: 204},
		{name: "modify attribute", req: req{method: "PUT", target: thingURL + "/attributes/location/latitude", body: `44.67`},
			subject: thingSubject, topic: thingTopic + "modify", path: "/attributes/location/latitude", value: `44.67`, status: 204},
		{name: "attribute fields ignored", req: req{method: "GET", target: thingURL + "/attributes/a?fields=(("},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/attributes/a", status: 200},
		{name: "attribute percent-decoded", req: req{method: "GET", target: thingURL + "/attributes/x%20y/a%2Fb"},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/attributes/x y/a/b", status: 200},
		{name: "merge attribute", req: req{method: "PATCH", target: thingURL + "/attributes/a", body: `{"b":2}`},
			subject: thingSubject, topic: thingTopic + "merge", path: "/attributes/a", value: `{"b":2}`, status: 204},
		{name: "delete attribute", req: req{method: "DELETE", target: thingURL + "/attributes/a/b/"},
			subject: thingSubject, topic: thingTopic + "delete", path: "/attributes/a/b", status: 204},
		{name: "retrieve features", req: req{method: "GET", target: thingURL + "/features?fields=f1"},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/features", fields: "f1", status: 200},
		{name: "modify feature", req: req{method: "PUT", target: thingURL + "/features/f1", body: `{"properties":{}}`},
			subject: thingSubject, topic: thingTopic + "modify", path: "/features/f1", value: `{"properties":{}}`, status: 204},
		{name: "retrieve feature definition", req: req{method: "GET", target: thingURL + "/features/f1/definition"},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/features/f1/definition", status: 200},
		{name: "merge feature properties", req: req{method: "PATCH", target: thingURL + "/features/f1/properties", body: `{"x":1}`},
			subject: thingSubject, topic: thingTopic + "merge", path: "/features/f1/properties", value: `{"x":1}`, status: 204},
		{name: "retrieve feature properties with fields", req: req{method: "GET", target: thingURL + "/features/f1/properties?fields=x"},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/features/f1/properties", fields: "x", status: 200},
		{name: "modify feature property", req: req{method: "PUT", target: thingURL + "/features/f1/properties/a/b", body: `true`},
			subject: thingSubject, topic: thingTopic + "modify", path: "/features/f1/properties/a/b", value: `true`, status: 204},
		{name: "delete desired property", req: req{method: "DELETE", target: thingURL + "/features/f1/desiredProperties/x"},
			subject: thingSubject, topic: thingTopic + "delete", path: "/features/f1/desiredProperties/x", status: 204},
		{name: "retrieve desired properties", req: req{method: "GET", target: thingURL + "/features/f1/desiredProperties"},
			subject: thingSubject, topic: thingTopic + "retrieve", path: "/features/f1/desiredProperties", status: 200},
		{name: "live channel", req: req{method: "GET", target: thingURL + "?channel=live"},
			subject: thingSubject, topic: "org.eclipse.ditto/t1/things/live/commands/retrieve", path: "/",
			headers: map[string]string{"channel": "live"}, status: 200},

		{name: "retrieve policy", req: req{method: "GET", target: polURL + "?fields=entries"},
			subject: policySubject, topic: policyTopic + "retrieve", path: "/", fields: "entries", status: 200},
		{name: "modify policy gets its id", req: req{method: "PUT", target: polURL, body: `{"entries":{}}`},
			subject: policySubject, topic: policyTopic + "modify", path: "/",
			value: `{"policyId":"org.eclipse.ditto:p1","entries":{}}`, status: 204},
		{name: "delete policy", req: req{method: "DELETE", target: polURL},
			subject: policySubject, topic: policyTopic + "delete", path: "/", status: 204},
		{name: "modify entries", req: req{method: "PUT", target: polURL + "/entries", body: `{}`},
			subject: policySubject, topic: policyTopic + "modify", path: "/entries", value: `{}`, status: 204},
		{name: "retrieve entry", req: req{method: "GET", target: polURL + "/entries/DEFAULT"},
			subject: policySubject, topic: policyTopic + "retrieve", path: "/entries/DEFAULT", status: 200},
		{name: "delete entry", req: req{method: "DELETE", target: polURL + "/entries/DEFAULT/"},
			subject: policySubject, topic: policyTopic + "delete", path: "/entries/DEFAULT", status: 204},
		{name: "retrieve subjects", req: req{method: "GET", target: polURL + "/entries/DEFAULT/subjects"},
			subject: policySubject, topic: policyTopic + "retrieve", path: "/entries/DEFAULT/subjects", status: 200},
		{name: "modify subject", req: req{method: "PUT", target: polURL + "/entries/DEFAULT/subjects/nginx:ditto", body: `{"type":"x"}`},
			subject: policySubject, topic: policyTopic + "modify", path: "/entries/DEFAULT/subjects/nginx:ditto", value: `{"type":"x"}`, status: 204},
		{name: "subject with slash", req: req{method: "DELETE", target: polURL + "/entries/DEFAULT/subjects/google:a/b"},
			subject: policySubject, topic: policyTopic + "delete", path: "/entries/DEFAULT/subjects/google:a/b", status: 204},
		{name: "modify resources", req: req{method: "PUT", target: polURL + "/entries/DEFAULT/resources", body: `{}`},
			subject: policySubject, topic: policyTopic + "modify", path: "/entries/DEFAULT/resources", value: `{}`, status: 204},
		{name: "resource with slashes", req: req{method: "PUT", target: polURL + "/entries/DEFAULT/resources/thing:/attributes",
			body: `{"grant":["READ"],"revoke":[]}`},
			subject: policySubject, topic: policyTopic + "modify", path: "/entries/DEFAULT/resources/thing:/attributes",
			value: `{"grant":["READ"],"revoke":[]}`, status: 204},
		// The gateway sends ".../resources/thing:/"; protocol.DecodeEnvelope
		// drops the trailing slash, as Ditto's JsonPointer does ("thing:"
		// and "thing:/" are the same resource key in Ditto).
		{name: "resource thing root", req: req{method: "GET", target: polURL + "/entries/DEFAULT/resources/thing:/"},
			subject: policySubject, topic: policyTopic + "retrieve", path: "/entries/DEFAULT/resources/thing:", status: 200},
		{name: "imports", req: req{method: "GET", target: polURL + "/imports/org.eclipse.ditto:p0/entries"},
			subject: policySubject, topic: policyTopic + "retrieve", path: "/imports/org.eclipse.ditto:p0/entries", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(tt.req)
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			got := h.waitCommands(1)
			if len(got) != 1 {
				t.Fatalf("got %d commands, want 1", len(got))
			}
			c := got[0]
			if c.subject != tt.subject {
				t.Errorf("subject: got %q, want %q", c.subject, tt.subject)
			}
			wantID := thingID
			if tt.subject == policySubject {
				wantID = policyID
			}
			if g := c.header.Get(streams.HeaderEntity); g != wantID {
				t.Errorf("NATS %s: got %q, want %q", streams.HeaderEntity, g, wantID)
			}
			if g := c.header.Get(streams.HeaderAuth); g != `["nginx:ditto"]` {
				t.Errorf("NATS %s: got %q, want %q", streams.HeaderAuth, g, `["nginx:ditto"]`)
			}
			if _, ok := c.header[streams.HeaderSudo]; ok {
				t.Errorf("NATS %s set, want it absent", streams.HeaderSudo)
			}
			if c.env.Topic != tt.topic {
				t.Errorf("topic: got %q, want %q", c.env.Topic, tt.topic)
			}
			if c.env.Path != tt.path {
				t.Errorf("path: got %q, want %q", c.env.Path, tt.path)
			}
			if string(c.env.Value) != tt.value {
				t.Errorf("value: got %s, want %s", c.env.Value, tt.value)
			}
			if c.env.Fields != tt.fields {
				t.Errorf("fields: got %q, want %q", c.env.Fields, tt.fields)
			}
			if c.env.Headers[protocol.HeaderCorrelationID] == "" {
				t.Errorf("correlation-id missing in %v", c.env.Headers)
			}
			if g := c.env.Headers[protocol.HeaderTimeout]; g != "60s" {
				t.Errorf("timeout header: got %q, want %q", g, "60s")
			}
			for k, v := range tt.headers {
				if g := c.env.Headers[k]; g != v {
					t.Errorf("header %s: got %q, want %q", k, g, v)
				}
			}
			if tt.subject == thingSubject && tt.req.method != "PATCH" {
				if _, ok := c.env.Headers[protocol.HeaderContentType]; ok {
					t.Errorf("content-type header %q, want none", c.env.Headers[protocol.HeaderContentType])
				}
			}
		})
	}
}

// TestCommandHeaders checks which request headers become command headers.
func TestCommandHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := []struct {
		name   string
		req    req
		want   map[string]string
		absent []string
	}{
		{name: "correlation-id kept",
			req:  req{method: "GET", target: thingURL, header: map[string]string{"Correlation-Id": "c-1"}},
			want: map[string]string{"correlation-id": "c-1"}},
		{name: "x-correlation-id used",
			req:  req{method: "GET", target: thingURL, header: map[string]string{"X-Correlation-Id": "x-1"}},
			want: map[string]string{"correlation-id": "x-1"}},
		{name: "correlation-id wins over x-correlation-id",
			req:  req{method: "GET", target: thingURL, header: map[string]string{"X-Correlation-Id": "x-1", "Correlation-Id": "c-1"}},
			want: map[string]string{"correlation-id": "c-1"}},
		{name: "query parameters as headers",
			req:    req{method: "GET", target: thingURL + "?timeout=10s&correlation-id=q-1&channel=twin&dry-run=true&foo=bar"},
			want:   map[string]string{"timeout": "10s", "correlation-id": "q-1", "channel": "twin", "dry-run": "true"},
			absent: []string{"foo"}},
		{name: "ditto headers and unknown headers pass",
			req: req{method: "GET", target: thingURL, header: map[string]string{
				"If-Match": `"rev:1"`, "X-Custom": "v", "Traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
			want: map[string]string{"if-match": `"rev:1"`, "x-custom": "v", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
		{name: "internal headers and credentials dropped",
			req: req{method: "GET", target: thingURL, header: map[string]string{
				"Ditto-Sudo": "true", "Ditto-Auth-Context": `{"x":1}`, "Ditto-Read-Subjects": `["a"]`,
				"X-Ditto-Pre-Authenticated": "nginx:admin", "Cookie": "s=1", "Accept-Encoding": "gzip", "Cache-Control": "no-cache",
				"Ditto-Auth": `["nginx:admin"]`, "Ditto-Entity": "x:y"}},
			absent: []string{"ditto-sudo", "ditto-auth-context", "ditto-read-subjects", "x-ditto-pre-authenticated", "ditto-auth", "ditto-entity",
				"authorization", "cookie", "accept-encoding", "cache-control", "content-type", "host"}},
		{name: "requested-acks list becomes an array",
			req:  req{method: "GET", target: thingURL + "?requested-acks=twin-persisted,%20custom"},
			want: map[string]string{"requested-acks": `["twin-persisted","custom"]`}},
		{name: "requested-acks array kept",
			req:  req{method: "GET", target: thingURL, header: map[string]string{"Requested-Acks": `[ "twin-persisted" ]`}},
			want: map[string]string{"requested-acks": `["twin-persisted"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(tt.req)
			if w.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200; body %s", w.Code, w.Body)
			}
			c := h.waitCommands(1)[0]
			for k, v := range tt.want {
				if g := c.env.Headers[k]; g != v {
					t.Errorf("header %s: got %q, want %q", k, g, v)
				}
			}
			for _, k := range tt.absent {
				if v, ok := c.env.Headers[k]; ok {
					t.Errorf("header %s: got %q, want absent", k, v)
				}
			}
			if len(c.env.Headers[protocol.HeaderCorrelationID]) == 0 {
				t.Error("no correlation-id")
			}
		})
	}
}

// TestGeneratedCorrelationID checks that a request without one gets a
// fresh UUID, echoed in the response.
func TestGeneratedCorrelationID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	w := h.do(req{method: "GET", target: thingURL})
	c := h.waitCommands(1)[0]
	cid := c.env.Headers[protocol.HeaderCorrelationID]
	if len(cid) != 36 || strings.Count(cid, "-") != 4 {
		t.Errorf("correlation-id: got %q, want a UUID", cid)
	}
	if g := header(w, "correlation-id"); g != cid {
		t.Errorf("echoed correlation-id: got %q, want %q", g, cid)
	}
}

// TestReplyMapping checks how reply envelopes become HTTP responses.
func TestReplyMapping(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	errEnv := func(e *protocol.Error, hdrs protocol.Headers) replyFunc {
		return func(cmd protocol.Envelope) (protocol.Envelope, bool) {
			tp, _ := protocol.ParseTopic(cmd.Topic)
			return protocol.ErrorEnvelope(tp, hdrs, cmd.Path, e), true
		}
	}
	ok := func(status int, value string, hdrs protocol.Headers) replyFunc {
		return func(cmd protocol.Envelope) (protocol.Envelope, bool) {
			r := protocol.Envelope{Topic: cmd.Topic, Path: cmd.Path, Status: status, Headers: hdrs}
			if value != "" {
				r.Value = []byte(value)
			}
			return r, true
		}
	}
	notFound := protocol.ErrThingNotAccessible(thingID)
	tests := []struct {
		name        string
		reply       replyFunc
		req         req
		status      int
		body        string // exact body; "-" skips the check
		contentType string
		headers     map[string]string // "" means absent
	}{
		{name: "retrieve 200", reply: ok(200, `{"thingId":"org.eclipse.ditto:t1","attributes":{"a":1}}`,
			protocol.Headers{"etag": `"rev:7"`, "correlation-id": "c1", "ditto-read-subjects": `["s"]`, "x-internal": "1"}),
			req: req{method: "GET", target: thingURL}, status: 200,
			body: `{"thingId":"org.eclipse.ditto:t1","attributes":{"a":1}}`, contentType: "application/json",
			headers: map[string]string{"etag": `"rev:7"`, "correlation-id": "c1", "ditto-read-subjects": "", "x-internal": "", "location": ""}},
		{name: "created 201 has Location", reply: ok(201, `{"thingId":"org.eclipse.ditto:t1"}`, protocol.Headers{"etag": `"rev:1"`}),
			req: req{method: "PUT", target: thingURL + "?timeout=5s", body: `{}`}, status: 201,
			body: `{"thingId":"org.eclipse.ditto:t1"}`, contentType: "application/json",
			headers: map[string]string{"location": "http://gw.example:8080" + thingURL, "etag": `"rev:1"`}},
		{name: "created attribute Location is the request path", reply: ok(201, `1`, nil),
			req: req{method: "PUT", target: thingURL + "/attributes/a%20b", body: `1`}, status: 201, body: `1`,
			headers: map[string]string{"location": "http://gw.example:8080" + thingURL + "/attributes/a%20b"}},
		{name: "modified 204", reply: ok(204, "", protocol.Headers{"etag": `"rev:2"`}),
			req: req{method: "PUT", target: thingURL, body: `{}`}, status: 204, body: "",
			headers: map[string]string{"etag": `"rev:2"`, "content-type": "", "location": ""}},
		{name: "reply content-type", reply: ok(200, `"text"`, protocol.Headers{"content-type": "application/vnd.eclipse.ditto+json"}),
			req: req{method: "GET", target: thingURL}, status: 200, body: `"text"`, contentType: "application/vnd.eclipse.ditto+json"},
		{name: "error envelope", reply: errEnv(notFound, protocol.Headers{"correlation-id": "c2", "response-required": "true"}),
			req: req{method: "GET", target: thingURL}, status: 404,
			body:        `{"status":404,"error":"things:thing.notfound","message":"The Thing with ID 'org.eclipse.ditto:t1' could not be found or requester had insufficient permissions to access it.","description":"Check if the ID of your requested Thing was correct and you have sufficient permissions."}`,
			contentType: "application/json",
			headers:     map[string]string{"correlation-id": "c2", "response-required": "true"}},
		{name: "precondition failed", reply: errEnv(protocol.ErrThingPreconditionFailed("if-match", `"x"`, `"rev:3"`), protocol.Headers{"etag": `"rev:3"`}),
			req: req{method: "PUT", target: thingURL, body: `{}`}, status: 412, body: "-", contentType: "application/json",
			headers: map[string]string{"etag": `"rev:3"`}},
		{name: "not modified has no body", reply: errEnv(protocol.ErrThingPreconditionNotModified(`"rev:3"`, `"rev:3"`), protocol.Headers{"etag": `"rev:3"`}),
			req: req{method: "GET", target: thingURL}, status: 304, body: "",
			headers: map[string]string{"etag": `"rev:3"`, "content-type": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.setReply(tt.reply)
			w := h.do(tt.req)
			h.waitCommands(1)
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.body != "-" && w.Body.String() != tt.body {
				t.Errorf("body: got %s, want %s", w.Body, tt.body)
			}
			if tt.contentType != "" {
				if g := w.Header().Get("Content-Type"); g != tt.contentType {
					t.Errorf("Content-Type: got %q, want %q", g, tt.contentType)
				}
			}
			for k, v := range tt.headers {
				if g := header(w, k); g != v {
					t.Errorf("header %s: got %q, want %q", k, g, v)
				}
			}
		})
	}
}

func TestWhoami(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.PreAuthentication = true })
	tests := []struct {
		name   string
		req    req
		status int
		want   string
	}{
		{"basic user", req{method: "GET", target: "/api/2/whoami"}, 200,
			`{"defaultSubject":"nginx:ditto","subjects":["nginx:ditto"]}`},
		{"pre-authenticated subjects", req{method: "GET", target: "/api/2/whoami/",
			header: map[string]string{"X-Ditto-Pre-Authenticated": "google:x, nginx:y", "Authorization": ""}}, 200,
			`{"defaultSubject":"google:x","subjects":["google:x","nginx:y"]}`},
		{"POST not allowed", req{method: "POST", target: "/api/2/whoami", body: "{}"}, 405,
			string(errorJSON(protocol.ErrGatewayMethodNotAllowed("POST")))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(tt.req)
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d", w.Code, tt.status)
			}
			if w.Body.String() != tt.want {
				t.Errorf("body: got %s, want %s", w.Body, tt.want)
			}
		})
	}
	if got := h.commands(); len(got) != 0 {
		t.Errorf("whoami sent %d commands, want none", len(got))
	}
}
