package platform

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// post sends a live message over HTTP as user and returns the answer.
func (pl *platform) post(t *testing.T, user, path, contentType string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest("POST", pl.url+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, user)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// A message POSTed to a thing's inbox reaches the device's WebSocket
// session, and the device's answer is the HTTP answer; only subjects the
// policy lets read the mailbox receive it, only those it lets write it
// send.
func TestLiveMessages(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = "org.eclipse.ditto:coffee"
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{"features":{"tank":{}}}`, nil, 201, "")
	// ditto2 may read (receive) the inbox subject "ask", not write it.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+id+"/entries/DEVICE",
		`{"subjects":{"nginx:ditto2":{"type":"device"}},"resources":{"message:/inbox/messages/ask":{"grant":["READ"],"revoke":[]},"thing:/":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")

	device := pl.mustDial(t, "ditto2")
	device.ack("START-SEND-MESSAGES")
	owner := pl.mustDial(t, "ditto")
	owner.ack("START-SEND-MESSAGES")

	done := make(chan reply, 1)
	go func() {
		done <- pl.post(t, "ditto", "/api/2/things/"+id+"/inbox/messages/ask?timeout=5s", "text/plain", []byte("how are you?"))
	}()
	msg := device.envelope()
	if msg.Topic != "org.eclipse.ditto/coffee/things/live/messages/ask" || msg.Path != "/inbox/messages/ask" || string(msg.Value) != `"how are you?"` {
		t.Fatalf("device got %+v %s", msg, msg.Value)
	}
	if msg.Headers[protocol.HeaderContentType] != "text/plain" || msg.Headers[protocol.HeaderCorrelationID] == "" {
		t.Fatalf("device got headers %v", msg.Headers)
	}
	if _, ok := msg.Headers[protocol.HeaderReadSubjects]; ok {
		t.Errorf("message shows its read subjects: %v", msg.Headers)
	}
	// The sender's own session does not get its message back... it was
	// sent over HTTP, so the owner's session (a reader too) gets it.
	if got := owner.envelope(); got.Path != "/inbox/messages/ask" {
		t.Fatalf("owner got %+v", got)
	}
	device.send(`{"topic":"org.eclipse.ditto/coffee/things/live/messages/ask","headers":{"correlation-id":"` + msg.Headers[protocol.HeaderCorrelationID] +
		`","content-type":"text/plain"},"path":"/outbox/messages/ask","value":"I am a teapot","status":418}`)
	r := <-done
	if r.status != 418 || r.body != "I am a teapot" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("HTTP answer %d %q %v", r.status, r.body, r.header)
	}

	// Nobody answers: 408 after the timeout.
	start := time.Now()
	r = pl.post(t, "ditto", "/api/2/things/"+id+"/inbox/messages/ask?timeout=1s", "application/json", []byte(`{"q":1}`))
	if r.status != 408 {
		t.Fatalf("unanswered message: %d %s", r.status, r.body)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("408 after %s, before the timeout", d)
	}
	if got := device.envelope(); string(got.Value) != `{"q":1}` {
		t.Fatalf("device got %+v", got)
	}
	owner.envelope()

	// timeout=0: 202 at once, the message still delivered; binary payloads
	// travel base64-encoded.
	bin := []byte{0, 1, 2, 250, 251}
	r = pl.post(t, "ditto", "/api/2/things/"+id+"/inbox/messages/ask?timeout=0", "application/octet-stream", bin)
	if r.status != 202 {
		t.Fatalf("timeout=0: %d %s", r.status, r.body)
	}
	got := device.envelope()
	if string(got.Value) != `"`+base64.StdEncoding.EncodeToString(bin)+`"` {
		t.Fatalf("binary payload arrived as %s", got.Value)
	}
	owner.envelope()

	// Another subject: ditto2 may not read it; ditto may.
	go func() {
		done <- pl.post(t, "ditto", "/api/2/things/"+id+"/features/tank/inbox/messages/fill?timeout=5s", "application/json", []byte(`10`))
	}()
	got = owner.envelope()
	if got.Path != "/features/tank/inbox/messages/fill" || got.Topic != "org.eclipse.ditto/coffee/things/live/messages/fill" {
		t.Fatalf("owner got %+v", got)
	}
	owner.send(`{"topic":"org.eclipse.ditto/coffee/things/live/messages/fill","headers":{"correlation-id":"` + got.Headers[protocol.HeaderCorrelationID] +
		`","content-type":"application/json"},"path":"/features/tank/outbox/messages/fill","value":{"filled":10},"status":200}`)
	if r := <-done; r.status != 200 || r.body != `{"filled":10}` {
		t.Fatalf("feature message answered %d %s", r.status, r.body)
	}
	device.silent(300 * time.Millisecond)

	// ditto2 may not send to the inbox; a stranger's thing is not there.
	if r := pl.post(t, "ditto2", "/api/2/things/"+id+"/inbox/messages/ask?timeout=1s", "text/plain", []byte("x")); r.status != 403 {
		t.Fatalf("message without WRITE: %d %s", r.status, r.body)
	}
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:private", `{}`, nil, 201, "")
	// As in Ditto, a caller without WRITE on the mailbox is refused alike
	// whether or not it may see the thing (messages:send.notallowed).
	if r := pl.post(t, "ditto2", "/api/2/things/org.eclipse.ditto:private/inbox/messages/ask?timeout=1s", "text/plain", []byte("x")); r.status != 403 {
		t.Fatalf("message to an unreadable thing: %d %s", r.status, r.body)
	}
	device.silent(200 * time.Millisecond)
	owner.silent(200 * time.Millisecond)

	// A message sent over the WebSocket is answered over it too.
	go func() {
		m := device.envelope()
		device.send(`{"topic":"` + m.Topic + `","headers":{"correlation-id":"` + m.Headers[protocol.HeaderCorrelationID] + `","content-type":"application/json"},"path":"/outbox/messages/ask","value":"fine","status":200}`)
	}()
	owner.send(`{"topic":"org.eclipse.ditto/coffee/things/live/messages/ask","headers":{"correlation-id":"ws-msg-1","content-type":"application/json"},"path":"/inbox/messages/ask","value":"and you?"}`)
	ans := owner.envelope()
	if ans.Status != 200 || string(ans.Value) != `"fine"` || ans.Headers[protocol.HeaderCorrelationID] != "ws-msg-1" {
		t.Fatalf("WebSocket sender got %+v %s", ans, ans.Value)
	}
}

// A thing's messages stream as SSE, as Ditto's route sends them: the
// payload as data, the subject as event type; a stream of a mailbox gets
// its messages only (the thing's outbox not the feature's), and only a
// subject the policy lets read them.
func TestLiveMessagesSSE(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = "org.eclipse.ditto:alarm"
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{"features":{"smoke":{}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+id+"/entries/WATCH",
		`{"subjects":{"nginx:ditto2":{"type":"watcher"}},"resources":{"message:/features/smoke/outbox":{"grant":["READ"],"revoke":[]},"thing:/":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")

	outbox := pl.openSSE(t, "ditto", "/api/2/things/"+id+"/outbox/messages")
	alarms := pl.openSSE(t, "ditto2", "/api/2/things/"+id+"/features/smoke/outbox/messages/alarm")
	inbox := pl.openSSE(t, "ditto2", "/api/2/things/"+id+"/inbox/messages")

	send := func(path, ct, body string) {
		t.Helper()
		if r := pl.post(t, "ditto", "/api/2/things/"+id+path+"?timeout=0", ct, []byte(body)); r.status != 202 {
			t.Fatalf("POST %s: %d %s", path, r.status, r.body)
		}
	}
	send("/outbox/messages/hello", "text/plain", "line 1\nline 2")
	if got := outbox.next(); got != "event:hello\nline 1\nline 2" {
		t.Fatalf("outbox stream got %q", got)
	}
	send("/features/smoke/outbox/messages/alarm", "application/json", `{"level":3}`)
	if got := alarms.next(); got != `event:alarm`+"\n"+`{"level":3}` {
		t.Fatalf("alarm stream got %q", got)
	}
	// Another subject of the feature; the inbox ditto2 may not read.
	send("/features/smoke/outbox/messages/test", "text/plain", "t")
	send("/inbox/messages/mute", "text/plain", "m")
	send("/outbox/messages/bye", "application/octet-stream", "\x01\x02")
	if got := outbox.next(); got != "event:bye\n\x01\x02" {
		t.Fatalf("outbox stream got %q, want only the thing's outbox messages", got)
	}
	for _, s := range []*sseStream{alarms, inbox} {
		quiet := time.After(300 * time.Millisecond)
		for waiting := true; waiting; {
			select {
			case d := <-s.events:
				if d != "" { // heartbeats are fine
					t.Errorf("stream got %q", d)
				}
			case <-quiet:
				waiting = false
			}
		}
	}
}
