package platform

import (
	"encoding/json"
	"net/http"
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
