package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/limits"
	"github.com/dittonats/dittonats/services/internal/sqlitestore"
	"github.com/dittonats/dittonats/services/policies"
	"github.com/dittonats/dittonats/services/things"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// Live commands and live events end to end: a gateway in front of the real
// things and policies services, on a secured embedded NATS server where
// each connects as its own role, with WebSocket sessions and HTTP requests
// of real clients.

// The live thing and who is who: ditto owns it and sends; ditto2 is the
// device (READ on everything, WRITE on the features); alice reads all but
// one attribute; bob may write the attributes and read nothing.
const (
	liveNS    = "org.eclipse.ditto"
	liveThing = liveNS + ":live"
	liveTopic = liveNS + "/live/things/live"
)

// liveUsers is the users file of the live tests (bcrypt cost 4).
var liveUsers = sync.OnceValue(func() string {
	var b strings.Builder
	for _, u := range []string{"ditto", "ditto2", "alice", "bob"} {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		b.WriteString(u + ":" + string(h) + "\n")
	}
	return b.String()
})

// livePlatform is the running platform of one test.
type livePlatform struct {
	t    *testing.T
	base string // the gateway's HTTP address
}

const liveShards = 2

func startLivePlatform(t *testing.T) *livePlatform {
	t.Helper()
	names := streams.New("")
	srv := streamstest.StartSecured(t, names)
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "ditto.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	lim := limits.Config{ThingsMaxSize: 100 << 10, PoliciesMaxSize: 100 << 10, MessagesMaxSize: 100 << 10}
	runService(t, srv, names, store, streams.ServicePolicies, func(d things.Deps) (runner, error) {
		return policies.New(policies.Config{SnapshotThreshold: 10, MailboxSize: 100, MaxEntities: 100, Limits: lim}, d)
	})
	runService(t, srv, names, store, streams.ServiceThings, func(d things.Deps) (runner, error) {
		return things.New(things.Config{SnapshotThreshold: 10, MailboxSize: 100, MaxThingsInMemory: 100, PolicyCacheSize: 100,
			PolicyCacheTTL: time.Hour, DefaultTimeout: 10 * time.Second, Limits: lim}, d)
	})
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte(liveUsers()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.UsersFile = users
	g, err := New(cfg, Deps{NC: srv.ConnectAs(t, streams.RoleGateway), Names: names, Shards: liveShards})
	if err != nil {
		t.Fatal(err)
	}
	pl := &livePlatform{t: t, base: startWS(t, g)}
	// Served once a thing can be created on every shard (the services
	// take their shards' leases as they start).
	streamstest.Eventually(t, 20*time.Second, func() error {
		if code, body := pl.http("ditto", "PUT", "/api/2/things/"+liveThing, `{"attributes":{"x":1,"secret":"s"},"features":{"lamp":{"properties":{"on":false}}}}`, nil); code != 201 {
			return fmt.Errorf("create thing: %d %s", code, body)
		}
		return nil
	})
	pl.expect("ditto", "PUT", "/api/2/policies/"+liveThing+"/entries/DEVICE",
		`{"subjects":{"nginx:ditto2":{"type":"device"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]},"thing:/features":{"grant":["WRITE"],"revoke":[]}}}`, nil, 201)
	pl.expect("ditto", "PUT", "/api/2/policies/"+liveThing+"/entries/PARTIAL",
		`{"subjects":{"nginx:alice":{"type":"app"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]},"thing:/attributes/secret":{"grant":[],"revoke":["READ"]}}}`, nil, 201)
	pl.expect("ditto", "PUT", "/api/2/policies/"+liveThing+"/entries/WRITER",
		`{"subjects":{"nginx:bob":{"type":"app"}},"resources":{"thing:/attributes":{"grant":["WRITE"],"revoke":[]}}}`, nil, 201)
	return pl
}

// runner is a service that runs until its context ends.
type runner interface {
	Run(ctx context.Context) error
}

// runService runs the entity service svc as its role, with its streams and
// buckets ensured as the process ensures them, until the test ends.
func runService(t *testing.T, srv *streamstest.Server, names streams.Names, store *sqlitestore.Store, svc string, build func(things.Deps) (runner, error)) {
	t.Helper()
	nc := srv.ConnectAs(t, streams.Role(svc))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	scfg := streams.DefaultConfig()
	if err := streams.Ensure(ctx, js, names, scfg, svc); err != nil {
		t.Fatalf("ensure streams of %s: %v", svc, err)
	}
	leases, err := js.KeyValue(ctx, names.ShardLeaseBucket(svc))
	if err != nil {
		t.Fatal(err)
	}
	published, err := js.KeyValue(ctx, names.PublishedBucket(svc))
	if err != nil {
		t.Fatal(err)
	}
	jn := journal.Things
	if svc == streams.ServicePolicies {
		jn = journal.Policies
	}
	j, err := store.Journal(jn)
	if err != nil {
		t.Fatal(err)
	}
	r, err := build(things.Deps{NC: nc, JS: js, Journal: j, Leases: leases, Published: published, Names: names,
		Shards: liveShards, Instance: "test", LeaseTTL: scfg.LeaseTTL, EventsMaxAge: scfg.EventsMaxAge})
	if err != nil {
		t.Fatalf("new %s service: %v", svc, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("%s service: %v", svc, err)
		}
	})
}

// http sends a request as user and returns the status and body.
func (pl *livePlatform) http(user, method, path, body string, header map[string]string) (int, string) {
	code, _, b := pl.httpFull(user, method, path, body, header)
	return code, b
}

func (pl *livePlatform) httpFull(user, method, path, body string, header map[string]string) (int, http.Header, string) {
	pl.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, pl.base+path, rd)
	if err != nil {
		pl.t.Fatal(err)
	}
	req.Header.Set("Authorization", basic(user))
	if body != "" {
		ct := "application/json"
		if method == http.MethodPatch {
			ct = protocol.MediaTypeMergePatchJSON
		}
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		pl.t.Errorf("%s %s: %v", method, path, err)
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (pl *livePlatform) expect(user, method, path, body string, header map[string]string, status int) string {
	pl.t.Helper()
	code, b := pl.http(user, method, path, body, header)
	if code != status {
		pl.t.Fatalf("%s %s as %s: %d %s, want %d", method, path, user, code, b, status)
	}
	return b
}

// dial opens a session as user that starts the given streams.
func (pl *livePlatform) dial(user string, start ...string) *wsClient {
	pl.t.Helper()
	c := dialWS(pl.t, pl.base, user)
	for _, s := range start {
		c.send(s)
		id, _, _ := strings.Cut(s, "?")
		if f := string(c.next()); f != id+":ACK" {
			pl.t.Fatalf("%s: got %.200q, want %s:ACK", s, f, id)
		}
	}
	return c
}

// silent checks that c gets no frame within d.
func silent(c *wsClient, d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected frame %.300s", f)
	case <-time.After(d):
	}
}

// liveFrame is a Ditto Protocol message on the live thing's live channel:
// kind is "commands/modify", "events/modified", ...; extra is appended
// to the message (e.g. `,"value":1,"status":204`).
func liveFrame(kind, cid, path, extra string) string {
	return `{"topic":"` + liveTopic + `/` + kind + `","headers":{"correlation-id":"` + cid + `"},"path":"` + path + `"` + extra + `}`
}

// twinAttributes returns the twin's attributes and revision, as ditto reads them.
func (pl *livePlatform) twinAttributes() string {
	return pl.expect("ditto", "GET", "/api/2/things/"+liveThing+"?fields=attributes,_revision", "", nil, 200)
}

// A live command sent over WebSocket reaches the sessions that started
// live commands and may read all of it, not its sender's; the device's
// fitting answer is the sender's answer; the twin stays as it is.
func TestLiveCommandOverWebSocket(t *testing.T) {
	t.Parallel()
	pl := startLivePlatform(t)
	before := pl.twinAttributes()
	device := pl.dial("ditto2", "START-SEND-LIVE-COMMANDS")
	partial := pl.dial("alice", "START-SEND-LIVE-COMMANDS")
	stranger := pl.dial("bob", "START-SEND-LIVE-COMMANDS")
	sender := pl.dial("ditto", "START-SEND-LIVE-COMMANDS")

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
	reply := sender.envelope()
	wantReply(t, reply, "c1", 204)
	if reply.Topic != liveTopic+"/commands/modify" || reply.Path != "/attributes" {
		t.Errorf("sender got %+v", reply)
	}
	// The partial reader may not read all of /attributes, bob nothing.
	silent(partial, 300*time.Millisecond)
	silent(stranger, 50*time.Millisecond)
	silent(sender, 50*time.Millisecond)

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
	reply = sender.envelope()
	if perr, ok := reply.AsError(); !ok || perr.Status != 503 || perr.Code != "device.busy" || reply.Headers[protocol.HeaderCorrelationID] != "c2" {
		t.Errorf("sender got %+v %s", reply, reply.Value)
	}

	// Nobody answers: Ditto's command.timeout, with the command's
	// correlation-id.
	sender.send(liveFrame("commands/retrieve", "c3", "/attributes/x", `,"headers":{"correlation-id":"c3","timeout":"1s"}`))
	device.envelope()
	partial.envelope()
	reply = sender.envelope()
	if perr, ok := reply.AsError(); !ok || perr.Status != 408 || perr.Code != "command.timeout" || reply.Headers[protocol.HeaderCorrelationID] != "c3" {
		t.Errorf("unanswered command: %+v %s", reply, reply.Value)
	}
	// A late answer goes nowhere.
	device.send(liveFrame("commands/retrieve", "c3", "/attributes/x", `,"status":200,"value":1`))
	silent(sender, 300*time.Millisecond)

	if after := pl.twinAttributes(); after != before {
		t.Errorf("live commands changed the twin: %s, was %s", after, before)
	}
}

// Refusals over WebSocket are the twin command's, with the command's
// correlation-id, and the session stays open.
func TestLiveCommandRefusedOverWebSocket(t *testing.T) {
	t.Parallel()
	pl := startLivePlatform(t)
	device := pl.dial("ditto2", "START-SEND-LIVE-COMMANDS")

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
		c := pl.dial(tt.user)
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
	alice := pl.dial("alice")
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
	before := pl.twinAttributes()
	device := pl.dial("ditto2", "START-SEND-LIVE-COMMANDS")

	type answer struct {
		code   int
		header http.Header
		body   string
	}
	async := func(user, method, path, body string, header map[string]string) <-chan answer {
		done := make(chan answer, 1)
		go func() {
			code, h, b := pl.httpFull(user, method, path, body, header)
			done <- answer{code, h, b}
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
	if a := <-done; a.code != 200 || a.body != `{"x":7}` || a.header.Get("Correlation-Id") != cid {
		t.Errorf("live GET answered %d %v %s", a.code, a.header, a.body)
	}

	// PUT with the header: a 201 of the device is a 201 with location.
	done = async("ditto", "PUT", "/api/2/things/"+liveThing+"/attributes/y", `"new"`, map[string]string{"channel": "live", "timeout": "5s"})
	cmd = device.envelope()
	if cmd.Topic != liveTopic+"/commands/modify" || cmd.Path != "/attributes/y" || string(cmd.Value) != `"new"` {
		t.Fatalf("device got %+v %s", cmd, cmd.Value)
	}
	cid = cmd.Headers[protocol.HeaderCorrelationID]
	device.send(liveFrame("commands/modify", cid, "/attributes/y", `,"status":201,"value":"new"`))
	if a := <-done; a.code != 201 || a.body != `"new"` || !strings.HasSuffix(a.header.Get("Location"), "/api/2/things/"+liveThing+"/attributes/y") {
		t.Errorf("live PUT answered %d %v %s", a.code, a.header, a.body)
	}

	// PATCH and DELETE go live as well.
	done = async("ditto", "PATCH", "/api/2/things/"+liveThing+"?channel=live", `{"attributes":{"z":1}}`, nil)
	cmd = device.envelope()
	if cmd.Topic != liveTopic+"/commands/merge" || cmd.Path != "/" {
		t.Fatalf("device got %+v", cmd)
	}
	device.send(liveFrame("commands/merge", cmd.Headers[protocol.HeaderCorrelationID], "/", `,"status":204`))
	if a := <-done; a.code != 204 {
		t.Errorf("live PATCH answered %d %s", a.code, a.body)
	}
	done = async("ditto", "DELETE", "/api/2/things/"+liveThing+"/features/lamp?channel=live", "", nil)
	cmd = device.envelope()
	if cmd.Topic != liveTopic+"/commands/delete" || cmd.Path != "/features/lamp" {
		t.Fatalf("device got %+v", cmd)
	}
	device.send(liveFrame("commands/delete", cmd.Headers[protocol.HeaderCorrelationID], "/features/lamp", `,"status":204`))
	if a := <-done; a.code != 204 {
		t.Errorf("live DELETE answered %d %s", a.code, a.body)
	}

	// Nobody answers in time: 408 command.timeout.
	start := time.Now()
	code, body := pl.http("ditto", "GET", "/api/2/things/"+liveThing+"/attributes/x?channel=live&timeout=1s", "", nil)
	if code != 408 || !strings.Contains(body, `"command.timeout"`) {
		t.Errorf("unanswered live GET: %d %s", code, body)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("408 after %s, before the timeout", d)
	}
	device.envelope()

	// timeout=0: 202 at once, the device still gets the command, asked
	// for no answer.
	if code, body := pl.http("ditto", "PUT", "/api/2/things/"+liveThing+"/attributes/x?channel=live&timeout=0", `2`, nil); code != 202 {
		t.Errorf("fire-and-forget live PUT: %d %s", code, body)
	}
	if cmd = device.envelope(); cmd.Headers[protocol.HeaderResponseRequired] != "false" {
		t.Errorf("fire-and-forget command arrived with %v", cmd.Headers)
	}

	// Refusals are the twin's.
	for _, r := range []struct{ user, method, path, body string }{
		{"ditto2", "PUT", "/attributes/x", `3`},
		{"alice", "DELETE", "/features/lamp", ``},
		{"bob", "GET", "/attributes", ``},
		{"ditto", "PUT", "/attributes", `3`},
	} {
		tc, tb := pl.http(r.user, r.method, "/api/2/things/"+liveThing+r.path, r.body, nil)
		lc, lb := pl.http(r.user, r.method, "/api/2/things/"+liveThing+r.path, r.body, map[string]string{"channel": "live"})
		if tc < 400 || lc != tc || errCode(lb) != errCode(tb) {
			t.Errorf("%s %s as %s: live %d %s, twin %d %s", r.method, r.path, r.user, lc, lb, tc, tb)
		}
	}
	// Partial readers may not retrieve live what they cannot read all of.
	if code, body := pl.http("alice", "GET", "/api/2/things/"+liveThing+"?channel=live", "", nil); code != 404 || errCode(body) != "things:thing.notfound" {
		t.Errorf("partial live GET: %d %s", code, body)
	}
	silent(device, 200*time.Millisecond) // nothing refused was passed on

	// bob writes what it may not read: the device's answer comes without
	// its value.
	done = async("bob", "PUT", "/api/2/things/"+liveThing+"/attributes/b", `1`, map[string]string{"channel": "live", "timeout": "5s"})
	cmd = device.envelope()
	device.send(liveFrame("commands/modify", cmd.Headers[protocol.HeaderCorrelationID], "/attributes/b", `,"status":201,"value":{"secret":"s"}`))
	if a := <-done; a.code != 201 || a.body != "" {
		t.Errorf("bob's live PUT answered %d %s", a.code, a.body)
	}

	if after := pl.twinAttributes(); after != before {
		t.Errorf("live commands changed the twin: %s, was %s", after, before)
	}
}

// errCode returns the error code of a Ditto error body.
func errCode(body string) string {
	_, rest, ok := strings.Cut(body, `"error":"`)
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, `"`)
	return code
}

// START-SEND-LIVE-COMMANDS takes namespaces and a filter; stopping live
// commands leaves the session's messages running.
func TestLiveCommandsNamespacesAndFilter(t *testing.T) {
	t.Parallel()
	pl := startLivePlatform(t)
	other := pl.dial("ditto2", "START-SEND-LIVE-COMMANDS?namespaces=org.example")
	retrieves := pl.dial("ditto2", "START-SEND-LIVE-COMMANDS?namespaces=org.example,"+liveNS+"&filter="+
		strings.ReplaceAll(`eq(topic:action,"retrieve")`, `"`, "%22"))
	both := pl.dial("ditto", "START-SEND-MESSAGES", "START-SEND-LIVE-COMMANDS") // another session of the sender
	sender := pl.dial("ditto")

	sender.send(liveFrame("commands/modify", "m1", "/attributes/x", `,"value":1,"headers":{"correlation-id":"m1","response-required":false}`))
	sender.send(liveFrame("commands/retrieve", "r1", "/attributes/x", `,"headers":{"correlation-id":"r1","response-required":false}`))
	if got := retrieves.envelope(); got.Headers[protocol.HeaderCorrelationID] != "r1" {
		t.Errorf("filtered session got %+v, want only the retrieve", got)
	}
	if got := both.envelope(); got.Headers[protocol.HeaderCorrelationID] != "m1" {
		t.Errorf("session got %+v", got)
	}
	if got := both.envelope(); got.Headers[protocol.HeaderCorrelationID] != "r1" {
		t.Errorf("session got %+v", got)
	}
	silent(other, 200*time.Millisecond)

	both.send("STOP-SEND-LIVE-COMMANDS")
	if f := string(both.next()); f != "STOP-SEND-LIVE-COMMANDS:ACK" {
		t.Fatalf("got %q", f)
	}
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
	before := pl.twinAttributes()
	owner := pl.dial("ditto", "START-SEND-LIVE-EVENTS")
	partial := pl.dial("alice", "START-SEND-LIVE-EVENTS")
	stranger := pl.dial("bob", "START-SEND-LIVE-EVENTS")
	twin := pl.dial("ditto2", "START-SEND-EVENTS", "START-SEND-LIVE-COMMANDS")
	device := pl.dial("ditto2", "START-SEND-LIVE-EVENTS")

	// The owner's event: the partial reader gets it without the secret,
	// bob nothing, the emitter nothing back.
	emitter := pl.dial("ditto")
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
	silent(stranger, 300*time.Millisecond)
	silent(emitter, 50*time.Millisecond)
	silent(twin, 50*time.Millisecond) // live events are no twin events

	// The device emits on its features; an emitter's own session does not
	// get its own event.
	device.send(liveFrame("events/modified", "e2", "/features/lamp/properties/on", `,"value":true`))
	if got := owner.envelope(); got.Path != "/features/lamp/properties/on" || string(got.Value) != "true" {
		t.Errorf("owner got %+v %s", got, got.Value)
	}
	if got := partial.envelope(); got.Headers[protocol.HeaderCorrelationID] != "e2" {
		t.Errorf("partial reader got %+v", got)
	}
	silent(device, 300*time.Millisecond)

	// Without WRITE: things:event.notallowed, unless no response is
	// wanted; a bad path: the twin's error. The session stays open.
	device.send(liveFrame("events/modified", "e3", "/attributes/x", `,"value":1`))
	if r := device.envelope(); r.Topic != liveTopic+"/errors" || r.Headers[protocol.HeaderCorrelationID] != "e3" || errorOf(r) != "things:event.notallowed" {
		t.Errorf("refused event answered %+v %s", r, r.Value)
	}
	partial.send(liveFrame("events/deleted", "e4", "/attributes/x", `,"headers":{"correlation-id":"e4","response-required":false}`))
	silent(partial, 300*time.Millisecond)
	emitter.send(liveFrame("events/modified", "e5", "/nope", `,"value":1`))
	if r := emitter.envelope(); r.Headers[protocol.HeaderCorrelationID] != "e5" || errorOf(r) != protocol.CodePathUnknown {
		t.Errorf("event at a bad path answered %+v %s", r, r.Value)
	}
	emitter.send(liveFrame("events/merged", "e6", "/attributes", `,"value":{"x":null}`))
	if got := owner.envelope(); got.Topic != liveTopic+"/events/merged" || got.Headers[protocol.HeaderCorrelationID] != "e6" {
		t.Errorf("owner got %+v (a refused event was passed on?)", got)
	}
	silent(stranger, 200*time.Millisecond)

	if after := pl.twinAttributes(); after != before {
		t.Errorf("live events changed the twin: %s, was %s", after, before)
	}
}

// errorOf returns the error code of an error envelope, "" for another.
func errorOf(env protocol.Envelope) string {
	if perr, ok := env.AsError(); ok {
		return perr.Code
	}
	return ""
}
