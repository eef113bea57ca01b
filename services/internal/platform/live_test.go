package platform

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dittonats/dittonats/protocol"
)

// Live commands and live events end to end: the gateway in front of the
// real things and policies services, with WebSocket sessions and HTTP
// requests of real clients.

// The live thing and who is who: ditto owns it and sends; ditto2 is the
// device (READ on everything, WRITE on the features); alice reads all but
// one attribute; bob may write the attributes and read nothing.
const (
	liveNS    = "org.eclipse.ditto"
	liveThing = liveNS + ":live"
	liveTopic = liveNS + "/live/things/live"
)

// liveUsersFile writes the users file of the live tests (bcrypt cost 4;
// password = user name, as do and dial send it) and returns its path.
func liveUsersFile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, u := range []string{"ditto", "ditto2", "alice", "bob"} {
		h, err := bcrypt.GenerateFromPassword([]byte(u), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(u + ":" + string(h) + "\n")
	}
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startLivePlatform starts the platform with the live tests' users and
// creates the live thing with its policy.
func startLivePlatform(t *testing.T) *platform {
	t.Helper()
	cfg := testConfig(t)
	cfg.Gateway.UsersFile = liveUsersFile(t)
	pl := startPlatform(t, cfg)
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+liveThing,
		`{"attributes":{"x":1,"secret":"s"},"features":{"lamp":{"properties":{"on":false}}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+liveThing+"/entries/DEVICE",
		`{"subjects":{"nginx:ditto2":{"type":"device"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]},"thing:/features":{"grant":["WRITE"],"revoke":[]}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+liveThing+"/entries/PARTIAL",
		`{"subjects":{"nginx:alice":{"type":"app"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]},"thing:/attributes/secret":{"grant":[],"revoke":["READ"]}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+liveThing+"/entries/WRITER",
		`{"subjects":{"nginx:bob":{"type":"app"}},"resources":{"thing:/attributes":{"grant":["WRITE"],"revoke":[]}}}`, nil, 201, "")
	return pl
}

// startSession opens a session as user that starts the given streams.
func (pl *platform) startSession(t *testing.T, user string, start ...string) *wsClient {
	t.Helper()
	c := pl.mustDial(t, user)
	for _, s := range start {
		c.ack(s)
	}
	return c
}

// liveFrame is a Ditto Protocol message on the live thing's live channel:
// kind is "commands/modify", "events/modified", ...; extra is appended
// to the message (e.g. `,"value":1,"status":204`).
func liveFrame(kind, cid, path, extra string) string {
	return `{"topic":"` + liveTopic + `/` + kind + `","headers":{"correlation-id":"` + cid + `"},"path":"` + path + `"` + extra + `}`
}

// liveAttributes returns the twin's attributes and revision, as ditto reads them.
func (pl *platform) liveAttributes(t *testing.T) string {
	t.Helper()
	return pl.expect(t, "ditto", "GET", "/api/2/things/"+liveThing+"?fields=attributes,_revision", "", nil, 200, "").body
}

// A live command sent over WebSocket reaches the sessions that started
// live commands and may read all of it, not its sender's; the device's
// fitting answer is the sender's answer; the twin stays as it is.
func TestLiveCommandOverWebSocket(t *testing.T) {
	t.Parallel()
	pl := startLivePlatform(t)
	before := pl.liveAttributes(t)
	device := pl.startSession(t, "ditto2", "START-SEND-LIVE-COMMANDS")
	partial := pl.startSession(t, "alice", "START-SEND-LIVE-COMMANDS")
	stranger := pl.startSession(t, "bob", "START-SEND-LIVE-COMMANDS")
	sender := pl.startSession(t, "ditto", "START-SEND-LIVE-COMMANDS")

	sender.send(liveFrame("commands/modify", "c1", "/attributes", `,"value":{"x":42}`))
	cmd := device.envelope()
	if cmd.Topic != liveTopic+"/commands/modify" || cmd.Path != "/attributes" || string(cmd.Value) != `{"x":42}` ||
		cmd.Headers[protocol.HeaderCorrelationID] != "c1" {
		t.Fatalf("device got %+v %s", cmd, cmd.Value)
	}
	if cmd.Headers[protocol.HeaderResponseRequired] != "true" {
		t.Errorf("the command asks for no answer: %v", cmd.Headers)
	}
	for _, h := range []string{protocol.HeaderReadSubjects, protocol.HeaderOrigin, protocol.HeaderOriginator} {
		if _, ok := cmd.Headers[h]; ok {
			t.Errorf("the device sees %s: %v", h, cmd.Headers)
		}
	}
	// An answer that does not fit the command is dropped: the command
	// still waits for one that does.
	device.send(liveFrame("commands/modify", "c1", "/attributes/x", `,"status":204`))
	device.send(liveFrame("commands/retrieve", "c1", "/attributes", `,"status":200,"value":{}`))
	device.send(liveFrame("commands/modify", "c1", "/attributes", `,"status":204,"headers":{"correlation-id":"c1","x-device":"yes"}`))
	answer := sender.envelope()
	if answer.Headers[protocol.HeaderCorrelationID] != "c1" || answer.Status != 204 {
		t.Errorf("sender got %+v %s, want the answer 204 to c1", answer, answer.Value)
	}
	if answer.Topic != liveTopic+"/commands/modify" || answer.Path != "/attributes" {
		t.Errorf("sender got %+v", answer)
	}
	// The partial reader may not read all of /attributes, bob nothing.
	partial.silent(300 * time.Millisecond)
	stranger.silent(50 * time.Millisecond)
	sender.silent(50 * time.Millisecond)

	// A device's error answers too.
	sender.send(liveFrame("commands/retrieve", "c2", "/attributes/x", `,"headers":{"correlation-id":"c2","timeout":"5s"}`))
	cmd = device.envelope()
	if cmd.Topic != liveTopic+"/commands/retrieve" {
		t.Fatalf("device got %+v", cmd)
	}
	if got := partial.envelope(); got.Path != "/attributes/x" {
		t.Fatalf("the partial reader got %+v", got) // it may read all of /attributes/x
	}
	device.send(`{"topic":"` + liveTopic + `/errors","headers":{"correlation-id":"c2"},"path":"/attributes/x","value":{"status":503,"error":"device.busy","message":"busy"},"status":503}`)
	answer = sender.envelope()
	if perr, ok := answer.AsError(); !ok || perr.Status != 503 || perr.Code != "device.busy" || answer.Headers[protocol.HeaderCorrelationID] != "c2" {
		t.Errorf("sender got %+v %s", answer, answer.Value)
	}

	// Nobody answers: Ditto's command.timeout, with the command's
	// correlation-id.
	sender.send(liveFrame("commands/retrieve", "c3", "/attributes/x", `,"headers":{"correlation-id":"c3","timeout":"1s"}`))
	device.envelope()
	partial.envelope()
	answer = sender.envelope()
	if perr, ok := answer.AsError(); !ok || perr.Status != 408 || perr.Code != "command.timeout" || answer.Headers[protocol.HeaderCorrelationID] != "c3" {
		t.Errorf("unanswered command: %+v %s", answer, answer.Value)
	}
	// A late answer goes nowhere.
	device.send(liveFrame("commands/retrieve", "c3", "/attributes/x", `,"status":200,"value":1`))
	sender.silent(300 * time.Millisecond)

	if after := pl.liveAttributes(t); after != before {
		t.Errorf("live commands changed the twin: %s, was %s", after, before)
	}
}

// Refusals over WebSocket are the twin command's, with the command's
// correlation-id, and the session stays open.
func TestLiveCommandRefusedOverWebSocket(t *testing.T) {
	t.Parallel()
	pl := startLivePlatform(t)
	device := pl.startSession(t, "ditto2", "START-SEND-LIVE-COMMANDS")

	for _, tt := range []struct {
		user, kind, path, extra string
	}{
		{"ditto2", "modify", "/attributes/x", `,"value":1`}, // READ, no WRITE
		{"bob", "retrieve", "/attributes", ``},              // no READ
		{"ditto", "modify", "/attributes", `,"value":1`},    // not an object
		{"ditto", "modify", "/nope", `,"value":1`},          // no such resource
		{"ditto", "modify", "/attributes/x", ``},            // no value
		{"alice", "modify", "/features/lamp/properties/on", `,"value":true`},
	} {
		c := pl.mustDial(t, tt.user)
		c.send(liveFrame("commands/"+tt.kind, "live", tt.path, tt.extra))
		live := c.envelope()
		// The same command on the twin channel.
		c.send(`{"topic":"` + liveNS + `/live/things/twin/commands/` + tt.kind + `","headers":{"correlation-id":"t"},"path":"` + tt.path + `"` + tt.extra + `}`)
		want := c.envelope()
		wantErr, ok := want.AsError()
		if !ok {
			t.Fatalf("%s %s %s as %s: twin answered %+v", tt.kind, tt.path, tt.extra, tt.user, want)
		}
		gotErr, ok := live.AsError()
		if !ok || gotErr.Status != wantErr.Status || gotErr.Code != wantErr.Code || live.Headers[protocol.HeaderCorrelationID] != "live" {
			t.Errorf("%s %s as %s: live %+v %s, twin %d %s", tt.kind, tt.path, tt.user, live, live.Value, wantErr.Status, wantErr.Code)
		}
		if live.Topic != liveTopic+"/errors" {
			t.Errorf("error on topic %s", live.Topic)
		}
	}
	// A partial reader's retrieve is refused; it may retrieve what it
	// reads entirely.
	alice := pl.mustDial(t, "alice")
	alice.send(liveFrame("commands/retrieve", "p1", "/attributes", ``))
	if perr, ok := alice.envelope().AsError(); !ok || perr.Status != 404 || perr.Code != "things:attributes.notfound" {
		t.Errorf("partial retrieve: %+v", perr)
	}
	alice.send(liveFrame("commands/retrieve", "p2", "/attributes/x", `,"headers":{"correlation-id":"p2","timeout":"5s"}`))
	cmd := device.envelope()
	if cmd.Headers[protocol.HeaderCorrelationID] != "p2" {
		t.Fatalf("device got %+v (a refused command was passed on?)", cmd)
	}
	device.send(liveFrame("commands/retrieve", "p2", "/attributes/x", `,"status":200,"value":7`))
	if r := alice.envelope(); r.Status != 200 || string(r.Value) != "7" {
		t.Errorf("alice got %+v %s", r, r.Value)
	}
}

// Any thing route with channel=live sends a live command: the device's
// answer is the HTTP answer (status, headers, value); nobody answering is
// 408; refusals are the twin's; a sender who may not read the resource
// gets the answer without its value.
func TestLiveCommandOverHTTP(t *testing.T) {
	t.Parallel()
	pl := startLivePlatform(t)
	before := pl.liveAttributes(t)
	device := pl.startSession(t, "ditto2", "START-SEND-LIVE-COMMANDS")

	async := func(user, method, path, body string, header map[string]string) <-chan reply {
		done := make(chan reply, 1)
		go func() {
			var r reply
			defer func() { done <- r }() // also when do fails the test and ends this goroutine
			r = pl.do(t, user, method, path, body, header)
		}()
		return done
	}

	// GET with the query parameter.
	done := async("ditto", "GET", "/api/2/things/"+liveThing+"/attributes?channel=live&timeout=5s", "", nil)
	cmd := device.envelope()
	if cmd.Topic != liveTopic+"/commands/retrieve" || cmd.Path != "/attributes" {
		t.Fatalf("device got %+v", cmd)
	}
	cid := cmd.Headers[protocol.HeaderCorrelationID]
	device.send(liveFrame("commands/retrieve", cid, "/attributes", `,"status":200,"value":{"x":7},"headers":{"correlation-id":"`+cid+`","x-device":"yes"}`))
	if a := <-done; a.status != 200 || a.body != `{"x":7}` || a.header.Get("Correlation-Id") != cid {
		t.Errorf("live GET answered %d %v %s", a.status, a.header, a.body)
	}

	// PUT with the header: a 201 of the device is a 201 with location.
	done = async("ditto", "PUT", "/api/2/things/"+liveThing+"/attributes/y", `"new"`, map[string]string{"channel": "live", "timeout": "5s"})
	cmd = device.envelope()
	if cmd.Topic != liveTopic+"/commands/modify" || cmd.Path != "/attributes/y" || string(cmd.Value) != `"new"` {
		t.Fatalf("device got %+v %s", cmd, cmd.Value)
	}
	cid = cmd.Headers[protocol.HeaderCorrelationID]
	device.send(liveFrame("commands/modify", cid, "/attributes/y", `,"status":201,"value":"new"`))
	if a := <-done; a.status != 201 || a.body != `"new"` || !strings.HasSuffix(a.header.Get("Location"), "/api/2/things/"+liveThing+"/attributes/y") {
		t.Errorf("live PUT answered %d %v %s", a.status, a.header, a.body)
	}

	// PATCH and DELETE go live as well.
	done = async("ditto", "PATCH", "/api/2/things/"+liveThing+"?channel=live", `{"attributes":{"z":1}}`,
		map[string]string{"Content-Type": protocol.MediaTypeMergePatchJSON})
	cmd = device.envelope()
	if cmd.Topic != liveTopic+"/commands/merge" || cmd.Path != "/" {
		t.Fatalf("device got %+v", cmd)
	}
	device.send(liveFrame("commands/merge", cmd.Headers[protocol.HeaderCorrelationID], "/", `,"status":204`))
	if a := <-done; a.status != 204 {
		t.Errorf("live PATCH answered %d %s", a.status, a.body)
	}
	done = async("ditto", "DELETE", "/api/2/things/"+liveThing+"/features/lamp?channel=live", "", nil)
	cmd = device.envelope()
	if cmd.Topic != liveTopic+"/commands/delete" || cmd.Path != "/features/lamp" {
		t.Fatalf("device got %+v", cmd)
	}
	device.send(liveFrame("commands/delete", cmd.Headers[protocol.HeaderCorrelationID], "/features/lamp", `,"status":204`))
	if a := <-done; a.status != 204 {
		t.Errorf("live DELETE answered %d %s", a.status, a.body)
	}

	// Nobody answers in time: 408 command.timeout.
	start := time.Now()
	r := pl.do(t, "ditto", "GET", "/api/2/things/"+liveThing+"/attributes/x?channel=live&timeout=1s", "", nil)
	if r.status != 408 || !strings.Contains(r.body, `"command.timeout"`) {
		t.Errorf("unanswered live GET: %d %s", r.status, r.body)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("408 after %s, before the timeout", d)
	}
	device.envelope()

	// timeout=0: 202 at once, the device still gets the command, asked
	// for no answer.
	if r := pl.do(t, "ditto", "PUT", "/api/2/things/"+liveThing+"/attributes/x?channel=live&timeout=0", `2`, nil); r.status != 202 {
		t.Errorf("fire-and-forget live PUT: %d %s", r.status, r.body)
	}
	if cmd = device.envelope(); cmd.Headers[protocol.HeaderResponseRequired] != "false" {
		t.Errorf("fire-and-forget command arrived with %v", cmd.Headers)
	}

	// Refusals are the twin's.
	for _, rq := range []struct{ user, method, path, body string }{
		{"ditto2", "PUT", "/attributes/x", `3`},
		{"alice", "DELETE", "/features/lamp", ``},
		{"bob", "GET", "/attributes", ``},
		{"ditto", "PUT", "/attributes", `3`},
	} {
		twin := pl.do(t, rq.user, rq.method, "/api/2/things/"+liveThing+rq.path, rq.body, nil)
		live := pl.do(t, rq.user, rq.method, "/api/2/things/"+liveThing+rq.path, rq.body, map[string]string{"channel": "live"})
		if twin.status < 400 || live.status != twin.status || live.code(t) != twin.code(t) {
			t.Errorf("%s %s as %s: live %d %s, twin %d %s", rq.method, rq.path, rq.user, live.status, live.body, twin.status, twin.body)
		}
	}
	// Partial readers may not retrieve live what they cannot read all of.
	if r := pl.do(t, "alice", "GET", "/api/2/things/"+liveThing+"?channel=live", "", nil); r.status != 404 || r.code(t) != "things:thing.notfound" {
		t.Errorf("partial live GET: %d %s", r.status, r.body)
	}
	device.silent(200 * time.Millisecond) // nothing refused was passed on

	// bob writes what it may not read: the device's answer comes without
	// its value.
	done = async("bob", "PUT", "/api/2/things/"+liveThing+"/attributes/b", `1`, map[string]string{"channel": "live", "timeout": "5s"})
	cmd = device.envelope()
	device.send(liveFrame("commands/modify", cmd.Headers[protocol.HeaderCorrelationID], "/attributes/b", `,"status":201,"value":{"secret":"s"}`))
	if a := <-done; a.status != 201 || a.body != "" {
		t.Errorf("bob's live PUT answered %d %s", a.status, a.body)
	}

	if after := pl.liveAttributes(t); after != before {
		t.Errorf("live commands changed the twin: %s, was %s", after, before)
	}
}

// START-SEND-LIVE-COMMANDS takes namespaces and a filter; stopping live
// commands leaves the session's messages running.
func TestLiveCommandsNamespacesAndFilter(t *testing.T) {
	t.Parallel()
	pl := startLivePlatform(t)
	other := pl.startSession(t, "ditto2", "START-SEND-LIVE-COMMANDS?namespaces=org.example")
	retrieves := pl.startSession(t, "ditto2", "START-SEND-LIVE-COMMANDS?namespaces=org.example,"+liveNS+"&filter="+
		strings.ReplaceAll(`eq(topic:action,"retrieve")`, `"`, "%22"))
	both := pl.startSession(t, "ditto", "START-SEND-MESSAGES", "START-SEND-LIVE-COMMANDS") // another session of the sender
	sender := pl.mustDial(t, "ditto")

	sender.send(liveFrame("commands/modify", "m1", "/attributes/x", `,"value":1,"headers":{"correlation-id":"m1","response-required":false}`))
	sender.send(liveFrame("commands/retrieve", "r1", "/attributes/x", `,"headers":{"correlation-id":"r1","response-required":false}`))
	if got := retrieves.envelope(); got.Headers[protocol.HeaderCorrelationID] != "r1" {
		t.Errorf("filtered session got %+v, want only the retrieve", got)
	}
	// Both, in either order: live commands are not ordered behind each
	// other (Ditto does not promise it either).
	got := []string{both.envelope().Headers[protocol.HeaderCorrelationID], both.envelope().Headers[protocol.HeaderCorrelationID]}
	slices.Sort(got)
	if !slices.Equal(got, []string{"m1", "r1"}) {
		t.Errorf("session got %v, want m1 and r1", got)
	}
	other.silent(200 * time.Millisecond)

	both.ack("STOP-SEND-LIVE-COMMANDS")
	sender.send(liveFrame("commands/retrieve", "r2", "/attributes/x", `,"headers":{"correlation-id":"r2","response-required":false}`))
	sender.send(`{"topic":"` + liveTopic + `/messages/hello","headers":{"correlation-id":"msg","response-required":false,"content-type":"text/plain"},"path":"/inbox/messages/hello","value":"hi"}`)
	if got := both.envelope(); got.Headers[protocol.HeaderCorrelationID] != "msg" {
		t.Errorf("after STOP-SEND-LIVE-COMMANDS the session got %+v, want the message only", got)
	}
	if got := retrieves.envelope(); got.Headers[protocol.HeaderCorrelationID] != "r2" {
		t.Errorf("filtered session got %+v", got)
	}
}

// Live events reach the sessions that started them and may read them, cut
// down to what they may read; the emitter hears only of a refusal.
func TestLiveEventsOverWebSocket(t *testing.T) {
	t.Parallel()
	pl := startLivePlatform(t)
	before := pl.liveAttributes(t)
	owner := pl.startSession(t, "ditto", "START-SEND-LIVE-EVENTS")
	partial := pl.startSession(t, "alice", "START-SEND-LIVE-EVENTS")
	stranger := pl.startSession(t, "bob", "START-SEND-LIVE-EVENTS")
	twin := pl.startSession(t, "ditto2", "START-SEND-EVENTS", "START-SEND-LIVE-COMMANDS")
	device := pl.startSession(t, "ditto2", "START-SEND-LIVE-EVENTS")

	// The owner's event: the partial reader gets it without the secret,
	// bob nothing, the emitter nothing back.
	emitter := pl.mustDial(t, "ditto")
	emitter.send(liveFrame("events/modified", "e1", "/attributes", `,"value":{"x":5,"secret":"t"},"revision":3`))
	got := device.envelope()
	if got.Topic != liveTopic+"/events/modified" || string(got.Value) != `{"x":5,"secret":"t"}` || got.Headers[protocol.HeaderCorrelationID] != "e1" {
		t.Errorf("device got %+v %s", got, got.Value)
	}
	if got := owner.envelope(); string(got.Value) != `{"x":5,"secret":"t"}` {
		t.Errorf("owner got %+v %s", got, got.Value)
	}
	if got := partial.envelope(); string(got.Value) != `{"x":5}` || got.Path != "/attributes" {
		t.Errorf("partial reader got %+v %s", got, got.Value)
	}
	stranger.silent(300 * time.Millisecond)
	emitter.silent(50 * time.Millisecond)
	twin.silent(50 * time.Millisecond) // live events are no twin events

	// The device emits on its features; an emitter's own session does not
	// get its own event.
	device.send(liveFrame("events/modified", "e2", "/features/lamp/properties/on", `,"value":true`))
	if got := owner.envelope(); got.Path != "/features/lamp/properties/on" || string(got.Value) != "true" {
		t.Errorf("owner got %+v %s", got, got.Value)
	}
	if got := partial.envelope(); got.Headers[protocol.HeaderCorrelationID] != "e2" {
		t.Errorf("partial reader got %+v", got)
	}
	device.silent(300 * time.Millisecond)

	// Without WRITE: things:event.notallowed, unless no response is
	// wanted; a bad path: the twin's error. The session stays open.
	device.send(liveFrame("events/modified", "e3", "/attributes/x", `,"value":1`))
	if r := device.envelope(); r.Topic != liveTopic+"/errors" || r.Headers[protocol.HeaderCorrelationID] != "e3" || wireCode(r) != "things:event.notallowed" {
		t.Errorf("refused event answered %+v %s", r, r.Value)
	}
	partial.send(liveFrame("events/deleted", "e4", "/attributes/x", `,"headers":{"correlation-id":"e4","response-required":false}`))
	partial.silent(300 * time.Millisecond)
	emitter.send(liveFrame("events/modified", "e5", "/nope", `,"value":1`))
	if r := emitter.envelope(); r.Headers[protocol.HeaderCorrelationID] != "e5" || wireCode(r) != protocol.CodePathUnknown {
		t.Errorf("event at a bad path answered %+v %s", r, r.Value)
	}
	emitter.send(liveFrame("events/merged", "e6", "/attributes", `,"value":{"x":null}`))
	if got := owner.envelope(); got.Topic != liveTopic+"/events/merged" || got.Headers[protocol.HeaderCorrelationID] != "e6" {
		t.Errorf("owner got %+v (a refused event was passed on?)", got)
	}
	stranger.silent(200 * time.Millisecond)

	if after := pl.liveAttributes(t); after != before {
		t.Errorf("live events changed the twin: %s, was %s", after, before)
	}
}

// wireCode returns the error code of an error envelope, "" for another
// (errorCode reads the value of any envelope).
func wireCode(env protocol.Envelope) string {
	if perr, ok := env.AsError(); ok {
		return perr.Code
	}
	return ""
}
