package things_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

// Live messages as the gateway sends them: on the thing's command subject,
// answered only on error; passed on to <p>.things.live.messages.<ns> with
// the sender's reply subject, which the receiving gateway answers.

// liveMsg is a live message as the gateway sends it.
type liveMsg struct {
	id, subject, path string
	value             string // JSON; none when empty
	auth              []string
	headers           protocol.Headers
}

// message returns a message of auth to the thing's id, path and topic
// subject.
func message(auth []string, id, subject, path string) liveMsg {
	return liveMsg{id: id, subject: subject, path: path, auth: auth}
}

func (m liveMsg) with(v string) liveMsg { m.value = v; return m }

func (m liveMsg) header(k, v string) liveMsg {
	h := protocol.Headers{}
	for hk, hv := range m.headers {
		h[hk] = hv
	}
	h[k] = v
	m.headers = h
	return m
}

// liveFixture is a running platform with a gateway's view of live
// messages: a subscription to all of them and an inbox for the answers.
// Each request has its own reply subject below inbox, as nats.go's
// requests have: NATS lets a responder answer a reply subject once, and
// counts a second delivery of a reply subject that was not answered yet
// (a passed-on message's) as that answer.
type liveFixture struct {
	*fixture
	live    *nats.Subscription
	inbox   string
	answers *nats.Subscription
	// reply is the reply subject of the last request.
	reply string
}

func newLiveFixture(t *testing.T) *liveFixture {
	t.Helper()
	f := newFixture(t)
	f.startBoth(t)
	lf := &liveFixture{fixture: f, inbox: f.gw.NewInbox()}
	var err error
	if lf.live, err = f.gw.SubscribeSync(f.names.LiveMessagesAll()); err != nil {
		t.Fatal(err)
	}
	if lf.answers, err = f.gw.SubscribeSync(lf.inbox + ".*"); err != nil {
		t.Fatal(err)
	}
	if err := f.gw.Flush(); err != nil {
		t.Fatal(err)
	}
	return lf
}

// post sends m as a request whose answers go to the fixture's inbox, or
// fire-and-forget (no reply subject) when reply is false; it returns the
// correlation id.
func (lf *liveFixture) post(t *testing.T, m liveMsg, reply bool) string {
	t.Helper()
	cid := fmt.Sprintf("msg-%d", lf.seq.Add(1))
	h := protocol.Headers{protocol.HeaderCorrelationID: cid, protocol.HeaderTimeout: "10s", protocol.HeaderContentType: "application/json"}
	for k, v := range m.headers {
		h[k] = v
	}
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(m.id, protocol.GroupThings, protocol.ChannelLive, protocol.CriterionMessages, m.subject).String(),
		Headers: h, Path: m.path,
	}
	if m.value != "" {
		env.Value = json.RawMessage(m.value)
	}
	data, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(lf.names.Commands(streams.ServiceThings, streams.KindCommands, streams.Shard(m.id, testShards)))
	msg.Data = data
	a, _ := json.Marshal(m.auth)
	msg.Header.Set(streams.HeaderAuth, string(a))
	msg.Header.Set(streams.HeaderEntity, streams.EncodeEntityHeader(m.id))
	if reply {
		lf.reply = lf.inbox + "." + cid
		msg.Reply = lf.reply
	}
	if err := lf.gw.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	return cid
}

// delivered sends m and returns the live message it became, checking its
// correlation id and that the sender got no answer of the service's.
func (lf *liveFixture) delivered(t *testing.T, m liveMsg) (*nats.Msg, protocol.Envelope) {
	t.Helper()
	cid := lf.post(t, m, true)
	got, err := lf.live.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("message %s%s as %v was not passed on: %v", m.id, m.path, m.auth, err)
	}
	env, err := protocol.DecodeEnvelope(got.Data)
	if err != nil {
		t.Fatalf("passed-on message %q: %v", got.Data, err)
	}
	if env.Headers[protocol.HeaderCorrelationID] != cid {
		t.Fatalf("passed-on message %+v, want correlation-id %s", env, cid)
	}
	if got.Reply != lf.reply {
		t.Errorf("passed-on message has reply subject %q, want the sender's %q", got.Reply, lf.reply)
	}
	lf.noAnswer(t)
	return got, env
}

// refused sends m and checks the service's error answer, and that nothing
// was passed on: a message sent after it is the next one passed on.
func (lf *liveFixture) refused(t *testing.T, m liveMsg, status int, code string) *protocol.Error {
	t.Helper()
	cid := lf.post(t, m, true)
	ans, err := lf.answers.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("message %s%s as %v: no answer: %v", m.id, m.path, m.auth, err)
	}
	if ans.Subject != lf.reply {
		t.Fatalf("answer on %s, want the request's reply subject %s", ans.Subject, lf.reply)
	}
	env, err := protocol.DecodeEnvelopeTrusted(ans.Data)
	if err != nil {
		t.Fatal(err)
	}
	perr, ok := env.AsError()
	if !ok || perr.Status != status || perr.Code != code {
		t.Fatalf("message %s%s as %v: answer %s, want %d %s", m.id, m.path, m.auth, ans.Data, status, code)
	}
	if env.Headers[protocol.HeaderCorrelationID] != cid {
		t.Errorf("error answer has correlation-id %q, want %q", env.Headers[protocol.HeaderCorrelationID], cid)
	}
	lf.nothingPassedOn(t)
	return perr
}

// nothingPassedOn sends a message the owner may send and checks that it is
// the next one passed on: everything sent before it was refused.
func (lf *liveFixture) nothingPassedOn(t *testing.T) {
	t.Helper()
	cid := lf.post(t, message(ditto, lamp, "marker", "/inbox/messages/marker"), false)
	got, err := lf.live.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("marker message not passed on: %v", err)
	}
	env, err := protocol.DecodeEnvelope(got.Data)
	if err != nil || env.Headers[protocol.HeaderCorrelationID] != cid {
		t.Fatalf("a refused message was passed on: %s", got.Data)
	}
}

// noAnswer checks that the service answered nothing to the sender.
func (lf *liveFixture) noAnswer(t *testing.T) {
	t.Helper()
	if m, err := lf.answers.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("the service answered a passed-on message: %s", m.Data)
	}
}

// createLamp creates the lamp with a feature, owned by ditto, and adds the
// policy entries of the tests: a device reading the thing's inbox but one
// subject, a watcher of the outbox, and ditto2 reading the thing only.
func (lf *liveFixture) createLamp(t *testing.T) {
	t.Helper()
	lf.expect(t, thing(ditto, modify, lamp).with(`{"features":{"lamp":{"properties":{"on":false}}}}`), 201, "")
	lf.expect(t, policy(ditto, modify, lamp+"/entries/DEVICE").with(`{"subjects":{"nginx:device":{"type":"device"}},"resources":{
		"message:/inbox":{"grant":["READ"],"revoke":[]}}}`), 201, "")
	lf.expect(t, policy(ditto, modify, lamp+"/entries/WATCHER").with(`{"subjects":{"nginx:watcher":{"type":"app"}},"resources":{
		"message:/outbox":{"grant":["READ"],"revoke":[]}}}`), 201, "")
	lf.expect(t, policy(ditto, modify, lamp+"/entries/GUEST").with(`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{
		"thing:/":{"grant":["READ"],"revoke":[]}}}`), 201, "")
}

func natsHeader(t *testing.T, m *nats.Msg, key, want string) {
	t.Helper()
	if got := m.Header.Get(key); got != want {
		t.Errorf("NATS header %s = %q, want %q", key, got, want)
	}
}

// A message to the thing's inbox is passed on to the live subject of its
// namespace, unanswered, with who may read it and who sent it; the
// receiving gateway's answer reaches the sender.
func TestLiveMessageToInbox(t *testing.T) {
	t.Parallel()
	lf := newLiveFixture(t)
	lf.createLamp(t)

	m := message(ditto, lamp, "ask", "/inbox/messages/ask").with(`{"q":"how are you?"}`)
	got, env := lf.delivered(t, m)
	if want := lf.names.LiveMessages("org.eclipse.ditto"); got.Subject != want {
		t.Errorf("passed on to %s, want %s", got.Subject, want)
	}
	if env.Topic != "org.eclipse.ditto/lamp/things/live/messages/ask" || env.Path != "/inbox/messages/ask" || string(env.Value) != `{"q":"how are you?"}` ||
		env.Headers[protocol.HeaderContentType] != "application/json" || env.Headers[protocol.HeaderTimeout] != "10s" {
		t.Errorf("passed-on envelope %+v %s", env, env.Value)
	}
	// The device reads the inbox, the owner all messages; the outbox's
	// watcher and ditto2 (who reads the thing, not its messages) do not.
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto"]`)
	natsHeader(t, got, protocol.HeaderOriginator, "nginx:ditto")
	natsHeader(t, got, streams.HeaderEntity, lamp)
	if got.Header.Get(streams.HeaderAuth) != "" {
		t.Error("the caller's Ditto-Auth header was passed on")
	}
	if _, ok := env.Headers[protocol.HeaderReadSubjects]; ok {
		t.Errorf("envelope headers %v carry read subjects", env.Headers)
	}
	// The device's gateway answers the sender directly.
	if err := got.Respond([]byte(`{"topic":"org.eclipse.ditto/lamp/things/live/messages/ask","headers":{},"path":"/outbox/messages/ask","value":"fine","status":200}`)); err != nil {
		t.Fatal(err)
	}
	ans, err := lf.answers.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("the device's answer did not reach the sender: %v", err)
	}
	if aenv, err := protocol.DecodeEnvelope(ans.Data); err != nil || aenv.Status != 200 || string(aenv.Value) != `"fine"` {
		t.Errorf("sender got %s (%v)", ans.Data, err)
	}

	// Outbox: the watcher reads it, the device does not.
	got, _ = lf.delivered(t, message(ditto, lamp, "smoke", "/outbox/messages/smoke").with(`true`))
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:ditto","nginx:watcher"]`)

	// Fire-and-forget: no reply subject, passed on without one.
	cid := lf.post(t, message(ditto, lamp, "ask", "/inbox/messages/ask").with(`1`), false)
	got, err = lf.live.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if env, _ := protocol.DecodeEnvelope(got.Data); env.Headers[protocol.HeaderCorrelationID] != cid || got.Reply != "" {
		t.Errorf("fire-and-forget message passed on as %s with reply %q", got.Data, got.Reply)
	}

	// A sender cannot name the readers itself.
	got, env = lf.delivered(t, message(ditto, lamp, "ask", "/inbox/messages/ask").
		header(protocol.HeaderReadSubjects, `["nginx:mallory"]`).header(protocol.HeaderOriginator, "nginx:mallory"))
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto"]`)
	natsHeader(t, got, protocol.HeaderOriginator, "nginx:ditto")
	if _, ok := env.Headers[protocol.HeaderReadSubjects]; ok {
		t.Errorf("the sender's read subjects were passed on: %v", env.Headers)
	}
	if _, ok := env.Headers[protocol.HeaderOriginator]; ok {
		t.Errorf("the sender's originator was passed on: %v", env.Headers)
	}
}

// Feature messages: message:/inbox does not cover a feature's inbox (as
// Ditto's policy documentation says), message:/features/<id> does.
func TestLiveMessageToFeature(t *testing.T) {
	t.Parallel()
	lf := newLiveFixture(t)
	lf.createLamp(t)
	lf.expect(t, policy(ditto, modify, lamp+"/entries/LAMP").with(`{"subjects":{"nginx:lamp":{"type":"device"}},"resources":{
		"message:/features/lamp":{"grant":["READ","WRITE"],"revoke":[]}}}`), 201, "")

	got, env := lf.delivered(t, message(ditto, lamp, "toggle", "/features/lamp/inbox/messages/toggle").with(`{"on":true}`))
	if env.Path != "/features/lamp/inbox/messages/toggle" || env.Topic != "org.eclipse.ditto/lamp/things/live/messages/toggle" {
		t.Errorf("passed-on envelope %+v", env)
	}
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:ditto","nginx:lamp"]`)

	// nginx:lamp may send from its feature, not from the thing.
	got, _ = lf.delivered(t, message([]string{"nginx:lamp"}, lamp, "state", "/features/lamp/outbox/messages/state").with(`1`))
	natsHeader(t, got, protocol.HeaderOriginator, "nginx:lamp")
	lf.refused(t, message([]string{"nginx:lamp"}, lamp, "state", "/outbox/messages/state"), 403, "messages:send.notallowed")
	// A feature that does not exist is no obstacle (Ditto does not look).
	lf.delivered(t, message(ditto, lamp, "x", "/features/fan/inbox/messages/x"))

	lf.refused(t, message(ditto, lamp, "toggle", "/features//inbox/messages/toggle"), 400, "messages:featureid.invalid")
	lf.refused(t, message(ditto, lamp, "toggle", "/features/lamp/messages/toggle"), 400, "protocoladapter:invalid.path")
}

// Claim messages need no permission at all: they ask for one. Only the
// thing's inbox takes them.
func TestLiveClaimMessage(t *testing.T) {
	t.Parallel()
	lf := newLiveFixture(t)
	lf.createLamp(t)
	stranger := []string{"nginx:stranger"}

	got, env := lf.delivered(t, message(stranger, lamp, "claim", "/inbox/messages/claim").with(`"secret"`))
	if env.Path != "/inbox/messages/claim" || env.Topic != "org.eclipse.ditto/lamp/things/live/messages/claim" {
		t.Errorf("passed-on claim %+v", env)
	}
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto"]`)
	natsHeader(t, got, protocol.HeaderOriginator, "nginx:stranger")

	// The path of Ditto's HTTP route is taken too, and passed on in the
	// protocol's form.
	_, env = lf.delivered(t, message(ditto2, lamp, "claim", "/inbox/claim"))
	if env.Path != "/inbox/messages/claim" {
		t.Errorf("claim sent to /inbox/claim passed on at %s", env.Path)
	}

	// The claim subject anywhere else is an ordinary message.
	lf.refused(t, message(stranger, lamp, "claim", "/outbox/messages/claim"), 403, "messages:send.notallowed")
	lf.refused(t, message(stranger, lamp, "claim", "/features/lamp/inbox/messages/claim"), 403, "messages:send.notallowed")
	// A claim still needs the thing.
	lf.refused(t, message(stranger, "org.eclipse.ditto:nothing", "claim", "/inbox/messages/claim"), 404, "things:thing.notfound")
}

// Who may not send is refused as Ditto refuses, and nothing is passed on.
func TestLiveMessageRefused(t *testing.T) {
	t.Parallel()
	lf := newLiveFixture(t)
	lf.createLamp(t)

	// ditto2 reads the thing but may not write messages; the device reads
	// the inbox only.
	perr := lf.refused(t, message(ditto2, lamp, "ask", "/inbox/messages/ask"), 403, "messages:send.notallowed")
	if perr.Message != "You are not allowed to send messages for the Thing with id 'org.eclipse.ditto:lamp'!" {
		t.Errorf("message %q", perr.Message)
	}
	lf.refused(t, message([]string{"nginx:device"}, lamp, "ask", "/inbox/messages/ask"), 403, "messages:send.notallowed")
	// Ditto refuses the same way when the caller may not see the thing.
	lf.refused(t, message([]string{"nginx:stranger"}, lamp, "ask", "/inbox/messages/ask"), 403, "messages:send.notallowed")
	// WRITE on one subject allows that subject only.
	lf.expect(t, policy(ditto, modify, lamp+"/entries/DEVICE/resources/message:/outbox/messages/state").with(`{"grant":["WRITE"],"revoke":[]}`), 201, "")
	lf.delivered(t, message([]string{"nginx:device"}, lamp, "state", "/outbox/messages/state"))
	lf.refused(t, message([]string{"nginx:device"}, lamp, "other", "/outbox/messages/other"), 403, "messages:send.notallowed")

	// A thing that does not exist, or no longer does, is not found.
	lf.refused(t, message(ditto, "org.eclipse.ditto:unknown", "ask", "/inbox/messages/ask"), 404, "things:thing.notfound")
	lf.refused(t, message(ditto2, "org.eclipse.ditto:unknown", "ask", "/inbox/messages/ask"), 404, "things:thing.notfound")
	const gone = "org.eclipse.ditto:gone"
	lf.expect(t, thing(ditto, modify, gone).with(`{}`), 201, "")
	lf.delivered(t, message(ditto, gone, "ask", "/inbox/messages/ask"))
	lf.expect(t, thing(ditto, del, gone), 204, "")
	lf.refused(t, message(ditto, gone, "ask", "/inbox/messages/ask"), 404, "things:thing.notfound")

	// Invalid messages, checked before the thing is.
	lf.refused(t, message(ditto, lamp, "ask", "/inbox/messages/tell"), 400, "protocoladapter:invalid.path")
	lf.refused(t, message(ditto, "org.eclipse.ditto:unknown", "ask", "/inbox/messages/tell"), 400, "protocoladapter:invalid.path")
	lf.refused(t, message(ditto, lamp, "ask", "/attributes/ask"), 400, "protocoladapter:invalid.path")
	lf.refused(t, message(ditto, lamp, "", "/inbox/messages/"), 400, "messages:subject.invalid")
}

// Read subjects follow the policy: a revoke at a subject takes a reader
// out of that subject's messages at once, not out of others.
func TestLiveMessageReadSubjectsFollowThePolicy(t *testing.T) {
	t.Parallel()
	lf := newLiveFixture(t)
	lf.createLamp(t)
	secret := message(ditto, lamp, "secret", "/inbox/messages/secret").with(`"pin"`)

	got, _ := lf.delivered(t, secret)
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto"]`)
	lf.expect(t, policy(ditto, modify, lamp+"/entries/DEVICE/resources/message:/inbox/messages/secret").with(`{"grant":[],"revoke":["READ"]}`), 201, "")
	got, _ = lf.delivered(t, secret)
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:ditto"]`)
	got, _ = lf.delivered(t, message(ditto, lamp, "ask", "/inbox/messages/ask"))
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto"]`)

	// The owner revoking its own READ receives nothing itself, but still
	// sends (WRITE stays).
	lf.expect(t, policy(ditto, modify, lamp+"/entries/DEFAULT/resources/message:/inbox/messages/secret").with(`{"grant":[],"revoke":["READ"]}`), 201, "")
	got, _ = lf.delivered(t, secret)
	natsHeader(t, got, protocol.HeaderReadSubjects, `[]`)
}
