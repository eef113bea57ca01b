package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// These tests drive /ws/2 through a real HTTP server and WebSocket client
// against the harness's NATS server; events are published on the thing
// events subjects as the things service publishes them.

// wsWait bounds every wait for a frame: a test that gets no frame within it
// has failed.
const wsWait = 5 * time.Second

// wsNamespace and wsThing are the thing the tests' commands and events are
// about.
const (
	wsNamespace = "org.eclipse.ditto"
	wsThing     = wsNamespace + ":t1"
)

// wsClient is a WebSocket session whose frames a goroutine reads into
// frames; its default ping handler answers the server's pings.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan []byte
	done   chan struct{} // closed when reading ended
	err    error         // why reading ended; read after done
}

// startWS serves g on a test server and returns its base URL.
func startWS(t *testing.T, g *Gateway) string {
	t.Helper()
	srv := httptest.NewServer(g.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// wsURL returns the /ws/2 address of the server at base (http://host:port).
func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/ws/2" }

// dialWSConn opens /ws/2 on base as user with d; the connection is closed
// when the test ends.
func dialWSConn(t *testing.T, d *websocket.Dialer, base, user string) *websocket.Conn {
	t.Helper()
	conn, resp, err := d.Dial(wsURL(base), http.Header{"Authorization": {basic(user)}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s as %s: %v (status %d)", wsURL(base), user, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// readWS starts reading conn's frames.
func readWS(t *testing.T, conn *websocket.Conn) *wsClient {
	c := &wsClient{t: t, conn: conn, frames: make(chan []byte, 1024), done: make(chan struct{})}
	stop := make(chan struct{})
	go func() {
		defer close(c.done)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			select {
			case c.frames <- data:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		conn.Close()
		<-c.done
	})
	return c
}

// dialWS opens a reading session as user.
func dialWS(t *testing.T, base, user string) *wsClient {
	t.Helper()
	return readWS(t, dialWSConn(t, websocket.DefaultDialer, base, user))
}

func (c *wsClient) send(frame string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("send %q: %v", frame, err)
	}
}

// next returns the next frame.
func (c *wsClient) next() []byte {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.done:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		c.t.Fatalf("session ended: %v", c.err)
	case <-time.After(wsWait):
		c.t.Fatalf("no frame within %s", wsWait)
	}
	return nil
}

// envelope returns the next frame as a Ditto Protocol message.
func (c *wsClient) envelope() protocol.Envelope {
	c.t.Helper()
	f := c.next()
	env, err := protocol.DecodeEnvelope(f)
	if err != nil {
		c.t.Fatalf("frame %.200q is no Ditto Protocol message: %v", f, err)
	}
	return env
}

// startEvents starts the session's events and waits for the ACK, after
// which the hub offers it events.
func (c *wsClient) startEvents() {
	c.t.Helper()
	c.send("START-SEND-EVENTS")
	if f := string(c.next()); f != "START-SEND-EVENTS:ACK" {
		c.t.Fatalf("got %.200q, want START-SEND-EVENTS:ACK", f)
	}
}

// ended waits up to d for the session to end; c.err then says why.
func (c *wsClient) ended(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// wsModify is a command modifying an attribute of wsThing.
func wsModify(cid string) string {
	return `{"topic":"org.eclipse.ditto/t1/things/twin/commands/modify","headers":{"correlation-id":"` + cid +
		`"},"path":"/attributes/a","value":1}`
}

// wantReply checks that env answers the command cid with status.
func wantReply(t *testing.T, env protocol.Envelope, cid string, status int) {
	t.Helper()
	if got := env.Headers[protocol.HeaderCorrelationID]; got != cid {
		t.Errorf("reply correlation-id %q, want %q (reply %+v)", got, cid, env)
	}
	if env.Status != status {
		t.Errorf("reply %s status %d, want %d (value %s)", cid, env.Status, status, env.Value)
	}
}

// hubSession returns the one session with subject among those that started
// events.
func hubSession(t *testing.T, g *Gateway, subject string) *wsSession {
	t.Helper()
	g.hub.mu.RLock()
	defer g.hub.mu.RUnlock()
	var found []*wsSession
	for sink := range g.hub.sinks {
		if s, ok := sink.(*wsSession); ok && slices.Contains(s.caller.subjects, subject) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d sessions of %s receive events, want 1", len(found), subject)
	}
	return found[0]
}

// eventFrame is a thing event of wsThing as the things service publishes
// it; headers are written as JSON strings.
func eventFrame(t *testing.T, rev int64, headers map[string]string, path, value string) []byte {
	t.Helper()
	hj, err := json.Marshal(headers)
	if err != nil {
		t.Fatal(err)
	}
	pj, _ := json.Marshal(path)
	return fmt.Appendf(nil, `{"topic":"org.eclipse.ditto/t1/things/twin/events/modified","headers":%s,"path":%s,"value":%s,"revision":%d}`,
		hj, pj, value, rev)
}

// publishEvent publishes an event of wsThing's namespace.
func publishEvent(t *testing.T, nc *nats.Conn, rev int64, headers map[string]string, path, value string) {
	t.Helper()
	if err := nc.Publish(streams.New("").ThingStoredEvents(wsNamespace), eventFrame(t, rev, headers, path, value)); err != nil {
		t.Fatalf("publish event %d: %v", rev, err)
	}
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}

func TestWebSocketUpgradeAndCredentials(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)

	w := h.do(req{method: http.MethodGet, target: "/ws/2"})
	if w.Code != http.StatusBadRequest || errorCode(t, w) != "gateway:websocket.upgrade.expected" {
		t.Errorf("plain GET /ws/2: %d %s, want 400 gateway:websocket.upgrade.expected", w.Code, w.Body)
	}
	w = h.do(req{method: http.MethodGet, target: "/ws/2", header: map[string]string{"Authorization": "Basic " + enc("ditto:nope")}})
	if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("plain GET /ws/2 with a wrong password: %d %v, want 401 with a challenge", w.Code, w.Header())
	}

	base := startWS(t, h.gw)
	for _, tt := range []struct {
		name string
		auth string
	}{
		{"wrong password", "Basic " + enc("ditto:nope")},
		{"unknown user", basic("mallory")},
		{"malformed", "Basic !!!"},
		{"none", ""},
	} {
		hdr := http.Header{}
		if tt.auth != "" {
			hdr.Set("Authorization", tt.auth)
		}
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL(base), hdr)
		if err == nil {
			conn.Close()
			t.Errorf("%s: upgrade accepted", tt.name)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v (%v), want 401", tt.name, resp, err)
			continue
		}
		if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
			t.Errorf("%s: WWW-Authenticate %q, want a Basic challenge", tt.name, got)
		}
	}
}

func TestWebSocketInFlightLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.WSMaxInFlight = 1 })
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	h.setReply(func(cmd protocol.Envelope) (protocol.Envelope, bool) {
		if cmd.Headers[protocol.HeaderCorrelationID] == "held" {
			<-release
		}
		return defaultReply(cmd)
	})
	c := dialWS(t, startWS(t, h.gw), "ditto")

	c.send(wsModify("held"))
	if got := h.waitCommands(1); got[0].env.Headers[protocol.HeaderCorrelationID] != "held" {
		t.Fatalf("responder got %v, want the held command", got[0].env.Headers)
	}
	c.send(wsModify("refused"))
	env := c.envelope()
	wantReply(t, env, "refused", http.StatusTooManyRequests)
	if perr, ok := env.AsError(); !ok || !errors.Is(perr, protocol.ErrTooManyRequests()) {
		t.Errorf("refused command answered %s, want too.many.requests", env.Value)
	}

	unblock()
	wantReply(t, c.envelope(), "held", http.StatusNoContent)
	// The command in flight has been answered: the session takes the next.
	c.send(wsModify("after"))
	wantReply(t, c.envelope(), "after", http.StatusNoContent)
	var cids []string
	for _, r := range h.commands() {
		cids = append(cids, r.env.Headers[protocol.HeaderCorrelationID])
	}
	if !slices.Equal(cids, []string{"after"}) {
		t.Errorf("responder got %q after the held command, want [after]: a refused command must not be sent", cids)
	}
}

// wsSocketBuffer is the kernel socket buffer the slow-client test asks for
// on both ends, so that an unread connection fills after a few events.
const wsSocketBuffer = 8 << 10

// smallSendBuffers is a listener whose connections have small send
// buffers.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(wsSocketBuffer)
	}
	return c, err
}

func TestWebSocketSlowClient(t *testing.T) {
	t.Parallel()
	const queue = 4
	h := newHarness(t, func(c *Config) { c.WSOutgoingBuffer = queue })
	srv := httptest.NewUnstartedServer(h.gw.Handler())
	srv.Listener = smallSendBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)

	// The slow session reads its ACK and nothing after it.
	slowDialer := *websocket.DefaultDialer
	slowDialer.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(wsSocketBuffer)
		}
		return c, err
	}
	slow := dialWSConn(t, &slowDialer, srv.URL, "alice")
	if err := slow.WriteMessage(websocket.TextMessage, []byte("START-SEND-EVENTS")); err != nil {
		t.Fatal(err)
	}
	_ = slow.SetReadDeadline(time.Now().Add(wsWait))
	if _, f, err := slow.ReadMessage(); err != nil || string(f) != "START-SEND-EVENTS:ACK" {
		t.Fatalf("slow session: got %q, %v, want START-SEND-EVENTS:ACK", f, err)
	}
	reader := dialWS(t, srv.URL, "ditto")
	reader.startEvents()
	slowSession := hubSession(t, h.gw, "nginx:alice")

	// Events go out in batches of the queue's size, each once the reader
	// has had the one before: a gateway that fans out without waiting for
	// the slow session loses none of them to the reader. Publishing goes on
	// until the slow session has lost events (its socket is full) and for
	// a while after.
	nc := h.srv.Connect(t)
	headers := map[string]string{
		protocol.HeaderCorrelationID: "slow",
		protocol.HeaderReadSubjects:  `["nginx:ditto","nginx:alice"]`,
	}
	value := `"` + strings.Repeat("x", 4<<10) + `"`
	const (
		afterDrops = 200    // events published after the first drop
		maxEvents  = 20_000 // the slow socket must have filled by then
	)
	var rev, firstDrop int64
	for firstDrop == 0 || rev < firstDrop+afterDrops {
		if rev >= maxEvents {
			t.Fatalf("the slow session dropped no event of %d", rev)
		}
		for range queue {
			rev++
			publishEvent(t, nc, rev, headers, "/attributes/big", value)
		}
		for want := rev - queue + 1; want <= rev; want++ {
			if env := reader.envelope(); env.Revision != want {
				t.Fatalf("reader got revision %d, want %d: events lost or out of order", env.Revision, want)
			}
		}
		if firstDrop == 0 && slowSession.dropped.Load() > 0 {
			firstDrop = rev
		}
	}
	t.Logf("slow session dropped %d of %d events (first after %d)", slowSession.dropped.Load(), rev, firstDrop)

	// The slow session's writer is stuck; the gateway answers the others.
	r, err := http.NewRequest(http.MethodGet, srv.URL+"/api/2/things/"+wsThing, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", basic("ditto"))
	resp, err := (&http.Client{Timeout: wsWait}).Do(r)
	if err != nil {
		t.Fatalf("GET thing while a session is stuck: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET thing while a session is stuck: %d, want 200", resp.StatusCode)
	}
	reader.send(wsModify("meanwhile"))
	wantReply(t, reader.envelope(), "meanwhile", http.StatusNoContent)
	other := dialWS(t, srv.URL, "ditto2")
	other.send(wsModify("newcomer"))
	wantReply(t, other.envelope(), "newcomer", http.StatusNoContent)
}

func TestWebSocketThrottling(t *testing.T) {
	t.Parallel()
	const (
		limit    = 2
		interval = 300 * time.Millisecond
		commands = 6
	)
	h := newHarness(t, func(c *Config) {
		c.WSThrottlingEnabled = true
		c.WSThrottlingLimit = limit
		c.WSThrottlingInterval = interval
	})
	var (
		mu sync.Mutex
		at []time.Time
	)
	h.setReply(func(cmd protocol.Envelope) (protocol.Envelope, bool) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		return defaultReply(cmd)
	})
	c := dialWS(t, startWS(t, h.gw), "ditto")
	for i := range commands {
		c.send(wsModify(fmt.Sprint("c", i)))
	}
	// Commands run side by side: their replies come in any order.
	var cids []string
	for range commands {
		env := c.envelope()
		if env.Status != http.StatusNoContent {
			t.Errorf("reply %v status %d, want 204", env.Headers, env.Status)
		}
		cids = append(cids, env.Headers[protocol.HeaderCorrelationID])
	}
	slices.Sort(cids)
	if want := []string{"c0", "c1", "c2", "c3", "c4", "c5"}; !slices.Equal(cids, want) {
		t.Errorf("replies to %q, want %q", cids, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != commands {
		t.Fatalf("responder got %d commands, want %d", len(at), commands)
	}
	// Two pass at once, two after one interval, two after two.
	span := at[len(at)-1].Sub(at[0])
	minSpan := time.Duration(commands/limit-1)*interval - 50*time.Millisecond
	if span < minSpan || span > 2*time.Second {
		t.Errorf("%d commands reached the responder over %s, want between %s and 2s", commands, span, minSpan)
	}
}

func TestWebSocketIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	h := newHarness(t, func(c *Config) {
		c.WSPingInterval = 100 * time.Millisecond
		c.WSIdleTimeout = idle
	})
	base := startWS(t, h.gw)

	start := time.Now()
	mute := dialWSConn(t, websocket.DefaultDialer, base, "ditto")
	var pings atomic.Int32
	mute.SetPingHandler(func(string) error { pings.Add(1); return nil }) // no pong
	muteClient := readWS(t, mute)
	alive := dialWS(t, base, "ditto2") // answers pings

	if !muteClient.ended(time.Second) {
		t.Fatal("a client that answers no pings is still connected after 1s")
	}
	if d := time.Since(start); d < idle {
		t.Errorf("a client that answers no pings was closed after %s, before the idle timeout %s", d, idle)
	}
	if pings.Load() == 0 {
		t.Error("the server sent no ping before closing an idle session")
	}
	if alive.ended(time.Until(start.Add(1200 * time.Millisecond))) {
		t.Fatalf("a client that answers pings was closed: %v", alive.err)
	}
	alive.send(wsModify("alive"))
	wantReply(t, alive.envelope(), "alive", http.StatusNoContent)
}

func TestWebSocketShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- h.gw.Serve(ctx, ln) }()

	c := dialWS(t, "http://"+ln.Addr().String(), "ditto")
	c.send(wsModify("before"))
	wantReply(t, c.envelope(), "before", http.StatusNoContent)

	cancel()
	if !c.ended(2 * time.Second) {
		t.Fatal("session still open 2s after shutdown")
	}
	if !websocket.IsCloseError(c.err, websocket.CloseGoingAway) {
		t.Errorf("session ended with %v, want close 1001 (going away)", c.err)
	}
	waitServed(t, served, 2*time.Second, "")
	streamstest.Eventually(t, 2*time.Second, func() error {
		if n := h.gw.sessions.Load(); n != 0 {
			return fmt.Errorf("%d sessions open", n)
		}
		return nil
	})
}

func TestWebSocketEventHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	base := startWS(t, h.gw)
	a := dialWS(t, base, "ditto")
	a.startEvents()
	b := dialWS(t, base, "alice")
	b.startEvents()
	aID := hubSession(t, h.gw, "nginx:ditto").id
	nc := h.srv.Connect(t)

	const both = `["nginx:ditto","nginx:alice"]`
	event := func(rev int64, readSubjects string, more ...string) {
		t.Helper()
		hs := map[string]string{
			protocol.HeaderCorrelationID: fmt.Sprint("e", rev),
			protocol.HeaderReadSubjects:  readSubjects,
		}
		for i := 0; i+1 < len(more); i += 2 {
			hs[more[i]] = more[i+1]
		}
		publishEvent(t, nc, rev, hs, "/attributes", `{"a":1,"b":2}`)
	}
	// expect checks that c's next frames are the events revs.
	expect := func(name string, c *wsClient, revs ...int64) {
		t.Helper()
		for _, want := range revs {
			if env := c.envelope(); env.Revision != want {
				t.Fatalf("%s got event %d (%v), want %d", name, env.Revision, env.Headers, want)
			}
		}
	}

	// Internal headers are not sent; alice may read attributes/a only.
	event(1, both,
		protocol.HeaderOrigin, "another-session",
		protocol.HeaderPartialAccessPaths, `{"subjects":["nginx:alice"],"paths":{"attributes/a":[0]}}`)
	for _, tt := range []struct {
		name  string
		c     *wsClient
		value string
	}{
		{"ditto", a, `{"a":1,"b":2}`},
		{"alice", b, `{"a":1}`},
	} {
		env := tt.c.envelope()
		if env.Revision != 1 || env.Topic != "org.eclipse.ditto/t1/things/twin/events/modified" {
			t.Fatalf("%s got %s revision %d, want event 1", tt.name, env.Topic, env.Revision)
		}
		if got := env.Headers[protocol.HeaderCorrelationID]; got != "e1" {
			t.Errorf("%s: correlation-id %q, want e1", tt.name, got)
		}
		for _, k := range []string{protocol.HeaderReadSubjects, protocol.HeaderOrigin, protocol.HeaderPartialAccessPaths} {
			if v, ok := env.Headers[k]; ok {
				t.Errorf("%s: event carries %s: %s", tt.name, k, v)
			}
		}
		if !jsonEqual(env.Value, []byte(tt.value)) {
			t.Errorf("%s: value %s, want %s", tt.name, env.Value, tt.value)
		}
	}

	// Each case is followed by an event both get: a session that was not
	// to get the case's event has the marker next.
	event(2, both, protocol.HeaderOrigin, aID) // a's own change
	event(3, both)
	expect("ditto, own change", a, 3)
	expect("alice, ditto's change", b, 2, 3)

	event(4, `["nginx:alice"]`)
	event(5, both)
	expect("ditto, not among the read subjects", a, 5)
	expect("alice, the only read subject", b, 4, 5)

	event(6, both, protocol.HeaderPartialAccessPaths, `{"subjects":["nginx:alice"],"paths":{"attributes/a":[1]}}`)
	event(7, both, protocol.HeaderPartialAccessPaths, `{"subjects":`)
	event(8, `not an array`)
	event(9, both)
	expect("ditto, malformed access headers", a, 9)
	expect("alice, malformed access headers", b, 9)
}

// waitServed waits up to d for Serve, whose result served carries, to
// return without error after its context ended; why explains a timeout.
func waitServed(t *testing.T, served <-chan error, d time.Duration, why string) {
	t.Helper()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(d):
		t.Fatalf("Serve still running %s after its context ended%s", d, why)
	}
}
