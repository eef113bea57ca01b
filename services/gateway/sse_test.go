package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// These tests open SSE streams through a real HTTP server on the harness's
// gateway and publish thing events on the events subjects as the things
// service does.

// sseWait bounds every wait for an event.
const sseWait = 5 * time.Second

// sseClient is an open SSE stream whose events a goroutine reads.
type sseClient struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	// events has the data of each event in turn, "" for a heartbeat, and
	// "!"+line for a line that is no data line.
	events chan string
	done   chan struct{} // closed when reading ended
	err    error         // why reading ended; read after done

	mu  sync.Mutex
	raw []byte // everything read
}

// openSSE opens an SSE stream on target (a path with query) of the server
// at base as user, and returns once the gateway's event subscription is in
// place, so that events published from now on reach the stream.
func (h *harness) openSSE(t *testing.T, base, user, target string) *sseClient {
	t.Helper()
	resp, cancel := getSSE(t, base, user, target, "text/event-stream")
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("GET %s as %s: %d %s", target, user, resp.StatusCode, b)
	}
	c := &sseClient{t: t, resp: resp, cancel: cancel, events: make(chan string, 1024), done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-c.done
	})
	// The 200 is written after the stream joined the hub; a round trip
	// to the server puts the hub's subscription in place there.
	if err := h.client.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

// getSSE sends a GET of target with accept as user (no credentials
// for ""); cancel ends the request.
func getSSE(t *testing.T, base, user, target, accept string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, base+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	if user != "" {
		r.Header.Set("Authorization", basic(user))
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", target, err)
	}
	return resp, cancel
}

func (c *sseClient) read() {
	defer close(c.done)
	br := bufio.NewReader(c.resp.Body)
	var data []string
	inEvent := false
	for {
		line, err := br.ReadString('\n')
		c.mu.Lock()
		c.raw = append(c.raw, line...)
		c.mu.Unlock()
		if err != nil {
			c.err = err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if inEvent {
				c.events <- strings.Join(data, "\n")
			}
			data, inEvent = nil, false
		case strings.HasPrefix(line, "data:"):
			data, inEvent = append(data, line[len("data:"):]), true
		default:
			c.events <- "!" + line
		}
	}
}

// next returns the data of the next event that is no heartbeat.
func (c *sseClient) next() string {
	c.t.Helper()
	deadline := time.After(sseWait)
	for {
		select {
		case d := <-c.events:
			if d != "" {
				return d
			}
		case <-c.done:
			select {
			case d := <-c.events:
				if d != "" {
					return d
				}
				continue
			default:
			}
			c.t.Fatalf("stream ended: %v", c.err)
		case <-deadline:
			c.t.Fatalf("no event within %s", sseWait)
		}
	}
}

// expect checks that the next event is want (compared as JSON).
func (c *sseClient) expect(what, want string) {
	c.t.Helper()
	if got := c.next(); !jsonEqual([]byte(got), []byte(want)) {
		c.t.Fatalf("%s: got %s, want %s", what, got, want)
	}
}

// ended waits up to d for the stream to end.
func (c *sseClient) ended(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// rawData returns everything the stream sent so far.
func (c *sseClient) rawData() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.raw)
}

// thingEvent is a thing event as the things service publishes it.
type thingEvent struct {
	id, action, path, value string
	rev                     int64
	readers                 string // ditto-read-subjects
	partial                 string // ditto-partial-access-paths
	modified                string
}

// publishThingEvent publishes ev on its namespace's events subject.
func publishThingEvent(t *testing.T, nc *nats.Conn, ev thingEvent) {
	t.Helper()
	ns, name, _ := strings.Cut(ev.id, ":")
	if ev.action == "" {
		ev.action = protocol.ActionModified
	}
	if ev.readers == "" {
		ev.readers = `["nginx:ditto"]`
	}
	headers := protocol.Headers{
		protocol.HeaderCorrelationID: fmt.Sprint("ev-", ev.rev),
		protocol.HeaderReadSubjects:  ev.readers,
	}
	if ev.partial != "" {
		headers[protocol.HeaderPartialAccessPaths] = ev.partial
	}
	env := protocol.Envelope{
		Topic:     ns + "/" + name + "/things/twin/events/" + ev.action,
		Headers:   headers,
		Path:      ev.path,
		Revision:  ev.rev,
		Timestamp: ev.modified,
	}
	if ev.value != "" {
		env.Value = json.RawMessage(ev.value)
	}
	data, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(streams.New("").ThingStoredEvents(ns), data); err != nil {
		t.Fatal(err)
	}
}

// sseStreams returns the SSE streams the hub offers events to.
func sseStreams(g *Gateway) []*sseStream {
	g.hub.mu.RLock()
	defer g.hub.mu.RUnlock()
	var out []*sseStream
	for s := range g.hub.sinks {
		if st, ok := s.(*sseStream); ok {
			out = append(out, st)
		}
	}
	return out
}

const (
	sseThing1 = "org.eclipse.ditto:t1"
	sseThing2 = "org.eclipse.ditto:t2"
)

func TestAcceptsEventStream(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		accept []string
		want   bool
	}{
		{[]string{"text/event-stream"}, true},
		{[]string{"Text/Event-Stream"}, true},
		{[]string{"application/json, text/event-stream;q=0.5"}, true},
		{[]string{"application/json", "text/event-stream"}, true},
		{[]string{"text/*"}, true}, // matches, as Pekko's media range does
		{[]string{"text/event-stream; charset=utf-8"}, true},
		{[]string{" text / event-stream "}, false},
		{nil, false},
		{[]string{""}, false},
		{[]string{"*/*"}, false}, // Ditto leaves out ranges of main type "*"
		{[]string{"application/json"}, false},
		{[]string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, false},
		{[]string{"text/event-streams"}, false},
		{[]string{"event-stream"}, false},
	} {
		if got := acceptsEventStream(tt.accept); got != tt.want {
			t.Errorf("acceptsEventStream(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func FuzzAcceptsEventStream(f *testing.F) {
	for _, s := range []string{"text/event-stream", "text/*;q=0", "*/*", "a/b, text/event-stream", ",,;/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		got := acceptsEventStream([]string{accept})
		// Splitting the value into several header values changes nothing.
		if split := acceptsEventStream(strings.Split(accept, ",")); split != got {
			t.Errorf("%q: %v as one value, %v split", accept, got, split)
		}
		if got && !strings.Contains(strings.ToLower(accept), "text/") {
			t.Errorf("%q accepted without a text/ range", accept)
		}
	})
}

// The requests that are no SSE stream are the plain HTTP API; invalid
// parameters are Ditto's errors before any stream starts.
func TestSSERequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	sse := map[string]string{"Accept": "text/event-stream"}
	for _, tt := range []struct {
		name, method, target string
		header               map[string]string
		status               int
		code                 string
	}{
		{"no Accept: plain retrieve", "GET", "/api/2/things?ids=" + sseThing1, nil, 200, ""},
		{"*/*: plain, without ids", "GET", "/api/2/things", map[string]string{"Accept": "*/*"}, 400, "things:things.ids.missing"},
		{"no Accept: plain thing", "GET", "/api/2/things/" + sseThing1, nil, 200, ""},
		{"PUT: plain", "PUT", "/api/2/things/" + sseThing1 + "/attributes/a", sse, 204, ""},
		{"messages of an invalid thing", "GET", "/api/2/things/nope/inbox/messages", sse, 400, "things:id.invalid"},
		{"POST to a mailbox: a message", "POST", "/api/2/things/" + sseThing1 + "/inbox/messages/hi?timeout=0", sse, 202, ""},
		{"invalid filter", "GET", "/api/2/things?filter=" + url.QueryEscape("eq(attributes/a"), sse, 400, "rql.expression.invalid"},
		{"invalid filter below a thing", "GET", "/api/2/things/" + sseThing1 + "?filter=foo", sse, 400, "rql.expression.invalid"},
		{"unknown field", "GET", "/api/2/things?fields=foo", sse, 400, "things:field.selection.invalid"},
		{"fields with parentheses", "GET", "/api/2/things?fields=" + url.QueryEscape("attributes(a,b)"), sse, 400, "things:field.selection.invalid"},
		{"unparsable fields", "GET", "/api/2/things?fields=" + url.QueryEscape("attributes(a"), sse, 400, "json.fieldselector.invalid"},
		{"invalid extraFields", "GET", "/api/2/things?extraFields=nope", sse, 400, "things:field.selection.invalid"},
		{"invalid id", "GET", "/api/2/things?ids=" + sseThing1 + ",nope", sse, 400, "things:id.invalid"},
		{"empty ids", "GET", "/api/2/things?ids=", sse, 400, "things:id.invalid"},
		{"id first, then the filter", "GET", "/api/2/things?ids=nope&filter=foo&fields=foo", sse, 400, "things:id.invalid"},
		{"fields before the filter", "GET", "/api/2/things?filter=foo&fields=foo", sse, 400, "things:field.selection.invalid"},
		{"invalid thing in the path", "GET", "/api/2/things/nope/attributes", sse, 400, "things:id.invalid"},
		{"unknown sub-path", "GET", "/api/2/things/" + sseThing1 + "/nope", sse, 400, "things:field.selection.invalid"},
		{"sub-path with trailing slash", "GET", "/api/2/things/" + sseThing1 + "/attributes/", sse, 400, "things:field.selection.invalid"},
		{"wrong credentials", "GET", "/api/2/things", map[string]string{"Accept": "text/event-stream", "Authorization": "Basic " + "ZGl0dG86bm8="}, 401, "gateway:authentication.failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == http.MethodPut || tt.method == http.MethodPost {
				body = "1"
			}
			w := h.do(req{method: tt.method, target: tt.target, body: body, header: tt.header})
			switch {
			case tt.status == 0 && w.Code < 400: // the plain API's answer, whatever it is
				t.Fatalf("status %d, want an error of the plain API; body %s", w.Code, w.Body)
			case tt.status != 0 && w.Code != tt.status:
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if got := errorCode(t, w); got != tt.code {
				t.Errorf("error %q, want %q; body %s", got, tt.code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct == contentTypeEventStream {
				t.Errorf("answered with %s", ct)
			}
			if tt.status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without a challenge")
			}
		})
	}
	// Only the two plain retrieves, the PUT and the message reached the
	// services (the message is published without waiting: waited for).
	if n := len(h.waitCommands(4)); n != 4 {
		t.Errorf("%d commands sent, want 4", n)
	}
	if n := h.gw.OpenEventStreams(); n != 0 {
		t.Errorf("%d streams open after requests that opened none", n)
	}
}

// render's data format, table-driven from parsed requests.
func TestSSERender(t *testing.T) {
	t.Parallel()
	type event struct {
		action, path, value, extra string
	}
	for _, tt := range []struct {
		name   string
		target string // after /things
		ev     event
		want   string // "" for nothing
	}{
		{"attribute", "?ids=" + sseThing1, event{"modified", "/attributes/a", `1`, ""},
			`{"thingId":"org.eclipse.ditto:t1","attributes":{"a":1}}`},
		{"whole thing: regular fields in Ditto's order", "", event{"created", "/",
			`{"features":{"f":{}},"attributes":{"a":1},"policyId":"org.eclipse.ditto:p","thingId":"org.eclipse.ditto:t1","_created":"2024-01-01T00:00:00Z"}`, ""},
			`{"thingId":"org.eclipse.ditto:t1","policyId":"org.eclipse.ditto:p","attributes":{"a":1},"features":{"f":{}}}`},
		{"deleted: the thing id", "", event{"deleted", "/attributes/a", "", ""},
			`{"thingId":"org.eclipse.ditto:t1"}`},
		{"merged: nulls left out", "", event{"merged", "/attributes", `{"a":null,"b":{"c":null,"d":2}}`, ""},
			`{"thingId":"org.eclipse.ditto:t1","attributes":{"b":{"d":2}}}`},
		{"merged null: an empty object", "", event{"merged", "/attributes/a", `null`, ""},
			`{"thingId":"org.eclipse.ditto:t1","attributes":{"a":{}}}`},
		{"fields, hidden ones too, in their order", "?fields=_revision,thingId,_namespace,attributes/a,_modified", event{"modified", "/attributes", `{"a":1,"b":2}`, ""},
			`{"_revision":7,"thingId":"org.eclipse.ditto:t1","_namespace":"org.eclipse.ditto","attributes":{"a":1},"_modified":"2024-05-05T00:00:00Z"}`},
		{"fields: only the thing id left", "?fields=thingId,features", event{"modified", "/attributes/a", `1`, ""},
			`{"thingId":"org.eclipse.ditto:t1"}`},
		{"fields: nothing left", "?fields=features", event{"modified", "/attributes/a", `1`, ""}, ""},
		{"_context", "?fields=thingId,_context", event{"modified", "/attributes/a", `1`, ""},
			`{"thingId":"org.eclipse.ditto:t1","_context":{"topic":"org.eclipse.ditto/t1/things/twin/events/modified","path":"/attributes/a","value":1,"headers":{"correlation-id":"c-1","response-required":"false"}}}`},
		{"_context parts", "?fields=_context/path,thingId,_context/value", event{"deleted", "/attributes/a", "", ""},
			`{"_context":{"path":"/attributes/a","value":null},"thingId":"org.eclipse.ditto:t1"}`},
		{"_context alone selects nothing of the thing", "?fields=_context", event{"modified", "/attributes/a", `1`, ""}, ""},
		{"extra fields merged under the change", "?extraFields=attributes", event{"modified", "/attributes/a", `{"x":1}`, `{"attributes":{"a":{"y":0,"x":0},"b":true}}`},
			`{"thingId":"org.eclipse.ditto:t1","attributes":{"a":{"x":1,"y":0},"b":true}}`},
		{"extra fields to select", "?fields=thingId,attributes/b&extraFields=attributes", event{"modified", "/attributes/a", `1`, `{"attributes":{"b":true}}`},
			`{"thingId":"org.eclipse.ditto:t1","attributes":{"b":true}}`},
		{"sub-path: the value there", "/" + sseThing1 + "/attributes/loc", event{"modified", "/attributes/loc", `"hall"`, ""}, `"hall"`},
		{"sub-path: a change above", "/" + sseThing1 + "/attributes/loc", event{"modified", "/attributes", `{"loc":{"lat":1},"b":2}`, ""}, `{"lat":1}`},
		{"sub-path: a change below", "/" + sseThing1 + "/attributes/loc", event{"modified", "/attributes/loc/lat", `1`, ""}, `{"lat":1}`},
		{"sub-path: a change elsewhere", "/" + sseThing1 + "/attributes/loc", event{"modified", "/attributes/b", `1`, ""}, ""},
		{"sub-path: above, without the path", "/" + sseThing1 + "/attributes/loc", event{"modified", "/attributes", `{"b":1}`, ""}, ""},
		{"sub-path: deleted", "/" + sseThing1 + "/attributes/loc", event{"deleted", "/attributes/loc", "", ""}, ""},
		{"sub-path: fields ignored", "/" + sseThing1 + "/attributes/loc?fields=thingId", event{"modified", "/attributes/loc", `1`, ""}, `1`},
		{"sub-path: extra fields", "/" + sseThing1 + "/attributes/loc?extraFields=attributes/loc", event{"modified", "/attributes/b", `1`, `{"attributes":{"loc":"hall"}}`}, `"hall"`},
		{"policyId", "/" + sseThing1 + "/policyId", event{"modified", "/policyId", `"org.eclipse.ditto:p2"`, ""}, `"org.eclipse.ditto:p2"`},
		{"feature property", "/" + sseThing1 + "/features/f/properties", event{"modified", "/features/f/properties/on", `true`, ""}, `{"on":true}`},
		{"feature definition", "/" + sseThing1 + "/features/f/definition", event{"modified", "/features/f", `{"definition":["a:b:1"],"properties":{}}`, ""}, `["a:b:1"]`},
		{"thing definition", "/" + sseThing1 + "/definition", event{"modified", "/definition", `"a:b:1"`, ""}, `"a:b:1"`},
		{"the thing", "/" + sseThing1, event{"modified", "/features/f/desiredProperties/on", `true`, ""},
			`{"thingId":"org.eclipse.ditto:t1","features":{"f":{"desiredProperties":{"on":true}}}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse("/things" + tt.target)
			if err != nil {
				t.Fatal(err)
			}
			segs, _ := splitPath(&http.Request{URL: u})
			q, isSSE, err := parseSSESpec(segs[1:], u.Query())
			if !isSSE || err != nil {
				t.Fatalf("parseSSESpec(%s) = %v, %v", tt.target, isSSE, err)
			}
			topic, err := protocol.ParseTopic("org.eclipse.ditto/t1/things/twin/events/" + tt.ev.action)
			if err != nil {
				t.Fatal(err)
			}
			v := eventView{env: protocol.Envelope{Topic: topic.String(), Path: tt.ev.path, Revision: 7, Timestamp: "2024-05-05T00:00:00Z",
				Headers: protocol.Headers{protocol.HeaderCorrelationID: "c-1", protocol.HeaderResponseRequired: "false"}}}
			if tt.ev.value != "" {
				v.env.Value = json.RawMessage(tt.ev.value)
			}
			if tt.ev.extra != "" {
				v.extra = jsonv.MustParse(tt.ev.extra)
			}
			got, ok := q.render(topic, v)
			switch {
			case tt.want == "" && ok:
				t.Fatalf("got %s, want nothing", got)
			case tt.want != "" && !ok:
				t.Fatalf("got nothing, want %s", tt.want)
			case ok && string(got) != tt.want:
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func FuzzParseSSESpec(f *testing.F) {
	for _, s := range []string{
		"/things", "/things?ids=a:b,c:d&fields=thingId,_context/topic",
		"/things/a:b/attributes/x%2Fy?filter=eq(attributes/x,1)&extraFields=attributes",
		"/things/a:b/features/f/properties/p?namespaces=a,b", "/things//x", "/things/a:b/inbox/messages",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.Parse(target)
		if err != nil || !strings.HasPrefix(u.Path, "/things") {
			return
		}
		segs, ok := splitPath(&http.Request{URL: u})
		if !ok || len(segs) == 0 || segs[0] != "things" {
			return
		}
		q, isSSE, err := parseSSESpec(segs[1:], u.Query())
		if !isSSE || err != nil {
			return
		}
		for _, id := range q.ids {
			if protocol.ValidateThingID(id) != nil {
				t.Errorf("%q: invalid id %q accepted", target, id)
			}
		}
		if q.pointer != nil && len(q.fields) == 0 {
			t.Errorf("%q: a sub-path without its field selection", target)
		}
		// Whatever was accepted renders without panicking.
		topic, _ := protocol.ParseTopic("a/b/things/twin/events/modified")
		q.render(topic, eventView{env: protocol.Envelope{Topic: topic.String(), Path: "/attributes", Value: json.RawMessage(`{"x":{"y":1}}`)}})
	})
}

// The stream's wire format: data lines of the thing JSON of the change,
// for the requested things and fields only.
func TestSSEStream(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	base := startWS(t, h.gw)
	c := h.openSSE(t, base, "ditto", "/api/2/things?ids="+sseThing1+"&fields=thingId,attributes")
	if ct := c.resp.Header.Get("Content-Type"); ct != contentTypeEventStream {
		t.Errorf("Content-Type %q, want %q", ct, contentTypeEventStream)
	}
	for _, k := range []string{"Cache-Control", "Content-Length", "Etag"} {
		if v, ok := c.resp.Header[k]; ok {
			t.Errorf("response has %s: %v", k, v)
		}
	}
	all := h.openSSE(t, base, "ditto", "/api/2/things")
	nc := h.srv.Connect(t)

	publishThingEvent(t, nc, thingEvent{id: sseThing2, path: "/attributes/a", value: `2`, rev: 1})
	publishThingEvent(t, nc, thingEvent{id: sseThing1, path: "/features/f/properties/p", value: `1`, rev: 2})
	publishThingEvent(t, nc, thingEvent{id: sseThing1, path: "/attributes/a", value: `{"b":"x"}`, rev: 3})
	c.expect("feature change of t1, fields thingId,attributes", `{"thingId":"org.eclipse.ditto:t1"}`)
	c.expect("attribute change of t1", `{"thingId":"org.eclipse.ditto:t1","attributes":{"a":{"b":"x"}}}`)
	all.expect("t2", `{"thingId":"org.eclipse.ditto:t2","attributes":{"a":2}}`)
	all.expect("t1", `{"thingId":"org.eclipse.ditto:t1","features":{"f":{"properties":{"p":1}}}}`)
	all.expect("t1 again", `{"thingId":"org.eclipse.ditto:t1","attributes":{"a":{"b":"x"}}}`)
	if raw, want := c.rawData(), "data:{\"thingId\":\"org.eclipse.ditto:t1\"}\n\ndata:{\"thingId\":\"org.eclipse.ditto:t1\",\"attributes\":{\"a\":{\"b\":\"x\"}}}\n\n"; !strings.HasSuffix(raw, want) ||
		strings.ReplaceAll(strings.TrimSuffix(raw, want), "data:\n\n", "") != "" {
		t.Errorf("stream sent %q, want heartbeats and then %q", raw, want)
	}

	// A stream below a thing sends the value at its path.
	sub := h.openSSE(t, base, "ditto", "/api/2/things/"+sseThing1+"/attributes/a")
	publishThingEvent(t, nc, thingEvent{id: sseThing1, path: "/attributes/z", value: `0`, rev: 4})
	publishThingEvent(t, nc, thingEvent{id: sseThing2, path: "/attributes/a", value: `0`, rev: 1})
	publishThingEvent(t, nc, thingEvent{id: sseThing1, path: "/attributes", value: `{"a":5,"z":0}`, rev: 5})
	sub.expect("sub-path", `5`)
}

// namespaces, filter and extraFields, and enrichment that fails.
func TestSSEStreamParameters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	locations := map[string]string{sseThing1: "kitchen", sseThing2: "hall"}
	h.setReply(func(cmd protocol.Envelope) (protocol.Envelope, bool) {
		topic, err := protocol.ParseTopic(cmd.Topic)
		if err != nil || cmd.Fields == "" {
			return defaultReply(cmd)
		}
		loc, ok := locations[topic.EntityID()]
		if !ok {
			return protocol.ErrorEnvelope(topic, protocol.Headers{protocol.HeaderCorrelationID: cmd.Headers[protocol.HeaderCorrelationID]},
				"/", protocol.ErrThingNotAccessible(topic.EntityID())), true
		}
		if cmd.Fields != "attributes/location" {
			t.Errorf("enrichment asked for %q", cmd.Fields)
		}
		return protocol.Envelope{Topic: cmd.Topic, Path: "/", Status: 200, Headers: protocol.Headers{},
			Value: json.RawMessage(`{"attributes":{"location":"` + loc + `"}}`)}, true
	})
	base := startWS(t, h.gw)
	other := h.openSSE(t, base, "ditto", "/api/2/things?namespaces=org.other,com.example")
	kitchen := h.openSSE(t, base, "ditto", "/api/2/things?extraFields=attributes/location&filter="+
		url.QueryEscape(`eq(attributes/location,"kitchen")`))
	counter := h.openSSE(t, base, "ditto", "/api/2/things?fields=attributes/counter&filter="+url.QueryEscape(`gt(attributes/counter,42)`))
	nc := h.srv.Connect(t)

	publishThingEvent(t, nc, thingEvent{id: sseThing2, path: "/attributes/counter", value: `43`, rev: 1})
	publishThingEvent(t, nc, thingEvent{id: sseThing1, path: "/attributes/counter", value: `42`, rev: 1})
	publishThingEvent(t, nc, thingEvent{id: "org.other:t3", path: "/attributes/counter", value: `44`, rev: 1})
	publishThingEvent(t, nc, thingEvent{id: "org.eclipse.ditto:unknown", path: "/attributes/x", value: `1`, rev: 1})

	other.expect("other namespace", `{"thingId":"org.other:t3","attributes":{"counter":44}}`)
	counter.expect("filter on the change", `{"attributes":{"counter":43}}`)
	counter.expect("filter on the change", `{"attributes":{"counter":44}}`)
	kitchen.expect("filter on extra fields", `{"thingId":"org.eclipse.ditto:t1","attributes":{"counter":42,"location":"kitchen"}}`)
	// t3's enrichment fails: Ditto's error in the event's place.
	got := kitchen.next()
	var e protocol.Error
	if err := json.Unmarshal([]byte(got), &e); err != nil || e.Code != "things:thing.notfound" || e.Status != 404 {
		t.Fatalf("failed enrichment sent %s, want things:thing.notfound", got)
	}
	if got := kitchen.next(); !strings.Contains(got, "things:thing.notfound") {
		t.Fatalf("failed enrichment of the unknown thing sent %s", got)
	}
}

// A stream gets the events its subjects may read, cut down to what they
// may read.
func TestSSEAuthorization(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	base := startWS(t, h.gw)
	alice := h.openSSE(t, base, "alice", "/api/2/things")
	aliceSub := h.openSSE(t, base, "alice", "/api/2/things/"+sseThing1+"/attributes")
	nc := h.srv.Connect(t)
	both := `["nginx:ditto","nginx:alice"]`
	partial := `{"subjects":["nginx:alice"],"paths":{"attributes/public":[0]}}`

	publishThingEvent(t, nc, thingEvent{id: sseThing1, path: "/attributes/a", value: `1`, rev: 1}) // ditto only
	publishThingEvent(t, nc, thingEvent{id: sseThing1, path: "/attributes", value: `{"public":1,"secret":2}`, rev: 2, readers: both, partial: partial})
	publishThingEvent(t, nc, thingEvent{id: sseThing1, path: "/attributes/secret", value: `3`, rev: 3, readers: both, partial: partial})
	publishThingEvent(t, nc, thingEvent{id: sseThing1, path: "/", value: `{"thingId":"org.eclipse.ditto:t1","policyId":"org.eclipse.ditto:p","attributes":{"public":4,"secret":5}}`,
		rev: 4, readers: both, partial: partial})
	alice.expect("partial reader", `{"thingId":"org.eclipse.ditto:t1","attributes":{"public":1}}`)
	alice.expect("partial reader, whole thing", `{"thingId":"org.eclipse.ditto:t1","attributes":{"public":4}}`)
	aliceSub.expect("partial reader below the thing", `{"public":1}`)
	aliceSub.expect("partial reader below the thing, whole thing", `{"public":4}`)

	// Wrong credentials: 401 with a challenge, no stream.
	resp, cancel := getSSE(t, base, "", "/api/2/things", "text/event-stream")
	defer cancel()
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("stream without credentials: %d %v", resp.StatusCode, resp.Header)
	}
}

// A silent stream sends Ditto's heartbeat every second.
func TestSSEKeepAlive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	base := startWS(t, h.gw)
	start := time.Now()
	c := h.openSSE(t, base, "ditto", "/api/2/things")
	for i := range 2 {
		select {
		case d := <-c.events:
			if d != "" {
				t.Fatalf("got %q, want a heartbeat", d)
			}
		case <-time.After(3 * sseKeepAlive):
			t.Fatalf("no heartbeat %d within %s", i+1, 3*sseKeepAlive)
		}
	}
	if took := time.Since(start); took < 2*sseKeepAlive {
		t.Errorf("two heartbeats within %s, want one per %s", took, sseKeepAlive)
	}
	if raw := c.rawData(); raw != "data:\n\ndata:\n\n" {
		t.Errorf("stream sent %q, want two heartbeats", raw)
	}
}

// serveGateway serves h's gateway with Serve (so with its HTTP server's
// timeouts) on ln until the returned cancel, whose error Serve returned
// arrives on the channel.
func serveGateway(t *testing.T, h *harness, ln net.Listener) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		served <- h.gw.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-finished
	})
	return "http://" + ln.Addr().String(), cancel, served
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// A stream outlives the server's write timeout, which bounds responses.
func TestSSEOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	const writeTimeout = 500 * time.Millisecond
	h := newHarness(t, func(c *Config) { c.RequestTimeout, c.WriteTimeout = 200*time.Millisecond, writeTimeout })
	base, _, _ := serveGateway(t, h, listen(t))
	start := time.Now()
	c := h.openSSE(t, base, "ditto", "/api/2/things")
	// Three heartbeats, one a second: the stream outlived the timeout.
	for i := range 3 {
		select {
		case d := <-c.events:
			if d != "" {
				t.Fatalf("got %q, want a heartbeat", d)
			}
		case <-c.done:
			t.Fatalf("stream ended after %s: %v", time.Since(start), c.err)
		case <-time.After(3 * sseKeepAlive):
			t.Fatalf("no heartbeat %d within %s", i+1, 3*sseKeepAlive)
		}
	}
	if age := time.Since(start); age < 2*writeTimeout {
		t.Fatalf("three heartbeats within %s", age)
	}
	publishThingEvent(t, h.srv.Connect(t), thingEvent{id: sseThing1, path: "/attributes/a", value: `1`, rev: 1})
	c.expect("event after the write timeout", `{"thingId":"org.eclipse.ditto:t1","attributes":{"a":1}}`)
}

// A client that goes away frees its stream; the gateway's shutdown ends
// the others.
func TestSSEEnd(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	base, stop, served := serveGateway(t, h, listen(t))
	gone := h.openSSE(t, base, "ditto", "/api/2/things")
	staying := h.openSSE(t, base, "ditto", "/api/2/things/"+sseThing1)
	if n := h.gw.OpenEventStreams(); n != 2 {
		t.Fatalf("%d streams open, want 2", n)
	}
	gone.cancel()
	streamstest.Eventually(t, sseWait, func() error {
		if n := h.gw.OpenEventStreams(); n != 1 {
			return fmt.Errorf("%d streams in the hub, want 1", n)
		}
		return nil
	})
	if s := sseStreams(h.gw); len(s) != 1 || !slices.Equal(s[0].spec.ids, []string{sseThing1}) {
		t.Fatalf("the hub holds %v, want the stream of %s", s, sseThing1)
	}

	stop()
	if !staying.ended(2 * time.Second) {
		t.Fatal("stream still open 2s after shutdown")
	}
	if staying.err != io.EOF {
		t.Errorf("stream ended with %v, want the end of the response", staying.err)
	}
	waitServed(t, served, 2*time.Second, "")
	if n := h.gw.OpenEventStreams(); n != 0 {
		t.Errorf("%d streams open after shutdown", n)
	}
}

// stuckClient opens a stream on ln's server over a connection with a small
// receive buffer and reads nothing of it.
func stuckClient(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(wsSocketBuffer)
	}
	fmt.Fprintf(conn, "GET /api/2/things HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\nAuthorization: %s\r\n\r\n", basic("alice"))
}

// fillStuckStream publishes large events until the stream of alice drops
// some: its writer is then blocked on the client.
func fillStuckStream(t *testing.T, h *harness) *sseStream {
	t.Helper()
	var s *sseStream
	streamstest.Eventually(t, sseWait, func() error {
		if ss := sseStreams(h.gw); len(ss) == 1 {
			s = ss[0]
			return nil
		}
		return fmt.Errorf("no stream in the hub")
	})
	if err := h.client.Flush(); err != nil {
		t.Fatal(err)
	}
	nc := h.srv.Connect(t)
	value := `"` + strings.Repeat("x", 4<<10) + `"`
	for rev := int64(1); s.dropped.Load() == 0; rev++ {
		if rev > 20_000 {
			t.Fatal("the stuck stream dropped no event")
		}
		publishThingEvent(t, nc, thingEvent{id: sseThing1, path: "/attributes/big", value: value, rev: rev, readers: `["nginx:alice"]`})
		if rev%50 == 0 {
			_ = nc.Flush()
		}
	}
	return s
}

// A client that reads nothing loses events, and its stream ends after the
// write timeout, or at once at shutdown.
func TestSSEStuckClient(t *testing.T) {
	t.Parallel()
	t.Run("write timeout", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, func(c *Config) { c.RequestTimeout, c.WriteTimeout = 200*time.Millisecond, 500*time.Millisecond })
		ln := listen(t)
		serveGateway(t, h, smallSendBuffers{ln})
		stuckClient(t, ln.Addr().String())
		fillStuckStream(t, h)
		streamstest.Eventually(t, sseWait, func() error {
			if n := h.gw.OpenEventStreams(); n != 0 {
				return fmt.Errorf("%d streams open", n)
			}
			return nil
		})
	})
	t.Run("shutdown", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil) // a write may take 75s
		ln := listen(t)
		_, stop, served := serveGateway(t, h, smallSendBuffers{ln})
		stuckClient(t, ln.Addr().String())
		fillStuckStream(t, h)
		stop()
		waitServed(t, served, 3*time.Second, ": the stuck write held it")
	})
}

// A full queue drops events and counts them; events the stream does not
// send take no room.
func TestSSEQueue(t *testing.T) {
	t.Parallel()
	s := &sseStream{spec: sseSpec{ids: []string{sseThing1}, params: streamParams{namespaces: []string{"org.eclipse.ditto"}}},
		events: make(chan *hubEvent, 2)}
	ev := func(topic string) *hubEvent {
		tp, err := protocol.ParseTopic(topic)
		if err != nil {
			t.Fatal(err)
		}
		return &hubEvent{topic: tp}
	}
	s.take(ev("org.eclipse.ditto/t2/things/twin/events/modified"))
	s.take(ev("org.eclipse.ditto/t1/things/live/events/modified"))
	for range 5 {
		s.take(ev("org.eclipse.ditto/t1/things/twin/events/modified"))
	}
	if len(s.events) != 2 || s.dropped.Load() != 3 {
		t.Errorf("queued %d, dropped %d; want 2 and 3", len(s.events), s.dropped.Load())
	}
}

func TestAppendSSEData(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ data, want string }{
		{"", "data:\n\n"},
		{`{"a":1}`, "data:{\"a\":1}\n\n"},
		{"a\nb", "data:a\ndata:b\n\n"},
		{"a\n", "data:a\ndata:\n\n"},
	} {
		if got := string(appendSSEData(nil, []byte(tt.data))); got != tt.want {
			t.Errorf("appendSSEData(%q) = %q, want %q", tt.data, got, tt.want)
		}
	}
}
