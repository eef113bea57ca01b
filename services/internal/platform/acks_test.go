package platform

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Acknowledgements through the whole platform: an HTTP modification asks
// for the built-in labels and two custom ones; the things service persists
// it and passes the custom labels on in its event; a device session that
// declared one of them acknowledges it, and a session that declared the
// other but may not read the thing acknowledges weakly; the search service
// confirms search-persisted. The caller gets all four together.
func TestAcknowledgements(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = "org.eclipse.ditto:acked"
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{"attributes":{"on":false}}`, nil, 201, "")

	device, _, err := pl.dial(t, "ditto", http.Header{"declared-acks": {"device:applied"}})
	if err != nil {
		t.Fatal(err)
	}
	device.ack("START-SEND-EVENTS")
	stranger, _, err := pl.dial(t, "ditto2", http.Header{"declared-acks": {`["stranger:seen"]`}})
	if err != nil {
		t.Fatal(err)
	}
	stranger.ack("START-SEND-EVENTS")

	answer := make(chan reply, 1)
	go func() {
		answer <- pl.do(t, "ditto", "PUT", "/api/2/things/"+id+"/attributes/on", `true`, map[string]string{
			"requested-acks": "twin-persisted,search-persisted,device:applied,stranger:seen",
			"correlation-id": "acked-1", "timeout": "10s"})
	}()
	ev := device.envelope()
	if ev.Topic != "org.eclipse.ditto/acked/things/twin/events/modified" || ev.Headers["requested-acks"] != `["device:applied","stranger:seen"]` {
		t.Fatalf("device got %+v", ev)
	}
	device.send(`{"topic":"org.eclipse.ditto/acked/things/twin/acks/device:applied","headers":{"correlation-id":"acked-1"},"path":"/","value":{"lamp":"on"},"status":200}`)

	r := <-answer
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	var acks map[string]struct {
		Status  int             `json:"status"`
		Payload json.RawMessage `json:"payload"`
		Headers map[string]any  `json:"headers"`
	}
	if err := json.Unmarshal([]byte(r.body), &acks); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if len(acks) != 4 || acks["twin-persisted"].Status != 204 || acks["search-persisted"].Status != 204 {
		t.Errorf("acks %s", r.body)
	}
	if a := acks["device:applied"]; a.Status != 200 || string(a.Payload) != `{"lamp":"on"}` {
		t.Errorf("device:applied %+v", a)
	}
	if a := acks["stranger:seen"]; a.Status != 200 || a.Headers["ditto-weak-ack"] != true {
		t.Errorf("stranger:seen %+v, want a weak acknowledgement", a)
	}
	stranger.silent(200 * time.Millisecond)
}

// Custom acknowledgements of live messages and live commands: the device
// that declared the label acknowledges besides answering; live-response is
// its answer. Without live-response the sender does not wait for an
// answer, only for the acknowledgements.
func TestLiveAcknowledgements(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = "org.eclipse.ditto:live-acked"
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{"attributes":{"on":false}}`, nil, 201, "")
	device, _, err := pl.dial(t, "ditto", http.Header{"declared-acks": {"device:got"}})
	if err != nil {
		t.Fatal(err)
	}
	device.ack("START-SEND-MESSAGES")
	device.ack("START-SEND-LIVE-COMMANDS")
	ackFrame := func(cid string, status int) string {
		return `{"topic":"org.eclipse.ditto/live-acked/things/live/acks/device:got","headers":{"correlation-id":"` + cid +
			`"},"path":"/","status":` + strconv.Itoa(status) + `}`
	}

	// A message: live-response (the answer) and the device's own label.
	answer := make(chan reply, 1)
	go func() {
		answer <- pl.post(t, "ditto", "/api/2/things/"+id+"/inbox/messages/ping?timeout=5s&requested-acks=live-response,device:got",
			"text/plain", []byte("ping"))
	}()
	msg := device.envelope()
	cid := msg.Headers["correlation-id"]
	if msg.Headers["requested-acks"] != `["live-response","device:got"]` {
		t.Errorf("device got requested-acks %q", msg.Headers["requested-acks"])
	}
	device.send(ackFrame(cid, 200))
	device.send(`{"topic":"org.eclipse.ditto/live-acked/things/live/messages/ping","headers":{"correlation-id":"` + cid +
		`","content-type":"text/plain"},"path":"/outbox/messages/ping","value":"pong","status":200}`)
	r := <-answer
	var acks map[string]struct {
		Status  int             `json:"status"`
		Payload json.RawMessage `json:"payload"`
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &acks) != nil ||
		acks["live-response"].Status != 200 || string(acks["live-response"].Payload) != `"pong"` || acks["device:got"].Status != 200 {
		t.Fatalf("message with acknowledgements answered %d %s", r.status, r.body)
	}

	// Only the custom label, no response wanted: 202 once it is in.
	go func() {
		answer <- pl.post(t, "ditto", "/api/2/things/"+id+"/inbox/messages/ping?timeout=5s&requested-acks=device:got&response-required=false",
			"text/plain", []byte("ping"))
	}()
	msg = device.envelope()
	if msg.Headers["response-required"] != "false" {
		t.Errorf("a message nobody waits an answer for says response-required %q", msg.Headers["response-required"])
	}
	device.send(ackFrame(msg.Headers["correlation-id"], 200))
	if r := <-answer; r.status != 202 {
		t.Fatalf("acknowledged message without response: %d %s", r.status, r.body)
	}

	// A live command over the WebSocket: the device does not answer in
	// time but acknowledges; live-response times out.
	app := pl.mustDial(t, "ditto")
	app.send(`{"topic":"org.eclipse.ditto/live-acked/things/live/commands/modify","headers":{"correlation-id":"lc-1","requested-acks":["live-response","device:got"],"timeout":"1s"},"path":"/attributes/on","value":true}`)
	cmd := device.envelope()
	if cmd.Topic != "org.eclipse.ditto/live-acked/things/live/commands/modify" {
		t.Fatalf("device got %+v", cmd)
	}
	device.send(ackFrame("lc-1", 200))
	env := app.envelope()
	if env.Topic != "org.eclipse.ditto/live-acked/things/live/acks" || env.Status != 424 {
		t.Fatalf("app got %+v %s", env, env.Value)
	}
	var got map[string]struct {
		Status int `json:"status"`
	}
	if json.Unmarshal(env.Value, &got) != nil || got["live-response"].Status != 408 || got["device:got"].Status != 200 {
		t.Errorf("acknowledgements %s", env.Value)
	}
}
