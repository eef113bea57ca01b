package platform

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dittonats/dittonats/protocol"
)

// wsClient is a WebSocket session on the platform's /ws/2.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan string
}

// dial opens /ws/2 as user (password = user name); header may add or
// replace request headers.
func (pl *platform) dial(t *testing.T, user string, header http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if user != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+user)))
	}
	for k, vs := range header {
		h[k] = vs
	}
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(pl.url, "http")+"/ws/2", h)
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{t: t, conn: conn, frames: make(chan string, 1000)}
	go func() {
		defer close(c.frames)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			c.frames <- string(data)
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return c, resp, nil
}

func (pl *platform) mustDial(t *testing.T, user string) *wsClient {
	t.Helper()
	c, resp, err := pl.dial(t, user, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial /ws/2 as %s: %v (status %d)", user, err, status)
	}
	return c
}

func (c *wsClient) send(frame string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("send %q: %v", frame, err)
	}
}

// next returns the next frame, failing after timeout.
func (c *wsClient) next(timeout time.Duration) string {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("session closed")
		}
		return f
	case <-time.After(timeout):
		c.t.Fatalf("no frame within %s", timeout)
		return ""
	}
}

// envelope returns the next frame as a Ditto Protocol message.
func (c *wsClient) envelope() protocol.Envelope {
	c.t.Helper()
	f := c.next(10 * time.Second)
	env, err := protocol.DecodeEnvelope([]byte(f))
	if err != nil {
		c.t.Fatalf("frame %q is no Ditto Protocol message: %v", f, err)
	}
	return env
}

// silent checks that no frame arrives for d.
func (c *wsClient) silent(d time.Duration) {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if ok {
			c.t.Fatalf("unexpected frame %s", f)
		}
	case <-time.After(d):
	}
}

// errorCode returns the error code of an error envelope's value.
func errorCode(env protocol.Envelope) string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(env.Value, &e)
	return e.Error
}

func TestWebSocketAuthentication(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	for _, tt := range []struct {
		name string
		user string
		hdr  http.Header
	}{
		{"no credentials", "", nil},
		{"wrong password", "", http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("ditto:wrong"))}}},
		{"unknown user", "mallory", nil},
		// Pre-authentication is off: the header authenticates nobody.
		{"pre-authenticated header", "", http.Header{"X-Ditto-Pre-Authenticated": {"nginx:ditto"}}},
	} {
		_, resp, err := pl.dial(t, tt.user, tt.hdr)
		if err == nil {
			t.Errorf("%s: upgrade accepted", tt.name)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v, want 401", tt.name, resp)
			continue
		}
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without a challenge", tt.name)
		}
	}
	// A plain GET of the route is no upgrade.
	pl.expect(t, "ditto", "GET", "/ws/2", "", nil, http.StatusBadRequest, "")
	pl.expect(t, "ditto", "GET", "/ws/1", "", nil, http.StatusNotFound, "")
}

// Twin commands over the WebSocket get their responses, correlated, and
// errors keep the session open.
func TestWebSocketCommands(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	c := pl.mustDial(t, "ditto")

	c.send(`{"topic":"org.eclipse.ditto/ws-1/things/twin/commands/create","headers":{"correlation-id":"c-1"},"path":"/","value":{"attributes":{"on":false}}}`)
	env := c.envelope()
	if env.Topic != "org.eclipse.ditto/ws-1/things/twin/commands/create" || env.Status != 201 || env.Headers[protocol.HeaderCorrelationID] != "c-1" {
		t.Fatalf("create answered %+v", env)
	}
	// The HTTP API sees what the WebSocket created.
	pl.expect(t, "ditto", "GET", "/api/2/things/org.eclipse.ditto:ws-1/attributes/on", "", nil, 200, "")

	c.send(`{"topic":"org.eclipse.ditto/ws-1/things/twin/commands/modify","headers":{"correlation-id":"c-2"},"path":"/attributes/on","value":true}`)
	if env := c.envelope(); env.Status != 204 || env.Headers[protocol.HeaderCorrelationID] != "c-2" {
		t.Fatalf("modify answered %+v", env)
	}
	c.send(`{"topic":"org.eclipse.ditto/ws-1/things/twin/commands/retrieve","headers":{"correlation-id":"c-3"},"path":"/attributes"}`)
	env = c.envelope()
	if env.Status != 200 || string(env.Value) != `{"on":true}` || env.Topic != "org.eclipse.ditto/ws-1/things/twin/commands/retrieve" {
		t.Fatalf("retrieve answered %+v (value %s)", env, env.Value)
	}

	// Bad frames: an error envelope each, and the session goes on.
	for _, tt := range []struct {
		frame, code string
		status      int
		cid         string
	}{
		{"not json", "json.invalid", 400, ""},
		{`{"topic":"org.eclipse.ditto/ws-1/things/twin/commands/frobnicate","headers":{"correlation-id":"bad-1"},"path":"/"}`, "protocoladapter:unknown.topicpath", 400, ""},
		{`{"headers":{"correlation-id":"bad-2"},"path":"/"}`, "json.field.missing", 400, "bad-2"},
		{`{"topic":"org.eclipse.ditto/ws-1/things/twin/commands/modify","headers":{"correlation-id":"bad-3","timeout":"2h"},"path":"/attributes/x","value":1}`, "gateway:timeout.invalid", 400, "bad-3"},
	} {
		c.send(tt.frame)
		env := c.envelope()
		if env.Status != tt.status || errorCode(env) != tt.code {
			t.Errorf("%q: answered %d %s (%s), want %d %s", tt.frame, env.Status, errorCode(env), env.Value, tt.status, tt.code)
		}
		if tt.cid != "" && env.Headers[protocol.HeaderCorrelationID] != tt.cid {
			t.Errorf("%q: correlation-id %q, want %q", tt.frame, env.Headers[protocol.HeaderCorrelationID], tt.cid)
		}
	}

	// Another user's thing is not there for this session, and forged
	// headers change nothing.
	other := pl.mustDial(t, "ditto2")
	other.send(`{"topic":"org.eclipse.ditto/ws-1/things/twin/commands/retrieve","headers":{"correlation-id":"x-1","ditto-auth-context":"{\"type\":\"pre-authenticated\",\"subjects\":[\"nginx:ditto\"]}","ditto-sudo":"true","Ditto-Auth":"[\"nginx:ditto\"]"},"path":"/"}`)
	env = other.envelope()
	if env.Status != 404 || errorCode(env) != "things:thing.notfound" || env.Headers[protocol.HeaderCorrelationID] != "x-1" {
		t.Fatalf("ditto2 read ditto's thing: %+v %s", env, env.Value)
	}
	other.send(`{"topic":"org.eclipse.ditto/ws-1/things/twin/commands/delete","headers":{"correlation-id":"x-2","ditto-sudo":true},"path":"/"}`)
	if env := other.envelope(); env.Status != 404 {
		t.Fatalf("ditto2 deleted ditto's thing: %+v %s", env, env.Value)
	}
	pl.expect(t, "ditto", "GET", "/api/2/things/org.eclipse.ditto:ws-1", "", nil, 200, "")

	// Policies too.
	c.send(`{"topic":"org.eclipse.ditto/ws-1/policies/commands/retrieve","headers":{"correlation-id":"p-1"},"path":"/entries"}`)
	if env := c.envelope(); env.Status != 200 || env.Topic != "org.eclipse.ditto/ws-1/policies/commands/retrieve" {
		t.Fatalf("policy retrieve answered %+v", env)
	}

	// A command without correlation-id gets one; response-required=false
	// gets no answer.
	c.send(`{"topic":"org.eclipse.ditto/ws-1/things/twin/commands/modify","headers":{"response-required":false},"path":"/attributes/quiet","value":1}`)
	c.send(`{"topic":"org.eclipse.ditto/ws-1/things/twin/commands/retrieve","headers":{},"path":"/attributes/quiet"}`)
	env = c.envelope()
	if env.Status != 200 || string(env.Value) != "1" || env.Headers[protocol.HeaderCorrelationID] == "" {
		t.Fatalf("retrieve after fire-and-forget answered %+v %s", env, env.Value)
	}
}

// ack waits for a control message's acknowledgement, skipping nothing.
func (c *wsClient) ack(control string) {
	c.t.Helper()
	c.send(control)
	name, _, _ := strings.Cut(control, "?")
	if got := c.next(10 * time.Second); got != name+":ACK" {
		c.t.Fatalf("%s answered %q", control, got)
	}
}

// Change notifications reach the sessions whose subjects may read them,
// cut down to what they may read, filtered by namespaces and RQL, and
// enriched with extraFields.
func TestWebSocketEvents(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = "org.eclipse.ditto:ev-1"
	const thing = "/api/2/things/" + id
	pl.expect(t, "ditto", "PUT", thing, `{"attributes":{"public":0,"secret":0,"location":"hall"}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+id+"/entries/GUEST",
		`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{"thing:/attributes/public":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")
	// A thing ditto2 may not read at all.
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:ev-2", `{}`, nil, 201, "")

	owner := pl.mustDial(t, "ditto")
	owner.ack("START-SEND-EVENTS")
	guest := pl.mustDial(t, "ditto2")
	guest.ack("START-SEND-EVENTS")
	elsewhere := pl.mustDial(t, "ditto")
	elsewhere.ack("START-SEND-EVENTS?namespaces=com.example,org.other")
	filtered := pl.mustDial(t, "ditto")
	filtered.ack("START-SEND-EVENTS?filter=" + url.QueryEscape(`gt(attributes/public,5)`))
	enriched := pl.mustDial(t, "ditto")
	enriched.ack("START-SEND-EVENTS?extraFields=attributes/location&filter=" + url.QueryEscape(`eq(attributes/location,"hall")`))
	quiet := pl.mustDial(t, "ditto")
	quiet.ack("START-SEND-EVENTS")
	quiet.ack("STOP-SEND-EVENTS")

	pl.expect(t, "ditto", "PUT", thing+"/attributes", `{"public":3,"secret":4,"location":"hall"}`, nil, 204, "")
	env := owner.envelope()
	if env.Topic != "org.eclipse.ditto/ev-1/things/twin/events/modified" || env.Path != "/attributes" || env.Revision != 2 {
		t.Fatalf("owner got %+v", env)
	}
	jsonEq(t, "owner's event", string(env.Value), `{"public":3,"secret":4,"location":"hall"}`)
	if _, ok := env.Headers[protocol.HeaderReadSubjects]; ok {
		t.Errorf("event shows its read subjects: %v", env.Headers)
	}
	env = guest.envelope()
	jsonEq(t, "guest's event", string(env.Value), `{"public":3}`)
	env = enriched.envelope()
	jsonEq(t, "enriched event", string(env.Value), `{"public":3,"secret":4,"location":"hall"}`)
	jsonEq(t, "extra", string(env.Extra), `{"attributes":{"location":"hall"}}`)

	// Only the secret changes: nothing for the guest.
	pl.expect(t, "ditto", "PUT", thing+"/attributes/secret", `5`, nil, 204, "")
	if env := owner.envelope(); env.Path != "/attributes/secret" {
		t.Fatalf("owner got %+v", env)
	}
	// The filter sees the thing after the change.
	pl.expect(t, "ditto", "PUT", thing+"/attributes/public", `7`, nil, 204, "")
	env = filtered.envelope()
	if env.Path != "/attributes/public" || string(env.Value) != "7" {
		t.Fatalf("filtered session got %+v", env)
	}
	env = guest.envelope()
	if env.Path != "/attributes/public" || string(env.Value) != "7" {
		t.Fatalf("guest got %+v", env)
	}
	// Not readable at all for the guest.
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:ev-2/attributes/x", `1`, nil, 201, "")

	// The guest got nothing more, the others nothing at all.
	guest.silent(500 * time.Millisecond)
	elsewhere.silent(100 * time.Millisecond)
	quiet.silent(100 * time.Millisecond)
	filtered.silent(100 * time.Millisecond)
	// The owner saw all of it, in order.
	if env := owner.envelope(); env.Path != "/attributes/public" {
		t.Fatalf("owner got %+v", env)
	}
	if env := owner.envelope(); env.Topic != "org.eclipse.ditto/ev-2/things/twin/events/created" || env.Path != "/attributes/x" {
		t.Fatalf("owner got %+v", env)
	}
}

// A session's own changes do not come back to it; filters may name
// Ditto's placeholders; enrichment reads with the session's permissions;
// bad control messages and frames get errors and keep the session.
func TestWebSocketSessionRules(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = "org.eclipse.ditto:rules-1"
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{"attributes":{"public":1,"secret":2}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+id+"/entries/GUEST",
		`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{"thing:/attributes/public":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")

	writer := pl.mustDial(t, "ditto")
	writer.ack("START-SEND-EVENTS")
	watcher := pl.mustDial(t, "ditto")
	watcher.ack("START-SEND-EVENTS?filter=" + url.QueryEscape(`and(eq(topic:action,"modified"),eq(resource:path,"/attributes/public"))`))
	guest := pl.mustDial(t, "ditto2")
	guest.ack("START-SEND-EVENTS?extraFields=attributes")

	writer.send(`{"topic":"org.eclipse.ditto/rules-1/things/twin/commands/modify","headers":{"correlation-id":"w-1"},"path":"/attributes/public","value":5}`)
	if env := writer.envelope(); env.Status != 204 || env.Headers[protocol.HeaderCorrelationID] != "w-1" {
		t.Fatalf("modify answered %+v", env)
	}
	if env := watcher.envelope(); env.Path != "/attributes/public" || env.Headers[protocol.HeaderCorrelationID] != "w-1" {
		t.Fatalf("watcher got %+v", env)
	}
	env := guest.envelope()
	if env.Path != "/attributes/public" {
		t.Fatalf("guest got %+v", env)
	}
	// The guest's enrichment is its own view of the thing.
	jsonEq(t, "guest's extra", string(env.Extra), `{"attributes":{"public":5}}`)
	// The filter's placeholders keep other changes out.
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id+"/attributes/secret", `3`, nil, 204, "")
	if env := writer.envelope(); env.Path != "/attributes/secret" {
		t.Fatalf("writer got %+v (its own change came back?)", env)
	}
	watcher.silent(200 * time.Millisecond)
	guest.silent(100 * time.Millisecond)

	// Bad control messages: an error, no ACK, the old parameters stay.
	watcher.send("START-SEND-EVENTS?filter=eq(attributes/x&correlation-id=ctl-1")
	env = watcher.envelope()
	if env.Status != 400 || errorCode(env) != "rql.expression.invalid" || env.Headers[protocol.HeaderCorrelationID] != "ctl-1" ||
		env.Topic != "unknown/unknown/things/twin/errors" {
		t.Fatalf("invalid filter answered %+v %s", env, env.Value)
	}
	watcher.send("START-SEND-EVENTS?extraFields=attributes(a,b)")
	if env := watcher.envelope(); errorCode(env) != "things:field.selection.invalid" {
		t.Fatalf("invalid extraFields answered %+v %s", env, env.Value)
	}
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id+"/attributes/public", `6`, nil, 204, "")
	if env := watcher.envelope(); string(env.Value) != "6" {
		t.Fatalf("watcher got %+v", env)
	}
	if env := writer.envelope(); string(env.Value) != "6" {
		t.Fatalf("writer got %+v", env)
	}

	// Binary frames are not read; oversize frames are refused.
	if err := writer.conn.WriteMessage(websocket.BinaryMessage, []byte(`{"topic":"org.eclipse.ditto/rules-1/things/twin/commands/delete","headers":{},"path":"/"}`)); err != nil {
		t.Fatal(err)
	}
	writer.send(`{"topic":"org.eclipse.ditto/rules-1/things/twin/commands/modify","headers":{"correlation-id":"big"},"path":"/attributes/big","value":"` + strings.Repeat("x", 5000) + `"}`)
	if env := writer.envelope(); env.Status != 413 || errorCode(env) != "messages:payload.toolarge" {
		t.Fatalf("oversize frame answered %+v %s", env, env.Value)
	}
	// Acknowledgements without a response are refused, as in Ditto.
	writer.send(`{"topic":"org.eclipse.ditto/rules-1/things/twin/commands/modify","headers":{"correlation-id":"a-1","response-required":false,"requested-acks":["twin-persisted"]},"path":"/attributes/x","value":1}`)
	if env := writer.envelope(); errorCode(env) != "header.invalid" || env.Headers[protocol.HeaderCorrelationID] != "a-1" {
		t.Fatalf("acks without response answered %+v %s", env, env.Value)
	}
	// A fire-and-forget command that fails answers nothing.
	writer.send(`{"topic":"org.eclipse.ditto/nope/things/twin/commands/retrieve","headers":{"response-required":false},"path":"/"}`)
	writer.send(`{"topic":"org.eclipse.ditto/rules-1/things/twin/commands/retrieve","headers":{"correlation-id":"last"},"path":"/policyId"}`)
	if env := writer.envelope(); env.Headers[protocol.HeaderCorrelationID] != "last" || env.Status != 200 {
		t.Fatalf("got %+v %s", env, env.Value)
	}
	pl.expect(t, "ditto", "GET", "/api/2/things/"+id, "", nil, 200, "")
}
