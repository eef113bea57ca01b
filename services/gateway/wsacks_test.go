package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dittonats/dittonats/protocol"
)

// Acknowledgements end to end through the gateway: HTTP and WebSocket
// requesters, WebSocket subscribers that declared labels. The responder
// plays the things service: it answers a modification and publishes its
// event with the command's custom labels and acknowledgement address, as
// services/things does (its own tests check that part).

// newAckRig returns a harness whose responder publishes events, and the
// base URL of its gateway.
func newAckRig(t *testing.T) (*harness, string) {
	t.Helper()
	h := newHarness(t, nil)
	pub := h.srv.Connect(t)
	h.setReply(func(cmd protocol.Envelope) (protocol.Envelope, bool) {
		r, ok := defaultReply(cmd)
		if !ok || strings.HasSuffix(cmd.Topic, "/retrieve") {
			return r, ok
		}
		r.Headers[protocol.HeaderEntityRevision] = "1"
		hs := map[string]string{
			protocol.HeaderCorrelationID: cmd.Headers[protocol.HeaderCorrelationID],
			protocol.HeaderReadSubjects:  `["nginx:ditto"]`,
		}
		if o := cmd.Headers[protocol.HeaderOrigin]; o != "" {
			hs[protocol.HeaderOrigin] = o
		}
		if addr := cmd.Headers[protocol.HeaderAckregatorAddress]; addr != "" {
			var labels, custom []string
			_ = json.Unmarshal([]byte(cmd.Headers[protocol.HeaderRequestedAcks]), &labels)
			for _, l := range labels {
				if !protocol.IsBuiltinAck(l) {
					custom = append(custom, l)
				}
			}
			b, _ := json.Marshal(custom)
			hs[protocol.HeaderRequestedAcks] = string(b)
			hs[protocol.HeaderAckregatorAddress] = addr
		}
		value := string(cmd.Value)
		if value == "" {
			value = "null"
		}
		publishEvent(t, pub, 1, hs, cmd.Path, value)
		return r, true
	})
	return h, startWS(t, h.gw)
}

// dialDeclaring opens /ws/2 as user declaring labels (comma-separated).
func dialDeclaring(t *testing.T, base, user, labels string) *wsClient {
	t.Helper()
	u := wsURL(base) + "?declared-acks=" + url.QueryEscape(labels)
	conn, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {basic(user)}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", u, err, status)
	}
	return readWS(t, conn)
}

// putWithAcks modifies an attribute of wsThing over HTTP in the
// background, requesting labels; the response arrives on the channel.
func putWithAcks(h *harness, cid, labels, timeout string) <-chan *httptest.ResponseRecorder {
	out := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		out <- h.do(req{method: http.MethodPut, target: "/api/2/things/" + wsThing + "/attributes/a", body: "1",
			header: map[string]string{"requested-acks": labels, "timeout": timeout, "correlation-id": cid}})
	}()
	return out
}

// awaitResponse returns the HTTP response of a putWithAcks.
func awaitResponse(t *testing.T, ch <-chan *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	t.Helper()
	select {
	case w := <-ch:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("no HTTP response within 10s")
		return nil
	}
}

// aggregated decodes an aggregated acknowledgements body by label.
type aggAck struct {
	Status  int             `json:"status"`
	Payload json.RawMessage `json:"payload"`
	Headers map[string]any  `json:"headers"`
}

func decodeAggregated(t *testing.T, body []byte) map[string]aggAck {
	t.Helper()
	var m map[string]aggAck
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("aggregated acknowledgements %s: %v", body, err)
	}
	return m
}

func TestAcksCustomLabelOverHTTP(t *testing.T) {
	h, base := newAckRig(t)
	device := dialDeclaring(t, base, "ditto", "my-ack")
	device.startEvents()

	resp := putWithAcks(h, "c-1", "twin-persisted,my-ack", "5s")
	ev := device.envelope()
	if got := ev.Headers[protocol.HeaderRequestedAcks]; got != `["my-ack"]` {
		t.Errorf("event requested-acks %q, want [\"my-ack\"]", got)
	}
	if _, leaked := ev.Headers[protocol.HeaderAckregatorAddress]; leaked {
		t.Errorf("the event shows the internal acknowledgement address: %v", ev.Headers)
	}
	device.send(`{"topic":"org.eclipse.ditto/t1/things/twin/acks/my-ack","headers":{"correlation-id":"c-1"},"path":"/","value":{"outcome":"green"},"status":202}`)
	w := awaitResponse(t, resp)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
	}
	acks := decodeAggregated(t, w.Body.Bytes())
	if a := acks["twin-persisted"]; a.Status != http.StatusNoContent {
		t.Errorf("twin-persisted %+v, want 204", a)
	}
	if a := acks["my-ack"]; a.Status != http.StatusAccepted || !jsonEqual(a.Payload, []byte(`{"outcome":"green"}`)) ||
		a.Headers["correlation-id"] != "c-1" {
		t.Errorf("my-ack %+v, want 202 with the device's payload and correlation-id", a)
	}

	// Only the custom label: its own status and payload are the answer.
	resp = putWithAcks(h, "c-2", "my-ack", "5s")
	device.envelope()
	device.send(`{"topic":"org.eclipse.ditto/t1/things/twin/acks/my-ack","headers":{"correlation-id":"c-2"},"path":"/","value":"You better try harder","status":400}`)
	w = awaitResponse(t, resp)
	if w.Code != http.StatusBadRequest || strings.TrimSpace(w.Body.String()) != `"You better try harder"` {
		t.Errorf("single ack answered %d %s, want 400 with its payload", w.Code, w.Body)
	}
}

func TestAcksTimeoutAndFailedDependency(t *testing.T) {
	h, _ := newAckRig(t)
	started := time.Now()
	w := awaitResponse(t, putWithAcks(h, "c-t", "twin-persisted,nobody-acks", "700ms"))
	if took := time.Since(started); took < 600*time.Millisecond {
		t.Errorf("answered after %s, before the timeout", took)
	}
	if w.Code != http.StatusFailedDependency {
		t.Fatalf("status %d, want 424: %s", w.Code, w.Body)
	}
	acks := decodeAggregated(t, w.Body.Bytes())
	a := acks["nobody-acks"]
	var perr protocol.Error
	if a.Status != http.StatusRequestTimeout || json.Unmarshal(a.Payload, &perr) != nil || perr.Code != protocol.CodeAckRequestTimeout {
		t.Errorf("nobody-acks %+v, want 408 acknowledgement:request.timeout", a)
	}
	if acks["twin-persisted"].Status != http.StatusNoContent {
		t.Errorf("twin-persisted %+v, want 204", acks["twin-persisted"])
	}
}

// A subscriber that declared a requested label but does not get the event
// acknowledges weakly: not subscribed, filtered out, or not allowed to
// read it.
func TestAcksWeak(t *testing.T) {
	h, base := newAckRig(t)
	notSubscribed := dialDeclaring(t, base, "ditto", "idle-ack")
	// Answered once the session reads, which is after it took its labels.
	notSubscribed.send(`{"topic":"org.eclipse.ditto/t1/things/twin/commands/retrieve","headers":{"correlation-id":"ready"},"path":"/"}`)
	wantReply(t, notSubscribed.envelope(), "ready", http.StatusOK)
	filtered := dialDeclaring(t, base, "ditto", "filter-ack")
	filtered.send("START-SEND-EVENTS?filter=" + url.QueryEscape(`eq(attributes/a,42)`))
	if f := string(filtered.next()); f != "START-SEND-EVENTS:ACK" {
		t.Fatalf("got %q", f)
	}
	stranger := dialDeclaring(t, base, "ditto2", "stranger-ack") // nginx:ditto2 may not read
	stranger.startEvents()

	w := awaitResponse(t, putWithAcks(h, "c-w", "idle-ack,filter-ack,stranger-ack", "5s"))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
	}
	for label, a := range decodeAggregated(t, w.Body.Bytes()) {
		if a.Status != http.StatusOK || a.Headers["ditto-weak-ack"] != true {
			t.Errorf("%s: %+v, want a weak 200", label, a)
		}
	}
	for _, c := range []*wsClient{notSubscribed, filtered, stranger} {
		select {
		case f := <-c.frames:
			t.Errorf("a subscriber that does not get the event got %s", f)
		default:
		}
	}
}

func TestAcksDeclarationRules(t *testing.T) {
	_, base := newAckRig(t)
	// Invalid and built-in labels are refused before the upgrade.
	for labels, code := range map[string]string{
		"ab":             protocol.CodeAckLabelInvalid,
		"twin-persisted": protocol.CodeAckLabelForbidden,
		"ok-ack,x y":     protocol.CodeAckLabelInvalid,
	} {
		u := wsURL(base) + "?declared-acks=" + url.QueryEscape(labels)
		_, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {basic("ditto")}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("declaring %q: %v %v, want 400", labels, err, resp)
			continue
		}
		var perr protocol.Error
		if json.NewDecoder(resp.Body).Decode(&perr) != nil || perr.Code != code {
			t.Errorf("declaring %q: error %+v, want %s", labels, perr, code)
		}
	}

	// A label is held by one session: the second one is told and closed.
	first := dialDeclaring(t, base, "ditto", "unique-ack")
	first.startEvents() // it is up and holds the label
	second := dialDeclaring(t, base, "ditto2", "other-ack,unique-ack")
	env := second.envelope()
	var perr protocol.Error
	if env.Status != http.StatusConflict || json.Unmarshal(env.Value, &perr) != nil || perr.Code != protocol.CodeAckLabelNotUnique {
		t.Errorf("second declaration got %+v, want 409 %s", env, protocol.CodeAckLabelNotUnique)
	}
	if !second.ended(wsWait) {
		t.Error("the session with a taken label stays open")
	}
	// Once the holder is gone, the label is free again.
	first.conn.Close()
	<-first.done
	var third *wsClient
	deadline := time.Now().Add(wsWait)
	for {
		third = dialDeclaring(t, base, "ditto", "unique-ack")
		// While the label is still taken the gateway ends the session at
		// once, which may be before this frame is written.
		if err := third.conn.WriteMessage(websocket.TextMessage, []byte("START-SEND-EVENTS")); err == nil {
			if f := third.next(); string(f) == "START-SEND-EVENTS:ACK" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("label not free after its holder left")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Sending an undeclared or built-in label is an error; the session
	// goes on.
	third.send(`{"topic":"org.eclipse.ditto/t1/things/twin/acks/not-mine","headers":{"correlation-id":"x"},"path":"/","status":200}`)
	env = third.envelope()
	if json.Unmarshal(env.Value, &perr) != nil || perr.Code != protocol.CodeAckLabelNotDeclared || env.Headers[protocol.HeaderCorrelationID] != "x" {
		t.Errorf("undeclared label got %+v", env)
	}
	third.send(`{"topic":"org.eclipse.ditto/t1/things/twin/acks/twin-persisted","headers":{"correlation-id":"y"},"path":"/","status":200}`)
	env = third.envelope()
	if json.Unmarshal(env.Value, &perr) != nil || perr.Code != protocol.CodeAckLabelForbidden {
		t.Errorf("built-in label got %+v", env)
	}
	third.send(wsModify("still-open"))
	wantReply(t, third.envelope(), "still-open", http.StatusNoContent)
}

// A client cannot choose where acknowledgements go: the internal address
// header it sends is dropped, over HTTP and the WebSocket.
func TestAcksAddressNotFromClients(t *testing.T) {
	h, base := newAckRig(t)
	h.do(req{method: http.MethodPut, target: "/api/2/things/" + wsThing + "/attributes/a", body: "1",
		header: map[string]string{protocol.HeaderAckregatorAddress: "ditto.acks.evil.1"}})
	c := dialWS(t, base, "ditto")
	c.send(`{"topic":"org.eclipse.ditto/t1/things/twin/commands/modify","headers":{"correlation-id":"f","ditto-ackgregator-address":"ditto.acks.evil.2"},"path":"/attributes/a","value":1}`)
	wantReply(t, c.envelope(), "f", http.StatusNoContent)
	for _, r := range h.waitCommands(2) {
		if a, ok := r.env.Headers[protocol.HeaderAckregatorAddress]; ok {
			t.Errorf("command %s carries the client's address %q", r.env.Headers[protocol.HeaderCorrelationID], a)
		}
	}
}

func TestAcksAggregatedOverWebSocket(t *testing.T) {
	_, base := newAckRig(t)
	device := dialDeclaring(t, base, "ditto", "ws-ack")
	device.startEvents()
	app := dialWS(t, base, "ditto")
	app.send(`{"topic":"org.eclipse.ditto/t1/things/twin/commands/modify","headers":{"correlation-id":"w-1","requested-acks":["twin-persisted","ws-ack"],"timeout":"5s"},"path":"/attributes/a","value":1}`)
	device.envelope()
	device.send(`{"topic":"org.eclipse.ditto/t1/things/twin/acks/ws-ack","headers":{"correlation-id":"w-1"},"path":"/","status":200}`)
	env := app.envelope()
	if env.Topic != "org.eclipse.ditto/t1/things/twin/acks" || env.Status != http.StatusOK || env.Headers[protocol.HeaderCorrelationID] != "w-1" {
		t.Fatalf("got %+v, want aggregated acknowledgements 200 for w-1", env)
	}
	acks := decodeAggregated(t, env.Value)
	if acks["twin-persisted"].Status != http.StatusNoContent || acks["ws-ack"].Status != http.StatusOK {
		t.Errorf("acks %s", env.Value)
	}

	// Only twin-persisted: the plain response, as Ditto answers.
	app.send(`{"topic":"org.eclipse.ditto/t1/things/twin/commands/modify","headers":{"correlation-id":"w-2","requested-acks":["twin-persisted"]},"path":"/attributes/a","value":2}`)
	env = app.envelope()
	if env.Topic != "org.eclipse.ditto/t1/things/twin/commands/modify" {
		t.Errorf("got %+v, want the command response", env)
	}
	wantReply(t, env, "w-2", http.StatusNoContent)
}

// An address that is not an acknowledgement subject is never published to
// (the session takes it from events, which only the things service writes).
func TestSendAckOnlyToAckSubjects(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.gw.sendAck("ditto.things.commands.0", protocol.Envelope{Topic: "a/b/things/twin/acks/x", Path: "/"}); err == nil {
		t.Error("an acknowledgement was sent to a command subject")
	}
	if err := h.gw.sendAck("ditto.acks.gw.1", protocol.Envelope{Topic: "a/b/things/twin/acks/x", Path: "/"}); err != nil {
		t.Errorf("acknowledgement subject refused: %v", err)
	}
}
